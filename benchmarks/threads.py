"""Training throughput of MLP 3.1 and CNN 4.1 (bf16 autocast, channels_last for the CNN, batch 128, fused Adam)
with 1 and 2 torch threads: interleaved repeats, medians of wall-clock images/s, and the load average. Shows
what OpenMP threads beyond the free cores cost on a shared machine (docs/BENCHMARKS.md).

  python -m benchmarks threads [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

import torch
import torch.nn.functional as F

from benchmarks import common
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


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--repeats", type=int, default=3)


def run(a: argparse.Namespace) -> dict[str, Any]:
    settings = [(name, threads) for name in STEPS for threads in (1, 2)]
    runs = common.interleaved(settings, a.repeats, lambda s, _rep: images_per_s(*s),
                              lambda s, rep, v: print(f"[{rep + 1}] {s[0]} {s[1]} thread(s): {v:.0f} img/s",
                                                      file=sys.stderr))
    rows = [{"model": name, "threads": threads, "images_per_s": statistics.median(v), "runs": v}
            for (name, threads), v in zip(settings, runs, strict=True)]
    return {"repeats": a.repeats, "rows": rows}


def render(results: list[dict[str, Any]]) -> str:
    rows = [[common.NAMES.get(r["model"], r["model"]), r["threads"], f"{r['images_per_s']:,.0f}",
             ", ".join(f"{v:,.0f}" for v in r["runs"])] for res in results for r in res["rows"]]
    return common.table(["model", "threads", "images/s (median)", "runs"], rows)
