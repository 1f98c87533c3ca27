"""Build time of each deliverable (notebook, report, bundle) on a finished run folder, median of repeats, and the
report's word count per section, written as Markdown for docs/BENCHMARKS.md.

The run folder is copied first (without checkpoints and TensorBoard logs), so the original is never touched.
Usage: python benchmarks/deliverables.py RUN_DIR [--repeats 3]"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def timed(fn: Callable[..., object], *args: object) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    from mnistlab.deliverables import build, bundle, notebook

    with tempfile.TemporaryDirectory(prefix="bench-deliverables-") as tmp:
        run = Path(tmp) / "run"
        shutil.copytree(a.run_dir, run, ignore=shutil.ignore_patterns("*.pt", "tensorboard", "*.zip", "*.db"))
        times: dict[str, list[float]] = {"notebook": [], "report": [], "bundle": []}
        for _ in range(a.repeats):
            times["notebook"].append(timed(notebook.execute, run))
            times["report"].append(timed(build.build, run))
            times["bundle"].append(timed(bundle.build, run, "Assignment2_Group_N"))
        words = json.loads((run / "report" / "words.json").read_text())
        cfg = json.loads((run / "config.json").read_text())
        size = (run / "Assignment2_Group_N.zip").stat().st_size
        load = os.getloadavg()[0]
    print(f"Run folder: profile {cfg['profile']}; {a.repeats} repeats; load average at the end {load:.1f}.\n")
    print("| deliverable | median s | min s | max s |\n| --- | --- | --- | --- |")
    for kind, ts in times.items():
        print(f"| {kind} | {statistics.median(ts):.2f} | {min(ts):.2f} | {max(ts):.2f} |")
    print(f"\nReport body: {words['body_words']:,} words (limits {words['min']:,}-{words['max']:,}); bundle "
          f"{size / 1e6:.1f} MB.\n\n| section | words |\n| --- | --- |")
    for section, n in words["sections"]:
        print(f"| {section} | {n} |")


if __name__ == "__main__":
    main()
