"""Where training runs and how: the device, the number of CPU threads, and the training precision.

`mnistlab.train` re-exports these names; the studies call `configure_threads()` before each model."""

from __future__ import annotations

import os
import re
import time
from typing import Any

import torch

from mnistlab.errors import ConfigError, UserError
from mnistlab.log import log

# The PyTorch releases this package supports (pyproject.toml states the same range; requirements.txt pins one).
# 2.4 is the first with fused Adam on CPU (pytorch/pytorch#123074; 2.3's fused=True is CUDA-only): without it the
# CPU path falls back to the foreach Adam, slower, and under fp16's GradScaler an unfused optimizer reads
# found-inf back to the host every step. torch.amp.GradScaler(device) itself needs >= 2.3.
TORCH_SUPPORTED = ">=2.4"
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}  # autocast dtype per precision; fp32 = no autocast
CUDA_EVAL_BATCH = 2048  # inference batch on a GPU (see eval_batch)

# Flush denormal floats to zero now, at import, before any torch operation starts the OpenMP worker threads: a
# worker copies the floating-point mode of the thread that starts it, once, and set_flush_denormal changes only
# the calling thread. Set later (it used to be set in prepare_cpu, after the data had been loaded on 2 threads),
# the main thread flushed and the worker did not, and 2-thread epochs of the Fashion nets grew by a quarter
# within a fit as Adam's moments of idle weights decayed into denormals (docs/BENCHMARKS.md).
torch.set_flush_denormal(True)


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
    torch.set_num_threads(free_cores(n))
    return torch.get_num_threads()


def free_cores(n: int | None = None) -> int:
    """The count `configure_threads` sizes torch to (n, else $MNISTLAB_THREADS, else the free cores; at least 1),
    without setting anything: also the number of worker processes for work that runs in parallel processes."""
    if n is None and (env := os.environ.get("MNISTLAB_THREADS", "").strip()):
        n = int(env)
    if n is None:
        n = _usable_cores() - _busy_elsewhere()
    return max(1, n)


_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # glibc's mallopt parameter numbers (malloc.h)


def prepare_cpu() -> dict[str, bool]:
    """Two process-wide settings for CPU training (measured in benchmarks/drift.py, docs/BENCHMARKS.md):

    - flush denormal floats to zero. Weights that get no gradient (dead ReLU units, the idle head at lambda 0 or
      1) decay Adam's moment estimates towards zero, into the denormal range, where every arithmetic operation on
      them takes microcode assists: a fused Adam step over the 20M-weight Fashion net measured ~20x slower in
      isolation with denormal moments. Values below 1.2e-38 are noise for training anyway.
    - keep freed memory in the process. glibc's malloc serves large blocks (a layer's bf16 weight copy, its
      gradient) with mmap and hands them back on free, so every step faults the same memory in again: ~40,000
      page faults a step for the Fashion net at batch 256 (~200 with this), and its epochs a third shorter.
      Without mmap and with a high trim threshold, a step reuses the last step's blocks; the heap then stays at
      the largest working set, which is what the next step needs anyway.
    Denormals are flushed at import (see the top of this module); here the flush is checked in every thread,
    and a process whose worker threads started before mnistlab was imported gets one warning line.
    Returns which settings took effect (neither exists off x86 / off glibc); safe to call more than once."""
    import ctypes
    import ctypes.util

    done = {"flush_denormal": bool(torch.set_flush_denormal(True)), "keep_freed_memory": False}
    done["flush_denormal_all_threads"] = done["flush_denormal"] and denormals_flushed()
    if done["flush_denormal"] and not done["flush_denormal_all_threads"] and not _warned:
        _warned.append(True)
        log("warning: torch's worker threads started before mnistlab was imported and keep denormal floats; "
            "training may slow down as Adam's moments decay (import mnistlab first in a fresh process)")
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = getattr(libc, "mallopt", None)
        if mallopt is not None:
            done["keep_freed_memory"] = bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
    except OSError:  # no loadable C library (not glibc): keep the allocator's defaults
        pass
    return done


_warned: list[bool] = []  # the warning above, once per process


def denormals_flushed() -> bool:
    """True when every torch thread flushes denormals. A tensor of denormals times 1 comes back all zeros only
    if each thread that computed a chunk of the product flushes (a deterministic check, no timing)."""
    # the bit pattern 1 is the smallest denormal; built from integers, as a float literal would be flushed on the
    # way in; 1M elements give every thread a chunk of the product
    x = torch.ones(1 << 20, dtype=torch.int32).view(torch.float32)
    return int((x * 1.0).count_nonzero()) == 0


def cpu_has_fast_bf16() -> bool:
    """True on CPUs with native bf16 matmul units (AVX512-BF16 / AMX), where oneDNN runs bf16 faster than fp32."""
    flags = ""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        return False
    return ("amx_bf16" in flags or "avx512_bf16" in flags) and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def auto_precision(device_type: str, capability: tuple[int, int] | None = None, cpu_bf16: bool = False) -> str:
    """What precision=auto trains in, from the device's facts alone (tests fake them):
    - CUDA, compute capability >= 8.0 (A100, RTX 30xx, L4, H100, ...): bf16 autocast, native there;
    - CUDA 7.x (V100, T4, RTX 20xx): fp16 autocast with a gradient scaler. Their tensor cores run fp16, while bf16
      is emulated or refused;
    - older CUDA cards (< 7.0: no tensor cores, and Pascal's consumer chips run fp16 at 1/64 of fp32): fp32;
    - CPU: bf16 where it has native bf16 units (AMX / AVX512-BF16, measured faster at equal accuracy, see
      docs/BENCHMARKS.md), fp32 elsewhere, where emulated bf16 is slower;
    - anything else (mps, xpu, ...): fp32."""
    if device_type == "cuda" and capability is not None:
        return "bf16" if capability >= (8, 0) else "fp16" if capability >= (7, 0) else "fp32"
    if device_type == "cpu":
        return "bf16" if cpu_bf16 else "fp32"
    return "fp32"


def resolve_precision(precision: str, device: torch.device) -> str:
    """The precision to train in: 'fp32', 'bf16' or 'fp16'. An explicit `precision` is kept; 'auto' is replaced
    by $MNISTLAB_PRECISION when set (how a user forces one for a whole run), else decided by `auto_precision`."""
    if precision == "auto":
        precision = os.environ.get("MNISTLAB_PRECISION", "").strip().lower() or "auto"
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r} "
                          "(TrainSpec.precision or $MNISTLAB_PRECISION)")
    if precision != "auto":
        return precision
    capability = torch.cuda.get_device_capability(device) if device.type == "cuda" else None
    return auto_precision(device.type, capability, device.type == "cpu" and cpu_has_fast_bf16())


def use_bf16(precision: str, device: torch.device) -> bool:
    """True when `precision` resolves to bf16 autocast on `device` (kept for callers that only know bf16)."""
    return resolve_precision(precision, device) == "bf16"


def eval_batch(device: torch.device, cpu_batch: int = 256) -> int:
    """Inference batch for `device`. CPU: `cpu_batch` (256; 1000 ran CNN 4.1 2.2x slower, its activations overflow
    the cache). GPU: at least CUDA_EVAL_BATCH, so the 10,000 test images take 5 launches rather than 40; the
    largest net keeps < 450 KiB of fp32 activations per image (all layers summed), < 1 GiB at 2048."""
    return max(cpu_batch, CUDA_EVAL_BATCH) if device.type == "cuda" else cpu_batch


def _major_minor(text: str) -> tuple[int, int]:
    found = re.search(r"(\d+)\.(\d+)", text)
    return (int(found[1]), int(found[2])) if found else (0, 0)


def torch_in_range(version: str | None = None) -> bool:
    """True when `version` (default: the running torch, e.g. '2.13.0+cpu') meets TORCH_SUPPORTED's minimum."""
    return _major_minor(version or torch.__version__) >= _major_minor(TORCH_SUPPORTED)


def describe(device: str = "auto") -> dict[str, Any]:
    """Device, precision and versions of this process for env.json. Never raises for a missing GPU (the run
    reports that itself); an invalid $MNISTLAB_PRECISION does raise, before any study starts."""
    cuda = torch.cuda.is_available()
    dev = torch.device("cuda" if cuda and device in ("auto", "cuda") else "cpu")
    cap = torch.cuda.get_device_capability(dev) if dev.type == "cuda" else None
    return {"device": dev.type, "gpu_capability": f"{cap[0]}.{cap[1]}" if cap else None,
            "precision": resolve_precision("auto", dev),
            "precision_forced": os.environ.get("MNISTLAB_PRECISION", "").strip() or None,
            "torch_cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version() if cuda else None,
            "torch_supported": TORCH_SUPPORTED, "torch_in_range": torch_in_range()}
