"""One-shot GPU check: device tests, the quick and full profiles, throughput; run it through benchmarks/gpu_check.sh.

benchmarks/gpu_check.sh picks the Python and the packages, then runs `python -m benchmarks gpu_check`.

Steps, each a subprocess with its own time limit inside one overall budget (default 540 s, so that the whole check
fits a 10-minute device call), results written after every step so a cut-off run keeps what it measured:
  tests  the tests that touch the device: tests/test_hardware.py (its CUDA tests run only where a GPU is) and the
         host-read / fp16 tests of tests/test_train.py
  quick  `mnistlab run --profile quick --device D` (every study), per-study wall time, accuracies vs the CPU's
  bench  `mnistlab bench`: our engine (default precision and fp32) vs the DataLoader loop of pytorch/examples
  full   `mnistlab run mlp cnn mtl --profile full --device D`: the full profile's networks, as `quick`
Then JSON at --out and a Markdown rendering beside it; with --write-docs (the default for a CUDA run that is not
--smoke) that rendering replaces the "GPU check" section of docs/BENCHMARKS.md. `--smoke` runs the same steps at
smoke sizes (the dry run: `--device cpu --smoke`, about 2 minutes on 2 cores). `--from-json` re-renders results
brought back from a device machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import common

ROOT, DOC = common.ROOT, common.DOC
SECTION = "## GPU check (issue 19)"
TESTS = ["tests/test_hardware.py", "tests/test_train.py::test_host_reads_per_epoch_are_few_and_do_not_grow_with_steps",
         "tests/test_train.py::test_the_host_read_counter_sees_per_step_reads",
         "tests/test_train.py::test_fp16_resumes_in_fp16_with_its_loss_scale"]
STEPS = ("tests", "quick", "bench", "full")
NEEDED = ("torch", "numpy", "sklearn", "matplotlib", "tqdm", "platformdirs", "optuna", "pytest")
# CPU accuracies of the same profiles, seed 0, fp32: 2-core AMD EPYC, torch 2.13.0, 2026-12-02/03 (docs/BENCHMARKS.md,
# "The quick profile" and "The full profile, one seed"). --cpu-ref replaces them with a CPU run folder of your own.
CPU_REFERENCE = {
    "quick": {"mlp.3_1": .9854, "mlp.3_2_depth3": .9779, "mlp.3_2_depth4": .9776, "mlp.3_2_depth5": .9747,
              "mlp.3_2_depth7": .9658, "cnn.4_1": .9911, "cnn.4_2_shallow": .9820, "cnn.4_2_narrow": .9841,
              "cnn.4_2_wide": .9902, "cnn.4_2_deep": .9891, "mtl.single.items": .8827, "mtl.single.groups": .9237},
    "full": {"mlp.3_1": .9863, "mlp.3_2_depth3": .9843, "mlp.3_2_depth4": .9840, "mlp.3_2_depth5": .9843,
             "mlp.3_2_depth7": .9818, "cnn.4_1": .9936, "cnn.4_2_shallow": .9909, "cnn.4_2_narrow": .9929,
             "cnn.4_2_wide": .9942, "cnn.4_2_deep": .9937, "mtl.single.items": .9298, "mtl.single.groups": .9509,
             "mtl.lambda_0.5.items": .9294, "mtl.lambda_0.5.groups": .9533},
}
NETWORKS = re.compile(r"(mlp|cnn)\.[^.]+|mtl\.(single|lambda_0\.5)\.(items|groups)")  # the rows compared
FLAG_PP = 1.0  # accuracy gaps to the CPU above this many percentage points are marked in the report


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="benchmarks/gpu_check.sh", description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    p.add_argument("--smoke", action="store_true", help="smoke sizes everywhere (the dry run)")
    p.add_argument("--out", help="results JSON (default benchmarks/results/<date>-<machine>/gpu_check.json)")
    p.add_argument("--work", default="/tmp/mnistlab-gpu-check", help="scratch folder for the run folders and logs")
    p.add_argument("--budget", type=float, default=540.0, help="seconds for all steps together")
    p.add_argument("--steps", default=",".join(STEPS), help=f"comma list of {', '.join(STEPS)}")
    p.add_argument("--cpu-ref", action="append", default=[], metavar="PROFILE=RUN_DIR",
                   help="a CPU run folder of that profile to compare accuracies with (repeatable)")
    p.add_argument("--write-docs", action=argparse.BooleanOptionalAction, default=None,
                   help=f"replace the GPU-check section of {DOC.name} (default: on for a CUDA run without --smoke)")
    p.add_argument("--from-json", metavar="JSON", help="render earlier results instead of measuring")
    p.add_argument("--python", default=sys.executable, help="the Python that has torch and mnistlab's packages")
    a = p.parse_args(argv)
    if bad := [s for s in a.steps.split(",") if s.strip() not in STEPS]:
        p.error(f"--steps: unknown {', '.join(bad)}; choose from {', '.join(STEPS)}")
    return a


def machine(device: str) -> dict[str, Any]:
    """The machine record (benchmarks/common.py) plus the GPU's capability and memory and torch's CUDA build."""
    import torch

    from mnistlab.hardware import TORCH_SUPPORTED, resolve_precision, torch_in_range

    cuda = device == "cuda"
    cap = torch.cuda.get_device_capability(0) if cuda else None
    return {**common.machine(), "device": device, "gpu": torch.cuda.get_device_name(0) if cuda else None,
            "gpu_capability": f"{cap[0]}.{cap[1]}" if cap else None,
            "gpu_memory_gib": round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1) if cuda else None,
            "precision_auto": resolve_precision("auto", torch.device(device)), "torch_cuda": torch.version.cuda,
            "torch_supported": TORCH_SUPPORTED, "torch_in_range": torch_in_range()}


def run_step(name: str, cmd: list[str], work: Path, limit: float) -> dict[str, Any]:
    """Run `cmd` with its output in work/<name>.log, killed (with its children) after `limit` seconds."""
    log = work / f"{name}.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    print(f"[gpu_check] {name}: {' '.join(cmd)} (limit {limit:.0f} s)", flush=True)
    t0 = time.perf_counter()
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            rc = proc.wait(timeout=max(1.0, limit))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: the run and anything it started
            proc.wait()
            rc = "timeout"
    wall = time.perf_counter() - t0
    text = log.read_text(errors="replace")
    print(f"[gpu_check] {name}: {'ok' if rc == 0 else f'FAILED ({rc})'} in {wall:.0f} s", flush=True)
    if rc != 0:
        print(text[-1500:], flush=True)
    return {"rc": rc, "wall_s": round(wall, 1), "command": " ".join(cmd), "log_tail": text[-1500:] if rc else ""}


def reference(profile: str, refs: list[str]) -> tuple[dict[str, float], str]:
    for item in refs:
        name, _, folder = item.partition("=")
        if name == profile:
            metrics = json.loads((Path(folder) / "metrics.json").read_text())
            return accuracies(metrics), f"{folder}/metrics.json"
    return CPU_REFERENCE.get(profile, {}), "docs/BENCHMARKS.md (2-core AMD EPYC, fp32)"


def accuracies(metrics: dict[str, Any]) -> dict[str, float]:
    """Test accuracy per network (`mlp.3_1`, ...) from a metrics.json."""
    return {k[:-9]: v for k, v in sorted(metrics.items()) if k.endswith(".test_acc") and NETWORKS.fullmatch(k[:-9])}


def run_facts(run: Path, profile: str, refs: list[str]) -> dict[str, Any]:
    """Per-study wall times, the precision the run recorded, and test accuracies beside the CPU's."""
    metrics = json.loads((run / "metrics.json").read_text()) if (run / "metrics.json").is_file() else {}
    env = json.loads((run / "env.json").read_text()) if (run / "env.json").is_file() else {}
    cpu, source = reference(profile, refs)
    ours = accuracies(metrics)
    acc = {k: {"device": ours.get(k), "cpu": cpu.get(k)} for k in (cpu or ours)}
    return {"profile": profile, "precision": env.get("precision"), "cpu_reference": source if cpu else None,
            "study_s": {k.split(".")[1]: v for k, v in metrics.items() if k.startswith("time.") and k.count(".") == 2},
            "failed": sorted(k.split(".", 1)[1] for k, v in metrics.items() if k.startswith("status.")),
            "accuracy": acc}


def bench_facts(folder: Path) -> dict[str, Any]:
    """Median images/s per model and runner from `mnistlab bench`'s results.json; ours / DataLoader loop."""
    path = folder / "results.json"
    if not path.is_file():
        return {}
    res = json.loads(path.read_text())
    rows: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for t in res.get("trials", []):
        if "error" not in t:
            label = f"ours {t['variant']}" if t["runner"] == "ours" else t["runner"]
            rows.setdefault(t["model"], {}).setdefault(label, []).append(t)
    out: dict[str, Any] = {"peak_gflops": res.get("peak", {}), "models": {}}
    for model, runners in rows.items():
        med = {}
        for label, trials in runners.items():
            ips = sorted(t["images_per_s"] for t in trials)
            med[label] = {"images_per_s": round(ips[len(ips) // 2], 1), "test_acc": trials[-1]["test_acc"],
                          "precision": trials[-1].get("precision")}
        base = med.get("dataloader", {}).get("images_per_s")
        ours = med.get("ours default", {}).get("images_per_s")
        out["models"][model] = {"runners": med, "speedup_vs_dataloader": round(ours / base, 2) if base and ours
                                else None}
    return out


def measure(a: argparse.Namespace, facts: dict[str, Any], out: Path) -> dict[str, Any]:
    import shutil

    work = Path(a.work)
    shutil.rmtree(work, ignore_errors=True)  # fresh run folders: a reused one would skip finished studies
    work.mkdir(parents=True)
    venv = ROOT / ".venv" / "bin"
    own = Path(a.python).parent.resolve() == venv.resolve() and (venv / "mnistlab").exists()
    cli = [str(venv / "mnistlab")] if own else [a.python, "-m", "mnistlab.cli"]  # no venv on a GPU image
    smoke, dev = a.smoke, ["--device", a.device]
    results: dict[str, Any] = {"schema": 1, "issue": 19, "smoke": smoke, "machine": facts, "command": a.command,
                               "steps": {}, "bench": {"benchmark": "gpu_check", "command": a.command,
                                                      "machine": facts}}
    deadline = time.perf_counter() + a.budget
    peak = "peak," if facts["precision_auto"] == "bf16" else ""  # bench's peak probes bf16 matmuls: native only
    caps = {"tests": 150, "quick": 240, "bench": 150, "full": 1e9}  # seconds; `full` takes what is left
    plan = {
        "tests": [a.python, "-m", "pytest", "-p", "no:cacheprovider", *TESTS],
        "quick": [*cli, "run", "--profile", "smoke" if smoke else "quick", *dev, "--out", str(work / "quick"),
                  "--no-deliverables"],
        "bench": [*cli, "bench", *dev, "--no-install", "--peers", "dataloader", "--variants", "default,fp32",
                  "--out", str(work / "bench"),
                  *(["--phases", "throughput", "--models", "mlp_3_1", "--images", "256", "--repeats", "1"] if smoke
                    else ["--phases", peak + "throughput", "--models", "mlp_3_1,cnn_4_1,fashion_items",
                          "--repeats", "2"])],
        "full": [*cli, "run", "mlp", "cnn", "mtl", "--profile", "smoke" if smoke else "full", *dev,
                 "--out", str(work / "full"), "--no-deliverables"],
    }
    t0 = time.perf_counter()
    for name in [s.strip() for s in a.steps.split(",")]:
        left = deadline - time.perf_counter()
        if left < 20:
            results["steps"][name] = {"rc": "skipped", "note": f"budget of {a.budget:.0f} s spent"}
            continue
        step = run_step(name, plan[name], work, min(caps[name], left))
        if name == "tests":
            step["summary"] = last_pytest_line(work / "tests.log")
        elif name == "bench":
            step.update(bench_facts(work / "bench"))
        else:
            step.update(run_facts(work / name, "smoke" if smoke else name, a.cpu_ref))
        results["steps"][name] = step
        results["total_s"] = round(time.perf_counter() - t0, 1)
        save(results, out)
    return results


def last_pytest_line(log: Path) -> str:
    """pytest's closing count, e.g. '36 passed, 6 skipped in 57.94s'."""
    lines = [ln.strip("= ") for ln in log.read_text(errors="replace").splitlines()
             if re.search(r"\d+ (passed|failed|error)", ln)]
    return lines[-1] if lines else ""


def save(results: dict[str, Any], path: Path) -> None:
    from mnistlab.runs import atomic_write_json, atomic_write_text

    atomic_write_json(path, results)
    atomic_write_text(path.with_suffix(".md"), section(results))


def pct(x: float | None) -> str:
    return f"{100 * x:.2f}%" if isinstance(x, int | float) else "-"


def section(r: dict[str, Any]) -> str:
    """The "GPU check" section of docs/BENCHMARKS.md from one results file."""
    m = r["machine"]
    card = m["gpu"] or f"CPU only ({m['cpu']}, {m['cores']} cores)"
    dry = ", smoke sizes (a dry run: its numbers mean nothing)" if r["smoke"] else ""
    gpu = f", compute capability {m['gpu_capability']}, {m['gpu_memory_gib']} GiB" if m["gpu"] else ""
    in_range = "in range" if m["torch_in_range"] else "OUT OF RANGE"
    lines = [f"{SECTION}: {card}", "",
             f"`{r['command']}`, {m['date']}{dry}. Device {m['device']}{gpu}; precision=auto trains in "
             f"**{m['precision_auto']}** there; torch {m['torch']} (CUDA {m['torch_cuda'] or '-'}; supported "
             f"{m['torch_supported']}: {in_range}), Python {m['python']}, host CPU {m['cpu']} ({m['cores']} cores). "
             f"All steps: {r.get('total_s', 0):.0f} s.", "",
             "| step | result | wall |", "| --- | --- | --- |"]
    for name, s in sorted(r["steps"].items(), key=lambda kv: STEPS.index(kv[0])):  # the JSON's keys are sorted
        state = "ok" if s.get("rc") == 0 else f"**{s.get('rc')}**"
        what = s.get("summary") or (f"profile {s['profile']}, precision {s.get('precision')}" if "profile" in s
                                    else "")
        wall = f"{s['wall_s']} s" if "wall_s" in s else "-"
        lines.append(f"| {name} | {state}{f': {what}' if what else ''} | {wall} |")
    for name in ("quick", "full"):
        s = r["steps"].get(name)
        if not s or "study_s" not in s:
            continue
        lines += ["", f"**{name}** (profile {s['profile']}): wall time per study "
                  + ", ".join(f"{k} {v:.1f} s" for k, v in s["study_s"].items())
                  + (f"; failed: {', '.join(s['failed'])}" if s["failed"] else "") + ".", "",
                  f"| network | {m['device']} ({s.get('precision')}) | CPU | difference |", "| --- | --- | --- | --- |"]
        for key, v in s["accuracy"].items():
            gap = (v["device"] - v["cpu"]) * 100 if None not in (v["device"], v["cpu"]) else None
            mark = " (check)" if gap is not None and abs(gap) > FLAG_PP else ""
            lines.append(f"| {key} | {pct(v['device'])} | {pct(v['cpu'])} | "
                         f"{f'{gap:+.2f} pp{mark}' if gap is not None else '-'} |")
        lines.append(f"\nCPU column: {s['cpu_reference'] or 'none for this profile'}.")
    b = r["steps"].get("bench", {})
    if b.get("models"):
        lines += ["", "Throughput, images/s (median over repeats; `mnistlab bench`, batch 128, after a warm-up epoch):",
                  "", "| model | ours, default | ours, fp32 | DataLoader loop (fp32) | ours / DataLoader |",
                  "| --- | --- | --- | --- | --- |"]
        for model, row in b["models"].items():
            cells = [row["runners"].get(k, {}) for k in ("ours default", "ours fp32", "dataloader")]
            lines.append(f"| {model} | " + " | ".join(
                f"{c['images_per_s']:,.0f} ({c.get('precision')}, acc {pct(c['test_acc'])})" if c else "-"
                for c in cells) + f" | {row['speedup_vs_dataloader'] or '-'}x |")
        if b.get("peak_gflops"):
            lines.append("\nMatmul peak: " + ", ".join(f"{k} {v:,.0f} GFLOP/s" for k, v in b["peak_gflops"].items()))
    return "\n".join(lines) + "\n"


def write_docs(text: str) -> None:
    """Replace the GPU-check section of docs/BENCHMARKS.md (from its heading to the next '## '), or append it."""
    from benchmarks.docs import replace_section

    replace_section(DOC, SECTION, text)
    print(f"[gpu_check] wrote the section into {DOC}", flush=True)


def main(argv: list[str]) -> int:
    a = parse(argv)
    shown = [x for i, x in enumerate(argv) if "--python" not in (x, argv[i - 1] if i else "")]  # the wrapper's
    a.command = "benchmarks/gpu_check.sh " + " ".join(shown)  # how it is run: the wrapper sets up the Python
    if a.from_json:
        results = json.loads(Path(a.from_json).read_text())
    else:
        import importlib.util

        missing = [m for m in NEEDED if importlib.util.find_spec(m) is None]
        if missing:
            print(f"[gpu_check] missing Python packages: {', '.join(missing)}. On a GPU image without them: run "
                  "`benchmarks/gpu_check.sh --fetch-wheels` where PyPI is reachable and carry .whl", file=sys.stderr)
            return 2
        import torch

        if a.device == "cuda" and not torch.cuda.is_available():
            print("[gpu_check] no CUDA GPU visible; the dry run is --device cpu --smoke", file=sys.stderr)
            return 2
        facts = machine(a.device)
        out = Path(a.out or common.results_path("gpu_check", facts))
        results = measure(a, facts, out)
        print(f"[gpu_check] wrote {out} and {out.with_suffix('.md')}", flush=True)
    text = section(results)
    print(text)
    real = results["machine"]["device"] == "cuda" and not results["smoke"]  # a dry run never lands in the docs
    if a.write_docs or (a.write_docs is None and real):
        write_docs(text)
    failed = [k for k, s in results["steps"].items() if s.get("rc") != 0]
    return 1 if failed else 0



def render(results: list[dict[str, Any]]) -> str:
    """For a marked block of docs/BENCHMARKS.md: the section of each results file."""
    return "\n".join(section(r) for r in results)
