"""Tasks 3 and 4: MLPs and CNNs. Structure (widths, filters, the search grid) comes from the studies'
summary.json; every accuracy and time from metrics.json (`mlp.<name>.*`, `cnn.<name>.*`), which carries the
spread over seeds with profile paper."""

from __future__ import annotations

from typing import Any

from mnistlab.report.results import Results, fmt, plural
from mnistlab.report.sections.common import compare, figures, need


def label(name: str) -> str:
    """'3_2_depth4' -> '3.2 depth4', '4_2_wide' -> '4.2 wide', '3_1' -> '3.1'."""
    return name.replace("_", ".", 1).replace("_", " ")


def _widths(w: list[int]) -> str:
    hidden = w[1:-1]
    return f"{len(hidden)} \u00d7 {hidden[0]}" if len(set(hidden)) == 1 else "-".join(map(str, hidden))


def _search(s: dict[str, Any]) -> dict[str, Any]:
    """The 3.1 search: grid table, epoch budgets and the chosen recipe."""
    search = s.get("search") or {}
    if not search.get("searched"):
        return {"searched": False}
    chosen = search["chosen"]
    rows = [[str(g["batch_size"]), f"{g['lr']:g}", f"{100 * g['val_acc']:.2f}%", f"{g['train_s']:.1f} s",
             "\u2713" if (g["batch_size"], g["lr"]) == (chosen["batch_size"], chosen["lr"]) else ""]
            for g in search["grid"]]
    budgets = search.get("budgets", [])
    return {
        "searched": True,
        "table": {"header": ["batch size", "learning rate", "val. acc.", "time", "chosen"], "rows": rows,
                  "align": "rrrrc"},
        "n_grid": str(len(rows)), "val_size": fmt(float(search["val_size"])),
        "train_size": fmt(float(search["train_size"])), "tol": f"{100 * search['tol']:.2f}",
        "budgets": plural(", ".join(str(b["epochs"]) for b in budgets), "epoch"), "n_budgets": len(budgets),
        "bs": str(chosen["batch_size"]), "lr": f"{chosen['lr']:g}",
        "val_acc": f"{100 * chosen['val_acc']:.2f}%",
    }


def mlp(r: Results) -> dict[str, Any]:
    s = r.summary("mlp")
    recipe, table = s["recipe"], s["depth_table"]
    rows = [[label(m["name"]), str(m["hidden_layers"]), _widths(m["widths"]), fmt(r.value(f"mlp.{m['name']}.params")),
             r.pct(f"mlp.{m['name']}.train_acc"), r.pct(f"mlp.{m['name']}.test_acc"),
             r.num(f"mlp.{m['name']}.train_s", 1, "s")] for m in table]
    names = [m["name"] for m in table]
    acc = {n: r.value(f"mlp.{n}.test_acc") for n in names}
    best = max(acc, key=acc.get)
    deepest = max(table, key=lambda m: m["hidden_layers"])["name"]
    gap = r.value("mlp.3_1.train_acc") - r.value("mlp.3_1.test_acc")
    figs = figures(r, "mlp", "3_1_curves", "3_1_search", "3_2_depth")
    need(figs["3_1_curves"], "mlp/figures/3_1_curves")
    return {
        "table": {"header": ["model", "hidden", "widths", "parameters", "train acc.", "test acc.", "train time"],
                  "rows": rows, "align": "lrlrrrr"},
        "search": _search(s), "bs": str(recipe["batch_size"]), "lr": f"{recipe['lr']:g}",
        "epochs": plural(recipe["epochs"], "epoch"), "depth_epochs": plural(recipe["depth_epochs"], "epoch"),
        "depth_shorter": recipe["depth_epochs"] < recipe["epochs"],
        "onecycle": recipe.get("schedule") == "onecycle", "smoothing": f"{recipe.get('label_smoothing', 0):g}",
        "params": fmt(r.value("mlp.3_1.params")), "test_acc": r.pct("mlp.3_1.test_acc"),
        "train_acc": r.pct("mlp.3_1.train_acc"), "overfits": gap > 0.01, "gap": f"{100 * abs(gap):.1f}",
        "train_below_test": gap < 0,
        "n_depth": str(len(table) - 1), "best": label(best), "best_acc": r.pct(f"mlp.{best}.test_acc"),
        "best_is_31": best == "3_1",
        "depth_helped": best != "3_1" and compare(r, f"mlp.{best}.test_acc", "mlp.3_1.test_acc") == "better",
        "deepest": label(deepest), "deepest_acc": r.pct(f"mlp.{deepest}.test_acc"),
        "deepest_worst": min(acc, key=acc.get) == deepest,
        "spread": f"{100 * (max(acc.values()) - min(acc.values())):.2f}",
        "params_lo": fmt(min(r.value(f"mlp.{n}.params") for n in names)),
        "params_hi": fmt(max(r.value(f"mlp.{n}.params") for n in names)),
        "fig": figs,
    }


def cnn(r: Results) -> dict[str, Any]:
    s = r.summary("cnn")
    table = s["table"]
    k = "cnn.{}.{}".format
    rows = [[label(m["name"]), "-".join(map(str, m["filters"])), "-".join(map(str, m["strides"])),
             fmt(r.value(k(m["name"], "params"))), f"{m['macs'] / 1e6:.1f} M", r.pct(k(m["name"], "test_acc")),
             r.num(k(m["name"], "train_s"), 1, "s"), r.num(k(m["name"], "test_s"), 0, "ms", 1000)] for m in table]
    names = [m["name"] for m in table]
    acc = {n: r.value(k(n, "test_acc")) for n in names}
    best = max(acc, key=acc.get)
    # Per epoch, because a profile may give 4.1 more epochs than the variants (quick does).
    epochs = {n: (s["recipe"] if n == "4_1" else s.get("variant_recipe", s["recipe"]))["epochs"] for n in names}
    slowest = max(names, key=lambda n: r.value(k(n, "train_s")) / epochs[n])
    macs = {m["name"]: m["macs"] for m in table}
    params = {n: r.value(k(n, "params")) for n in names}
    about = {m["name"]: str(m.get("about", "")) for m in table if m["name"] != "4_1"}
    figs = figures(r, "cnn", "4_1_curves", "4_2_variants", "4_2_curves", "cnn_vs_mlp")
    need(figs["4_1_curves"], "cnn/figures/4_1_curves")
    has_mlp = r.has("mlp.3_1.test_acc") and r.has("mlp.3_1.params")
    out: dict[str, Any] = {
        "table": {"header": ["model", "filters", "strides", "parameters", "mult-adds", "test acc.", "train time",
                             "test time"], "rows": rows, "align": "llcrrrrr"},
        "variants": "; ".join(f"{label(n)}: {a}" for n, a in about.items()),
        "epochs": plural(s["recipe"]["epochs"], "epoch"),
        "variant_epochs": plural(s.get("variant_recipe", s["recipe"])["epochs"], "epoch"),
        "bs": str(s["recipe"]["batch_size"]), "lr": f"{s['recipe']['lr']:g}",
        "smoothing": f"{s['recipe'].get('label_smoothing', 0):g}",
        "params": fmt(params["4_1"]), "test_acc": r.pct("cnn.4_1.test_acc"), "train_acc": r.pct("cnn.4_1.train_acc"),
        "variants_shorter": min(epochs.values()) < epochs["4_1"],
        "n_variants": str(len(names) - 1), "best": label(best), "best_acc": r.pct(k(best, "test_acc")),
        "best_is_41": best == "4_1",
        "best_vs_41": compare(r, k(best, "test_acc"), "cnn.4_1.test_acc") if best != "4_1" else "tie",
        "slowest": label(slowest), "slowest_most_macs": slowest == max(macs, key=macs.get),
        "slowest_most_params": slowest == max(params, key=params.get),
        "has_mlp": has_mlp, "fig": figs,
    }
    if has_mlp:
        beat = [n for n in names if params[n] < r.value("mlp.3_1.params") and acc[n] > r.value("mlp.3_1.test_acc")]
        out |= {"mlp_acc": r.pct("mlp.3_1.test_acc"),
                "ratio": f"{r.value('mlp.3_1.params') / params['4_1']:.1f}",
                "vs_mlp": compare(r, "cnn.4_1.test_acc", "mlp.3_1.test_acc"),
                "n_beat_mlp": str(len(beat)) if beat else "None", "n_cnn": str(len(names))}
    return out
