"""The Keras peer's own virtual environment (benchmarks/.keras-venv, gitignored) and one trial run in it.

TensorFlow is not a project dependency: the harness installs it from PyPI on first use, into a venv of its own,
so the project's pinned torch stack is never touched. Each trial runs `keras_peer.py` in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
VENV = Path(os.environ.get("MNISTLAB_BENCH_KERAS_VENV") or HERE / ".keras-venv")  # env: tests point it elsewhere
PEER = HERE / "keras_peer.py"
# The version measured in docs/BENCHMARKS.md; override with MNISTLAB_BENCH_TF (e.g. "tensorflow" for the newest).
# With a CUDA GPU the [and-cuda] extra brings the CUDA libraries TensorFlow needs to use it.
TF_VERSION = "2.21.0"



class PeerUnavailable(RuntimeError):
    """The Keras peer cannot run here (no network for the install, no wheel for this Python, ...)."""


def python() -> Path:
    return VENV / "bin" / "python"


def _has_tensorflow(py: Path) -> bool:
    if not py.is_file():
        return False
    probe = subprocess.run([str(py), "-c", "import keras, tensorflow"], capture_output=True, timeout=300,
                           env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return probe.returncode == 0


def requirement(cuda: bool) -> str:
    return os.environ.get("MNISTLAB_BENCH_TF") or f"tensorflow{'[and-cuda]' if cuda else ''}=={TF_VERSION}"


def ensure(install: bool = True, log: Any = print, cuda: bool = False) -> Path:
    """The venv's python, installing TensorFlow into it first if needed (a few minutes, ~2 GB, once)."""
    py, req = python(), requirement(cuda)
    if _has_tensorflow(py):
        return py
    if not install:
        raise PeerUnavailable(f"{VENV} has no TensorFlow and --no-install was given")
    log(f"installing {req} into {VENV} (once; a few minutes)")
    steps = [[sys.executable, "-m", "venv", str(VENV)],
             [str(py), "-m", "pip", "install", "-q", "--upgrade", "pip"],
             [str(py), "-m", "pip", "install", "-q", req]]
    for cmd in steps:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise PeerUnavailable(f"{' '.join(cmd[-3:])} failed: {tail[0]}")
    if not _has_tensorflow(py):
        raise PeerUnavailable(f"TensorFlow installed into {VENV} but does not import")
    return py


def run_trial(py: Path, data: Path, model: str, *, timeout: float = 3600, threads: int | None = None,
              **options: Any) -> dict[str, Any]:
    """One keras_peer.py run; options become flags (images=12800 -> --images 12800). Returns its JSON."""
    cmd = [str(py), str(PEER), "--data", str(data), "--model", model]
    for key, value in options.items():
        if value is not None:
            cmd += [f"--{key.replace('_', '-')}", str(value)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    if threads:  # TensorFlow reads these at start-up; by default it uses every core, as torch does
        env.update(TF_NUM_INTRAOP_THREADS=str(threads), TF_NUM_INTEROP_THREADS="1", OMP_NUM_THREADS=str(threads))
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise PeerUnavailable(f"keras {model}: no result within {timeout:.0f} s") from None
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        raise PeerUnavailable(f"keras {model} exited {done.returncode}: {tail}")
    return json.loads(lines[-1])
