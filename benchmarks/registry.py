"""Every benchmark by name, and the entry point `python -m benchmarks` (benchmarks/__main__.py) that lists and runs
them and renders the docs tables:

  python -m benchmarks --list                  # every benchmark, one line each
  python -m benchmarks NAME [options]          # run one (NAME --help for its options); raw results as JSON
  python -m benchmarks render [--check]        # docs/BENCHMARKS.md's tables from the JSON files they name

A benchmark's name is its module's name. A new module in benchmarks/ is either listed in BENCHMARKS or, when it
only serves others, in HELPERS; tests/test_benchmarks.py fails on one that is neither."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from benchmarks import common

BENCHMARKS = ("peers", "data_load", "perceptron", "engine", "threads", "recipe", "protocol", "floor", "workers",
              "viz_dreams", "mtl_speed", "mtl_recipe", "deliverables", "drift", "step_profile", "gpu_check")
# modules that only serve the benchmarks above: the peer suite's parts, the harness itself
HELPERS = ("__init__", "__main__", "common", "docs", "registry", "suite", "report", "torch_peers", "keras_env",
           "keras_peer")


def listing() -> str:
    here = Path(__file__).resolve().parent
    width = max(map(len, BENCHMARKS))
    return "\n".join(f"{name:<{width}}  {common.description(here / f'{name}.py')}" for name in BENCHMARKS)


def usage() -> str:
    return (__doc__ or "").split("\n\n")[1] + "\n"


def main(argv: list[str]) -> int:
    """`python -m benchmarks ARGV`; a user error is one line on stderr and exit code 2."""
    from mnistlab.errors import UserError

    try:
        return dispatch(argv)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def dispatch(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    if argv[0] == "--list":
        print(listing())
        return 0
    if argv[0] == "render":
        from benchmarks import docs

        return docs.main(argv[1:])
    if argv[0] not in BENCHMARKS:
        print(f"error: unknown benchmark {argv[0]!r}; `python -m benchmarks --list` names them", file=sys.stderr)
        return 2
    module = importlib.import_module(f"benchmarks.{argv[0]}")
    if hasattr(module, "main"):  # the two with a command line of their own (peers, gpu_check)
        return int(module.main(argv[1:]))
    return common.main(module, argv[1:], argv[0])
