"""Where one training step's time goes, per model family, against its floors.

For MLP 3.1, CNN 4.1 and the Fashion single items net (the study's batch, precision auto, fused Adam, channels-last
for the CNN, `hardware.prepare_cpu` on): `torch.profiler` over a few steps after warm-up, self CPU time grouped
into matmul/conv, optimiser, casts, data and the rest; then the floors: the step's FLOPs at this machine's
measured matmul peak (in the precision the step runs), and the optimiser's traffic (4 fp32 tensors per weight
read, 3 written) at the bandwidth of one large tensor copy, a reference rather than a floor: fused Adam's several
streams can beat a single copy.

  python -m benchmarks step_profile [--steps 10] [--threads 1] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python benchmarks/step_profile.py`, the form in use before `python -m benchmarks`
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

from benchmarks import common
from benchmarks.floor import flops
from benchmarks.torch_peers import copy_bandwidth, matmul_peak
from mnistlab.hardware import prepare_cpu, resolve_precision
from mnistlab.models import param_count
from mnistlab.models.registry import create
from mnistlab.train import AMP_DTYPES, TrainSpec, make_optimizer

FAMILIES = {"mlp_3_1": 128, "cnn_4_1": 128, "fashion_items": 256}  # model -> the study's batch size
GROUPS = (  # (group, op-name fragments), first match wins
    ("matmul/conv", ("mm", "addmm", "conv", "linear", "matmul", "bmm")),
    ("optimiser", ("adam",)),
    ("casts", ("to_copy", "aten::to", "copy_", "_to_dtype")),
    ("data", ("index", "randperm", "gather")),
)


def group_of(op: str) -> str:
    low = op.lower()
    return next((g for g, keys in GROUPS if any(k in low for k in keys)), "other")


def profile_steps(name: str, batch: int, steps: int) -> dict[str, object]:
    """Per-step wall seconds and self CPU seconds per group, over `steps` profiled steps."""
    torch.manual_seed(0)
    model = create(name)
    image = not name.startswith("mlp")
    if name.startswith("cnn"):
        model = model.to(memory_format=torch.channels_last)
    x = torch.rand(4096, 1, 28, 28) if image else torch.rand(4096, 784)
    y = torch.randint(0, 10, (4096,))
    precision = resolve_precision("auto", torch.device("cpu"))
    amp = AMP_DTYPES.get(precision)
    opt = make_optimizer(model, TrainSpec(), torch.device("cpu"))

    def step() -> None:
        idx = torch.randint(0, len(x), (batch,))
        with torch.autocast("cpu", amp or torch.bfloat16, enabled=amp is not None):
            loss = F.cross_entropy(model(x[idx]).float(), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        wall = (time.perf_counter() - t0) / steps
    groups: dict[str, float] = {}
    for event in prof.key_averages():
        groups[group_of(event.key)] = groups.get(group_of(event.key), 0.0) + event.self_cpu_time_total / 1e6 / steps
    return {"model": name, "batch": batch, "precision": precision, "params": param_count(model),
            "step_s": wall, "self_cpu_s": groups}


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--models", default=",".join(FAMILIES), help="comma list of " + ", ".join(FAMILIES))
    ap.add_argument("--sizes", default="1024,2048,4096", help="matmul sizes of the peak probe (smaller: faster, "
                    "lower peak)")


def run(a: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(a.threads)
    prepare_cpu()
    precision = resolve_precision("auto", torch.device("cpu"))
    sizes = tuple(int(n) for n in a.sizes.split(","))
    peak = matmul_peak(AMP_DTYPES.get(precision, torch.float32), "cpu", sizes)  # GFLOP/s in the step's precision
    bandwidth = copy_bandwidth("cpu")  # GB/s, read + write
    rows = []
    for name in a.models.split(","):
        batch = FAMILIES[name]
        row = profile_steps(name, batch, a.steps)
        row["compute_floor_s"] = flops(name, True) * batch / (peak * 1e9)
        row["adam_at_copy_s"] = 7 * 4 * int(row["params"]) / (bandwidth * 1e9)  # 4 tensors read, 3 written
        rows.append(row)
    # the fields of benchmarks/results/2026-12-03-xeon-amx/step_profile.json
    return {"threads": a.threads, "precision": precision, "peak_gflops": peak, "copy_gbs": bandwidth,
            "date": time.strftime("%Y-%m-%d"), "rows": rows}


def render(results: list[dict[str, Any]]) -> str:
    """Milliseconds per step: the whole step, self CPU time per op group, the two floors."""
    names = [g for g, _ in GROUPS] + ["other"]
    rows = [[f"{common.NAMES.get(r['model'], r['model'])} ({r['batch']})", f"{1000 * r['step_s']:.1f}",
             *(f"{1000 * r['self_cpu_s'].get(g, 0.0):.1f}" for g in names), f"{1000 * r['compute_floor_s']:.1f}",
             f"{1000 * r['adam_at_copy_s']:.1f}"] for res in results for r in res["rows"]]
    return common.table(["model (batch)", "step ms", *names, "compute floor", "Adam traffic at copy speed"], rows)


if __name__ == "__main__":
    sys.exit(common.main(sys.modules[__name__]))
