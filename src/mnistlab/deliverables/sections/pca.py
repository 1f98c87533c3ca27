"""Task 1: PCA. The variance numbers come from metrics.json (`pca.*`); the digit pairs' overlap in the PC1/PC2
plane from pca/summary.json."""

from __future__ import annotations

from typing import Any

from mnistlab.deliverables import claims
from mnistlab.deliverables.results import Results, fmt
from mnistlab.deliverables.sections.common import figures, need


def pca(r: Results) -> dict[str, Any]:
    s = r.summary("pca")
    pairs = {p["pair"]: p for p in s["pairs"]}
    figs = figures(r, "pca", "scatter", "variance", "overlap", "components")
    need(figs["scatter"], "pca/figures/scatter")

    def described(names: list[str]) -> str:
        return ", ".join(f"{n.replace('-', ' and ')} ({100 * pairs[n]['overlap']:.1f}%)" for n in names)

    least = s["least_separable"]
    return {
        "n": fmt(r.value("pca.n_train")),
        "pc1": r.pct("pca.pc1_var", 1), "pc2": r.pct("pca.pc2_var", 1), "cum2": r.pct("pca.cum_var.2", 1),
        "cum10": r.pct("pca.cum_var.10", 1), "cum50": r.pct("pca.cum_var.50", 1),
        "k90": fmt(r.value("pca.k90")), "k95": fmt(r.value("pca.k95")), "k99": fmt(r.value("pca.k99")),
        "most": described(s["most_separable"]), "least": described(least),
        "worst_pair": least[0].replace("-", " and "),
        "worst_overlap": f"{100 * pairs[least[0]]['overlap']:.1f}%",
        "plane_is_minor": r.value("pca.cum_var.2") < 0.5,
        "n_clean": sum(1 for p in s["pairs"] if p["overlap"] < 0.05),
        "n_zero": sum(1 for p in s["pairs"] if claims.separable(p["overlap"])),
        "n_pairs": len(s["pairs"]),
        "scatter_points": fmt(float(s.get("scatter_points", 0))),
        "fig": figs,
    }
