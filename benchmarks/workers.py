"""Two ways to spend 2 cores on a sweep of independent models (the MLP depths, the CNN variants, the multi-task
lambdas): one model at a time on 2 torch threads (what the studies do), or two models at once, each in its own
process on 1 thread. Training steps (forward, loss, backward, fused Adam) at the engine's default precision for
this CPU (`use_bf16("auto")`), channels_last for conv nets; images per second of all models together, medians
of interleaved repeats. Run it on a quiet machine: the question is what the two cores give, not the load.

  python -m benchmarks workers [--models mlp_3_1,cnn_4_1,fashion_items,mtl] [--repeats 3] [--seconds 12]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import torch

from benchmarks import common

BATCH = {"mlp_3_1": 128, "cnn_4_1": 128, "fashion_items": 256, "mtl": 256}  # the studies' batch sizes (full)
SECONDS = 12.0  # timed seconds per trial, after two warm-up steps (--seconds)


def trial(name: str, threads: int, seconds: float = SECONDS) -> float:
    """Images per second of training steps of `name` with `threads` torch threads, in this process."""
    import torch.nn.functional as F

    from mnistlab.models.registry import create
    from mnistlab.train import TrainSpec, make_optimizer, use_bf16

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = create(name)
    conv = not name.startswith("mlp")
    if conv:
        model = model.to(memory_format=torch.channels_last)
    bf16 = use_bf16("auto", torch.device("cpu"))
    opt = make_optimizer(model, TrainSpec(), torch.device("cpu"))
    batch = BATCH.get(name, 128)
    x = torch.rand(batch, 1, 28, 28) if conv else torch.rand(batch, 784)
    y = torch.randint(0, 3, (batch,))

    def step() -> None:
        with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            out = model(x)
            loss = F.cross_entropy((out[0] if isinstance(out, tuple) else out).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step(), step()
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        step()
        steps += 1
    return steps * batch / (time.perf_counter() - t0)


def spawn(name: str, threads: int, seconds: float) -> subprocess.Popen[str]:
    code = f"from benchmarks import workers; print(workers.trial({name!r}, {threads}, {seconds}))"
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=common.ROOT,
                            env={**os.environ, "OMP_NUM_THREADS": str(threads)})


def together(name: str, procs: int, threads: int, seconds: float) -> float:
    """Sum of images/s of `procs` processes training `name` at once, `threads` threads each."""
    running = [spawn(name, threads, seconds) for _ in range(procs)]
    return sum(float(p.communicate()[0].strip().splitlines()[-1]) for p in running)


SETUPS = {"one": (1, 2), "two": (2, 1)}  # name -> (processes, threads each)


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--models", default="mlp_3_1,cnn_4_1,fashion_items,mtl")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=SECONDS, help="timed seconds per trial")


def run(a: argparse.Namespace) -> dict[str, Any]:
    models = a.models.split(",")
    settings = [(m, setup) for m in models for setup in SETUPS]
    load = [os.getloadavg()[0]]
    runs = common.interleaved(settings, a.repeats, lambda s, _rep: together(s[0], *SETUPS[s[1]], a.seconds))
    load.append(os.getloadavg()[0])
    raw: dict[str, dict[str, list[float]]] = {m: {} for m in models}
    for (m, setup), r in zip(settings, runs, strict=True):
        raw[m][setup] = r
    return {"raw": raw, "load": load, "seconds": a.seconds, "repeats": a.repeats}


def render(results: list[dict[str, Any]]) -> str:
    rows = []
    for res in results:
        for m, r in res["raw"].items():
            one, two = statistics.median(r["one"]), statistics.median(r["two"])
            rows.append([m, BATCH.get(m, 128), f"{one:,.0f}", f"{two:,.0f}", f"{two / one:.2f}x"])
    return common.table(["model", "batch", "1 model x 2 threads, img/s", "2 models x 1 thread, img/s (sum)",
                         "ratio"], rows)
