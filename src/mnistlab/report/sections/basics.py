"""Tasks 1 and 2: PCA and the perceptron."""

from __future__ import annotations

from typing import Any

from mnistlab.report.results import Results, fmt
from mnistlab.report.sections.common import and_list, figures, need


# ---------------------------------------------------------------- 1 PCA
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
        "n_pairs": len(s["pairs"]),
        "scatter_points": fmt(float(s.get("scatter_points", 0))),
        "fig": figs,
    }


# ---------------------------------------------------------------- 2 perceptron
def perceptron(r: Results) -> dict[str, Any]:
    from mnistlab.config import parse_pairs

    s = r.summary("perceptron")
    pairs = [f"{a}-{b}" for a, b in parse_pairs(r.cfg("perceptron", "pairs"))]
    k = "perceptron.{}.{}".format
    rows = [[p.replace("-", " vs "), r.num(k(p, "iters"), 0 if r.seeds == 1 else 1), r.pct(k(p, "train_acc")),
             r.pct(k(p, "test_acc")), r.pct(k(p, "pocket.test_acc")), r.pct(k(p, "sklearn.test_acc"))]
            for p in pairs]
    test = {p: r.value(k(p, "test_acc")) for p in pairs}
    separable = [p for p in pairs if r.value(k(p, "train_acc")) >= 1 - 1e-3]
    best, worst = max(pairs, key=test.get), min(pairs, key=test.get)
    pocket_better = [p for p in pairs if r.value(k(p, "pocket.test_acc")) > test[p] + 1e-12]
    sk_diff = max(abs(r.value(k(p, "sklearn.test_acc")) - test[p]) for p in pairs)
    figs = figures(r, "perceptron", "errors", "weights", "all_pairs")
    need(figs["errors"], "perceptron/figures/errors")
    need(figs["weights"], "perceptron/figures/weights")
    words = {p: p.replace("-", " vs ") for p in pairs}
    return {
        "table": {"header": ["pair", "iterations", "train acc.", "test acc.", "pocket test", "sklearn test"],
                  "rows": rows},
        "n_pairs": str(len(pairs)), "n_separable": str(len(separable)),
        "all_separable": len(separable) == len(pairs), "none_separable": not separable,
        "separable": and_list([words[p] for p in separable]) if separable else "",
        "not_separable": and_list([words[p] for p in pairs if p not in separable]) if len(separable) < len(pairs)
        else "",
        "best": words[best], "best_acc": r.pct(k(best, "test_acc")),
        "worst": words[worst], "worst_acc": r.pct(k(worst, "test_acc")),
        "worst_train": r.pct(k(worst, "train_acc")),
        "n_pocket_better": str(len(pocket_better)), "pocket_better": and_list([words[p] for p in pocket_better])
        if pocket_better else "",
        "sk_diff": f"{100 * sk_diff:.1f}", "sk_close": sk_diff <= 0.01,
        "has_all": figs["all_pairs"] is not None and r.has("perceptron.all_pairs.mean_test_acc"),
        "all_mean": r.pct("perceptron.all_pairs.mean_test_acc") if r.has("perceptron.all_pairs.mean_test_acc")
        else "",
        "all_min": r.pct("perceptron.all_pairs.min_test_acc") if r.has("perceptron.all_pairs.min_test_acc")
        else "",
        "hardest": str(s.get("all_pairs_hardest", "")).replace("-", " vs "),
        "iteration": str(s.get("iteration", "one pass over the training set")),
        "fig": figs,
    }
