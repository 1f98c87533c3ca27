"""Task 3: MLPs. Structure (widths, the search grid) comes from mlp/summary.json; every accuracy and time from
metrics.json (`mlp.<name>.*`), which carries the spread over seeds with profile paper. Times use the measure the
study's figures plot (`time_measure`)."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from mnistlab.deliverables import claims
from mnistlab.deliverables.results import Results, fmt, plural
from mnistlab.deliverables.sections.common import compare, figures, gap_points, label, n_test, need, time_measure


def _widths(w: list[int]) -> str:
    hidden = w[1:-1]
    return f"{len(hidden)} \u00d7 {hidden[0]}" if len(set(hidden)) == 1 else "-".join(map(str, hidden))


def _search(s: dict[str, Any]) -> dict[str, Any]:
    """The 3.1 search: grid table, epoch budgets and the chosen recipe. Its times are wall seconds (the only
    time the search records), and its table and figure say so."""
    search = s.get("search") or {}
    if not search.get("searched"):
        return {"searched": False}
    chosen = search["chosen"]
    rows = [[str(g["batch_size"]), f"{g['lr']:g}", f"{100 * g['val_acc']:.2f}%", f"{g['train_s']:.1f}",
             "\u2713" if (g["batch_size"], g["lr"]) == (chosen["batch_size"], chosen["lr"]) else ""]
            for g in search["grid"]]
    budgets = search.get("budgets", [])
    return {
        "searched": True,
        "table": {"header": ["batch size", "learning rate", "val. acc.", "time (wall s)", "chosen"], "rows": rows,
                  "align": "rrrrc"},
        "n_grid": str(len(rows)), "val_size": fmt(float(search["val_size"])),
        "train_size": fmt(float(search["train_size"])), "tol": f"{100 * search['tol']:.2f}",
        "budgets": plural(", ".join(str(b["epochs"]) for b in budgets), "epoch"), "n_budgets": len(budgets),
        "bs": str(chosen["batch_size"]), "lr": f"{chosen['lr']:g}",
        "val_acc": f"{100 * chosen['val_acc']:.2f}%",
    }


def _depth(r: Results, table: list[dict[str, Any]], n: int) -> dict[str, Any]:
    """The 3.2 comparison, every verdict under the noise rule."""
    names = [m["name"] for m in table]
    acc = {m: r.value(f"mlp.{m}.test_acc") for m in names}
    best = max(acc, key=acc.get)
    by_depth = [m["name"] for m in sorted(table, key=lambda m: m["hidden_layers"])]
    deepest = by_depth[-1]
    falls = all(acc[a] >= acc[b] for a, b in pairwise(by_depth))
    train = {m: r.value(f"mlp.{m}.train_acc") for m in names}
    variants = [m for m in by_depth if m != "3_1"]
    widths = {m["name"]: m["widths"][1] for m in table}
    return {
        "best": label(best), "best_acc": r.pct(f"mlp.{best}.test_acc"), "best_is_31": best == "3_1",
        "best_vs_31": compare(r, f"mlp.{best}.test_acc", "mlp.3_1.test_acc", n) if best != "3_1" else "tie",
        "deepest": label(deepest), "deepest_acc": r.pct(f"mlp.{deepest}.test_acc"),
        "deepest_vs_31": compare(r, f"mlp.{deepest}.test_acc", "mlp.3_1.test_acc", n),
        "deepest_gap": gap_points(r, f"mlp.{deepest}.test_acc", "mlp.3_1.test_acc"),
        "falls_with_depth": falls and compare(r, f"mlp.{by_depth[1]}.test_acc", f"mlp.{deepest}.test_acc", n)
        == claims.BETTER,
        "train_falls": len(variants) > 1 and all(train[a] > train[b] for a, b in pairwise(variants)),
        "shallow_variant": label(variants[0]) if variants else "", "shallow_acc": r.pct(f"mlp.{variants[0]}.test_acc")
        if variants else "", "width_31": fmt(widths.get("3_1", 0)), "width_deepest": fmt(widths[deepest]),
        "params_lo": fmt(min(r.value(f"mlp.{m}.params") for m in names)),
        "params_hi": fmt(max(r.value(f"mlp.{m}.params") for m in names)),
        "train_lags": [label(m) for m in names if r.value(f"mlp.{m}.train_acc") < acc[m]] != [],
    }


def mlp(r: Results) -> dict[str, Any]:
    s = r.summary("mlp")
    recipe, table = s["recipe"], s["depth_table"]
    t_key, t_unit = time_measure(table)
    rows = [[label(m["name"]), str(m["hidden_layers"]), _widths(m["widths"]), fmt(r.value(f"mlp.{m['name']}.params")),
             r.pct(f"mlp.{m['name']}.train_acc"), r.pct(f"mlp.{m['name']}.test_acc"),
             r.num(f"mlp.{m['name']}.{t_key}", 1)] for m in table]
    n = n_test(r, "mlp")
    gap = r.value("mlp.3_1.train_acc") - r.value("mlp.3_1.test_acc")
    figs = figures(r, "mlp", "3_1_curves", "3_1_search", "3_2_depth")
    need(figs["3_1_curves"], "mlp/figures/3_1_curves")
    return {
        "table": {"header": ["model", "hidden", "widths", "parameters", "train acc.", "test acc.",
                             f"train time ({t_unit})"], "rows": rows, "align": "lrlrrrr"},
        "search": _search(s), "bs": str(recipe["batch_size"]), "lr": f"{recipe['lr']:g}",
        "epochs": plural(recipe["epochs"], "epoch"), "depth_epochs": plural(recipe["depth_epochs"], "epoch"),
        "depth_shorter": recipe["depth_epochs"] < recipe["epochs"],
        "onecycle": recipe.get("schedule") == "onecycle", "smoothing": f"{recipe.get('label_smoothing', 0):g}",
        "params": fmt(r.value("mlp.3_1.params")), "test_acc": r.pct("mlp.3_1.test_acc"),
        "train_acc": r.pct("mlp.3_1.train_acc"), "gap": f"{100 * abs(gap):.2f}",
        "train_n": fmt((s.get("curves", {}).get("3_1") or [{}])[-1].get("train_n", 0)),
        "train_vs_test": compare(r, "mlp.3_1.train_acc", "mlp.3_1.test_acc", n),
        "n_depth": str(len(table) - 1), **_depth(r, table, n),
        "cpu_time": t_unit == "CPU s", "fig": figs,
    }
