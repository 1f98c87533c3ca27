"""Precision by device capability, the supported PyTorch range, and what a run records of them (issue 19).

The CUDA decisions are checked here with the capability faked; the tests at the end run only where a GPU is
visible (benchmarks/gpu_check.sh runs this file there)."""

import tomllib
import warnings

import pytest
import torch

from conftest import REPO
from mnistlab import hardware
from mnistlab.config import build
from mnistlab.errors import ConfigError
from mnistlab.hardware import (
    TORCH_SUPPORTED,
    auto_precision,
    cpu_has_fast_bf16,
    eval_batch,
    resolve_precision,
    torch_in_range,
    use_bf16,
)
from mnistlab.models.registry import create
from mnistlab.runs import RunDir, read_json
from mnistlab.train import TrainSpec, configure_threads, fit, seed_everything, to_tensors

CUDA = torch.device("cuda")  # a device object needs no GPU; only running on it does
needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU visible")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    monkeypatch.delenv("MNISTLAB_PRECISION", raising=False)
    monkeypatch.setenv("MNISTLAB_THREADS", "1")


def fake_card(monkeypatch, capability):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)


@pytest.mark.parametrize("capability, expected", [
    ((9, 0), "bf16"), ((8, 9), "bf16"), ((8, 6), "bf16"), ((8, 0), "bf16"),  # H100, L4, RTX 30xx, A100
    ((7, 5), "fp16"), ((7, 0), "fp16"),  # T4 / RTX 20xx, V100: tensor cores in fp16, no native bf16
    ((6, 1), "fp32"), ((6, 0), "fp32"), ((5, 2), "fp32"),  # Pascal, Maxwell: no tensor cores
    (None, "fp32"),
])
def test_auto_precision_follows_the_cuda_capability(capability, expected):
    assert auto_precision("cuda", capability) == expected


def test_auto_precision_on_cpu_and_other_devices_is_as_before():
    assert auto_precision("cpu", None, cpu_bf16=True) == "bf16"
    assert auto_precision("cpu", None, cpu_bf16=False) == "fp32"
    assert auto_precision("mps", (8, 0)) == "fp32"
    assert resolve_precision("auto", torch.device("cpu")) == ("bf16" if cpu_has_fast_bf16() else "fp32")


@pytest.mark.parametrize("capability, expected", [((7, 5), "fp16"), ((8, 0), "bf16"), ((6, 1), "fp32")])
def test_resolve_precision_reads_the_card(monkeypatch, capability, expected):
    fake_card(monkeypatch, capability)
    assert resolve_precision("auto", CUDA) == expected
    assert use_bf16("auto", CUDA) is (expected == "bf16")  # a T4 no longer gets bf16 autocast
    assert resolve_precision("fp32", CUDA) == "fp32" and resolve_precision("bf16", CUDA) == "bf16"


def test_precision_is_forced_by_the_environment_not_over_an_explicit_one(monkeypatch):
    fake_card(monkeypatch, (7, 5))
    monkeypatch.setenv("MNISTLAB_PRECISION", "FP32")
    assert resolve_precision("auto", CUDA) == "fp32"
    assert resolve_precision("bf16", CUDA) == "bf16"  # TrainSpec(precision=...) is the caller's own choice
    monkeypatch.setenv("MNISTLAB_PRECISION", "fp8")
    with pytest.raises(ConfigError, match="precision must be one of auto, fp32, bf16, fp16, got 'fp8'"):
        resolve_precision("auto", CUDA)
    with pytest.raises(ConfigError, match="got 'half'"):
        resolve_precision("half", torch.device("cpu"))


def test_eval_batch_is_sized_for_the_device():
    assert eval_batch(torch.device("cpu")) == 256 and eval_batch(torch.device("cpu"), 100) == 100
    assert eval_batch(CUDA) == hardware.CUDA_EVAL_BATCH and eval_batch(CUDA, 10_000) == 10_000


def test_supported_torch_range_is_the_one_pyproject_states():
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert f"torch{TORCH_SUPPORTED}" in deps
    pins = (REPO / "requirements.txt").read_text().splitlines()
    pinned = next(line.split("==")[1] for line in pins if line.startswith("torch=="))
    assert torch_in_range(pinned) and torch_in_range()  # the pin and the running torch are both in range
    assert torch_in_range("2.4.0") and torch_in_range("2.13.0+cpu") and torch_in_range("3.0")
    assert not torch_in_range("2.3.1") and not torch_in_range("1.13.1+cu117")


def test_env_json_and_summary_record_device_precision_and_versions(tmp_path, monkeypatch):
    monkeypatch.setenv("MNISTLAB_PRECISION", "fp32")
    with RunDir.open(tmp_path / "run", build("smoke", device="cpu").to_dict()) as rd:
        env = read_json(rd.path / "env.json")
        assert env["device"] == "cpu" and env["precision"] == "fp32" and env["precision_forced"] == "fp32"
        assert env["torch_supported"] == TORCH_SUPPORTED and env["torch_in_range"] is True
        assert {"torch", "numpy", "python", "torch_cuda", "cudnn", "gpu", "gpu_capability"} <= set(env)
        rd.finish_study("pca", {}, {}, 1.0)
        summary = read_json(rd.path / "summary.json")["hardware"]
        assert summary == {"device": "cpu", "gpu": None, "gpu_capability": None, "precision": "fp32",
                           "torch": torch.__version__}


def test_a_bad_precision_variable_stops_the_run_before_any_study(tmp_path, monkeypatch):
    monkeypatch.setenv("MNISTLAB_PRECISION", "half")
    with pytest.raises(ConfigError, match="got 'half'"), RunDir.open(tmp_path / "run", build("smoke").to_dict()):
        pass


@pytest.fixture(scope="module")
def tiny(mnist):
    return to_tensors(mnist.train.x[:1000], mnist.train.y[:1000]), to_tensors(mnist.test.x[:500], mnist.test.y[:500])


def test_fit_logs_and_records_its_precision(tiny, tmp_path, capfd):
    configure_threads()
    seed_everything(0)
    res = fit(create("mlp_3_1"), tiny[0], TrainSpec(epochs=1, batch_size=50, precision="fp16"), name="h",
              test=tiny[1], out_dir=tmp_path, device="cpu")
    assert res.precision == "fp16" and res.final["test_acc"] > 0.6
    assert "on cpu (1 threads), fp16 autocast + gradient scaler" in capfd.readouterr().err
    assert read_json(tmp_path / "history.json")["precision"] == "fp16"


# ---------------------------------------------------------------- on a GPU only (benchmarks/gpu_check.sh)
@needs_gpu
def test_cuda_auto_precision_matches_the_card():
    capability = torch.cuda.get_device_capability()
    assert resolve_precision("auto", CUDA) == auto_precision("cuda", capability)


@needs_gpu
@pytest.mark.parametrize("precision", ["auto", "fp32", "bf16", "fp16"])
def test_cuda_trains_in_each_precision(tiny, precision):
    seed_everything(0)
    res = fit(create("cnn_4_1"), tiny[0], TrainSpec(epochs=2, batch_size=50, lr=2e-3, precision=precision),
              name="g", test=tiny[1], device="cuda")
    assert res.precision == resolve_precision(precision, CUDA) and res.final["test_acc"] > 0.8


@needs_gpu
def test_cuda_steps_do_not_synchronise(tiny):
    """CUDA's own sync detector: the synchronising calls of a fit do not grow with its number of steps."""
    counts = []
    for batch in (50, 25):  # 20, then 40 steps per epoch
        seed_everything(0)
        torch.cuda.set_sync_debug_mode("warn")
        try:
            with warnings.catch_warnings(record=True) as seen:
                warnings.simplefilter("always")
                fit(create("mlp_3_1"), tiny[0], TrainSpec(epochs=2, batch_size=batch), name="s", test=tiny[1],
                    device="cuda")
        finally:
            torch.cuda.set_sync_debug_mode(0)
        counts.append(sum("synchroniz" in str(w.message) for w in seen))
    assert counts[0] == counts[1], counts


# ---------------------------------------------------------------- denormals in every thread
_FLUSH_PROBE = """
import torch
torch.set_num_threads(2)
if {pool_first}:
    (torch.rand(1 << 22) * 2).sum()  # the OpenMP workers start here, before mnistlab is imported
from mnistlab import hardware, train  # noqa: F401
(torch.rand(1 << 22) * 2).sum()  # data loading and model init start the workers in a run
print(hardware.prepare_cpu()["flush_denormal_all_threads"])
"""


@pytest.mark.skipif(not torch.set_flush_denormal(True), reason="no denormal flushing on this CPU")
@pytest.mark.parametrize("pool_first, flushed", [(False, "True"), (True, "False")])
def test_denormals_are_flushed_in_every_thread_when_mnistlab_comes_first(pool_first, flushed):
    """set_flush_denormal holds in the calling thread and in workers started after it: mnistlab sets it at import,
    so a run's workers flush (2-thread epochs stayed flat, docs/BENCHMARKS.md). Workers started before the import
    do not, and prepare_cpu says so; that second case also shows the check can fail."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _FLUSH_PROBE.format(pool_first=pool_first)], capture_output=True,
                         text=True, check=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == flushed
    assert ("worker threads started before mnistlab" in out.stderr + out.stdout) == pool_first


# ---------------------------------------------------------------- start-up settings (huge pages)
@pytest.fixture
def thp_on_request(monkeypatch):
    from mnistlab import process

    monkeypatch.setattr(process, "_glibc", lambda: True)
    monkeypatch.setattr(process, "_thp_on_request", lambda: True)
    monkeypatch.setattr(process.sys, "platform", "linux")
    return process


def test_startup_env_asks_glibc_for_huge_pages_once(thp_on_request, monkeypatch):
    process = thp_on_request
    env = process.startup_env({"PATH": "/bin", "GLIBC_TUNABLES": "glibc.malloc.arena_max=2"})
    assert env == {"PATH": "/bin", "GLIBC_TUNABLES": "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1",
                   process.MARK: "1"}
    assert process.startup_env(env) is None  # the re-executed process never re-executes
    assert process.startup_env({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}) is None  # already asked for
    assert process.kernel_env({}) == {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}
    monkeypatch.setattr(process, "_thp_on_request", lambda: False)  # THP always on, or off: nothing to ask
    assert process.startup_env({}) is None and process.kernel_env({}) == {}


def test_the_command_line_reexecutes_itself_with_the_startup_settings(thp_on_request, monkeypatch):
    from mnistlab import cli

    calls = []

    def fake_execve(path, args, env):
        calls.append((path, args, env))
        raise SystemExit(0)

    monkeypatch.setattr(cli.os, "execve", fake_execve)
    monkeypatch.delenv(thp_on_request.MARK, raising=False)
    monkeypatch.setattr(cli.sys, "argv", ["mnistlab", "run", "--profile", "quick"])
    with pytest.raises(SystemExit):
        cli.main()
    (path, args, env), = calls
    assert path == args[0] == cli.sys.executable
    assert args[1:] == ["-m", "mnistlab.cli", "run", "--profile", "quick"]
    assert "glibc.malloc.hugetlb=1" in env["GLIBC_TUNABLES"] and env[thp_on_request.MARK] == "1"
    assert cli.main(["run", "--list-settings", "--profile", "smoke"]) == 0  # argv given (tests): no re-execution
    assert len(calls) == 1
