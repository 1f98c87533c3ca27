"""Two ways to spend 2 cores on a sweep of independent models (the MLP depths, the CNN variants, the multi-task
lambdas): one model at a time on 2 torch threads (what the studies do), or two models at once, each in its own
process on 1 thread. Training steps (forward, loss, backward, fused Adam) at the engine's default precision for
this CPU (`use_bf16("auto")`), channels_last for conv nets; images per second of all models together, medians
of interleaved repeats. Run it on a quiet machine: the question is what the two cores give, not the load.

  python benchmarks/workers.py [--models mlp_3_1,cnn_4_1,fashion_items,mtl] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import torch

BATCH = {"mlp_3_1": 128, "cnn_4_1": 128, "fashion_items": 256, "mtl": 256}  # the studies' batch sizes (full)
SECONDS = 12.0  # timed seconds per trial, after two warm-up steps


def trial(name: str, threads: int) -> float:
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
    while time.perf_counter() - t0 < SECONDS:
        step()
        steps += 1
    return steps * batch / (time.perf_counter() - t0)


def spawn(name: str, threads: int) -> subprocess.Popen[str]:
    code = f"import sys; sys.path.insert(0, {os.path.dirname(__file__)!r}); import workers; " \
           f"print(workers.trial({name!r}, {threads}))"
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": str(threads)})


def together(name: str, procs: int, threads: int) -> float:
    """Sum of images/s of `procs` processes training `name` at once, `threads` threads each."""
    running = [spawn(name, threads) for _ in range(procs)]
    return sum(float(p.communicate()[0].strip().splitlines()[-1]) for p in running)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="mlp_3_1,cnn_4_1,fashion_items,mtl")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default="", help="also write the raw results here (JSON)")
    args = ap.parse_args()
    models = args.models.split(",")
    raw: dict[str, dict[str, list[float]]] = {m: {"one": [], "two": []} for m in models}
    load = [os.getloadavg()[0]]
    for _ in range(args.repeats):  # interleaved: every set-up once per repeat
        for m in models:
            raw[m]["one"].append(together(m, 1, 2))
            raw[m]["two"].append(together(m, 2, 1))
    load.append(os.getloadavg()[0])
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{time.strftime('%Y-%m-%d %H:%M')}, load average {load[0]:.1f} at start, {load[1]:.1f} at end, "
          f"{args.repeats} repeats of {SECONDS:.0f} s")
    print("| model | batch | 1 model x 2 threads, img/s | 2 models x 1 thread, img/s (sum) | ratio |")
    print("| --- | --- | --- | --- | --- |")
    for m in models:
        one, two = statistics.median(raw[m]["one"]), statistics.median(raw[m]["two"])
        print(f"| {m} | {BATCH.get(m, 128)} | {one:,.0f} | {two:,.0f} | {two / one:.2f}x |")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"raw": raw, "load": load, "seconds": SECONDS}, f, indent=1)


if __name__ == "__main__":
    main()
