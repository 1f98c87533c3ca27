"""Faults a user makes or meets at the command line: ill-typed flags and values, an unusable --out, two runs on
one folder, Ctrl-C, NaN losses, a full disk. Each must end in one clear line (exit 2 for what the user can fix)
and leave no half-written file. Cases already in tests/test_config_runs.py (unknown study, profile and key,
negative epochs, --out a file) are not repeated here."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from faultkit import (
    ENV_1THREAD,
    assert_user_error,
    audit,
    cli_outcome,
    landed,
    malicious_pickle,
    mount_small_disk,
    record,
    start,
    unmount,
    where_it_stopped,
)

from conftest import run_cli
from mnistlab import config
from mnistlab.runs import RunDir

CLI = [sys.executable, "-m", "mnistlab.cli"]


# ---------------------------------------------------------------- flags and values
@pytest.mark.parametrize("args, needle", [
    (["--set", "mlp.lr=fast"], "mlp.lr expects float, got 'fast'"),
    (["--set", "mtl.tune=maybe"], "mtl.tune expects bool"),
    (["--seed", "abc"], "--seed: invalid int value"),
    (["--device", "tpu"], "device must be auto, cpu or cuda"),
    (["--set", "mtl.lambdas=0,2"], "mtl.lambdas must lie in [0, 1]"),
    (["--set", "mtl.lambdas=0,half"], "mtl.lambdas expects comma-separated numbers"),
    (["--set", "perceptron.pairs=1-1"], "two different digits"),
    (["--set", "pca.subset=-5"], "pca.subset must be >= 0"),
    (["--set", "seeds=0"], "seeds must be > 0"),
    (["--profile"], "expected one argument"),
])
def test_bad_flag(tmp_path, args, needle):
    out = tmp_path / "run"
    res = run_cli("run", "pca", "--out", str(out), *args)
    o = cli_outcome(res, out)
    record("bad flag or value", "mnistlab run pca " + " ".join(args), **o, folder_made=out.exists())
    assert_user_error(o, needle)
    assert not out.exists()  # refused before anything was written


def test_out_on_read_only_filesystem(tmp_path):
    """Root ignores permission bits, so a read-only mount is the honest 'not writable' there."""
    ro = tmp_path / "ro"
    if os.geteuid() == 0:
        if not mount_small_disk(ro, 64):
            pytest.skip("cannot mount a tmpfs here")
        subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
        how = "a read-only tmpfs"
    else:
        ro.mkdir()
        ro.chmod(0o500)
        how = "a folder with mode 0500"
    try:
        res = run_cli("run", "pca", "--profile", "smoke", "--out", str(ro / "run"))
        o = cli_outcome(res)
        record("--out not writable", how, **o)
        assert_user_error(o, "cannot write to run folder", "choose another --out")
    finally:
        unmount(ro) if os.geteuid() == 0 else ro.chmod(0o700)


# ---------------------------------------------------------------- two runs, one folder
_HOLDER = """
import sys, time
from mnistlab import config
from mnistlab.runs import RunDir
with RunDir.open(sys.argv[1], config.build("smoke").to_dict()):
    print("held", flush=True)
    time.sleep(120)
"""


def test_second_run_on_same_out_is_refused(tmp_path):
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
        o = cli_outcome(run_cli("run", "pca", "--profile", "smoke", "--out", str(out)), out)
        untouched = before == {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
        o["half_written"] = [h for h in o["half_written"] if not h.startswith(".lock")]  # the holder's, live
        record("second mnistlab run on the same --out", "a live process holds the folder", **o,
               folder_untouched=untouched)
        assert_user_error(o, "is in use by process", str(holder.pid))
        assert untouched
    finally:
        holder.kill()  # kill -9: the lock file stays, with a dead pid in it
        holder.wait()
    assert (out / ".lock").read_text() == str(holder.pid)
    with RunDir(out):  # ... and is not held: the next owner takes it over
        assert (out / ".lock").read_text() == str(os.getpid())
    record("lock of a killed run", "kill -9 of the holder, then a new run", outcome="lock taken over",
           traceback=False, half_written=audit(out))
    assert audit(out) == []


def _race(path: str, barrier, results) -> None:
    rd = RunDir(path)
    barrier.wait()
    try:
        with rd:
            results.put("owner")
            time.sleep(0.3)
    except Exception as err:
        results.put(type(err).__name__)


def test_runs_started_together_get_one_owner(tmp_path):
    """Three processes enter one folder at the same instant, 10 times (every other time over a stale lock)."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    tally = []
    for trial in range(10):
        path = tmp_path / f"run{trial}"
        path.mkdir()
        if trial % 2:
            (path / ".lock").write_text("999999999")  # a pid no process has
        barrier, results = ctx.Barrier(3), ctx.Queue()
        procs = [ctx.Process(target=_race, args=(str(path), barrier, results)) for _ in range(3)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        tally.append(sorted(results.get(timeout=5) for _ in procs))
    owners = [t.count("owner") for t in tally]
    record("three runs started at once on one --out", "10 trials, 3 processes behind a barrier",
           outcome=f"owners per trial: {owners}; others: {sorted({x for t in tally for x in t} - {'owner'})}",
           traceback=False, half_written=[])
    assert owners == [1] * 10 and all(t.count("UserError") == 2 for t in tally)


# ---------------------------------------------------------------- a full disk, through the CLI
def _fsize_limit(limit: int):
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))


@pytest.mark.slow
@pytest.mark.parametrize("how", ["tmpfs", "file-size limit"])
def test_disk_full_cli(tmp_path, how):
    out = tmp_path / "disk" / "run"
    cmd = [*CLI, "run", "perceptron", "--profile", "smoke", "--no-deliverables", "--out", str(out)]
    if how == "tmpfs":
        if os.geteuid() != 0 or not mount_small_disk(out.parent, 40):
            pytest.skip("needs root to mount a tmpfs")
        res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **ENV_1THREAD}, timeout=600)
    else:  # RLIMIT_FSIZE: any file growing past 20 KB fails with EFBIG (Python ignores SIGXFSZ)
        res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **ENV_1THREAD}, timeout=600,
                             preexec_fn=_fsize_limit(20_000))
    try:
        o = cli_outcome(res, out)
        record("disk full (CLI)", f"{how}, mnistlab run perceptron", **o, state=where_it_stopped(out))
        assert_user_error(o, "re-run the same command to resume", str(out), code=1)
    finally:
        if how == "tmpfs":
            unmount(out.parent)


# ---------------------------------------------------------------- Ctrl-C and NaN, on a study that trains
TRAINED = [  # (study, overrides that keep it short); the study's own lr is what the NaN case sets absurdly
    ("mlp", ["--set", "mlp.search=false", "--set", "mlp.epochs=3"]),
    ("cnn", ["--set", "cnn.epochs=3"]),
    ("mtl", ["--set", "mtl.tune=false", "--set", "mtl.lambdas=0.5", "--set", "mtl.uncertainty=false",
             "--set", "mtl.epochs=4"]),
]
TRAINED_READY = [(s, extra) for s, extra in TRAINED if landed(s)]


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("study, extra", TRAINED_READY, ids=[s for s, _ in TRAINED_READY])
def test_ctrl_c_stops_cleanly_with_a_checkpoint(tmp_path, study, extra, sig):
    out, log = tmp_path / "run", tmp_path / "run.log"
    argv = [*CLI, "run", study, "--profile", "smoke", "--no-deliverables", *extra, "--out", str(out)]
    p = start(argv, log)
    deadline = time.time() + 600
    while not list(out.rglob("checkpoint.pt")) and p.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    p.send_signal(sig)
    code = p.wait(120)
    text = log.read_text()
    ckpts = list(out.rglob("checkpoint.pt"))
    from mnistlab.train import safe_load

    epochs = [int(safe_load(c)["epoch"]) for c in ckpts]
    left = audit(out)
    errs = [line for line in text.splitlines() if line.startswith("mnistlab:")]
    name = "Ctrl-C (SIGINT)" if sig == signal.SIGINT else "SIGTERM (kill, docker stop)"
    record(f"{name} during training", f"mnistlab run {study}, {sig.name} once a checkpoint exists", exit=code,
           message=errs[-1] if errs else "", error_lines=len(errs), traceback="Traceback" in text,
           half_written=left, checkpoints=f"{len(ckpts)} (epochs {epochs})", state=where_it_stopped(out))
    assert code == 130 and len(errs) == 1 and "interrupted" in errs[0] and "Traceback" not in text
    assert ckpts and left == []
    if sig == signal.SIGINT:  # while it is there: the checkpoint swapped for a malicious pickle, then a re-run
        _malicious_checkpoint_refused(argv, ckpts[0], tmp_path / "PWNED", study)
    res = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, **ENV_1THREAD}, timeout=900)
    assert res.returncode == 0 and "resuming after epoch" in res.stderr, res.stderr[-2000:]


def _malicious_checkpoint_refused(argv: list[str], ckpt: Path, marker: Path, study: str) -> None:
    """Replace `ckpt` with a pickle whose loading would create `marker`; the re-run must refuse it (exit 2, one
    line) without running it. The real checkpoint is put back afterwards."""
    real = ckpt.read_bytes()
    payload = malicious_pickle(marker)
    ckpt.write_bytes(payload)
    live = subprocess.run([sys.executable, "-c", "import pickle,sys; pickle.load(open(sys.argv[1],'rb'))",
                           str(ckpt)], capture_output=True).returncode == 0 and marker.exists()
    marker.unlink(missing_ok=True)
    res = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, **ENV_1THREAD}, timeout=900)
    out = Path(argv[-1])
    o = cli_outcome(res, out)
    planted = str(ckpt.relative_to(out))
    o["half_written"] = [h for h in o["half_written"] if not h.startswith(planted + ":")]  # our own planted file
    record("malicious pickle as a checkpoint (CLI)", f"mnistlab run {study} over a swapped {ckpt.name} (payload live "
           f"under pickle.load: {live})", **o, code_ran=marker.exists())
    assert live and not marker.exists()
    assert_user_error(o, "not a valid checkpoint", "delete it to retrain")
    ckpt.write_bytes(real)


@pytest.mark.slow
@pytest.mark.parametrize("study, extra", TRAINED_READY, ids=[s for s, _ in TRAINED_READY])
def test_nan_loss_marks_study_failed_and_others_go_on(tmp_path, study, extra):
    out = tmp_path / "run"
    res = run_cli("run", study, "perceptron", "--profile", "smoke", "--no-deliverables", *extra,
                  "--set", f"{study}.lr=1e20", "--out", str(out), env=ENV_1THREAD)
    metrics = json.loads((out / "metrics.json").read_text())
    summary = json.loads((out / "summary.json").read_text())
    failed = [line for line in res.stderr.splitlines() if "FAILED" in line]
    o = cli_outcome(res, out)
    record("loss becomes NaN (CLI)", f"mnistlab run {study} perceptron --set {study}.lr=1e20", **o,
           failed_line=failed[0] if failed else "", status=metrics.get(f"status.{study}"),
           others_done=(out / "perceptron" / ".done").is_file())
    assert res.returncode == 1 and not o["traceback"] and o["half_written"] == []
    assert metrics.get(f"status.{study}") == "failed" and summary["studies"][study]["status"] == "failed"
    assert failed and "epoch" in failed[0] and "step" in failed[0]
    assert (out / "perceptron" / ".done").is_file() and not (out / study / ".done").exists()
    assert any(k.startswith("perceptron.") for k in metrics)


def test_config_keys_used_here_exist():
    """The overrides above must stay valid as the studies' configs change."""
    for _, extra in TRAINED:
        config.build("smoke", [v for v in extra if v != "--set"])
