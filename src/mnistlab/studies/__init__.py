"""The six studies. Each module has `run(cfg: RunConfig, rd: RunDir) -> StudyResult`: it computes, writes its
files under `rd.study_dir(name)`, and returns its summary (tables for the report) and headline metrics
(flat dotted keys for metrics.json). `run_studies` adds timing, skip-if-done and failure handling."""

from __future__ import annotations

import contextlib
import importlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from mnistlab.config import STUDIES, RunConfig
from mnistlab.errors import TrainingDiverged, UserError
from mnistlab.log import log
from mnistlab.runs import RunDir, atomic_write_text


@dataclass
class StudyResult:
    summary: dict[str, Any] = field(default_factory=dict)  # tables and details, goes to <study>/summary.json
    metrics: dict[str, Any] = field(default_factory=dict)  # headline numbers, dotted keys, go to metrics.json


def load(name: str) -> Any:
    """The study module `name` (one of config.STUDIES)."""
    if name not in STUDIES:
        raise UserError(f"unknown study {name!r}; choose from {', '.join(STUDIES)}")
    return importlib.import_module(f"mnistlab.studies.{name}")


def run_studies(cfg: RunConfig, rd: RunDir, names: list[str]) -> dict[str, str]:
    """Run `names` in order; returns {study: 'done' | 'skipped' | 'failed'}. A diverged study is marked failed
    and the others go on; a user error stops the run."""
    modules = {n: load(n) for n in names}
    status: dict[str, str] = {}
    for name, module in modules.items():
        if rd.is_done(name):
            log(f"[{name}] already done in {rd.path}, skipping")
            status[name] = "skipped"
            continue
        clock = StudyClock(rd.study_dir(name) / ".elapsed")
        log(f"[{name}] starting" + (f" (resuming: {clock.before:.0f} s spent before)" if clock.before else ""))
        try:
            with clock:
                result: StudyResult = module.run(cfg, rd)
        except TrainingDiverged as err:
            log(f"[{name}] FAILED: {err}")
            rd.fail_study(name, str(err))
            status[name] = "failed"
            continue
        seconds = clock.total()
        rd.finish_study(name, result.summary, result.metrics, seconds)
        clock.path.unlink(missing_ok=True)  # a later re-run (after removing .done) starts its own count
        log(f"[{name}] done in {seconds:.1f} s")
        status[name] = "done"
    return status


class StudyClock:
    """Wall time of a study summed over every attempt: a background thread rewrites `path` every `every` seconds,
    so a killed run loses at most that much, and the resumed attempt starts from the stored total. Without it a
    study resumed after a kill would report only its last attempt's time."""

    def __init__(self, path: Path, every: float = 10.0) -> None:
        self.path, self.every = path, every
        self.before = _seconds_in(path)
        self._t0 = time.perf_counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._tick, daemon=True)

    def total(self) -> float:
        return self.before + time.perf_counter() - self._t0

    def _tick(self) -> None:
        while not self._stop.wait(self.every):
            self._save()

    def _save(self) -> None:
        with contextlib.suppress(OSError):  # a convenience; a full disk surfaces in the study's own writes
            atomic_write_text(self.path, f"{self.total():.1f}\n")

    def __enter__(self) -> StudyClock:
        self._t0 = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        self._save()  # after a failure or an interrupt, the next attempt adds to this


def _seconds_in(path: Path) -> float:
    try:
        return max(0.0, float(path.read_text()))
    except (OSError, ValueError):
        return 0.0  # no earlier attempt (or an unreadable note): count from zero
