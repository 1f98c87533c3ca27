"""docs/BENCHMARKS.md's tables from the results files they name: `python -m benchmarks render`.

A rendered table sits between two marker comments; the opening one names the benchmark whose `render` builds it
and the results files (one or more, relative to the repository root) it reads:

  <!-- bench:drift benchmarks/results/2026-12-03-xeon-amx/drift-mlp-cnn.json -->
  | model (images per epoch) | ... |
  <!-- /bench -->

Everything outside the markers is prose and is never touched; rendering twice gives the same file."""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from pathlib import Path

from benchmarks import common

MARKED = re.compile(r"(<!-- bench:(?P<name>[\w-]+) (?P<paths>[^>]*?) -->\n)(?P<body>.*?)(<!-- /bench -->)", re.S)


def render_block(name: str, paths: list[str], root: Path = common.ROOT) -> str:
    """The Markdown `name`'s render makes of the results files `paths`, ending in one newline."""
    from benchmarks.registry import BENCHMARKS
    from mnistlab.errors import UserError

    if name not in BENCHMARKS:
        raise UserError(f"docs marker names an unknown benchmark {name!r}")
    module = importlib.import_module(f"benchmarks.{name}")
    return module.render([common.load(root / p) for p in paths]).rstrip("\n") + "\n"


def render_text(text: str, root: Path = common.ROOT) -> str:
    """`text` with the body of every marked block rendered again from its results files."""
    return MARKED.sub(lambda m: m.group(1) + render_block(m["name"], m["paths"].split(), root) + m.group(5), text)


def replace_section(doc: Path, heading: str, section: str) -> None:
    """Write `section` into the Markdown file `doc` in place of the part that starts with the line `heading` and
    runs to the next '## ' heading (appended when `doc` has no such heading); atomically. For the reports that
    own a whole section (`mnistlab bench --write-docs`, gpu_check)."""
    from mnistlab.runs import atomic_write_text

    text = doc.read_text()
    start = text.find(heading)
    if start < 0:
        text = text.rstrip() + "\n\n" + section
    else:
        nxt = text.find("\n## ", start + len(heading))
        text = text[:start] + section.rstrip("\n") + ("\n" + text[nxt:] if nxt >= 0 else "\n")
    atomic_write_text(doc, text)


def main(argv: list[str]) -> int:
    from mnistlab.errors import UserError
    from mnistlab.runs import atomic_write_text

    p = argparse.ArgumentParser(prog="python -m benchmarks render", description=__doc__.split("\n")[0])
    p.add_argument("--doc", type=Path, default=common.DOC, help="the Markdown file (default docs/BENCHMARKS.md)")
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 when the file is out of date")
    a = p.parse_args(argv)
    try:
        old = a.doc.read_text()
        new = render_text(old)
    except (UserError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    blocks = len(MARKED.findall(old))
    if a.check:
        print(f"{a.doc}: {blocks} tables, {'in sync' if new == old else 'OUT OF DATE'}")
        return 0 if new == old else 1
    if new != old:
        atomic_write_text(a.doc, new)
    print(f"{a.doc}: {blocks} tables rendered, {'changed' if new != old else 'unchanged'}")
    return 0
