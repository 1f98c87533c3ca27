"""Faults inside a run, on the real training engine and run folder (in this process, so they are quick):
a loss or weights that become NaN/inf, a checkpoint replaced by a malicious pickle, a disk that fills up."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from faultkit import (
    audit,
    comparable,
    malicious_pickle,
    mount_small_disk,
    payload_object,
    read_metrics,
    record,
    resize_disk,
    unmount,
    where_it_stopped,
)

from mnistlab.errors import TrainingDiverged, UserError
from mnistlab.models.mlp import build_mlp
from mnistlab.train import Classification, TrainSpec, fit

HERE = Path(__file__).resolve().parent


def _data(n: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 784, generator=g), torch.randint(0, 10, (n,), generator=g)


# ---------------------------------------------------------------- NaN / inf
def test_absurd_learning_rate_stops_the_model(tmp_path):
    torch.manual_seed(0)
    with pytest.raises(TrainingDiverged) as info:
        fit(build_mlp([784, 64, 10]), _data(), TrainSpec(epochs=3, batch_size=64, lr=1e20, precision="fp32"),
            name="mlp_lr1e20", out_dir=tmp_path / "m", device="cpu")
    msg = str(info.value)
    record("loss becomes NaN (lr=1e20)", "train.fit, Adam lr=1e20", outcome="TrainingDiverged", message=msg,
           traceback=False, half_written=audit(tmp_path))
    assert "mlp_lr1e20" in msg and "epoch 1" in msg and "step " in msg and "\n" not in msg
    assert not (tmp_path / "m" / "model.pt").exists() and audit(tmp_path) == []


def test_absurd_but_finite_learning_rate_is_not_a_nan(tmp_path):
    """lr=1e6 (the issue's example) does not give NaN with Adam, whose step is bounded by lr: the loss explodes but
    stays finite, the model finishes at about chance accuracy, and that is what gets reported."""
    torch.manual_seed(0)
    res = fit(build_mlp([784, 64, 10]), _data(), TrainSpec(epochs=3, batch_size=64, lr=1e6, precision="fp32"),
              name="mlp_lr1e6", test=_data(256), out_dir=tmp_path / "m", device="cpu")
    losses = [row["loss"] for row in res.history]
    record("absurd but finite learning rate (lr=1e6)", "train.fit, Adam lr=1e6", outcome="finished, no NaN",
           message=f"loss per epoch {', '.join(f'{v:.3g}' for v in losses)}; test acc {res.final['test_acc']:.3f}",
           traceback=False, half_written=audit(tmp_path))
    assert all(v == v and v < float("inf") for v in losses) and max(losses) > 1e3


class _NaNGradient(Classification):
    """A finite loss whose gradient is NaN: 0 * d/dx sqrt(x) at x = 0 (what an overflow in backward does)."""

    def loss(self, out, y):
        return super().loss(out, y) + 0 * torch.sqrt(out[:, 0] - out[:, 0].detach()).sum()


def test_nan_weights_behind_a_finite_loss_are_not_saved(tmp_path):
    """One step per epoch: the loss is finite, the update makes every weight NaN. Without a check of the weights
    the engine would save that model and report its test accuracy as if it were a result."""
    torch.manual_seed(0)
    with pytest.raises(TrainingDiverged) as info:
        fit(build_mlp([784, 16, 10]), _data(64), TrainSpec(epochs=1, batch_size=64, precision="fp32"),
            name="mlp_nan_grad", test=_data(64), task=_NaNGradient(), out_dir=tmp_path / "m", device="cpu")
    saved = [p.name for p in (tmp_path / "m").glob("*.pt")]
    record("weights become NaN behind a finite loss", "train.fit, a loss with a NaN gradient",
           outcome="TrainingDiverged", message=str(info.value), traceback=False, half_written=audit(tmp_path) + saved)
    assert "mlp_nan_grad" in str(info.value) and "epoch 1" in str(info.value)
    assert saved == []


# ---------------------------------------------------------------- malicious checkpoints
def _plant(path: Path, marker: Path, form: str) -> None:
    if form == "pickle":
        path.write_bytes(malicious_pickle(marker))
    else:  # torch's zip format, the payload in its data.pkl
        torch.save({"model": payload_object(marker), "epoch": 1}, path)


def _payload_is_live(path: Path, marker: Path, form: str) -> bool:
    """Control: an unsafe load of the same file, in another process, does run the payload."""
    load = ("import pickle, sys; pickle.load(open(sys.argv[1], 'rb'))" if form == "pickle" else
            "import torch, sys; torch.load(sys.argv[1], weights_only=False)")
    subprocess.run([sys.executable, "-c", load, str(path)], capture_output=True, timeout=120)
    live = marker.exists()
    marker.unlink(missing_ok=True)
    return live


@pytest.mark.parametrize("form", ["pickle", "torch zip"])
@pytest.mark.parametrize("which", ["checkpoint.pt", "model.pt"])
def test_malicious_checkpoint_is_refused(tmp_path, form, which):
    out, marker = tmp_path / "m", tmp_path / "PWNED"
    spec = TrainSpec(epochs=2, batch_size=64, precision="fp32")
    fit(build_mlp([784, 16, 10]), _data(), spec, name="victim", out_dir=out, device="cpu")  # a real model.pt
    if which == "checkpoint.pt":  # an unfinished model: its checkpoint is what a resume loads
        (out / "model.pt").unlink()
        (out / "history.json").unlink()
    _plant(out / which, marker, form)
    live = _payload_is_live(out / which, marker, form)
    with pytest.raises(UserError) as info:
        fit(build_mlp([784, 16, 10]), _data(), spec, name="victim", out_dir=out, device="cpu")
    msg = str(info.value)
    record(f"malicious pickle as {which}", f"{form}; payload creates a file (live under an unsafe load: {live})",
           outcome="UserError, nothing ran" if not marker.exists() else "CODE RAN", message=msg,
           traceback=False, half_written=[])
    assert live, "the control load should have run the payload"
    assert not marker.exists()
    assert which in msg and "not a valid checkpoint" in msg and "\n" not in msg


# ---------------------------------------------------------------- a full disk
ENGINE = ["--models", "1", "--epochs", "2", "--n", "2000"]


def _worker(out: Path) -> int:
    import engine_worker

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return engine_worker.main([str(out), *ENGINE])
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def engine_ref(tmp_path_factory) -> dict:
    """metrics.json of an uninterrupted worker run (wall times aside)."""
    out = tmp_path_factory.mktemp("engine-ref") / "run"
    assert _worker(out) == 0
    return comparable(read_metrics(out))


@pytest.fixture
def disk(tmp_path):
    where = tmp_path / "disk"
    if os.geteuid() != 0 or not mount_small_disk(where, 4):
        pytest.skip("needs root to mount a small tmpfs; tests/faults/test_fault_cli.py fills a file-size limit")
    yield where
    unmount(where)


# sizes that fill up while writing: the run's first files, the first checkpoint (2.8 MB: 235k weights + Adam state), the
# finished model (0.9 MB, written beside the last checkpoint, which is then removed) and figures
@pytest.mark.parametrize("kib", [8, 16, 1200, 3200])
def test_disk_full(disk, engine_ref, kib):
    resize_disk(disk, kib)
    out = disk / "run"
    with pytest.raises(OSError) as info:
        _worker(out)
    err = info.value
    left, state = (audit(out), where_it_stopped(out)) if out.exists() else ([], "no run folder")
    resize_disk(disk, 64 * 1024)  # space freed: the same command resumes and finishes
    code = _worker(out)
    same = code == 0 and comparable(read_metrics(out)) == engine_ref
    record(f"disk full at {kib} KiB", "tmpfs of that size under the run folder", outcome=errno.errorcode[err.errno],
           message=f"{err.strerror}: {err.filename}", half_written=left, traceback=False, rerun_exit=code,
           metrics_equal=same, state=state)
    assert err.errno == errno.ENOSPC and err.filename and ".tmp" not in str(err.filename)
    assert left == [] and same and audit(out) == []


# ---------------------------------------------------------------- resume on a machine whose load changed
class _Crash(Exception):
    pass


def _crash(row: dict) -> None:
    if row["epoch"] == 2:
        raise _Crash  # on_epoch runs before that epoch's checkpoint: the resume starts after epoch 1


def test_resume_keeps_the_thread_count_the_model_started_with(tmp_path):
    """The studies size torch's thread pool to the free cores, so a resumed model could continue with another
    count than it started with, which changes float sums. The checkpoint records the count; resume restores it."""
    threads = torch.get_num_threads()
    spec = TrainSpec(epochs=3, batch_size=64, precision="fp32")
    try:
        torch.set_num_threads(2)
        torch.manual_seed(0)
        want = fit(build_mlp([784, 32, 10]), _data(), spec, name="ref", device="cpu").history
        torch.manual_seed(0)
        with pytest.raises(_Crash):
            fit(build_mlp([784, 32, 10]), _data(), spec, name="t", out_dir=tmp_path / "m", device="cpu",
                on_epoch=_crash)
        torch.set_num_threads(1)  # the machine got busier: the next model would get 1 thread
        torch.manual_seed(0)
        res = fit(build_mlp([784, 32, 10]), _data(), spec, name="t", out_dir=tmp_path / "m", device="cpu")
        used = torch.get_num_threads()
    finally:
        torch.set_num_threads(threads)
    same = [comparable(r) for r in res.history] == [comparable(r) for r in want]  # wall and CPU times aside
    record("resume after the machine's load changed", "checkpoint written with 2 threads, resumed where 1 is set",
           outcome=f"resumed with {used} threads", metrics_equal=same, traceback=False, half_written=audit(tmp_path))
    assert used == 2 and res.threads == 2 and same
