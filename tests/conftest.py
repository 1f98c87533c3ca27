"""Shared fixtures. Tests never touch the user's cache and never download: the cache is a per-session temp
folder and MNISTLAB_OFFLINE=1 turns the download fallback into an error."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
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


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Remove the per-session dataset cache made above: a test run leaves no temp folder behind."""
    cleanup(Path(os.environ["MNISTLAB_CACHE"]))


# The one smoke run the slow end-to-end tests share: tiny subsets, the brief's three required lambdas and a 2-trial
# Optuna study (the multi-task nets dominate its time), every other code path of the six studies and deliverables.
SMOKE_ARGS = ("--profile", "smoke", "--set", "mtl.lambdas=0,0.5,1", "--set", "mtl.tune_trials=2")
SMOKE_NAME = "Assignment2_Group_T"
SMOKE_GROUP = ("--group", "7", "--member", "Ada Lovelace | 100001 | PCA, perceptron, report sections 1-2",
               "--member", "Alan Turing | 100002 | networks and multi-task learning, sections 3-6")


@dataclass
class SmokeRun:
    path: Path
    tuned: subprocess.CompletedProcess[str]  # `mnistlab tune`, run first
    ran: subprocess.CompletedProcess[str]  # the `mnistlab run` that made what the fixture promises


@pytest.fixture(scope="session")
def smoke_studies() -> Iterator[SmokeRun]:
    """`mnistlab tune` then `mnistlab run --no-deliverables` (all six studies) into one folder, once per test
    session, as a user would type them; one thread, so that numbers are bit-identical (see configure_threads).
    Tests only read it; one that needs to change it works on `copy_run`. The studies' tests use this fixture, so
    a broken notebook or report fails the deliverables' tests only."""
    out = Path(tempfile.mkdtemp(prefix="mnistlab-smoke-")) / "run"
    pin = {"MNISTLAB_THREADS": "1"}
    tuned = run_cli("tune", *SMOKE_ARGS, "--out", str(out), env=pin)
    assert tuned.returncode == 0, tuned.stderr[-3000:]
    ran = run_cli("run", *SMOKE_ARGS, *SMOKE_GROUP, "--no-deliverables", "--out", str(out), env=pin)
    assert ran.returncode == 0, ran.stderr[-3000:]
    yield SmokeRun(out, tuned, ran)
    cleanup(out.parent)


@pytest.fixture(scope="session")
def smoke(smoke_studies: SmokeRun) -> SmokeRun:
    """The same folder after `mnistlab run` again: the studies are skipped, notebook, report and bundle built."""
    out = smoke_studies.path
    ran = run_cli("run", *SMOKE_ARGS, *SMOKE_GROUP, "--name", SMOKE_NAME, "--out", str(out),
                  env={"MNISTLAB_THREADS": "1"})
    assert ran.returncode == 0, ran.stderr[-3000:]
    return SmokeRun(out, smoke_studies.tuned, ran)


def copy_run(src: Path, dst: Path, weights: bool = False) -> Path:
    """A copy of a run folder to change in a test; without `weights`, no checkpoints, TensorBoard logs or zips."""
    skip = () if weights else ("*.pt", "tensorboard", "*.zip")
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(*skip))
    return dst
