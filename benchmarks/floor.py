"""The compute floor of a profile's trained networks: training FLOPs (forward + backward, counted by
torch.utils.flop_counter) of every model a profile trains in the MLP, CNN and multi-task studies, plus the
forward FLOPs of their per-epoch test passes, divided by this machine's measured matmul peak. No run can beat
it on this machine in that precision (the optimiser's update, element-wise work and data movement come on top),
so it says whether a wall-time target is reachable at all.

  python benchmarks/floor.py [--profile full] [--threads 2] [--run runs/full-s0]

With --run, the study wall times of that finished run (metrics.json `time.<study>.s`) are printed beside the
floor. The MLP search is counted from the profile's grid (stage 2 with the budgets of `mlp.search_budgets`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mnistlab import config
from mnistlab.models import registry as models
from mnistlab.models.cnn import VARIANTS
from mnistlab.models.mlp import DEPTHS
from torch_peers import matmul_peak

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
        grid = len(m.search_batches.split(",")) * len(m.search_lrs.split(","))
        stage2 = sum(int(e) for e in m.search_budgets.split(",") if e)
        mlp += work("mlp_3_1", grid * m.search_epochs + stage2, TRAIN - m.val_size, VAL)
    cnn = work("cnn_4_1", c.epochs, TRAIN)
    cnn += sum(work(f"cnn_4_2_{tag}", c.variant_epochs or c.epochs, TRAIN) for tag in VARIANTS)
    per_net = t.epoch_images or TRAIN
    lambdas = len(t.lambdas.split(",")) + int(t.uncertainty)
    mtl = work("fashion_items", t.epochs, per_net) + work("fashion_groups", t.epochs, per_net)
    mtl += lambdas * work("mtl", t.epochs, per_net)
    if t.tune:
        mtl += t.tune_trials * work("mtl", t.tune_epochs, t.tune_subset or TRAIN - t.val_size, VAL)
    return {"mlp": mlp, "cnn": cnn, "mtl": mtl}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="full", choices=["quick", "full"])
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--run", type=Path, help="a finished run of that profile, for its study wall times")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = config.quick() if args.profile == "quick" else config.full()
    work_by_study = studies(cfg)
    peak = {"fp32": matmul_peak(torch.float32, "cpu")}
    times = json.loads((args.run / "metrics.json").read_text()) if args.run else {}
    print(f"profile {args.profile}, {args.threads} threads, fp32 matmul peak {peak['fp32']:.1f} GFLOP/s")
    print("| study | training + test-pass TFLOP | floor at the fp32 peak, s | run wall time, s | floor / wall |")
    print("| --- | --- | --- | --- | --- |")
    for study, w in [*work_by_study.items(), ("all three", sum(work_by_study.values()))]:
        floor = w / (peak["fp32"] * 1e9)
        keys = list(work_by_study) if study == "all three" else [study]
        wall = sum(times.get(f"time.{k}.s", 0.0) for k in keys)
        shown = (f"{wall:,.0f} | {floor / wall:.0%}") if wall else "n/a | n/a"
        print(f"| {study} | {w / 1e12:.1f} | {floor:,.0f} | {shown} |")


if __name__ == "__main__":
    main()
