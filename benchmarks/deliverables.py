"""Build time of each deliverable (notebook, report, bundle) on a finished run folder, median of repeats, and the
report's word count per section.

The run folder is copied first (without checkpoints and TensorBoard logs), so the original is never touched.
Every repeat builds the three in turn (interleaved).

  python -m benchmarks deliverables RUN_DIR [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from benchmarks import common

BUNDLE = "Assignment2_Group_N"


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--repeats", type=int, default=3)


def run(a: argparse.Namespace) -> dict[str, Any]:
    from mnistlab.deliverables import build, bundle, notebook
    from mnistlab.errors import UserError

    if not (a.run_dir / "config.json").is_file():
        raise UserError(f"{a.run_dir} is not a finished run folder (no config.json)")
    steps = {"notebook": notebook.execute, "report": build.build, "bundle": lambda run: bundle.build(run, BUNDLE)}
    with tempfile.TemporaryDirectory(prefix="bench-deliverables-") as tmp:
        run = Path(tmp) / "run"
        shutil.copytree(a.run_dir, run, ignore=shutil.ignore_patterns("*.pt", "tensorboard", "*.zip", "*.db"))
        times = common.interleaved(list(steps), a.repeats, lambda kind, _rep: common.timed(steps[kind], run))
        words = json.loads((run / "report" / "words.json").read_text())
        cfg = json.loads((run / "config.json").read_text())
        size = (run / f"{BUNDLE}.zip").stat().st_size
    return {"run_dir": str(a.run_dir), "profile": cfg["profile"], "repeats": a.repeats,
            "seconds": {kind: common.spread(t) for kind, t in zip(steps, times, strict=True)},
            "words": words, "bundle_bytes": size, "load_end": os.getloadavg()[0]}


def render(results: list[dict[str, Any]]) -> str:
    out = []
    for res in results:
        words = res["words"]
        times = [[k, *(f"{v[s]:.2f}" for s in ("median", "min", "max"))] for k, v in res["seconds"].items()]
        out += [f"Run folder: profile {res['profile']}; {res['repeats']} repeats; load average at the end "
                f"{res['load_end']:.1f}.", "", common.table(["deliverable", "median s", "min s", "max s"], times), "",
                f"Report body: {words['body_words']:,} words (limits {words['min']:,}-{words['max']:,}); bundle "
                f"{res['bundle_bytes'] / 1e6:.1f} MB.", "",
                common.table(["section", "words"], words["sections"]), ""]
    return "\n".join(out)
