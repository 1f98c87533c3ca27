"""The run directory: atomic writes, config/env/metrics/summary files, study completion markers, a lock.

Layout of a run (`runs/<name>/`):
  config.json      the resolved config, written first
  env.json         versions, device, threads, git SHA
  metrics.jsonl    one JSON object per line: epochs and events, append-only
  metrics.json     flat headline numbers with dotted keys (`mlp.3_1.test_acc`), every study adds to it
  summary.json     schema-versioned: per-study status, wall time, tables; what the report reads
  <study>/         each study's files: figures/, its own summary.json, one folder per model (model.pt, the
                   checkpoint of an unfinished model, history.json, tensorboard/)
  <study>/.done    written last, after every output of the study exists: a re-run skips the study
  .lock            the pid of the process that owns the run
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mnistlab.errors import UserError

SCHEMA_VERSION = 1
# Temp files of the atomic writers: `.<name>.<8 random chars>.tmp[.<ext>]`. A process killed mid-write leaves one
# behind; `sweep_temps` removes them when the next process takes the run's lock.
_TEMP = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp(\.[A-Za-z0-9]+)?")
_UMASK = os.umask(0o022)  # read once (os.umask can only be read by setting it), then put back
os.umask(_UMASK)


# ---------------------------------------------------------------- atomic writes
def _temp_beside(path: Path, suffix: str) -> tuple[int, str]:
    """A temp file in `path`'s folder, with the permissions a plain open() would give (mkstemp makes 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.fchmod(fd, 0o666 & ~_UMASK)
    return fd, tmp


def _naming(err: OSError, path: Path, tmp: str) -> OSError:
    """A failed write (ENOSPC, EFBIG) names no file, or the temp file: name the artifact instead (an error about
    some other file the writer touched is kept as it is)."""
    if err.filename not in (None, tmp):
        return err
    named = OSError(err.errno, err.strerror or str(err), str(path))
    named.__cause__ = err
    return named


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, then rename: readers see the old file or the new one."""
    path = Path(path)
    fd, tmp = _temp_beside(path, ".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(err, OSError):
            raise _naming(err, path, tmp)  # noqa: B904 (the cause is set inside)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):  # numpy / torch arrays and scalars (a 0-d tolist() is the scalar)
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _clean(obj: Any) -> Any:
    """NaN/inf are not JSON: store them as null so every file stays strict JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    return obj


def to_json(obj: Any) -> str:
    return json.dumps(_clean(json.loads(json.dumps(obj, default=_json_default))), indent=2, sort_keys=True)


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, to_json(obj) + "\n")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temp path beside `path` for a writer that wants a filename (savefig, torch.save, zip);
    it is renamed onto `path` only if the block finishes."""
    path = Path(path)
    fd, tmp = _temp_beside(path, f".tmp{path.suffix}")
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:  # what the writer wrote reaches the disk before the rename
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:
        raise _naming(err, path, tmp)  # noqa: B904 (the cause is set inside)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def is_temp(path: str | Path) -> bool:
    """True for a temp file left by `atomic_write_bytes` / `atomic_path`."""
    return _TEMP.fullmatch(Path(path).name) is not None


def sweep_temps(root: str | Path) -> list[Path]:
    """Delete the temp files under `root` that killed writers left behind; returns them. Call it only while
    holding the run's lock, so no live writer's temp file is taken."""
    stray = [p for p in Path(root).rglob("*") if p.is_file() and is_temp(p)]
    for p in stray:
        p.unlink(missing_ok=True)
    return stray


def read_json(path: str | Path, default: Any = None) -> Any:
    path = Path(path)
    if not path.is_file():
        return default
    return json.loads(path.read_text())


# ---------------------------------------------------------------- environment
def git_sha() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def environment(device: str = "auto") -> dict[str, Any]:
    """Versions, machine, and what `device` (the config's) trains on and in which precision (hardware.describe)."""
    import numpy
    import torch

    from mnistlab.hardware import describe

    cuda = torch.cuda.is_available()
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda": cuda,
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "git_sha": git_sha(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **describe(device),
    }


# ---------------------------------------------------------------- the run directory
class RunDir:
    """One run's folder. Create with `RunDir.open(path, config_dict)`; use as a context manager to hold the lock."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @classmethod
    def open(cls, path: str | Path, config: dict[str, Any]) -> RunDir:
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise UserError(f"--out {path} is a file, not a folder; choose another --out")
        try:
            path.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=path) as probe:  # unnamed: nothing is left even if we die here
                probe.write(b"ok")
        except OSError as err:
            raise UserError(f"cannot write to run folder {path} ({err.strerror}); choose another --out") from None
        rd = cls(path)
        old = read_json(rd.path / "config.json")
        if old is not None and old != json.loads(to_json(config)):
            changed = sorted(k for k in set(old) | set(config) if old.get(k) != json.loads(to_json(config)).get(k))
            raise UserError(f"{path} holds a run with a different config (differs in: {', '.join(changed)}); "
                            "use another --out or delete that folder")
        if old is None:
            atomic_write_json(rd.path / "config.json", config)
        return rd

    # -- lock: one process per run folder. The lock is the kernel's flock on `.lock`: it dies with its holder
    # (even by kill -9), and unlike "create the file, then write the pid" it has no window in which two starting
    # processes both think they own the folder. The pid in the file names the owner in the message.
    def __enter__(self) -> RunDir:
        lock = self.path / ".lock"
        while True:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise UserError(f"{self.path} is in use by {_owner(lock)}; wait for it or use another --out") from None
            with contextlib.suppress(FileNotFoundError):
                if os.stat(lock).st_ino == os.fstat(fd).st_ino:
                    break  # else the last owner removed the file between our open and flock: take the new one
            os.close(fd)
        pid = _pid_in(lock)
        if pid and pid != os.getpid() and _alive(pid):  # a live pid written by a process that holds no flock
            os.close(fd)
            raise UserError(f"{self.path} is in use by process {pid}; wait for it or use another --out "
                            f"(if {pid} is not mnistlab, delete {lock})")
        self._lock_fd = fd
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            sweep_temps(self.path)  # what a killed writer left; we own the folder now, so none is live
            device = read_json(self.path / "config.json", {}).get("device", "auto")
            atomic_write_json(self.path / "env.json", environment(device))  # the environment of the owning process
        except BaseException:  # e.g. a full disk: let go of the lock, no `with` body will run to release it
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        fd = getattr(self, "_lock_fd", None)
        if fd is None:
            return
        (self.path / ".lock").unlink(missing_ok=True)  # while still locked: see the inode check in __enter__
        os.close(fd)
        self._lock_fd = None

    # -- per-study folders and completion
    def study_dir(self, study: str) -> Path:
        d = self.path / study
        d.mkdir(parents=True, exist_ok=True)
        return d

    def is_done(self, study: str) -> bool:
        return (self.path / study / ".done").is_file()

    def finish_study(self, study: str, summary: dict[str, Any], metrics: dict[str, Any], seconds: float) -> None:
        """Record a finished study: its summary, its headline metrics, then the `.done` marker, in that order."""
        metrics = {**metrics, f"time.{study}.s": round(seconds, 3)}
        atomic_write_json(self.study_dir(study) / "summary.json",
                          {"schema_version": SCHEMA_VERSION, "study": study, **summary})
        self.add_metrics(metrics, drop=(f"status.{study}",))  # a failure of an earlier attempt no longer holds
        total = read_json(self.path / "summary.json", {"schema_version": SCHEMA_VERSION, "studies": {}})
        total["studies"][study] = {"status": "done", "seconds": round(seconds, 3), **summary}
        total["hardware"] = _hardware(self.path)
        total["metrics"] = read_json(self.path / "metrics.json", {})
        atomic_write_json(self.path / "summary.json", total)
        atomic_write_text(self.path / study / ".done", time.strftime("%Y-%m-%dT%H:%M:%S%z") + "\n")

    def fail_study(self, study: str, message: str) -> None:
        self.add_metrics({f"status.{study}": "failed"})
        total = read_json(self.path / "summary.json", {"schema_version": SCHEMA_VERSION, "studies": {}})
        total["studies"][study] = {"status": "failed", "message": message}
        total["metrics"] = read_json(self.path / "metrics.json", {})
        atomic_write_json(self.path / "summary.json", total)
        self.log_event({"event": "study_failed", "study": study, "message": message})

    # -- metrics
    def add_metrics(self, metrics: dict[str, Any], drop: tuple[str, ...] = ()) -> None:
        """Merge flat dotted-key metrics into metrics.json (read-modify-write under the run lock); remove `drop`."""
        current = read_json(self.path / "metrics.json", {})
        for key in drop:
            current.pop(key, None)
        current.update(metrics)
        atomic_write_json(self.path / "metrics.json", current)

    def metrics(self) -> dict[str, Any]:
        return read_json(self.path / "metrics.json", {})

    def log_event(self, record: dict[str, Any]) -> None:
        """Append one JSON line to metrics.jsonl with one write call. A write that fails part-way (full disk) is
        cut back off, so the file never ends in half a line."""
        line = json.dumps(_clean(json.loads(json.dumps(record, default=_json_default))), sort_keys=True) + "\n"
        path, data = self.path / "metrics.jsonl", line.encode("utf-8")
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            try:
                if os.write(fd, data) != len(data):
                    raise OSError(errno.ENOSPC, "short write, disk full?")
            except OSError as err:
                os.ftruncate(fd, size)
                raise OSError(err.errno, err.strerror, str(path)) from err
        finally:
            os.close(fd)


def _hardware(run: Path) -> dict[str, Any]:
    """What summary.json says of the machine (from env.json): device, GPU, training precision, torch version."""
    env = read_json(run / "env.json", {})
    return {k: env.get(k) for k in ("device", "gpu", "gpu_capability", "precision", "torch")}


def _pid_in(lock: Path) -> int:
    try:
        return int(lock.read_text().strip() or 0)
    except (OSError, ValueError):
        return 0


def _owner(lock: Path) -> str:
    pid = _pid_in(lock)
    return f"process {pid}" if pid else "another process (starting up)"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
