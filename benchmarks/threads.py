"""Training throughput of MLP 3.1 and CNN 4.1 (bf16 autocast, channels_last for the CNN, batch 128, fused Adam)
with 1 and 2 torch threads: 3 interleaved repeats, medians of wall-clock images/s, and the load average. Shows
what OpenMP threads beyond the free cores cost on a shared machine (docs/BENCHMARKS.md, issue 4).

  python benchmarks/threads.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
import torch.nn.functional as F

from mnistlab.models.registry import create

STEPS = {"mlp_3_1": 40, "cnn_4_1": 15}  # timed steps per trial (about the same seconds for both)


def images_per_s(name: str, threads: int, batch: int = 128) -> float:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = create(name)
    if name.startswith("cnn"):
        model = model.to(memory_format=torch.channels_last)
    x, y = torch.rand(4096, 1, 28, 28), torch.randint(0, 10, (4096,))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)

    def steps(n: int) -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            idx = torch.randint(0, len(x), (batch,))
            with torch.autocast("cpu", torch.bfloat16):
                loss = F.cross_entropy(model(x[idx]).float(), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return time.perf_counter() - t0

    steps(3)  # warm-up: oneDNN primitives
    return STEPS[name] * batch / steps(STEPS[name])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    print(f"load average before: {os.getloadavg()}")
    results: dict[tuple[str, int], list[float]] = {}
    for _ in range(a.repeats):
        for name in STEPS:
            for threads in (1, 2):
                results.setdefault((name, threads), []).append(images_per_s(name, threads))
    print(f"load average after: {os.getloadavg()}")
    for (name, threads), v in results.items():
        print(f"{name} {threads} thread(s): {statistics.median(v):.0f} img/s wall (runs: {[round(r) for r in v]})")


if __name__ == "__main__":
    main()
