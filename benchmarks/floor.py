"""The compute floor of a profile's trained networks: training FLOPs (forward + backward, counted by
torch.utils.flop_counter) of every model a profile trains in the MLP, CNN and multi-task studies, plus the
forward FLOPs of their per-epoch test passes, divided by this machine's measured matmul peak. No run can beat
it on this machine in that precision (the optimiser's update, element-wise work and data movement come on top),
so it says whether a wall-time target is reachable at all.

  python -m benchmarks floor [--profile full] [--threads 2] [--run runs/full-s0] [--sizes 1024,2048,4096]

With --run, the study wall times of that finished run (metrics.json `time.<study>.s`) are printed beside the
floor. The MLP search is counted from the profile's grid (stage 2 with the budgets of `mlp.search_budgets`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from benchmarks import common
from benchmarks.torch_peers import matmul_peak
from mnistlab import config
from mnistlab.hardware import resolve_precision
from mnistlab.models import registry as models
from mnistlab.models.cnn import VARIANTS
from mnistlab.models.mlp import DEPTHS

TRAIN, TEST, VAL = 60_000, 10_000, 5_000


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


def work(name: str, epochs: int, images: int, test: int = TEST) -> float:
    """FLOPs of training `name` for `epochs` epochs of `images` images, with a test pass of `test` per epoch."""
    return epochs * (images * flops(name, True) + test * flops(name, False))


def studies(cfg: config.RunConfig) -> dict[str, float]:
    m, c, t = cfg.mlp, cfg.cnn, cfg.mtl
    mlp = sum(work(f"mlp_3_2_depth{d}", m.depth_epochs or m.epochs, TRAIN) for d in DEPTHS)
    mlp += work("mlp_3_1", m.epochs, TRAIN)  # the 3.1 recipe as configured (the search may choose other epochs)
    if m.search:
        grid = len(m.search_batches) * len(m.search_lrs)
        stage2 = sum(m.search_budgets)
        mlp += work("mlp_3_1", grid * m.search_epochs + stage2, TRAIN - m.val_size, VAL)
    cnn = work("cnn_4_1", c.epochs, TRAIN)
    cnn += sum(work(f"cnn_4_2_{tag}", c.variant_epochs or c.epochs, TRAIN) for tag in VARIANTS)
    per_net = t.epoch_images or TRAIN
    lambdas = len(t.lambdas) + int(t.uncertainty)
    mtl = work("fashion_items", t.epochs, per_net) + work("fashion_groups", t.epochs, per_net)
    mtl += lambdas * work("mtl", t.epochs, per_net)
    if t.tune:
        mtl += t.tune_trials * work("mtl", t.tune_epochs, t.tune_subset or TRAIN - t.val_size, VAL)
    return {"mlp": mlp, "cnn": cnn, "mtl": mtl}


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
    work_by_study = studies(cfg)
    precision = resolve_precision(a.precision, torch.device("cpu"))  # bf16 runs are measured against the bf16 peak
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    peak = matmul_peak(dtype, "cpu", tuple(int(n) for n in a.sizes.split(",")))
    times = json.loads((a.run / "metrics.json").read_text()) if a.run else {}
    rows = []
    for study, w in [*work_by_study.items(), ("all three", sum(work_by_study.values()))]:
        keys = list(work_by_study) if study == "all three" else [study]
        rows.append({"study": study, "tflop": w / 1e12, "floor_s": w / (peak * 1e9),
                     "wall_s": sum(times.get(f"time.{k}.s", 0.0) for k in keys) or None})
    return {"profile": a.profile, "threads": a.threads, "peak_gflops": {precision: peak},
            "run": str(a.run) if a.run else None, "rows": rows}


def render(results: list[dict[str, Any]]) -> str:
    out = []
    for res in results:
        rows = [[r["study"], f"{r['tflop']:.1f}", f"{r['floor_s']:,.0f}",
                 *((f"{r['wall_s']:,.0f}", f"{r['floor_s'] / r['wall_s']:.0%}") if r["wall_s"] else ("n/a", "n/a"))]
                for r in res["rows"]]
        (precision, peak), = res["peak_gflops"].items()
        out += [f"profile {res['profile']}, {res['threads']} threads, {precision} matmul peak {peak:.1f} GFLOP/s", "",
                common.table(["study", "training + test-pass TFLOP", f"floor at the {precision} peak, s",
                              "run wall time, s", "floor / wall"], rows), ""]
    return "\n".join(out)
