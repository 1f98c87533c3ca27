"""Study 6 cost: time per training step of the Fashion nets, and the numbers of a finished `mtl` run.

Step timing: one training step (forward, loss, backward, fused Adam) on a random batch, median of `--steps` after
two warm-up steps, for the single items net and the MTL net, in three set-ups: fp32 NCHW, bf16 autocast NCHW, bf16
autocast channels_last (what the study uses). Printed per step and projected to one 60,000-image epoch, as wall
time and as process CPU time. On a shared machine the wall time depends on the other load; the load average is
kept with every row so that numbers are read with it.

  python -m benchmarks mtl_speed [--steps 6] [--batch 256] [--run runs/full-s0] [--no-speed]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from benchmarks import common

SETUPS = (("fp32 NCHW", False, False), ("bf16 NCHW", True, False), ("bf16 channels_last", True, True))


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


def speed_rows(batch: int, steps: int) -> list[dict[str, Any]]:
    rows = []
    for name in ("fashion_items", "mtl"):
        for label, bf16, cl in SETUPS:
            wall, cpu = step_time(name, batch, bf16, cl, steps)
            rows.append({"net": name, "setup": label, "step_s": wall, "step_cpu_s": cpu, "epoch_s": wall * 60_000 /
                         batch, "epoch_cpu_s": cpu * 60_000 / batch, "load": os.getloadavg()[0]})
    return rows


def run_facts(run: Path) -> dict[str, Any]:
    """The finished study: its config, per model training time and test accuracies, the whole study's wall time."""
    from mnistlab.errors import UserError
    from mnistlab.runs import read_json

    summary, metrics = read_json(run / "mtl" / "summary.json"), read_json(run / "metrics.json", {})
    if summary is None:
        raise UserError(f"{run} has no finished mtl study (mtl/summary.json)")
    adam = summary["adam"]
    return {"run": str(run), "config": read_json(run / "config.json", {}).get("mtl", {}),
            "models": [{k: r.get(k) for k in ("model", "items_test", "groups_test", "train_s")}
                       for r in summary["results"]],
            "tuning": {"trials_s": adam.get("trials_s", adam["tune_s"]), "lr": adam["lr"], "beta1": adam["beta1"],
                       "beta2": adam["beta2"]}, "study_s": metrics.get("time.mtl.s")}


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--run", type=Path, default=None, help="a run folder with a finished mtl study")
    ap.add_argument("--no-speed", action="store_true", help="only the table of --run")


def run(a: argparse.Namespace) -> dict[str, Any]:
    return {"batch": a.batch, "steps": a.steps, "speed": [] if a.no_speed else speed_rows(a.batch, a.steps),
            "run": run_facts(a.run) if a.run else None}


def pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f}"


def render(results: list[dict[str, Any]]) -> str:
    out = []
    for res in results:
        if res["speed"]:
            out += [common.table(["net", "set-up", "ms/step (wall)", "s/epoch (wall)", "s/epoch (CPU)", "load avg"],
                                 [[r["net"], r["setup"], f"{1000 * r['step_s']:.0f}", f"{r['epoch_s']:.0f}",
                                   f"{r['epoch_cpu_s']:.0f}", f"{r['load']:.1f}"] for r in res["speed"]]), ""]
        if res["run"]:
            out += run_table(res["run"])
    return "\n".join(out)


def run_table(f: dict[str, Any]) -> list[str]:
    cfg, t = f["config"], f["tuning"]
    study = "n/a" if f["study_s"] is None else f"{f['study_s']:.0f}"
    return [f"Run {f['run']}: epochs {cfg.get('epochs')}, batch {cfg.get('batch_size')}, schedule "
            f"{cfg.get('schedule')}, tuning {cfg.get('tune_trials')} trials x {cfg.get('tune_epochs')} epoch(s) on "
            f"{cfg.get('tune_subset')} images.", "",
            common.table(["model", "items test %", "groups test %", "train s"],
                         [[r["model"], pct(r["items_test"]), pct(r["groups_test"]), f"{r['train_s']:.0f}"]
                          for r in f["models"]]), "",
            f"Tuning: {t['trials_s']:.0f} s of trials; winner lr={t['lr']:.3g} beta1={t['beta1']:.3f} "
            f"beta2={t['beta2']:.4f}; whole study (time.mtl.s): {study} s.", ""]
