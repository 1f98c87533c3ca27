"""Where training runs and how: the device, the number of CPU threads, and whether bf16 autocast pays off.

`mnistlab.train` re-exports these names; the studies call `configure_threads()` before each model."""

from __future__ import annotations

import os
import time

import torch

from mnistlab.errors import UserError


def pick_device(device: str = "auto") -> torch.device:
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda asked for, but no CUDA GPU is visible to PyTorch; use --device cpu")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)


def _usable_cores() -> int:
    """Cores this process may run on (containers often allow fewer than os.cpu_count())."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _busy_elsewhere(samples: int = 5) -> int:
    """Cores other processes keep busy: the larger of (a) their runnable threads right now, the median of a few
    reads of /proc/stat's procs_running minus this (running) thread, and (b) the last minute's load average
    minus this process's own threads (it counts them too; a short lull between two of their jobs does not hide
    them). 0 where /proc is absent."""
    counts = []
    for _ in range(samples):
        try:
            with open("/proc/stat") as f:
                line = next((ln for ln in f if ln.startswith("procs_running")), "procs_running 1")
        except OSError:
            return 0
        counts.append(int(line.split()[1]) - 1)
        time.sleep(0.02)
    now = sorted(counts)[len(counts) // 2]
    recent = round(os.getloadavg()[0] - torch.get_num_threads()) if hasattr(os, "getloadavg") else 0
    return max(0, now, recent)


def configure_threads(n: int | None = None) -> int:
    """Size torch's thread pool to the cores that are free: n, else $MNISTLAB_THREADS, else the usable cores
    minus those other processes keep busy (at least 1). Call it before `fit` (the studies do, once per model);
    `fit` itself uses whatever torch is set to, so benchmarks and tests can pin the count.

    Why not simply every core: on a shared machine, OpenMP threads that outnumber the free cores wait for each
    other at every barrier; measured here (2 cores, one other busy process) MLP 3.1 trained 27x and CNN 4.1 10x
    slower with 2 threads than with 1 (docs/BENCHMARKS.md), while a free second core gives at most 2x: so
    2 threads only when the machine was quiet over the last minute and is now. The count changes float
    summation order, so results are bit-identical only for equal thread counts: MNISTLAB_THREADS pins it."""
    if n is None and (env := os.environ.get("MNISTLAB_THREADS", "").strip()):
        n = int(env)
    cores = _usable_cores()
    if n is None:
        n = max(1, cores - _busy_elsewhere())
    torch.set_num_threads(max(1, n))
    return torch.get_num_threads()


def cpu_has_fast_bf16() -> bool:
    """True on CPUs with native bf16 matmul units (AVX512-BF16 / AMX), where oneDNN runs bf16 faster than fp32."""
    flags = ""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        return False
    return ("amx_bf16" in flags or "avx512_bf16" in flags) and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def use_bf16(precision: str, device: torch.device) -> bool:
    """auto = bf16 autocast on CUDA and on CPUs with native bf16 (measured faster at equal accuracy, see
    docs/BENCHMARKS.md); fp32 elsewhere, where emulated bf16 would be slower."""
    if precision == "auto":
        return device.type == "cuda" or (device.type == "cpu" and cpu_has_fast_bf16())
    return precision == "bf16"
