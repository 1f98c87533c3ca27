"""kill -9 at random moments, then a re-run: the run must end with the same metrics.json as one that was never
interrupted (wall times aside; exact, on CPU), with no temp file or half-written artifact left.

Two programs are killed: `engine_worker.py` (two small MLPs on the real training engine and run folder; quick)
and `mnistlab run` itself on every committed study, with the smoke profile shortened further (slow). The moments
are drawn uniformly over the uninterrupted run's wall time (seeded: MNISTLAB_FAULT_SEED, default 9). Every run
uses one thread (faultkit.ENV_1THREAD) and the slow ones a copy of src/ frozen at the test's start."""

from __future__ import annotations

import os
import random
import sys
import time
from pathlib import Path

import pytest
from faultkit import (
    audit,
    comparable,
    frozen_code,
    kill_at,
    landed,
    read_metrics,
    record,
    run_to_end,
    start,
    where_it_stopped,
)

from mnistlab.config import STUDIES

WORKER = [sys.executable, str(Path(__file__).with_name("engine_worker.py"))]
SMOKE = ["--profile", "smoke", "--no-deliverables",  # deliverables need every study; see docs/RELIABILITY.md
         "--set", "perceptron.all_pairs=false", "--set", "mlp.search=false", "--set", "mtl.tune=false",
         "--set", "mtl.lambdas=0.5", "--set", "mtl.uncertainty=false", "--set", "mtl.epochs=2"]


def _reference(argv: list[str], tmp: Path, env: dict[str, str]) -> tuple[dict, float]:
    out = tmp / "reference"
    t0 = time.perf_counter()
    code = run_to_end([*argv, str(out)], tmp / "reference.log", env=env)
    assert code == 0, (tmp / "reference.log").read_text()[-2000:]
    return comparable(read_metrics(out)), time.perf_counter() - t0


def _trial(argv: list[str], tmp: Path, i: int, moment: float, want: dict, label: str, env: dict[str, str]) -> None:
    out, log = tmp / f"trial{i}", tmp / f"trial{i}.log"
    seen = kill_at([*argv, str(out)], out, log, moment, env)
    code = run_to_end([*argv, str(out)], log, env=env)
    got = comparable(read_metrics(out)) if code == 0 else {}
    diff = sorted(k for k in set(want) | set(got) if want.get(k) != got.get(k))
    left = audit(out)
    record(f"kill -9, then re-run ({label})", f"SIGKILL at {seen['moment_s']} s", **seen, rerun_exit=code,
           outcome="killed" if seen["killed"] else "ended before the kill",
           metrics_equal=not diff, differing=diff[:10], keys_compared=len(want), half_written=left,
           traceback="Traceback" in log.read_text())
    assert code == 0, log.read_text()[-3000:]
    assert not diff, {k: (want.get(k), got.get(k)) for k in diff[:10]}
    assert left == []


def test_kill9_during_training_engine(tmp_path):
    """The quick case: kill once, just after the first checkpoint appears (mid-training, not at start-up). The
    uninterrupted reference runs in this process (one thread, like the subprocesses) to save a start-up."""
    import engine_worker
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert engine_worker.main([str(tmp_path / "reference")]) == 0
    finally:
        torch.set_num_threads(threads)
    want = comparable(read_metrics(tmp_path / "reference"))
    out, log = tmp_path / "killed", tmp_path / "killed.log"
    p = start([*WORKER, str(out)], log)
    deadline = time.time() + 300
    while not list(out.rglob("checkpoint.pt")) and p.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    p.kill()
    p.wait()
    state = where_it_stopped(out)
    assert run_to_end([*WORKER, str(out)], log) == 0
    got, left = comparable(read_metrics(out)), audit(out)
    resumed = "resuming after epoch" in log.read_text()
    record("kill -9 after the first checkpoint, then re-run (engine)", "SIGKILL when checkpoint.pt appears",
           outcome="resumed" if resumed else "did not resume", left=state, metrics_equal=got == want,
           keys_compared=len(want), half_written=left, traceback="Traceback" in log.read_text())
    assert "resuming after epoch" in log.read_text()
    assert got == want and left == []


@pytest.mark.slow
def test_kill9_random_moments_engine(tmp_path):
    env = frozen_code(tmp_path)
    want, seconds = _reference(WORKER, tmp_path, env)
    rng = random.Random(int(os.environ.get("MNISTLAB_FAULT_SEED", "9")))
    for i, moment in enumerate(sorted(rng.uniform(0.02, 0.98) * seconds for _ in range(10))):
        _trial(WORKER, tmp_path, i, moment, want, "engine worker", env)


@pytest.mark.slow
def test_kill9_random_moments_cli(tmp_path):
    studies = [s for s in STUDIES if landed(s)]
    if not studies:
        pytest.skip("no study is implemented yet")
    argv = [sys.executable, "-m", "mnistlab.cli", "run", *studies, *SMOKE, "--out"]
    env = frozen_code(tmp_path)
    want, seconds = _reference(argv, tmp_path, env)
    rng = random.Random(int(os.environ.get("MNISTLAB_FAULT_SEED", "9")))
    for i, moment in enumerate(sorted(rng.uniform(0.02, 0.98) * seconds for _ in range(10))):
        _trial(argv, tmp_path, i, moment, want, f"mnistlab run {' '.join(studies)}, smoke", env)
