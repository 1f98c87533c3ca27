"""Study 6 cost: time per training step of the Fashion nets, and the numbers of a finished `mtl` run.

Step timing: one training step (forward, loss, backward, fused Adam) on a random batch, median of `--steps` after
two warm-up steps, for the single items net and the MTL net, in three set-ups: fp32 NCHW, bf16 autocast NCHW, bf16
autocast channels_last (what the study uses). Printed per step and projected to one 60,000-image epoch, as wall
time and as process CPU time. On a shared machine the wall time depends on the other load; the load average is
printed with every table so that numbers are read with it.

Usage: python benchmarks/mtl_speed.py [--steps 6] [--batch 256] [--run runs/full-s0]"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F


def step_time(name: str, batch: int, bf16: bool, channels_last: bool, steps: int) -> tuple[float, float]:
    """(median wall s, median CPU s) of one training step."""
    from mnistlab.models.registry import create
    from mnistlab.train import TrainSpec, make_optimizer

    torch.manual_seed(0)
    model = create(name)
    model = model.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    opt = make_optimizer(model, TrainSpec(), torch.device("cpu"))
    x, y = torch.rand(batch, 1, 28, 28), torch.randint(0, 3, (batch,))
    walls, cpus = [], []
    for _ in range(steps + 2):
        t0, c0 = time.perf_counter(), time.process_time()
        with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            out = model(x)
            out = out[0] if isinstance(out, tuple) else out
            loss = F.cross_entropy(out.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls[2:]), statistics.median(cpus[2:])


def speed_table(batch: int, steps: int) -> None:
    print("| net | set-up | ms/step (wall) | s/epoch (wall) | s/epoch (CPU) | load avg |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name in ("fashion_items", "mtl"):
        for label, bf16, cl in (("fp32 NCHW", False, False), ("bf16 NCHW", True, False),
                                ("bf16 channels_last", True, True)):
            wall, cpu = step_time(name, batch, bf16, cl, steps)
            per_epoch = 60_000 / batch
            print(f"| {name} | {label} | {1000 * wall:.0f} | {wall * per_epoch:.0f} | {cpu * per_epoch:.0f} | "
                  f"{os.getloadavg()[0]:.1f} |", flush=True)


def run_table(run: Path) -> None:
    """The finished study: per model training time and test accuracies, the whole study's wall time."""
    from mnistlab.runs import read_json

    summary, metrics = read_json(run / "mtl" / "summary.json"), read_json(run / "metrics.json", {})
    if summary is None:
        raise SystemExit(f"{run} has no finished mtl study (mtl/summary.json)")
    cfg = read_json(run / "config.json", {}).get("mtl", {})
    print(f"\nrun {run}: epochs {cfg.get('epochs')}, batch {cfg.get('batch_size')}, schedule {cfg.get('schedule')}, "
          f"tuning {cfg.get('tune_trials')} trials x {cfg.get('tune_epochs')} epoch(s) on {cfg.get('tune_subset')} "
          f"images")
    print("| model | items test % | groups test % | train s |")
    print("| --- | --- | --- | --- |")
    for r in summary["results"]:
        acc = {k: "-" if r.get(k) is None else f"{100 * r[k]:.2f}" for k in ("items_test", "groups_test")}
        print(f"| {r['model']} | {acc['items_test']} | {acc['groups_test']} | {r['train_s']:.0f} |")
    adam = summary["adam"]
    print(f"tuning: {adam.get('trials_s', adam['tune_s']):.0f} s of trials; winner lr={adam['lr']:.3g} "
          f"beta1={adam['beta1']:.3f} beta2={adam['beta2']:.4f}; "
          f"whole study (time.mtl.s): {metrics.get('time.mtl.s', float('nan')):.0f} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--run", type=Path, default=None, help="a run folder with a finished mtl study")
    ap.add_argument("--no-speed", action="store_true", help="only the table of --run")
    args = ap.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"
          f" ({torch.get_num_threads()} threads), date {time.strftime('%Y-%m-%d %H:%M')}, "
          f"load avg {os.getloadavg()[0]:.1f}")
    if not args.no_speed:
        speed_table(args.batch, args.steps)
    if args.run:
        run_table(args.run)


if __name__ == "__main__":
    main()
