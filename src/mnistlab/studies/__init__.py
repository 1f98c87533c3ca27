"""The six studies. Each module has `run(cfg: RunConfig, rd: RunDir) -> StudyResult`: it computes, writes its
files under `rd.study_dir(name)`, and returns its summary (tables for the report) and headline metrics
(flat dotted keys for metrics.json). `run_studies` adds prerequisites, timing, skip-if-done and failure handling.

Prerequisites: a study module may declare, beside its `NAME`, `NEEDS` (studies whose files it reads and cannot do
without: `plan` runs them first when they are not done in the run folder) and `USES` (studies whose files it
reads when present: never forced, but run first when they are in the same plan). A study writes only under its
own folder; what it needs from another study comes from that study's run."""

from __future__ import annotations

import contextlib
import importlib
import threading
import time
from collections.abc import Collection, Mapping, Sequence
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


@dataclass(frozen=True)
class Step:
    """One study of a plan; `why` says why a study that was not asked for is in it."""

    name: str
    why: str | None = None


def declared(names: Sequence[str]) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """(NEEDS, USES) of `names` and of every study they lead to. Only those modules are loaded: in the notebook a
    later task's module is not defined yet when an earlier task runs."""
    needs: dict[str, tuple[str, ...]] = {}
    uses: dict[str, tuple[str, ...]] = {}
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in needs:
            continue
        module = load(name)
        needs[name], uses[name] = tuple(getattr(module, "NEEDS", ())), tuple(getattr(module, "USES", ()))
        todo += [*needs[name], *uses[name]]
    return needs, uses


def plan(names: Sequence[str], needs: Mapping[str, Sequence[str]], uses: Mapping[str, Sequence[str]] | None = None,
         done: Collection[str] = ()) -> list[Step]:
    """The studies to run for `names`, in order: each asked-for study (done ones too: the runner skips them), each
    study one of them NEEDS that is not in `done`, and every study after those it needs or uses that are in the
    plan. Asked-for studies keep their order; added ones come just before the first study that needs them, in
    STUDIES order. An unknown study, or a cycle of needs and uses among the planned studies, is refused."""
    uses = uses or {}
    for name in [*names, *(d for table in (needs, uses) for deps in table.values() for d in deps)]:
        if name not in STUDIES:
            raise UserError(f"unknown study {name!r}; choose from {', '.join(STUDIES)}")
    why = _prerequisites(names, needs, done)
    edges = {n: [d for d in (*needs.get(n, ()), *uses.get(n, ())) if d in why] for n in why}
    order: list[str] = []
    for name in names:
        _visit(name, edges, order, [])
    return [Step(n, why[n]) for n in order]


def _prerequisites(names: Sequence[str], needs: Mapping[str, Sequence[str]],
                   done: Collection[str]) -> dict[str, str | None]:
    """{study: why} for `names` (why None) and, transitively, what they need that is not done. A done study's
    own prerequisites are not followed: its files exist already."""
    why: dict[str, str | None] = dict.fromkeys(names)
    todo = list(names)
    while todo:
        name = todo.pop(0)
        for dep in needs.get(name, ()):
            if dep not in why and dep not in done:
                why[dep] = f"{name} needs it"
                todo.append(dep)
    return why


def _visit(name: str, edges: Mapping[str, Sequence[str]], order: list[str], path: list[str]) -> None:
    """Depth-first: `name` after its dependencies (in STUDIES order); `path` is the chain being visited."""
    if name in order:
        return
    if name in path:
        raise UserError(f"the studies' prerequisites form a cycle: {' -> '.join([*path[path.index(name):], name])}")
    for dep in sorted(edges.get(name, ()), key=STUDIES.index):
        _visit(dep, edges, order, [*path, name])
    order.append(name)


def run_studies(cfg: RunConfig, rd: RunDir, names: list[str]) -> dict[str, str]:
    """Run `names` and the prerequisites they lack (see `plan`) in order; returns {study: 'done' | 'skipped' |
    'failed'}. A diverged study is marked failed, as is a study whose prerequisite failed, and the others go on;
    a user error stops the run."""
    needs, uses = declared(names)  # loads every module first: an unknown study fails before anything runs
    status: dict[str, str] = {}
    for step in plan(names, needs, uses, done=[n for n in STUDIES if rd.is_done(n)]):
        name = step.name
        if rd.is_done(name):
            log(f"[{name}] already done in {rd.path}, skipping")
            status[name] = "skipped"
            continue
        if step.why:
            log(f"[{name}] not done in {rd.path}: running it first ({step.why})")
        lost = [d for d in needs[name] if status.get(d) == "failed"]
        if lost:  # its inputs were never written: running it would only stop the run on a missing file
            log(f"[{name}] FAILED: it needs {', '.join(lost)}, which failed")
            rd.fail_study(name, f"not run: it needs {', '.join(lost)}, which failed")
            status[name] = "failed"
            continue
        status[name] = _run_one(cfg, rd, name)
    return status


def _run_one(cfg: RunConfig, rd: RunDir, name: str) -> str:
    """Run one study with its clock; 'done' or, when its training diverged, 'failed'."""
    clock = StudyClock(rd.study_dir(name) / ".elapsed")
    log(f"[{name}] starting" + (f" (resuming: {clock.before:.0f} s spent before)" if clock.before else ""))
    try:
        with clock:
            result: StudyResult = load(name).run(cfg, rd)
    except TrainingDiverged as err:
        log(f"[{name}] FAILED: {err}")
        rd.fail_study(name, str(err))
        return "failed"
    seconds = clock.total()
    rd.finish_study(name, result.summary, result.metrics, seconds)
    clock.path.unlink(missing_ok=True)  # a later re-run (after removing .done) starts its own count
    log(f"[{name}] done in {seconds:.1f} s")
    return "done"


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
