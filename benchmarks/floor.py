"""The floors of a profile's trained networks: what a run of the MLP, CNN and multi-task studies cannot beat on
this machine in the precision training uses (compute), and what their optimiser costs here (measured).

- compute: training FLOPs (forward + backward, counted by torch.utils.flop_counter) of every model the profile
  trains, plus the forward FLOPs of their per-epoch test passes, divided by this machine's measured matmul peak;
- optimiser: every training step also runs one fused Adam update over all the model's weights. It reads four
  fp32 tensors per weight and writes three (`ADAM_BYTES`), whatever the batch, so its cost grows with the steps,
  not the FLOPs. It is timed here, per model, as PyTorch's fused kernel runs it on this machine, and reported
  beside the bandwidth it reached and that of one large tensor copy (`torch_peers.copy_bandwidth`). Compute and
  optimiser together are the floor of a study at its batch sizes: casts, element-wise layers and data movement
  come on top.

  python -m benchmarks floor [--profile full] [--threads 2] [--run runs/full-s0] [--sizes 1024,2048,4096]

With --run, the study wall times of that finished run (metrics.json `time.<study>.s`) are printed beside the
floors. The MLP search is counted from the profile's grid (stage 2 with the budgets of `mlp.search_budgets`, at
the 3.1 batch size).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from benchmarks import common
from benchmarks.torch_peers import copy_bandwidth, matmul_peak
from mnistlab import config
from mnistlab.hardware import prepare_cpu, resolve_precision
from mnistlab.models import param_count
from mnistlab.models import registry as models
from mnistlab.models.cnn import VARIANTS
from mnistlab.models.mlp import DEPTHS

TRAIN, TEST, VAL = 60_000, 10_000, 5_000
ADAM_BYTES = 28  # per weight and step: weight, gradient, exp_avg, exp_avg_sq read, three of them written (fp32)
STUDIES = ("mlp", "cnn", "mtl")


class Job(NamedTuple):
    """Some epochs of one model in a study: `images` trained on per epoch in batches of `batch`, `test` images
    scored after each epoch."""

    study: str
    model: str
    epochs: int
    images: int
    batch: int
    test: int = TEST


@cache
def flops(name: str, train: bool) -> float:
    """FLOPs per image of one training step (or one forward pass) of registry model `name`, batch 64."""
    model = models.create(name)
    x = torch.rand(64, 1, 28, 28)
    with FlopCounterMode(display=False) as counter:
        if train:
            out = model(x)
            outs = out if isinstance(out, tuple) else (out,)
            sum(F.cross_entropy(o, torch.zeros(64, dtype=torch.long)) for o in outs).backward()
        else:
            with torch.no_grad():
                model(x)
    return counter.get_total_flops() / 64


def work(job: Job) -> float:
    """FLOPs of a job: its training steps and its per-epoch test passes."""
    return job.epochs * (job.images * flops(job.model, True) + job.test * flops(job.model, False))


def steps(job: Job) -> int:
    return job.epochs * math.ceil(job.images / job.batch)


def jobs(cfg: config.RunConfig) -> list[Job]:
    """Every training a profile runs in the three network studies, as the studies run it."""
    m, c, t = cfg.mlp, cfg.cnn, cfg.mtl
    out = [Job("mlp", f"mlp_3_2_depth{d}", m.depth_epochs or m.epochs, TRAIN, m.batch_size) for d in DEPTHS]
    out.append(Job("mlp", "mlp_3_1", m.epochs, TRAIN, m.batch_size))  # as configured (the search may choose others)
    if m.search:
        out += [Job("mlp", "mlp_3_1", m.search_epochs, TRAIN - m.val_size, b, VAL)
                for b in m.search_batches for _ in m.search_lrs]
        out.append(Job("mlp", "mlp_3_1", sum(m.search_budgets), TRAIN - m.val_size, m.batch_size, VAL))
    out.append(Job("cnn", "cnn_4_1", c.epochs, TRAIN, c.batch_size))
    out += [Job("cnn", f"cnn_4_2_{tag}", c.variant_epochs or c.epochs, TRAIN, c.batch_size) for tag in VARIANTS]
    per_net = t.epoch_images or TRAIN
    out += [Job("mtl", name, t.epochs, per_net, t.batch_size) for name in ("fashion_items", "fashion_groups")]
    out += [Job("mtl", "mtl", t.epochs, per_net, t.batch_size)] * (len(t.lambdas) + int(t.uncertainty))
    if t.tune:
        trial = Job("mtl", "mtl", t.tune_epochs, t.tune_subset or TRAIN - t.val_size, t.batch_size, VAL)
        out += [trial] * t.tune_trials  # every trial counted complete (the pruner stops some after one epoch)
    return out


def adam_step(name: str, repeats: int = 15) -> dict[str, float]:
    """The weights of registry model `name` and the median seconds of one fused Adam step over them (random
    gradients), at the current thread count, denormals flushed as in training."""
    prepare_cpu()
    model = models.create(name)
    params = list(model.parameters())
    for p in params:
        p.grad = torch.randn_like(p) * 1e-3
    opt = torch.optim.Adam(params, lr=1e-3, fused=True)
    times = []
    for i in range(repeats + 3):  # three warm-up steps: the moments are allocated on the first
        t0 = time.perf_counter()
        opt.step()
        if i >= 3:
            times.append(time.perf_counter() - t0)
    step_s = statistics.median(times)
    weights = param_count(model)
    return {"params": weights, "step_s": step_s, "gbs": ADAM_BYTES * weights / step_s / 1e9}


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--profile", default="full", choices=["quick", "full"])
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--run", type=Path, help="a finished run of that profile, for its study wall times")
    ap.add_argument("--sizes", default="1024,2048,4096", help="matmul sizes of the peak probe")
    ap.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                    help="the peak's precision; auto: what training uses here (bf16 with AMX or AVX512-BF16)")


def run(a: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(a.threads)
    cfg = config.quick() if a.profile == "quick" else config.full()
    planned = jobs(cfg)
    precision = resolve_precision(a.precision, torch.device("cpu"))  # bf16 runs are measured against the bf16 peak
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    peak = matmul_peak(dtype, "cpu", tuple(int(n) for n in a.sizes.split(",")))
    times = json.loads((a.run / "metrics.json").read_text()) if a.run else {}
    adam = {name: adam_step(name) for name in sorted({j.model for j in planned})}
    rows = []
    for study in (*STUDIES, "all three"):
        mine = [j for j in planned if study in (j.study, "all three")]
        keys = STUDIES if study == "all three" else (study,)
        w = sum(work(j) for j in mine)
        rows.append({"study": study, "tflop": w / 1e12, "floor_s": w / (peak * 1e9), "steps": sum(map(steps, mine)),
                     "adam_s": sum(steps(j) * adam[j.model]["step_s"] for j in mine),
                     "wall_s": sum(times.get(f"time.{k}.s", 0.0) for k in keys) or None})
    return {"profile": a.profile, "threads": a.threads, "peak_gflops": {precision: peak},
            "copy_gbs": copy_bandwidth("cpu"), "adam": adam, "run": str(a.run) if a.run else None, "rows": rows}


def render(results: list[dict[str, Any]]) -> str:
    out = []
    for res in results:
        (precision, peak), = res["peak_gflops"].items()
        out += [f"profile {res['profile']}, {res['threads']} threads, {precision} matmul peak {peak:.1f} GFLOP/s", ""]
        if "adam" not in res:  # results files written before the optimiser floor: compute only
            out += [_compute_table(res["rows"], precision), ""]
            continue
        out += [_floor_table(res["rows"]), "",
                f"Fused Adam per step ({ADAM_BYTES} bytes of fp32 traffic per weight); copying one large tensor "
                f"moves {res['copy_gbs']:.1f} GB/s here (read + written):", "",
                common.table(["model", "weights", "ms per step", "GB/s"],
                             [[name, f"{v['params']:,}", f"{1e3 * v['step_s']:.2f}", f"{v['gbs']:.1f}"]
                              for name, v in res["adam"].items()]), ""]
    return "\n".join(out)


def _compute_table(rows: list[dict[str, Any]], precision: str) -> str:
    return common.table(
        ["study", "training + test-pass TFLOP", f"floor at the {precision} peak, s", "run wall time, s",
         "floor / wall"],
        [[r["study"], f"{r['tflop']:.1f}", f"{r['floor_s']:,.0f}",
          *((f"{r['wall_s']:,.0f}", f"{r['floor_s'] / r['wall_s']:.0%}") if r["wall_s"] else ("n/a", "n/a"))]
         for r in rows])


def _floor_table(rows: list[dict[str, Any]]) -> str:
    table = []
    for r in rows:
        both = r["floor_s"] + r["adam_s"]
        wall = (f"{r['wall_s']:,.0f}", f"{r['wall_s'] / r['floor_s']:.1f}x", f"{r['wall_s'] / both:.1f}x") \
            if r["wall_s"] else ("n/a",) * 3
        table.append([r["study"], f"{r['tflop']:.1f}", f"{r['floor_s']:,.0f}", f"{r['steps']:,}",
                      f"{r['adam_s']:,.0f}", f"{both:,.0f}", *wall])
    return common.table(["study", "TFLOP (training + test passes)", "compute floor, s", "Adam steps",
                         "Adam as measured, s", "compute + Adam, s", "run wall, s", "wall / compute",
                         "wall / (compute + Adam)"], table)
