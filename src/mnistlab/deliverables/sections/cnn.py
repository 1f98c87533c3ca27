"""Task 4: CNNs. Structure (filters, strides, multiply-adds) comes from cnn/summary.json; every accuracy and
time from metrics.json (`cnn.<name>.*`, and `mlp.3_1.*` for the comparison with the MLP), which carries the
spread over seeds with profile paper. Times use the measure the study's figures plot (`time_measure`)."""

from __future__ import annotations

from typing import Any

from mnistlab.deliverables import claims
from mnistlab.deliverables.results import Results, fmt, plural
from mnistlab.deliverables.sections.common import compare, figures, gap_points, label, n_test, need, time_measure


def _vs_mlp(r: Results, names: list[str], n: int, t_key: str, epochs: dict[str, int],
            macs_41: float) -> dict[str, Any]:
    """CNN 4.1 against MLP 3.1: accuracy (noise rule), parameters, multiply-adds and time per epoch."""
    if not (r.has("mlp.3_1.test_acc") and r.has("mlp.3_1.params") and r.has(f"mlp.3_1.{t_key}")):
        return {"has_mlp": False}
    mlp_epochs = int(r.summaries.get("mlp", {}).get("recipe", {}).get("epochs", 0) or r.value("mlp.3_1.epochs"))
    cnn_epoch = r.value(f"cnn.4_1.{t_key}") / epochs["4_1"]
    mlp_epoch = r.value(f"mlp.3_1.{t_key}") / mlp_epochs
    beat = [m for m in names if r.value(f"cnn.{m}.params") < r.value("mlp.3_1.params")
            and compare(r, f"cnn.{m}.test_acc", "mlp.3_1.test_acc", n) == claims.BETTER]
    return {"has_mlp": True, "mlp_acc": r.pct("mlp.3_1.test_acc"),
            "ratio": f"{r.value('mlp.3_1.params') / r.value('cnn.4_1.params'):.1f}",
            "vs_mlp": compare(r, "cnn.4_1.test_acc", "mlp.3_1.test_acc", n),
            "vs_mlp_gap": gap_points(r, "cnn.4_1.test_acc", "mlp.3_1.test_acc"),
            "cnn_epoch_s": fmt(cnn_epoch, 1), "mlp_epoch_s": fmt(mlp_epoch, 1),
            "cnn_slower": cnn_epoch > mlp_epoch,
            "time_ratio": f"{max(cnn_epoch, mlp_epoch) / min(cnn_epoch, mlp_epoch):.1f}",
            # A dense layer does one multiply-add per weight and image; a conv layer one per weight and position.
            "mlp_macs": f"{r.value('mlp.3_1.params') / 1e6:.1f} M",
            "macs_ratio": f"{macs_41 / r.value('mlp.3_1.params'):.1f}",
            "n_beat_mlp": str(len(beat)) if beat else "None", "n_cnn": str(len(names))}


def cnn(r: Results) -> dict[str, Any]:
    s = r.summary("cnn")
    table = s["table"]
    t_key, t_unit = time_measure(table)
    e_key, _ = time_measure(table, "test")
    k = "cnn.{}.{}".format
    rows = [[label(m["name"]), "-".join(map(str, m["filters"])), "-".join(map(str, m["strides"])),
             fmt(r.value(k(m["name"], "params"))), f"{m['macs'] / 1e6:.1f} M", r.pct(k(m["name"], "test_acc")),
             r.num(k(m["name"], t_key), 1), r.num(k(m["name"], e_key), 0, "", 1000)] for m in table]
    names = [m["name"] for m in table]
    acc = {m: r.value(k(m, "test_acc")) for m in names}
    best = max(acc, key=acc.get)
    n = n_test(r, "cnn")
    # Per epoch, because a profile may give 4.1 more epochs than the variants (quick does).
    epochs = {m: (s["recipe"] if m == "4_1" else s.get("variant_recipe", s["recipe"]))["epochs"] for m in names}
    slowest = max(names, key=lambda m: r.value(k(m, t_key)) / epochs[m])
    macs = {m["name"]: m["macs"] for m in table}
    params = {m: r.value(k(m, "params")) for m in names}
    about = {m["name"]: str(m.get("about", "")) for m in table if m["name"] != "4_1"}
    figs = figures(r, "cnn", "4_1_curves", "4_2_variants", "4_2_curves", "cnn_vs_mlp")
    need(figs["4_1_curves"], "cnn/figures/4_1_curves")
    return {
        "table": {"header": ["model", "filters", "strides", "parameters", "mult-adds", "test acc.",
                             f"train ({t_unit})", f"test ({'CPU ms' if t_unit == 'CPU s' else 'ms'})"],
                  "rows": rows, "align": "llcrrrrr"},
        "variants": "; ".join(f"{label(m)}: {a}" for m, a in about.items()),
        "epochs": plural(s["recipe"]["epochs"], "epoch"),
        "variant_epochs": plural(s.get("variant_recipe", s["recipe"])["epochs"], "epoch"),
        "bs": str(s["recipe"]["batch_size"]), "lr": f"{s['recipe']['lr']:g}",
        "smoothing": f"{s['recipe'].get('label_smoothing', 0):g}",
        "params": fmt(params["4_1"]), "test_acc": r.pct("cnn.4_1.test_acc"), "train_acc": r.pct("cnn.4_1.train_acc"),
        "macs": f"{macs['4_1'] / 1e6:.1f} M",
        "variants_shorter": min(epochs.values()) < epochs["4_1"],
        "n_variants": str(len(names) - 1), "best": label(best), "best_acc": r.pct(k(best, "test_acc")),
        "best_is_41": best == "4_1",
        "best_vs_41": compare(r, k(best, "test_acc"), "cnn.4_1.test_acc", n) if best != "4_1" else "tie",
        "slowest": label(slowest), "slowest_most_macs": slowest == max(macs, key=macs.get),
        "slowest_most_params": slowest == max(params, key=params.get),
        "cpu_time": t_unit == "CPU s", "fig": figs, **_vs_mlp(r, names, n, t_key, epochs, macs["4_1"]),
    }
