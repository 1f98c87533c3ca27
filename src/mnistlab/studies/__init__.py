"""The six studies. Each module has `run(cfg: RunConfig, rd: RunDir) -> StudyResult`: it computes, writes its
files under `rd.study_dir(name)`, and returns its summary (tables for the report) and headline metrics
(flat dotted keys for metrics.json). `run_studies` adds timing, skip-if-done and failure handling."""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from typing import Any

from mnistlab.config import STUDIES, RunConfig
from mnistlab.errors import TrainingDiverged, UserError
from mnistlab.log import log
from mnistlab.runs import RunDir


@dataclass
class StudyResult:
    summary: dict[str, Any] = field(default_factory=dict)  # tables and details, goes to <study>/summary.json
    metrics: dict[str, Any] = field(default_factory=dict)  # headline numbers, dotted keys, go to metrics.json


def load(name: str) -> Any:
    if name not in STUDIES:
        raise UserError(f"unknown study {name!r}; choose from {', '.join(STUDIES)}")
    try:
        return importlib.import_module(f"mnistlab.studies.{name}")
    except ModuleNotFoundError as err:
        if err.name == f"mnistlab.studies.{name}":
            raise UserError(f"study {name!r} is not implemented yet") from None
        raise


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
        log(f"[{name}] starting")
        t0 = time.perf_counter()
        try:
            result: StudyResult = module.run(cfg, rd)
        except TrainingDiverged as err:
            log(f"[{name}] FAILED: {err}")
            rd.fail_study(name, str(err))
            status[name] = "failed"
            continue
        seconds = time.perf_counter() - t0
        rd.finish_study(name, result.summary, result.metrics, seconds)
        log(f"[{name}] done in {seconds:.1f} s")
        status[name] = "done"
    return status
