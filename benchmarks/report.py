"""results.json -> Markdown tables (the "Throughput against the peers" section of docs/BENCHMARKS.md).

Every number printed here is read from results.json; nothing is typed by hand. Ratios are medians of per-repeat
ratios: trials of one repeat ran minutes apart, so pairing them cancels most of the shared machine's drift."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from benchmarks.suite import TARGETS

SECTION = "## Throughput against the peers, time-to-accuracy, the full study (issue 8)"
NAMES = {"mlp_3_1": "MLP 3.1", "cnn_4_1": "CNN 4.1", "fashion_items": "Fashion items"}
RUNNERS = {"dataloader": "PyTorch DataLoader loop", "keras": "Keras fit", "keras-bf16": "Keras fit, mixed bf16"}


def _label(runner: str, variant: str) -> str:
    return f"ours: {variant}" if runner == "ours" else RUNNERS.get(runner, runner)


def _ok(trials: list[dict[str, Any]], model: str, runner: str, variant: str) -> list[dict[str, Any]]:
    return [t for t in trials if t["model"] == model and t["runner"] == runner and t["variant"] == variant
            and "error" not in t]


def _ratio(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> float | None:
    """Median over repeats of a's images/s over b's, pairing trials of the same repeat."""
    by_rep = {t["repeat"]: t["images_per_s"] for t in b}
    pairs = [t["images_per_s"] / by_rep[t["repeat"]] for t in a if t["repeat"] in by_rep]
    return statistics.median(pairs) if pairs else None


def _x(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f}x"


def throughput_table(res: dict[str, Any], model: str) -> list[str]:
    trials, peak, flops = res["trials"], res["peak"], res["flops"][model]
    keras, default = _ok(trials, model, "keras", ""), _ok(trials, model, "ours", "default")
    lines = [f"**{NAMES[model]}** ({res['params'][model]:,} parameters, {flops / 1e6:.1f} MFLOP per training "
             "image)", "",
             "| runner | precision | images/s median (min-max) | vs Keras fit | vs ours default | GFLOP/s | "
             "% of matmul peak | test acc after budget | warm-up s | CPU util |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    seen = dict.fromkeys((t["runner"], t["variant"]) for t in trials if t["model"] == model)
    for runner, variant in seen:
        ok = _ok(trials, model, runner, variant)
        if not ok:
            err = next(t["error"] for t in trials if t["model"] == model and t["runner"] == runner
                       and t["variant"] == variant)
            lines.append(f"| {_label(runner, variant)} | | failed: {err[:90]} | | | | | | | |")
            continue
        ips = [t["images_per_s"] for t in ok]
        med, prec = statistics.median(ips), ok[0].get("precision", "fp32")
        gflops = med * flops / 1e9
        of_peak = f"{100 * gflops / peak[prec]:.0f}%" if prec in peak else "n/a"
        acc = statistics.median(t["test_acc"] for t in ok)
        util = statistics.median(t["cpu_util"] for t in ok if "cpu_util" in t) if "cpu_util" in ok[0] else None
        params = ok[0].get("params")
        flag = " (params differ!)" if params is not None and params != res["params"][model] else ""
        lines.append(f"| {_label(runner, variant)}{flag} | {prec} | {med:,.0f} ({min(ips):,.0f}-{max(ips):,.0f}) | "
                     f"{_x(_ratio(ok, keras))} | {_x(_ratio(ok, default))} | {gflops:.0f} | {of_peak} | "
                     f"{acc:.4f} | {statistics.median(t['warmup_s'] for t in ok):.1f} | "
                     f"{'n/a' if util is None else f'{util:.2f}'} |")
    return [*lines, ""]


def summary_table(res: dict[str, Any]) -> list[str]:
    trials, peak = res["trials"], res["peak"]
    lines = ["| model | ours default, images/s | Keras fit, images/s | ours / Keras (target >= 1.5x) | "
             "ours / DataLoader loop | ours, % of matmul peak |", "| --- | --- | --- | --- | --- | --- |"]
    for m in res["plan"]["models"]:
        ours = _ok(trials, m, "ours", "default")
        keras, loader = _ok(trials, m, "keras", ""), _ok(trials, m, "dataloader", "")
        med = statistics.median(t["images_per_s"] for t in ours) if ours else None
        kmed = statistics.median(t["images_per_s"] for t in keras) if keras else None
        prec = ours[0]["precision"] if ours else "fp32"
        of_peak = f"{100 * med * res['flops'][m] / 1e9 / peak[prec]:.0f}% of {prec}" if med and prec in peak \
            else "n/a"
        lines.append(f"| {NAMES[m]} | {'n/a' if med is None else f'{med:,.0f}'} | "
                     f"{'n/a' if kmed is None else f'{kmed:,.0f}'} | {_x(_ratio(ours, keras))} | "
                     f"{_x(_ratio(ours, loader))} | {of_peak} |")
    return [*lines, ""]


def tta_table(res: dict[str, Any]) -> list[str]:
    rows = res.get("tta", [])
    if not rows:
        return []
    lines = ["| model | target (test acc) | ours: s (epochs) | Keras fit: s (epochs) | Keras / ours time | "
             "Keras / ours time per epoch |", "| --- | --- | --- | --- | --- | --- |"]

    def cell(r: dict[str, Any] | None) -> str:
        if r is None or "error" in r:
            return "failed" if r else "not run"
        if not r["reached"]:
            return f"not reached (best {r['best_acc']:.4f})"
        return f"{r['seconds']:.0f} ({r['epochs']})"

    for m in res["plan"]["models"]:
        ours = next((r for r in rows if r["model"] == m and r["runner"] == "ours"), None)
        keras = next((r for r in rows if r["model"] == m and r["runner"] == "keras"), None)
        both = ours and keras and ours.get("seconds") and keras.get("seconds")
        ratio = f"{keras['seconds'] / ours['seconds']:.2f}x" if both else "n/a"
        # per epoch: the part of the ratio that does not depend on how many epochs this seed happened to need
        per_epoch = f"{keras['seconds'] / keras['epochs'] / (ours['seconds'] / ours['epochs']):.2f}x" if both else "n/a"
        lines.append(f"| {NAMES[m]} | {TARGETS[m]:.3f} | {cell(ours)} | {cell(keras)} | {ratio} | {per_epoch} |")
    return [*lines, ""]


def floor_table(res: dict[str, Any]) -> list[str]:
    """A lower bound on a training step: the FLOPs at the measured matmul peak plus the Adam update's memory
    traffic (fused: read parameter, gradient and two moments, write three: 28 bytes per fp32 parameter) at the
    measured copy bandwidth. Everything else (activations, casts, the Python loop) is what we could still cut."""
    bw, peak = res.get("bandwidth_gbs"), res["peak"]
    if not bw or not peak:
        return []
    lines = ["| model | precision | compute at peak, ms/step | Adam at bandwidth, ms/step | floor, images/s | "
             "ours default, images/s | ours / floor |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for m in res["plan"]["models"]:
        ours = _ok(res["trials"], m, "ours", "default")
        prec = ours[0]["precision"] if ours else "bf16" if "bf16" in peak else "fp32"
        compute = res["flops"][m] * 128 / (peak[prec] * 1e9)
        adam = res["params"][m] * 28 / (bw * 1e9)
        floor = 128 / (compute + adam)
        med = statistics.median(t["images_per_s"] for t in ours) if ours else None
        lines.append(f"| {NAMES[m]} | {prec} | {1000 * compute:.1f} | {1000 * adam:.1f} | {floor:,.0f} | "
                     f"{'n/a' if med is None else f'{med:,.0f}'} | "
                     f"{'n/a' if med is None else f'{100 * med / floor:.0f}%'} |")
    return [f"Floor of a training step of 128 (measured copy bandwidth {bw:.1f} GB/s):", "", *lines, ""]


def profile_tables(res: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    profiles = res.get("profile", {})
    for m in [m for m in res["plan"]["models"] if m in profiles] + sorted(set(profiles) - set(res["plan"]["models"])):
        rows = profiles[m]  # in the plan's order: results.json stores the models sorted
        lines += [f"*{NAMES[m]}*, ours default, one training step of 128:", "",
                  "| operator | ms per step (self) | share of the step | calls per step |", "| --- | --- | --- | --- |"]
        lines += [f"| `{r['op']}` | {r['ms_per_step']:.2f} | {100 * r['share']:.0f}% | {r['calls_per_step']:.0f} |"
                  for r in rows]
        lines.append("")
    return lines


def study_times_table(times: dict[str, dict[str, float]]) -> list[str]:
    """times = {run label: {study: seconds}} from runs' metrics.json `time.<study>.s` keys."""
    if not times:
        return []
    from mnistlab.config import STUDIES

    found = {s for t in times.values() for s in t}
    studies = [s for s in STUDIES if s in found] + sorted(found - set(STUDIES))  # the pipeline's order
    lines = ["| run | " + " | ".join(studies) + " | total |", "| --- " * (len(studies) + 2) + "|"]
    for label, t in times.items():
        cells = [f"{t[s] / 60:.1f}" if s in t else "" for s in studies]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {sum(t.values()) / 60:.1f} |")
    return ["Minutes per study, from the run's `metrics.json` (`time.<study>.s`):", "", *lines, ""]


def render(res: dict[str, Any], command: str, times: dict[str, dict[str, float]] | None = None,
           protocol: list[dict[str, Any]] | None = None, checks: list[dict[str, Any]] | None = None) -> str:
    """The whole section `mnistlab bench --write-docs` writes: heading, the report, how to reproduce it."""
    lines = [SECTION, "", *_lines(res, command, times, protocol, checks, 3), *REPRODUCE]
    return "\n".join(lines).rstrip() + "\n"


def body(res: dict[str, Any], command: str, level: int = 3) -> str:
    """The report alone (no section heading, no reproduce lines), its headings at `level`: for a marked block of
    docs/BENCHMARKS.md inside a section of its own."""
    return "\n".join(_lines(res, command, None, None, None, level)).rstrip() + "\n"


def _lines(res: dict[str, Any], command: str, times: dict[str, dict[str, float]] | None,
           protocol: list[dict[str, Any]] | None, checks: list[dict[str, Any]] | None, level: int) -> list[str]:
    mc, plan, h = res["machine"], res["plan"], "#" * level + " "
    out = [f"`{command}`, {mc['date']}, {mc.get('bench_wall_s', 0) / 60:.0f} min wall time.",
           f"Machine: {mc['cpu']}, {mc['cores']} cores ({mc['threads']} compute threads)"
           f"{', GPU ' + mc['gpu'] if mc.get('gpu') else ''}, "
           f"Python {mc['python']}, torch {mc['torch']}, numpy {mc['numpy']}"
           + _keras_version(res) + f". Load average (1 min) at start {mc['loadavg_start']:.1f}, at end "
           f"{mc.get('loadavg_end', float('nan')):.1f}: above {mc['cores']} means other processes shared the cores.",
           "", *_noisy(mc), "Protocol: batch 128, Adam 1e-3; each throughput trial trains a fresh model for one "
           f"warm-up epoch plus {plan['timed_epochs']} timed epoch(s) over the first {plan['images']:,} training "
           f"images; {plan['repeats']} interleaved repeats (seeds 0..{plan['repeats'] - 1}), medians. Test accuracy "
           "is on all 10,000 test images after those epochs (the same short budget for every runner). CPU util = CPU "
           "time / (wall x threads) during the timed epochs.", ""]
    if res["peak"]:
        out += ["Measured matmul peak (square matmuls of 1024, 2048, 4096, best of 3 each): " + ", ".join(
            f"{k} {v:,.0f} GFLOP/s" for k, v in res["peak"].items()) + ".", ""]
    if res["trials"]:
        out += [h + "Summary", "", *summary_table(res), h + "Every runner and switch", ""]
        for m in plan["models"]:
            out += throughput_table(res, m)
    if checks:
        out += check_section(checks)
    if res.get("tta"):
        out += [h + "Time to accuracy", "", "Full training set, test accuracy after every epoch, wall time from "
                "the start of training (evaluation included) to the first epoch at or above the target; seed 0, "
                "our default settings against Keras fit fp32.", "", *tta_table(res)]
    if res.get("profile") or res.get("bandwidth_gbs"):
        out += [h + "Where the time goes", "", *floor_table(res), *profile_tables(res)]
    if protocol:
        from benchmarks.protocol import table

        dates = sorted({r.get("date", "") for r in protocol} - {""})
        when = (f", {dates[0]} to {dates[-1]}" if dates else "") + (
            f", {protocol[0]['threads']} thread(s)" if "threads" in protocol[0] else "")
        out += [h + "Protocol search (validation slice)", "", f"`benchmarks/protocol.py`{when}: each candidate "
                "trains a fresh model on training images minus a seeded 5,000-image validation slice, validation "
                "accuracy after every epoch (the test set is not used). One-cycle counts only at its last epoch. "
                "Train seconds share the machine's load noted above.", "", table(protocol), ""]
    if times:
        out += [h + "The full study", "", *study_times_table(times)]
    if res.get("notes"):
        out += ["Notes:", "", *[f"- {n}" for n in res["notes"]], ""]
    return out


REPRODUCE = ["### Reproduce", "", "```bash", "make bench ARGS=--write-docs          # everything above (installs "
            "TensorFlow into benchmarks/.keras-venv once)", ".venv/bin/mnistlab bench --quick       # a few minutes, "
            "no compile / Keras bf16 / time-to-accuracy", ".venv/bin/mnistlab bench --threads 1   # one compute "
            "thread for every runner (steadier on a shared machine)",
            ".venv/bin/mnistlab bench --from-results benchmarks/results/<date>-<machine>/peers/results.json "
            "--study-times cpu=runs/full-s0 --write-docs", ".venv/bin/python -m benchmarks protocol --models mlp_3_1 "
            "--epochs 4,8   # epochs / schedule search on the validation slice", "```", ""]


def _noisy(mc: dict[str, Any]) -> list[str]:
    """A warning when the machine was shared: the load average exceeded the core count at start or end."""
    load = max(mc["loadavg_start"], mc.get("loadavg_end", 0.0))
    if load <= mc["cores"]:
        return []
    return [f"**Preliminary: the machine was shared** (load average up to {load:.1f} on {mc['cores']} cores); "
            "absolute numbers are low and noisy, ratios within a repeat are the more reliable part. Re-run on a "
            "quiet machine for final numbers.", ""]


def _keras_version(res: dict[str, Any]) -> str:
    keras = next((t for t in res["trials"] + res.get("tta", []) if "framework" in t), None)
    return f", {keras['framework']} (on {'GPU' if keras.get('gpu') else 'CPU'})" if keras else ""


def check_section(checks: list[dict[str, Any]]) -> list[str]:
    """Extra throughput runs shown apart (their own budgets and repeats, so never pooled with the main tables):
    e.g. a longer timing window that cross-checks the main run's ratios."""
    out = ["### Cross-checks", ""]
    for res in checks:
        mc, plan = res["machine"], res["plan"]
        out += [f"`{res.get('command', 'mnistlab bench')}`, {mc['date']}, {mc['threads']} thread(s), "
                f"{plan['images']:,} images per timed epoch, {plan['repeats']} repeat(s), load average "
                f"{mc['loadavg_start']:.1f} to {mc.get('loadavg_end', float('nan')):.1f}:", ""]
        for m in plan["models"]:
            if any(t["model"] == m for t in res["trials"]):
                out += throughput_table(res, m)
    return out


def merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Several results.json into one report: machine, plan and peaks of the first; trials, time-to-accuracy rows,
    profiles and notes of all; the commands joined. Meant for runs of disjoint phases or models."""
    res = {**parts[0], "trials": [], "tta": [], "profile": {}, "notes": [], "flops": {}, "params": {}}
    for part in parts:
        res["trials"] += part.get("trials", [])
        res["tta"] += part.get("tta", [])
        for key in ("profile", "flops", "params"):
            res[key].update(part.get(key, {}))
        res["notes"] += part.get("notes", [])
    res["command"] = "`, then `".join(p.get("command", "mnistlab bench") for p in parts)
    if len(parts) > 1:
        res["machine"] = {**res["machine"], "bench_wall_s": sum(p["machine"].get("bench_wall_s", 0) for p in parts),
                          "loadavg_end": parts[-1]["machine"].get("loadavg_end", float("nan"))}
    return res


def write_docs(doc: Path, section: str) -> None:
    """Replace our section of docs/BENCHMARKS.md (from its heading to the next '## ' heading) with `section`."""
    from benchmarks.docs import replace_section

    replace_section(doc, SECTION, section)
