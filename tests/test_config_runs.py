import json
import os
import subprocess
import sys

import pytest

from conftest import run_cli
from mnistlab import config
from mnistlab.errors import ConfigError, UserError
from mnistlab.runs import RunDir, atomic_write_json, atomic_write_text, read_json


def test_profiles_build():
    for name in config.PROFILES:
        assert config.build(name).profile == name


def test_override_casts_types():
    cfg = config.build("full", ["mlp.epochs=3", "mlp.lr=0.01", "mtl.tune=false", "mtl.lambdas=0,1"], seed=7)
    assert cfg.mlp.epochs == 3 and cfg.mlp.lr == 0.01 and cfg.mtl.tune is False and cfg.seed == 7


@pytest.mark.parametrize("item, message", [
    ("mlp.nope=1", "unknown config key"),
    ("nope.epochs=1", "unknown config key"),
    ("mlp=1", "unknown config key"),
    ("mlp.epochs=abc", "expects int"),
    ("mtl.tune=maybe", "expects bool"),
    ("mlp.epochs=-1", "must be > 0"),
    ("mlp.epochs=0", "must be > 0"),
    ("mtl.beta1=1.5", "beta1"),
    ("perceptron.pairs=0-0", "two different digits"),
    ("mlp.epochs", "key=value"),
])
def test_override_errors(item, message):
    with pytest.raises(ConfigError, match=message):
        config.build("full", [item])


def test_atomic_write_keeps_old_file_when_writer_dies(tmp_path):
    target = tmp_path / "a.json"
    atomic_write_json(target, {"v": 1})
    src = os.path.dirname(os.path.dirname(config.__file__))
    code = (f"import sys, os; sys.path.insert(0, {src!r})\n"
            "import mnistlab.runs as r\n"
            "os.fsync = lambda fd: os._exit(9)\n"  # die after writing the temp file, before the rename
            f"r.atomic_write_text({str(target)!r}, 'x' * 100000)\n")
    res = subprocess.run([sys.executable, "-c", code])
    assert res.returncode == 9
    assert read_json(target) == {"v": 1}


def test_atomic_write_text_replaces(tmp_path):
    atomic_write_text(tmp_path / "f.txt", "one")
    atomic_write_text(tmp_path / "f.txt", "two")
    assert (tmp_path / "f.txt").read_text() == "two"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_run_dir_files_and_metrics(tmp_path):
    cfg = config.build("smoke").to_dict()
    with RunDir.open(tmp_path / "run", cfg) as rd:
        assert json.loads((rd.path / "config.json").read_text())["profile"] == "smoke"
        env = read_json(rd.path / "env.json")
        assert {"python", "torch", "numpy", "git_sha", "torch_threads"} <= set(env)
        rd.log_event({"epoch": 1, "loss": float("nan")})
        rd.finish_study("pca", {"table": [1, 2]}, {"pca.pc1": 0.1}, 1.5)
        assert rd.is_done("pca")
        assert rd.metrics() == {"pca.pc1": 0.1, "time.pca.s": 1.5}
        assert read_json(rd.path / "summary.json")["studies"]["pca"]["table"] == [1, 2]
        assert json.loads((rd.path / "metrics.jsonl").read_text())["loss"] is None


def test_run_dir_refuses_other_config(tmp_path):
    RunDir.open(tmp_path / "run", config.build("smoke").to_dict())
    with pytest.raises(UserError, match="different config"):
        RunDir.open(tmp_path / "run", config.build("smoke", seed=5).to_dict())


def test_lock_refuses_live_owner_and_takes_stale(tmp_path):
    rd = RunDir.open(tmp_path / "run", {})
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (rd.path / ".lock").write_text(str(owner.pid))
        with pytest.raises(UserError, match="in use by process"), rd:
            pass
    finally:
        owner.kill()
        owner.wait()
    with rd:  # the owner is dead: its lock is taken over
        assert (rd.path / ".lock").read_text() == str(os.getpid())
    assert not (rd.path / ".lock").exists()


@pytest.mark.parametrize("args, message", [
    (["run", "nostudy"], "unknown study"),
    (["run", "--profile", "nope"], "unknown profile"),
    (["run", "--set", "mlp.nope=1"], "unknown config key"),
    (["run", "--set", "mlp.epochs=-2"], "must be > 0"),
    (["run", "--bogus"], "unrecognized arguments"),
    (["frobnicate"], "invalid choice"),
])
def test_cli_user_errors(args, message):
    res = run_cli(*args)
    assert res.returncode == 2, res.stderr
    assert message in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_cli_out_is_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    res = run_cli("run", "pca", "--profile", "smoke", "--out", str(tmp_path / "f"))
    assert res.returncode == 2 and "is a file" in res.stderr and "Traceback" not in res.stderr


def test_cli_out_not_writable(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):  # root ignores permission bits: use a path under a file instead
            target = tmp_path / "file" / "sub"
            (tmp_path / "file").write_text("x")
        else:
            target = ro / "run"
        res = run_cli("run", "pca", "--profile", "smoke", "--out", str(target))
        assert res.returncode == 2 and "Traceback" not in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1
    finally:
        ro.chmod(0o700)


def test_cli_help():
    for args in (["--help"], ["run", "--help"], ["data", "verify", "--help"]):
        res = run_cli(*args)
        assert res.returncode == 0 and "usage" in res.stdout


def test_study_time_adds_up_over_a_killed_attempt(tmp_path, monkeypatch):
    """A study resumed after a kill reports the time of every attempt, not only the last one."""
    import types

    from mnistlab import studies
    from mnistlab.studies import StudyResult

    calls = []

    def fake_run(cfg, rd):
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt  # the first attempt dies part-way
        return StudyResult(metrics={"pca.x": 1.0})

    monkeypatch.setattr(studies, "load", lambda name: types.SimpleNamespace(run=fake_run))
    cfg = config.build("smoke")
    with RunDir.open(tmp_path / "run", cfg.to_dict()) as rd:
        with pytest.raises(KeyboardInterrupt):
            studies.run_studies(cfg, rd, ["pca"])
        atomic_write_text(rd.path / "pca" / ".elapsed", "100.0\n")  # as if it had run 100 s before the kill
        assert studies.run_studies(cfg, rd, ["pca"]) == {"pca": "done"}
        assert 100.0 <= rd.metrics()["time.pca.s"] < 110.0
        assert not (rd.path / "pca" / ".elapsed").exists()  # a fresh re-run counts from zero


def test_study_clock_ignores_an_unreadable_note(tmp_path):
    from mnistlab.studies import StudyClock

    (tmp_path / ".elapsed").write_text("not a number")
    with StudyClock(tmp_path / ".elapsed", every=0.01) as clock:
        assert clock.before == 0.0
    assert 0.0 <= float((tmp_path / ".elapsed").read_text()) < 5.0
