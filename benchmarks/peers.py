"""Throughput and time-to-accuracy against the peers (Keras fit, a DataLoader loop): the suite behind `mnistlab bench`.

The measuring code is benchmarks/suite.py (trials, interleaved repeats), benchmarks/torch_peers.py, keras_env.py and
keras_peer.py (the peers; TensorFlow goes into a venv of its own, which a package should never do); benchmarks/
report.py renders results.json as Markdown. This module is its command line, also reachable as
`python -m benchmarks peers`. Examples:

  mnistlab bench --quick                      # a few minutes: every model, the main switches and peers
  mnistlab bench --write-docs                 # the full benchmark, then docs/BENCHMARKS.md's section from it
  mnistlab bench --from-results benchmarks/results/2026-12-03-amd-quiet/results.json   # re-render only
  mnistlab bench --phases throughput --models cnn_4_1 --peers keras --repeats 5
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

from benchmarks import common, report, suite
from mnistlab.errors import ArgumentParser, UserError
from mnistlab.runs import atomic_write_text

DOC = common.DOC


def _parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="mnistlab bench", description="Throughput and time-to-accuracy against Keras fit and "
                       "a per-sample DataLoader loop, with our engine's fast-path switches on and off "
                       "(also `python -m benchmarks peers`).")
    p.add_argument("--quick", action="store_true", help="a few minutes: small budgets, 2 repeats, no compile/TTA")
    p.add_argument("--out", help="folder for results.json and report.md "
                   "(default benchmarks/results/<date>-<machine>/peers/)")
    p.add_argument("--models", help="comma list of mlp_3_1, cnn_4_1, fashion_items")
    p.add_argument("--variants", help="comma list of our switches: default (each model as its study trains it), "
                   "fp32, unfused Adam, channels-last, contiguous, compile, 1 thread ('none' = no our-engine rows)")
    p.add_argument("--peers", help="comma list of dataloader, keras, keras-bf16 ('none' = no peers)")
    p.add_argument("--phases", help="comma list of peak, throughput, tta, profile")
    for name, text in (("images", "training images per throughput epoch"), ("repeats", "interleaved repeats"),
                       ("timed-epochs", "timed epochs after the warm-up epoch"),
                       ("max-epochs", "time-to-accuracy gives up after this many epochs"),
                       ("threads", "compute threads for every runner (default: all cores)")):
        p.add_argument(f"--{name}", type=int, help=text)
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), help="default auto")
    p.add_argument("--no-install", action="store_true", help="never install TensorFlow; skip Keras if missing")
    p.add_argument("--write-docs", action="store_true", help=f"replace our section of {DOC.name} with the report")
    p.add_argument("--from-results", metavar="JSON[,JSON]", help="render earlier results.json files instead of "
                   "measuring; several (e.g. a throughput run and a time-to-accuracy run) are merged")
    p.add_argument("--protocol", metavar="JSON[,JSON]", help="add `python -m benchmarks protocol` "
                   "result files (the epochs / schedule search on the validation slice) to the report")
    p.add_argument("--checks", metavar="JSON[,JSON]", help="results.json of extra runs to show apart as "
                   "cross-checks (their own budgets; never pooled with the main tables)")
    p.add_argument("--note", action="append", default=[], help="a sentence to print with the report (repeatable)")
    p.add_argument("--study-times", action="append", default=[], metavar="LABEL=RUN_DIR",
                   help="add a run's per-study wall times (metrics.json time.<study>.s) to the report; repeatable")
    return p


def _plan(a: argparse.Namespace, suite: Any) -> Any:
    plan = suite.quick() if a.quick else suite.full()
    known = {"models": list(suite.MODELS), "variants": list(suite.torch_peers.VARIANTS),
             "peers": ["dataloader", "keras", "keras-bf16"], "phases": list(suite.PHASES)}
    for key, allowed in known.items():
        raw = getattr(a, key)
        if raw is None:
            continue
        items = [] if raw.strip() == "none" else [s.strip() for s in raw.split(",") if s.strip()]
        bad = [s for s in items if s not in allowed]
        if bad:
            raise UserError(f"--{key}: unknown {', '.join(bad)}; choose from {', '.join(allowed)}")
        setattr(plan, key, items)
    for f in fields(plan):
        value = getattr(a, f.name, None)
        if f.type in ("int", int) and value is not None:
            if value <= 0:
                raise UserError(f"--{f.name.replace('_', '-')} must be > 0, got {value}")
            setattr(plan, f.name, value)
    if plan.images < 128:
        raise UserError("--images must be at least one batch (128)")
    plan.device = a.device or plan.device
    plan.install = not a.no_install
    return plan


def _study_times(items: list[str]) -> dict[str, dict[str, float]]:
    times: dict[str, dict[str, float]] = {}
    for item in items:
        label, _, folder = item.rpartition("=") if "=" in item else (Path(item).name, "", item)
        path = Path(folder) / "metrics.json"
        if not path.is_file():
            raise UserError(f"--study-times: {path} not found (a finished `mnistlab run` folder is needed)")
        metrics = json.loads(path.read_text())
        times[label] = {k.split(".")[1]: float(v) for k, v in metrics.items()
                        if k.startswith("time.") and k.endswith(".s") and k.count(".") == 2}
    return times


def _rerender(a: argparse.Namespace) -> tuple[dict[str, Any], Path]:
    """Earlier results.json files, merged, and the folder of the first (for report.md)."""
    paths = [Path(s) for s in a.from_results.split(",")]
    for path in paths:
        if not path.is_file():
            raise UserError(f"--from-results: {path} not found")
    results = report.merge([json.loads(path.read_text()) for path in paths])
    results["notes"].append("rendered from " + ", ".join(f"`{p}`" for p in paths))
    return results, paths[0].parent


def _measure(a: argparse.Namespace, command: str) -> tuple[dict[str, Any], Path]:
    plan = _plan(a, suite)
    out = Path(a.out) if a.out else common.results_path("peers").with_suffix("")
    runner = suite.Suite(plan, out, command)
    results = runner.run()
    for npz in out.glob("*.npz"):  # the Keras peer's copies of the data: 100 MB, not worth keeping
        npz.unlink()
    return results, out


def main(argv: list[str]) -> int:
    """Run the benchmark (or re-render one), print the Markdown report, optionally write it into the docs."""
    a = _parser().parse_args(argv)
    times = _study_times(a.study_times)
    results, out = _rerender(a) if a.from_results else _measure(a, "mnistlab bench " + " ".join(argv))
    protocol = [row for f in a.protocol.split(",") for row in protocol_rows(Path(f))] if a.protocol else []
    results.setdefault("notes", []).extend(a.note)
    checks = [common.load(Path(f)) for f in a.checks.split(",")] if a.checks else []
    text = report.render(results, results.get("command", "mnistlab bench"), times, protocol, checks)
    atomic_write_text(out / "report.md", text)
    print(text)
    if a.write_docs:
        report.write_docs(DOC, text)
        print(f"wrote {DOC}", file=sys.stderr)
    return 0


def protocol_rows(path: Path) -> list[dict[str, Any]]:
    """The candidate rows of a protocol results file: a bare list (written before benchmarks/common.py) or the
    results file of `python -m benchmarks protocol` ({"rows": [...]})."""
    doc = common.load(path)
    return doc if isinstance(doc, list) else doc["rows"]


def render(results: list[dict[str, Any]]) -> str:
    """For a marked block of docs/BENCHMARKS.md: the report of results.json files (merged) without its section
    heading and reproduce lines, its own headings one level down (it sits inside a dated section)."""
    res = report.merge(results)
    return report.body(res, res.get("command", "mnistlab bench"), level=4)
