"""Text that names a file or a folder names one that exists: the README, docs/ and every comment and docstring of
the code, tests and benchmarks. And comments cite what a reader can open, not issue numbers or files outside the
repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import REPO

PATH = re.compile(r"(?<![\w/.-])((?:src/mnistlab|docs|benchmarks|tests|data)/[\w./*-]*\w/?)")
GENERATED = ("benchmarks/out/", "benchmarks/.keras-venv", "benchmarks/results/<")  # written by runs, not in git


def texts() -> list[Path]:
    files = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "data" / "README.md"]
    for folder, pattern in (("src", "**/*.py"), ("src", "**/*.typ"), ("tests", "**/*.py"), ("benchmarks", "*.py"),
                            ("benchmarks", "*.sh")):
        files += sorted(p for p in (REPO / folder).glob(pattern) if "__pycache__" not in p.parts)
    return files


def named_paths(text: str) -> set[str]:
    return {m.rstrip(".") for m in PATH.findall(text) if not m.startswith(GENERATED) and "<" not in m}


def test_the_path_pattern_finds_what_it_should() -> None:
    text = "see docs/BENCHMARKS.md. And `src/mnistlab/deliverables/sec-*.typ`, benchmarks/out/X/results.json, a/docs/x"
    assert named_paths(text) == {"docs/BENCHMARKS.md", "src/mnistlab/deliverables/sec-*.typ"}


@pytest.mark.parametrize("path", texts(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_named_path_exists(path: Path) -> None:
    missing = [p for p in sorted(named_paths(path.read_text(encoding="utf-8")))
               if not (list(REPO.glob(p)) if "*" in p else (REPO / p).exists())]
    assert not missing, missing


def test_code_comments_cite_no_issue_numbers_or_outside_files() -> None:
    bad = []
    for path in sorted((REPO / "src" / "mnistlab").rglob("*.py")):
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"\bissue \d+|\bSPEC\.md|\bBRIEF\.md", line):
                bad.append(f"{path.relative_to(REPO)}:{i}")
    assert not bad, bad
