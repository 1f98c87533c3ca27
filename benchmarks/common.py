"""What every benchmark shares: the machine record, interleaved repeats and medians, the results file and its
Markdown tables, and the command-line harness behind `python -m benchmarks NAME`.

A benchmark module defines `add_arguments(parser)`, `run(args) -> dict` (the raw results; None when there is
nothing to save, e.g. a child process) and `render(results) -> str` (Markdown from a list of results files, so
that one docs table can be built from several runs). `main(module, argv)` parses, runs, writes
benchmarks/results/<YYYY-MM-DD>-<machine-slug>/<benchmark>.json (or --out) atomically with the machine record
under the key "bench", and prints the Markdown. Run from the repository root with the package installed."""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DOC = ROOT / "docs" / "BENCHMARKS.md"
NAMES = {"mlp_3_1": "MLP 3.1", "cnn_4_1": "CNN 4.1", "fashion_items": "Fashion items"}  # models in tables
FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")  # the CPU flags that decide speed and precision

S = TypeVar("S")
R = TypeVar("R")


# ---------------------------------------------------------------- the machine
def cpu_info() -> tuple[str, list[str]]:
    """(model name, the FLAGS this CPU has) from /proc/cpuinfo; ('', []) where there is none."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor(), []
    model = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")), "")
    flags = next((ln.split(":", 1)[1].split() for ln in lines if ln.startswith("flags")), [])
    return model or platform.processor(), [f for f in FLAGS if f in flags]


def machine() -> dict[str, Any]:
    """Who measured: CPU and its flags, cores this process may use, GPU, versions, the precision `auto` trains in
    here, date and the load average before the benchmark (above the core count: the machine was shared)."""
    import numpy as np
    import torch

    from mnistlab.hardware import resolve_precision
    from mnistlab.train import pick_device

    cpu, flags = cpu_info()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": cpu, "cpu_flags": flags, "cores": cores, "gpu": gpu, "python": platform.python_version(),
            "torch": torch.__version__, "numpy": np.__version__, "threads": torch.get_num_threads(),
            "precision": resolve_precision("auto", pick_device("auto")), "date": time.strftime("%Y-%m-%d %H:%M"),
            "load_before": list(os.getloadavg())}


def machine_slug(m: dict[str, Any]) -> str:
    """A folder name for the machine: the GPU's name, else the CPU family and its best matmul units, e.g.
    'xeon-amx', 'epyc-avx2'."""
    if m.get("gpu"):
        return slug(m["gpu"])
    words = [w for w in slug(m.get("cpu", "")).split("-") if w not in ("intel", "r", "amd", "processor", "cpu")]
    family = words[0] if words else "cpu"
    flags = set(m.get("cpu_flags", []))
    units = ("amx" if "amx_bf16" in flags else "avx512-bf16" if "avx512_bf16" in flags
             else "avx512" if "avx512f" in flags else "avx2" if "avx2" in flags else "")
    return "-".join(p for p in (family, units) if p)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def results_path(name: str, m: dict[str, Any] | None = None) -> Path:
    """benchmarks/results/<YYYY-MM-DD>-<machine-slug>/<name>.json for today and this machine."""
    m = m or machine()
    return RESULTS / f"{m['date'][:10]}-{machine_slug(m)}" / f"{name}.json"


# ---------------------------------------------------------------- repeats
def interleaved(settings: Sequence[S], repeats: int, trial: Callable[[S, int], R],
                show: Callable[[S, int, R], None] | None = None) -> list[list[R]]:
    """`trial(setting, repeat)` for every setting, then again, `repeats` times: a slow phase of a shared machine
    then hits every setting alike. Returns, per setting (in order), its results over the repeats."""
    out: list[list[R]] = [[] for _ in settings]
    for rep in range(repeats):
        for i, setting in enumerate(settings):
            out[i].append(trial(setting, rep))
            if show:
                show(setting, rep, out[i][-1])
    return out


def medians(runs: list[dict[str, float]]) -> dict[str, float]:
    """Per key, the median over runs (dicts of numbers with the same keys), and n = len(runs)."""
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]} | {"n": len(runs)}


def spread(values: Sequence[float]) -> dict[str, Any]:
    """Median, min, max and the values themselves, for a results file."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": list(values)}


def timed(fn: Callable[..., Any], *args: Any) -> float:
    """Wall seconds of fn(*args)."""
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


# ---------------------------------------------------------------- results files
def write_results(name: str, payload: dict[str, Any], out: Path | None, command: str,
                  m: dict[str, Any]) -> dict[str, Any]:
    """`payload` plus the key "bench" (benchmark, command, machine record, load after, wall time), written
    atomically to `out` (default `results_path`). The payload's own keys are kept as they are."""
    from mnistlab.runs import atomic_write_json

    record = {**m, "load_after": list(os.getloadavg())}
    doc = {**payload, "bench": {"benchmark": name, "command": command, "machine": record}}
    path = out or results_path(name, m)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, doc)
    return doc


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table; cells are str()-ed."""
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def machine_line(doc: dict[str, Any]) -> str:
    """One line naming the machine of a results file (written by `write_results`), for a rendered report."""
    m = doc.get("bench", {}).get("machine")
    if not m:
        return ""
    load = f"load average {m['load_before'][0]:.1f} before, {m.get('load_after', [float('nan')])[0]:.1f} after"
    return (f"{m['date']}, {m['cpu']} ({', '.join(m['cpu_flags']) or 'no listed flags'}), {m['cores']} cores, "
            f"torch {m['torch']}, precision auto = {m['precision']}, {load}.")


# ---------------------------------------------------------------- the command line
def description(path: Path, width: int = 110) -> str:
    """The first sentence of a module's docstring, read without importing it (no torch for `--list`), cut to
    `width` characters."""
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    first = " ".join(doc.strip().split("\n\n")[0].split())
    sentence = re.split(r"(?<=\.)\s", first, maxsplit=1)[0].rstrip(".")
    return sentence if len(sentence) <= width else sentence[: width - 3].rstrip() + "..."


def parser(module: ModuleType, name: str) -> argparse.ArgumentParser:
    from mnistlab.errors import ArgumentParser

    doc = (module.__doc__ or "").strip()
    p = ArgumentParser(prog=f"python -m benchmarks {name}", description=doc.split("\n")[0],
                       epilog="\n".join(doc.split("\n")[1:]).strip() or None,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    module.add_arguments(p)
    p.add_argument("--out", type=Path, help=f"results JSON (default benchmarks/results/<date>-<machine>/{name}.json)")
    return p


def main(module: ModuleType, argv: list[str] | None = None, name: str | None = None) -> int:
    """Parse, run, save and print one benchmark; a user error is one line on stderr and exit code 2."""
    from mnistlab.errors import UserError

    name = name or Path(str(module.__file__)).stem
    argv = sys.argv[1:] if argv is None else argv
    try:
        a = parser(module, name).parse_args(argv)
        m = machine()  # before the run: its load average is the one that says whether the machine was quiet
        payload = module.run(a)
        if payload is None:
            return 0
        doc = write_results(name, payload, a.out, " ".join(["python -m benchmarks", name, *argv]), m)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(module.render([doc]))
    print(f"wrote {a.out or results_path(name, m)}", file=sys.stderr)
    return 0


def load(path: Path) -> Any:
    from mnistlab.errors import UserError

    if not path.is_file():
        raise UserError(f"{path} not found")
    return json.loads(path.read_text())
