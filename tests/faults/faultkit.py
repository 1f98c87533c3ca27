"""Tools shared by the fault-injection suite: record what a fault did, find half-written files, compare runs.

Every test of the suite checks its outcome with asserts; when MNISTLAB_FAULT_LOG names a file (the report script
`tests/faults/report.py` sets it) the observations are also appended there as JSON lines, one per fault tried, and
the script turns them into docs/RELIABILITY.md. Without it, `record` does nothing.
"""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from mnistlab.runs import is_temp

LOG_ENV = "MNISTLAB_FAULT_LOG"
# metrics.json keys that measure wall time: they differ between any two runs, so run comparisons leave them out
TIMING_KEY = re.compile(r"(^time\.|_s$|\.s$|seconds|per_s)")


# ---------------------------------------------------------------- recording
def record(fault: str, injected: str, **observed: Any) -> None:
    """One row of the reliability table: the fault, how it was injected, and what was observed."""
    path = os.environ.get(LOG_ENV)
    if not path:
        return
    test = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" ", 1)[0]
    row = {"test": test, "fault": fault, "injected": injected, **observed}
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(row, default=str, sort_keys=True) + "\n")


def error_lines(stderr: str) -> list[str]:
    """The CLI's own error lines (`mnistlab: ...`); log lines of a run carry a timestamp instead."""
    return [line for line in stderr.splitlines() if line.startswith("mnistlab:")]


def cli_outcome(res: subprocess.CompletedProcess[str], run_dir: Path | None = None) -> dict[str, Any]:
    """What a user saw: exit code, the error line(s), whether a traceback was printed, bad files left behind."""
    errs = error_lines(res.stderr)
    return {"exit": res.returncode, "message": errs[-1] if errs else "", "error_lines": len(errs),
            "traceback": "Traceback" in res.stderr + res.stdout,
            "half_written": audit(run_dir) if run_dir is not None and run_dir.exists() else []}


def assert_user_error(out: dict[str, Any], *needles: str, code: int = 2) -> None:
    """A clean refusal: the exit code, exactly one error line that says `needles`, no traceback, no bad file."""
    assert out["exit"] == code, out
    assert out["error_lines"] == 1 and not out["traceback"], out
    for needle in needles:
        assert needle in out["message"], (needle, out["message"])
    assert out["half_written"] == [], out["half_written"]


# ---------------------------------------------------------------- half-written files
def audit(root: Path, *, lock_ok: bool = False) -> list[str]:
    """Every file under `root` that is a temp file left behind or an artifact that does not read back whole.
    An empty list means the folder holds only complete files. `lock_ok`: a `.lock` left by a killed process."""
    problems = []
    for path in sorted(p for p in Path(root).rglob("*") if p.is_file()):
        rel = str(path.relative_to(root))
        if is_temp(path) or path.name == ".write-test":
            problems.append(f"{rel}: temp file left behind")
        elif path.name == ".lock" and not lock_ok:
            problems.append(f"{rel}: lock left behind by a finished process")
        elif (why := _unreadable(path)) is not None:
            problems.append(f"{rel}: {why}")
    return problems


def _unreadable(path: Path) -> str | None:
    """Why `path` is not a complete file of its type, or None if it is (or its type is not checked)."""
    name, suffix = path.name, path.suffix.lower()
    try:
        if suffix in (".json", ".ipynb"):
            json.loads(path.read_text())
        elif suffix == ".jsonl":
            text = path.read_text()
            if text and not text.endswith("\n"):
                return "ends in half a line"
            for line in text.splitlines():
                json.loads(line)
        elif suffix == ".pt":
            from mnistlab.train import safe_load

            safe_load(path)
        elif suffix == ".npy":  # mapped: the header is parsed and the size checked, the data is not read
            np.load(path, mmap_mode="r")
        elif suffix == ".npz":
            with np.load(path) as z:
                for key in z.files:
                    z[key]
        elif suffix == ".png":
            blob = path.read_bytes()
            if not blob.startswith(b"\x89PNG\r\n\x1a\n") or not blob.endswith(b"IEND\xaeB`\x82"):
                return "PNG without its end chunk"
        elif suffix == ".svg":
            if not path.read_text().rstrip().endswith("</svg>"):
                return "SVG cut short"
        elif suffix == ".pdf":
            if b"%%EOF" not in path.read_bytes()[-1024:]:
                return "PDF without %%EOF"
        elif suffix == ".zip":
            with zipfile.ZipFile(path) as z:
                if z.testzip() is not None:
                    return "zip member fails its CRC"
        elif "tfevents" in name:
            return _tfrecord_problem(path.read_bytes())
        elif name == ".done" and not (path.parent / "summary.json").is_file():
            return ".done without the study's summary.json"
    except Exception as err:  # any failure to read back is the finding
        return f"does not read back ({type(err).__name__}: {str(err)[:80]})"
    return None


def _tfrecord_problem(blob: bytes) -> str | None:
    """TensorBoard event files are TFRecords: [u64 length][u32 crc][data][u32 crc]. Check that the framing ends
    exactly at the end of the file (the CRCs are crc32c, which the standard library lacks)."""
    pos = 0
    while pos < len(blob):
        if pos + 12 > len(blob):
            return "event file ends inside a record header"
        (length,) = struct.unpack_from("<Q", blob, pos)
        pos += 12 + length + 4
    return None if pos == len(blob) else "event file ends inside a record"


# ---------------------------------------------------------------- comparing runs
def comparable(metrics: dict[str, Any]) -> dict[str, Any]:
    """metrics.json without its wall-time keys."""
    return {k: v for k, v in metrics.items() if not TIMING_KEY.search(k)}


def read_metrics(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "metrics.json").read_text())


# ---------------------------------------------------------------- processes: run, kill, resume
# One thread in every run: the studies otherwise size each model's thread pool to the cores free at that moment,
# and float sums (so the last digits of every metric) depend on the count; one thread also keeps OpenMP from
# spinning against the other processes of a shared 2-core machine.
ENV_1THREAD = {"OMP_NUM_THREADS": "1", "MNISTLAB_THREADS": "1"}


def start(argv: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start `argv` with stdout and stderr to `log` (a pipe nobody reads could block the child)."""
    with open(log, "ab") as f:
        return subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, env={**os.environ, **ENV_1THREAD,
                                                                               **(env or {})})


def frozen_code(tmp: Path) -> dict[str, str]:
    """Environment for subprocesses that run a copy of src/ taken now. Runs compared with each other must run the
    same code; in a checkout shared with colleagues, a module can change between a reference run and the
    interrupted runs compared with it."""
    import shutil

    import mnistlab

    snap = tmp / "frozen-src"
    shutil.copytree(Path(mnistlab.__file__).parent, snap / "mnistlab", ignore=shutil.ignore_patterns("__pycache__"))
    data = Path(mnistlab.__file__).resolve().parents[2] / "data"  # the copy has no data/ beside it
    return {"PYTHONPATH": str(snap), "MNISTLAB_DATA": str(data)}


def run_to_end(argv: list[str], log: Path, timeout: float = 900, env: dict[str, str] | None = None) -> int:
    p = start(argv, log, env)
    try:
        return p.wait(timeout)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def kill_at(argv: list[str], out: Path, log: Path, moment: float, env: dict[str, str] | None = None
            ) -> dict[str, Any]:
    """Start `argv`, SIGKILL it `moment` seconds later (unless it ended first), and describe what it left."""
    p = start(argv, log, env)
    try:
        code = p.wait(moment)
        return {"moment_s": round(moment, 2), "killed": False, "exit": code}
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    return {"moment_s": round(moment, 2), "killed": True, "left": where_it_stopped(out),
            "temps_left": [str(q.relative_to(out)) for q in out.rglob("*") if is_temp(q)] if out.exists() else []}


def where_it_stopped(out: Path) -> str:
    """A short account of a killed run's folder: epochs logged, finished studies and models, checkpoints."""
    if not (out / "config.json").is_file():
        return "before the run folder existed"
    jsonl = out / "metrics.jsonl"
    epochs = sum(1 for line in jsonl.read_text().splitlines() if '"epoch"' in line) if jsonl.is_file() else 0
    done = sorted(p.parent.name for p in out.glob("*/.done"))
    models = len(list(out.rglob("model.pt")))
    ckpts = len(list(out.rglob("checkpoint.pt")))
    return f"{epochs} epochs logged, studies done {done or '[]'}, {models} models finished, {ckpts} checkpoints"


# ---------------------------------------------------------------- a malicious checkpoint
class _Payload:
    """Unpickling this calls open(marker, 'w'): the file appearing is the proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (self.marker, "w"))


def malicious_pickle(marker: Path, wrap: bool = True) -> bytes:
    """A pickle that creates `marker` when loaded by pickle.load or torch.load(weights_only=False)."""
    import pickle

    return pickle.dumps({"model": _Payload(marker)} if wrap else _Payload(marker))


def payload_object(marker: Path) -> Any:
    """The same payload as an object, for torch.save (torch's zip format with the payload in its data.pkl)."""
    return _Payload(marker)


# ---------------------------------------------------------------- a full disk
def mount_small_disk(where: Path, kib: int) -> bool:
    """Mount a tmpfs of `kib` KiB at `where`: a real disk that fills up (ENOSPC). Needs root; False if refused."""
    where.mkdir(parents=True, exist_ok=True)
    try:
        res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kib}k,mode=0777", "tmpfs", str(where)],
                             capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return res.returncode == 0


def resize_disk(where: Path, kib: int) -> None:
    subprocess.run(["mount", "-o", f"remount,size={kib}k", str(where)], check=True, capture_output=True)


def unmount(where: Path) -> None:
    subprocess.run(["umount", "-l", str(where)], capture_output=True)


# ---------------------------------------------------------------- which studies to run
def landed(name: str) -> bool:
    """The study imports and, in a git checkout, is committed: a colleague's study still being edited in a shared
    checkout could change between a reference run and the runs compared with it."""
    from mnistlab.studies import load

    try:
        module = load(name)
    except Exception:
        return False
    res = subprocess.run(["git", "ls-files", "--error-unmatch", module.__file__], capture_output=True,
                         cwd=Path(module.__file__).parent)
    return res.returncode == 0 or b"not a git repository" in res.stderr
