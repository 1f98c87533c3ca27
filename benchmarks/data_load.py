"""Cold and warm load time of both datasets (median of repeats), written as a Markdown table.

Cold = empty decoded cache: gunzip, SHA-256 and IDX parsing of all eight files. Warm = the cached .npy copies.
Usage: python benchmarks/data_load.py [--repeats 5]"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import tempfile
import time

import numpy as np


def timed_load() -> float:
    from mnistlab.data import load_dataset

    t0 = time.perf_counter()
    for name in ("mnist", "fashion"):
        load_dataset(name)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    cold, warm = [], []
    for _ in range(args.repeats):
        cache = tempfile.mkdtemp(prefix="mnistlab-bench-")
        os.environ["MNISTLAB_CACHE"] = cache
        cold.append(timed_load())
        warm.append(timed_load())
        shutil.rmtree(cache)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}, "
          f"date {time.strftime('%Y-%m-%d')}")
    print("| load (both datasets, 8 files) | median s | min s | max s |")
    print("| --- | --- | --- | --- |")
    for label, xs in (("cold (gunzip + SHA-256 + parse)", cold), ("warm (cached .npy)", warm)):
        print(f"| {label} | {statistics.median(xs):.3f} | {min(xs):.3f} | {max(xs):.3f} |")
    print(f"ratio cold/warm: {statistics.median(cold) / statistics.median(warm):.1f}x")


if __name__ == "__main__":
    main()
