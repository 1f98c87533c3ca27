"""The training engine on tiny MNIST subsets: it learns, it is deterministic for a seed, a killed run resumes
to the same numbers as an uninterrupted one, a finished model is loaded instead of retrained."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mnistlab.errors import ConfigError
from mnistlab.models.registry import create
from mnistlab.train import TrainSpec, _lr_at, configure_threads, evaluate, fit, safe_load, seed_everything, to_tensors


@pytest.fixture(scope="module")
def small(mnist):
    """2,000 training images and 1,000 test images, as image tensors (N, 1, 28, 28)."""
    return to_tensors(mnist.train.x[:2000], mnist.train.y[:2000]), to_tensors(mnist.test.x[:1000], mnist.test.y[:1000])


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    """Results are bit-identical only for equal thread counts: pin it, whatever the load of the machine."""
    monkeypatch.setenv("MNISTLAB_THREADS", "1")
    before = torch.get_num_threads()
    configure_threads()
    yield
    torch.set_num_threads(before)


def _fit(model_name, data, seed=0, **spec):
    (train, test) = data
    seed_everything(seed)
    model = create(model_name)
    spec = {"epochs": 2, "batch_size": 100, "lr": 2e-3, "schedule": "onecycle", "seed": seed, **spec}
    return model, fit(model, train, TrainSpec(**spec), name=model_name, test=test, device="cpu")


def _numbers(history):
    return [{k: v for k, v in row.items() if not k.endswith("_s")} for row in history]  # timings vary


@pytest.mark.parametrize("name, floor", [("mlp_3_1", 0.85), ("cnn_4_1", 0.8)])
def test_smoke_fit_beats_chance(small, name, floor):
    model, res = _fit(name, small, channels_last=name.startswith("cnn"))
    assert res.final["test_acc"] > floor  # chance is 0.1
    assert res.history[-1]["loss"] < res.history[0]["loss"]
    assert res.threads == 1 and res.train_s > 0 and res.test_s > 0 and 0 < res.train_cpu_s <= 1.5 * res.train_s
    # the reported test accuracy is the model's accuracy on the test set (evaluated again here, in fp32)
    assert abs(evaluate(model, _Cls(), *small[1])["acc"] - res.final["test_acc"]) <= 0.01


class _Cls:
    def correct(self, out, y):
        return {"acc": int((out.argmax(1) == y).sum())}


def test_same_seed_same_numbers_other_seed_other_numbers(small):
    _, a = _fit("mlp_3_1", small, seed=3, epochs=1)
    _, b = _fit("mlp_3_1", small, seed=3, epochs=1)
    _, c = _fit("mlp_3_1", small, seed=4, epochs=1)
    assert _numbers(a.history) == _numbers(b.history)
    assert _numbers(a.history) != _numbers(c.history)


def test_onecycle_warms_up_then_decays_to_zero():
    spec = TrainSpec(lr=1e-2, schedule="onecycle")
    lrs = [_lr_at(spec, s, 100) for s in range(100)]
    peak = max(range(100), key=lrs.__getitem__)
    assert lrs[0] == pytest.approx(1e-3) and lrs[peak] == pytest.approx(1e-2) and 10 <= peak <= 20
    assert all(x >= y for x, y in zip(lrs[peak:], lrs[peak + 1:], strict=False)) and lrs[-1] < 1e-5
    assert {_lr_at(TrainSpec(lr=1e-2), s, 100) for s in range(100)} == {1e-2}


def test_unknown_schedule_is_a_config_error(small):
    with pytest.raises(ConfigError, match="unknown schedule 'cosine'"):
        _fit("mlp_3_1", small, schedule="cosine")


def test_threads_follow_the_environment_and_fit_keeps_them(monkeypatch, small):
    assert configure_threads() == 1 and configure_threads(2) == 2
    assert _fit("mlp_3_1", small, epochs=1)[1].threads == 2  # fit uses the caller's setting
    monkeypatch.delenv("MNISTLAB_THREADS")
    assert 1 <= configure_threads() <= (os.cpu_count() or 1)


def test_finished_model_is_loaded_not_retrained(small, tmp_path):
    (train, test) = small
    spec = TrainSpec(epochs=1, batch_size=200, seed=0)
    seed_everything(0)
    first = fit(create("mlp_3_1"), train, spec, name="m", test=test, out_dir=tmp_path, device="cpu")
    assert (tmp_path / "model.pt").is_file() and not (tmp_path / "checkpoint.pt").exists()
    model = create("mlp_3_1")  # fresh weights: must be replaced by the saved ones
    again = fit(model, train, spec, name="m", test=test, out_dir=tmp_path, device="cpu")
    assert again.history == first.history and again.train_s == first.train_s
    saved = safe_load(tmp_path / "model.pt")
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items())


def train_narrow(out: Path, kill_at: int = 0) -> dict:
    """Train CNN 4.2-narrow for 3 epochs on 600 images into `out`; when kill_at > 0 the process SIGKILLs itself
    as epoch kill_at ends (before that epoch's checkpoint is written: it resumes after epoch kill_at - 1).
    Returns the per-epoch numbers and a checksum of the final weights."""
    import signal

    from mnistlab.data import load_dataset

    configure_threads()  # 1 in the test's environment, for the killed process and in-process alike
    ds = load_dataset("mnist")
    train, test = to_tensors(ds.train.x[:600], ds.train.y[:600]), to_tensors(ds.test.x[:200], ds.test.y[:200])
    seed_everything(0)
    model = create("cnn_4_2_narrow")

    def on_epoch(row):
        if row["epoch"] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    spec = TrainSpec(epochs=3, batch_size=64, lr=2e-3, schedule="onecycle", seed=0, channels_last=True)
    res = fit(model, train, spec, name="worker", test=test, out_dir=out, device="cpu", on_epoch=on_epoch)
    weights = sum(float(p.detach().double().sum()) for p in model.parameters())
    return {"history": _numbers(res.history), "weights": weights}


KILLED = ("import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); from test_train import train_narrow; "
          "train_narrow(Path(sys.argv[2]), kill_at=2)")


def test_kill_and_resume_gives_the_uninterrupted_numbers(tmp_path, capfd):
    """A process killed by SIGKILL during epoch 2, then the same training again (here, in-process, 1 thread
    like the killed one): the same numbers and weights as a run that was never interrupted."""
    env = {**os.environ, "MNISTLAB_THREADS": "1"}
    cmd = [sys.executable, "-c", KILLED, str(Path(__file__).parent), str(tmp_path / "a")]
    killed = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert killed.returncode == -9, killed.stderr
    assert safe_load(tmp_path / "a" / "checkpoint.pt")["epoch"] == 1
    resumed = train_narrow(tmp_path / "a")
    assert "worker: resuming after epoch 1" in capfd.readouterr().err
    straight = train_narrow(tmp_path / "b")
    assert resumed == straight and len(straight["history"]) == 3


def test_epoch_images_draws_a_fresh_seeded_subset_each_epoch(small):
    """epoch_images=N trains ceil(N / batch) steps per epoch on a new seeded draw of N images, and the running
    training accuracy is over those N; the same seed gives the same numbers."""
    from mnistlab.log import progress

    seen_steps = []
    import mnistlab.train as T

    def counting(items, desc, **kw):
        items = list(items)
        seen_steps.append(len(items))
        return progress(items, desc, **kw)

    original, T.progress = T.progress, counting
    try:
        _, a = _fit("mlp_3_1", small, epochs=2, epoch_images=450)
        _, b = _fit("mlp_3_1", small, epochs=2, epoch_images=450)
    finally:
        T.progress = original
    assert seen_steps == [5, 5, 5, 5]  # ceil(450 / 100) per epoch, both runs
    assert _numbers(a.history) == _numbers(b.history)
    for row in a.history:
        assert abs(row["running_acc"] * 450 - round(row["running_acc"] * 450)) < 1e-6  # a count over 450 images


def test_test_time_is_the_median_of_the_epochs_evaluation_passes(small):
    _, res = _fit("mlp_3_1", small, epochs=3)
    passes = sorted(row["eval_s"] for row in res.history)
    assert len(passes) == 3 and res.test_s == passes[1] > 0
    assert res.test_cpu_s == sorted(row["eval_cpu_s"] for row in res.history)[1]


def test_a_validation_slice_is_reported_as_val_not_test(small):
    """Searches and tuning pass a slice of train as `test=` with held_out="val": their rows and logs then say
    val_*, so no file or log line of a search can be mistaken for (or come from) the test split."""
    (train, _test) = small
    seed_everything(0)
    res = fit(create("mlp_3_1"), (train[0][:1500], train[1][:1500]), TrainSpec(epochs=1, batch_size=100), name="s",
              test=(train[0][1500:], train[1][1500:]), device="cpu", held_out="val")
    assert "val_acc" in res.final and not [k for k in res.final if k.startswith("test_")]


# ---------------------------------------------------------------- GPU hygiene and precision (issue 19), on the CPU
# Calls that copy a tensor's value to the host. On a GPU each one waits for every queued kernel, so fit may make
# only a fixed few per epoch (the divergence check, the loss, the training and held-out accuracies: 4 for one
# head), never one per step. The code path is the same on CPU and CUDA, so counting them here guards the GPU.
HOST_READS = frozenset({"item", "tolist", "cpu", "numpy", "__float__", "__int__", "__bool__", "__index__"})
READS_PER_EPOCH = 6


def _host_reads(data, batch, **spec):
    """Host reads made by a 2-epoch fit of CNN 4.2-narrow on 400 images at `batch` (in any precision)."""
    from torch.overrides import TorchFunctionMode

    class Count(TorchFunctionMode):
        reads = 0

        def __torch_function__(self, func, types, args=(), kwargs=None):
            self.reads += getattr(func, "__name__", "") in HOST_READS
            return func(*args, **(kwargs or {}))

    (train, test) = data
    seed_everything(0)
    with Count() as counter:
        fit(create("cnn_4_2_narrow"), (train[0][:400], train[1][:400]), TrainSpec(epochs=2, batch_size=batch, **spec),
            name="reads", test=(test[0][:200], test[1][:200]), device="cpu")
    return counter.reads


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_host_reads_per_epoch_are_few_and_do_not_grow_with_steps(small, precision):
    reads = [_host_reads(small, batch, precision=precision) for batch in (40, 20)]  # 10, then 20 steps per epoch
    assert reads[0] == reads[1] <= 2 * READS_PER_EPOCH, reads


def test_the_host_read_counter_sees_per_step_reads(small):
    """The counter is not blind: PyTorch's unfused Adam reads each parameter's step count back every step."""
    reads = [_host_reads(small, batch, precision="fp32", fused=False) for batch in (40, 20)]
    assert reads[1] - reads[0] >= 2 * 10, reads


class _Stop(Exception):
    pass


def test_fp16_resumes_in_fp16_with_its_loss_scale(small, tmp_path, monkeypatch):
    """A model started in fp16 ($MNISTLAB_PRECISION) and stopped during epoch 2 resumes in fp16 even without the
    variable, with the checkpointed gradient-scaler state: the numbers of an uninterrupted fp16 run. The scale
    grows every 2 clean steps here (2000 by default), so it overflows and backs off within the run, and a resume
    that started again from the initial scale would skip other steps."""
    import functools

    monkeypatch.setattr(torch.amp, "GradScaler", functools.partial(torch.amp.GradScaler, growth_interval=2))
    (train, test) = small
    train, test = (train[0][:600], train[1][:600]), (test[0][:200], test[1][:200])
    spec = TrainSpec(epochs=3, batch_size=50, lr=2e-3, schedule="onecycle", seed=0)

    def stop(row):
        if row["epoch"] == 2:  # before epoch 2's checkpoint: the resume starts after epoch 1
            raise _Stop

    monkeypatch.setenv("MNISTLAB_PRECISION", "fp16")
    seed_everything(0)
    straight = fit(create("mlp_3_1"), train, spec, name="f", test=test, device="cpu")
    seed_everything(0)
    with pytest.raises(_Stop):
        fit(create("mlp_3_1"), train, spec, name="f", test=test, out_dir=tmp_path, device="cpu", on_epoch=stop)
    state = safe_load(tmp_path / "checkpoint.pt")
    assert state["precision"] == "fp16" and state["scaler"]["scale"] != 2.0**16  # it moved from the initial scale
    monkeypatch.delenv("MNISTLAB_PRECISION")
    resumed = fit(create("mlp_3_1"), train, spec, name="f", test=test, out_dir=tmp_path, device="cpu")
    assert straight.precision == resumed.precision == "fp16"
    assert _numbers(resumed.history) == _numbers(straight.history)


def test_training_accuracy_is_scored_on_a_fixed_sample_after_each_epoch(small):
    model, res = _fit("mlp_3_1", small, train_eval=500)
    train, _ = small
    assert [row["train_n"] for row in res.history] == [500, 500]
    assert all("running_acc" in row for row in res.history)  # the old running mean, under its own name
    from mnistlab.train import Classification, _train_sample

    sample = _train_sample(*train, 500)
    assert sample is not None and len(sample[0]) == 500
    again = _train_sample(*train, 500)
    assert torch.equal(sample[0], again[0])  # the same images every time
    scored = evaluate(model, Classification(), *sample, precision=res.precision)
    assert res.final["train_acc"] == pytest.approx(scored["acc"])
    _, off = _fit("mlp_3_1", small, train_eval=0)
    assert off.final["train_acc"] == off.final["running_acc"] and "train_n" not in off.final


def test_a_cpu_fit_flushes_denormals(small):
    """Adam's moments of weights without gradient decay into denormals, ~20x slower per operation: a CPU fit
    turns on flushing them to zero. This fails if `prepare_cpu` is no longer called."""
    torch.set_flush_denormal(False)
    assert float(torch.tensor([1e-39]) * 1.0) != 0.0  # denormals kept: the test can see the difference
    _fit("mlp_3_1", small, epochs=1)
    assert float(torch.tensor([1e-39]) * 1.0) == 0.0


def test_prepare_cpu_keeps_freed_memory_for_the_next_step():
    """A freed 64 MB block is reused, not handed back to the OS and faulted in again (glibc's mmap threshold)."""
    import resource

    from mnistlab.hardware import prepare_cpu

    if not prepare_cpu()["keep_freed_memory"]:
        pytest.skip("no glibc mallopt here")
    for _ in range(2):  # warm up: the heap grows to hold the block once
        torch.ones(16 * 1024 * 1024).sum()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(3):
        torch.ones(16 * 1024 * 1024).sum()  # 64 MB allocated, filled, freed
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    assert faults < 1000, faults  # with mmap every round faults all 16,384 pages in again
