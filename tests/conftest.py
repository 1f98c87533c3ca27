"""Shared fixtures. Tests never touch the user's cache and never download: the cache is a per-session temp
folder and MNISTLAB_OFFLINE=1 turns the download fallback into an error."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

os.environ["MNISTLAB_CACHE"] = tempfile.mkdtemp(prefix="mnistlab-test-cache-")
os.environ["MNISTLAB_OFFLINE"] = "1"
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.pop("MNISTLAB_DATA", None)

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    """A --data-dir with symlinks to the vendored files; a test replaces the one it wants to break."""
    root = tmp_path / "data"
    for src in DATA.glob("*/*.gz"):
        dst = root / src.parent.name / src.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.symlink_to(src)
    return root


def replace_file(link: Path, data: bytes) -> None:
    link.unlink()
    link.write_bytes(data)


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """`mnistlab ARGS` in a subprocess, as a user would run it."""
    return subprocess.run([sys.executable, "-m", "mnistlab.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, **(env or {})}, timeout=timeout)


@pytest.fixture(scope="session")
def mnist():
    from mnistlab.data import load_dataset

    return load_dataset("mnist")


@pytest.fixture(scope="session")
def fashion():
    from mnistlab.data import load_dataset

    return load_dataset("fashion")


def cleanup(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
