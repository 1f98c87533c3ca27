"""Tasks 3 and 4: MLPs and CNNs."""

from __future__ import annotations

from typing import Any

from mnistlab.report.results import Results, fmt
from mnistlab.report.sections.common import compare


# ---------------------------------------------------------------- 3 MLPs and 4 CNNs
def _variants(r: Results, prefix: str) -> list[str]:
    """Model names under `prefix` in metrics.json that have a test accuracy, e.g. mlp.3_2_depth4 -> '3_2_depth4'."""
    names = {k[len(prefix) + 1:-len(".test_acc")] for k in r.metrics
             if k.startswith(prefix + ".") and k.endswith(".test_acc") and k.count(".") == 2}
    return sorted(names, key=lambda n: (len(n), n))


def _model_row(r: Results, key: str, label: str, extra: list[str] | None = None) -> list[str]:
    return [label, *(extra or []), fmt(r.value(f"{key}.params")), r.pct(f"{key}.train_acc"),
            r.pct(f"{key}.test_acc"), r.num(f"{key}.train_s", 1, "s")]


def _other_figures(r: Results, study: str, known: set[str]) -> list[str]:
    """Root-relative paths of the study's figures not placed explicitly, in name order."""
    folder = r.path / study / "figures"
    stems = sorted({p.stem for p in folder.glob("*.png")} - known) if folder.is_dir() else []
    return [p for p in (r.figure(study, s) for s in stems) if p]


def mlp(r: Results) -> dict[str, Any]:
    s = r.summary("mlp")
    depth = [n for n in _variants(r, "mlp") if n != "3_1"]
    rows = [_model_row(r, "mlp.3_1", "3.1", [str(len(s.get("widths_3_1", [0, 0, 0, 0])) - 2)])]
    for n in depth:
        hidden = "".join(ch for ch in n.rsplit("depth", 1)[-1] if ch.isdigit()) or "?"
        rows.append(_model_row(r, f"mlp.{n}", n.replace("_", ".", 1).replace("_", " "), [hidden]))
    accs = {n: r.value(f"mlp.{n}.test_acc") for n in ["3_1", *depth]}
    best = max(accs, key=accs.get)
    gap = r.value("mlp.3_1.train_acc") - r.value("mlp.3_1.test_acc")
    return {
        "table": {"header": ["model", "hidden layers", "parameters", "train acc.", "test acc.", "train time"],
                  "rows": rows, "align": "lrrrrr"},
        "params": fmt(r.value("mlp.3_1.params")), "test_acc": r.pct("mlp.3_1.test_acc"),
        "train_acc": r.pct("mlp.3_1.train_acc"), "train_s": r.num("mlp.3_1.train_s", 1, "s"),
        "overfits": gap > 0.01, "gap": f"{100 * gap:.1f}",
        "n_depth": str(len(depth)), "best": best.replace("_", ".", 1).replace("_", " "),
        "best_acc": r.pct(f"mlp.{best}.test_acc"), "depth_helped": best != "3_1"
        and compare(r, f"mlp.{best}.test_acc", "mlp.3_1.test_acc") == "better",
        "spread": f"{100 * (max(accs.values()) - min(accs.values())):.2f}",
        "search": s.get("search"), "figs": _other_figures(r, "mlp", set()),
    }


def cnn(r: Results) -> dict[str, Any]:
    r.summary("cnn")
    variants = [n for n in _variants(r, "cnn") if n != "4_1"]
    rows = [[*_model_row(r, f"cnn.{n}", n.replace("_", ".", 1).replace("_", " ")), r.num(f"cnn.{n}.test_s", 2, "s")]
            for n in ["4_1", *variants]]
    accs = {n: r.value(f"cnn.{n}.test_acc") for n in ["4_1", *variants]}
    best = max(accs, key=accs.get)
    has_mlp = r.has("mlp.3_1.test_acc") and r.has("mlp.3_1.params")
    out: dict[str, Any] = {
        "table": {"header": ["model", "parameters", "train acc.", "test acc.", "train time", "test time"],
                  "rows": rows},
        "params": fmt(r.value("cnn.4_1.params")), "test_acc": r.pct("cnn.4_1.test_acc"),
        "train_acc": r.pct("cnn.4_1.train_acc"), "best": best.replace("_", ".", 1).replace("_", " "),
        "best_acc": r.pct(f"cnn.{best}.test_acc"), "n_variants": str(len(variants)),
        "best_is_41": best == "4_1", "has_mlp": has_mlp, "figs": _other_figures(r, "cnn", set()),
    }
    if has_mlp:
        out |= {"mlp_acc": r.pct("mlp.3_1.test_acc"),
                "ratio": f"{r.value('mlp.3_1.params') / r.value('cnn.4_1.params'):.1f}",
                "vs_mlp": compare(r, "cnn.4_1.test_acc", "mlp.3_1.test_acc")}
    return out
