"""Cold and warm load time of both datasets (median of repeats).

Cold = empty decoded cache: gunzip, SHA-256 and IDX parsing of all eight files. Warm = the cached .npy copies.
Each repeat loads cold then warm in a fresh temporary cache.

  python -m benchmarks data_load [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from typing import Any

from benchmarks import common

LABELS = {"cold": "cold (gunzip + SHA-256 + parse)", "warm": "warm (cached .npy)"}


def timed_load() -> float:
    from mnistlab.data import load_dataset

    t0 = time.perf_counter()
    for name in ("mnist", "fashion"):
        load_dataset(name)
    return time.perf_counter() - t0


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--repeats", type=int, default=5)


def run(a: argparse.Namespace) -> dict[str, Any]:
    cold, warm = [], []
    before = os.environ.get("MNISTLAB_CACHE")
    try:
        for _ in range(a.repeats):
            cache = tempfile.mkdtemp(prefix="mnistlab-bench-")
            os.environ["MNISTLAB_CACHE"] = cache  # read by load_dataset on every call
            cold.append(timed_load())
            warm.append(timed_load())
            shutil.rmtree(cache)
    finally:
        if before is None:
            os.environ.pop("MNISTLAB_CACHE", None)
        else:
            os.environ["MNISTLAB_CACHE"] = before
    return {"repeats": a.repeats, "cold_s": common.spread(cold), "warm_s": common.spread(warm)}


def render(results: list[dict[str, Any]]) -> str:
    out = []
    for res in results:
        rows = [[LABELS[k], *(f"{res[f'{k}_s'][s]:.3f}" for s in ("median", "min", "max"))] for k in LABELS]
        ratio = res["cold_s"]["median"] / res["warm_s"]["median"]
        out += [common.table(["load (both datasets, 8 files)", "median s", "min s", "max s"], rows), "",
                f"Cold/warm ratio {ratio:.1f}x."]
    return "\n".join(out)
