"""PyTorch-side trials: our engine (`mnistlab.train.fit`) with each fast-path switch, the per-sample DataLoader
loop of pytorch/examples, FLOP counts, the measured matmul peak and a profiler table.

A throughput trial trains a fresh model for 1 + `timed_epochs` epochs over the first `images` training images at
batch 128: the first epoch is warm-up (oneDNN primitive creation, torch.compile), the others are timed. Test
accuracy on all 10,000 test images after those epochs is the "fixed short budget" that shows whether a switch
costs accuracy. Wall and CPU time are both kept: CPU/(wall x threads) well below 1 means other processes took
cores during the trial (the machine is shared)."""

from __future__ import annotations

import resource
import time
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from mnistlab import config
from mnistlab.models import registry as models
from mnistlab.train import Classification, TrainSpec, evaluate, fit, pick_device, seed_everything, to_tensors, use_bf16

BATCH = 128

# "default" is each model as its study trains it: the CNN study trains in channels_last (`cnn.channels_last`);
# the Fashion nets are built in it; the MLP has no convolutions. Until 2026-12-03 evening the default ran CNN 4.1
# contiguous, 1.42x slower than the study (docs/BENCHMARKS.md).
STUDY_SETTINGS: dict[str, dict[str, Any]] = {"cnn_4_1": {"channels_last": config.full().cnn.channels_last}}
# Our engine's fast-path switches: each variant changes one thing against the default.
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "fp32": {"precision": "fp32"},
    "unfused Adam": {"fused": False},
    "channels-last": {"channels_last": True},
    "contiguous": {"channels_last": False},
    "compile": {"compile": True},
    "1 thread": {"threads": 1},
}


def cpu_s() -> float:
    """CPU seconds (user + system) of this process, all threads."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


@contextmanager
def threads(n: int | None):
    """torch's intra-op thread count set to n for the block (None = leave as is)."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


def engine_trial(name: str, data: Any, variant: dict[str, Any], *, images: int, timed_epochs: int, seed: int,
                 device: str) -> dict[str, Any]:
    """Our `fit` on the first `images` training images. data = mnistlab Dataset (uint8). Returns images_per_s,
    warmup_s (first epoch), cpu_util, test_acc and the precision actually used."""
    switches = {**STUDY_SETTINGS.get(name, {}), **{k: v for k, v in variant.items() if k != "threads"}}
    x, y = to_tensors(data.train.x[:images], data.train.y[:images])
    test = to_tensors(data.test.x, data.test.y)
    spec = TrainSpec(epochs=1 + timed_epochs, batch_size=BATCH, seed=seed, **switches)
    marks: list[tuple[float, float]] = []
    with threads(variant.get("threads")) as n_threads:
        seed_everything(seed)
        model = models.create(name)
        t0 = time.perf_counter()
        marks.append((t0, cpu_s()))
        fit(model, (x, y), spec, name=f"bench {name}", device=device,
            on_epoch=lambda row: marks.append((time.perf_counter(), cpu_s())))
        dev = pick_device(device)
        bf16 = use_bf16(spec.precision, dev)
        acc = evaluate(model, Classification(), *test, bf16=bf16)["acc"]
    wall = marks[-1][0] - marks[1][0]
    return {"images_per_s": len(x) * timed_epochs / wall, "warmup_s": marks[1][0] - marks[0][0],
            "cpu_util": (marks[-1][1] - marks[1][1]) / (wall * n_threads), "test_acc": acc, "threads": n_threads,
            "precision": "bf16" if bf16 else "fp32", "images": len(x)}


class PerSampleImages(Dataset):
    """pytorch/examples' MNIST pipeline without torchvision: one image per __getitem__, ToTensor (uint8 ->
    float in [0, 1], (1, 28, 28)) then Normalize((0.1307,), (0.3081,)), collated into batches by the DataLoader."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        img = torch.from_numpy(self.x[i]).float().div(255.0).unsqueeze(0)
        return (img - 0.1307) / 0.3081, int(self.y[i])


def dataloader_trial(name: str, data: Any, *, images: int, timed_epochs: int, seed: int,
                     device: str) -> dict[str, Any]:
    """The idiomatic loop: DataLoader(shuffle) over a per-sample Dataset, Adam(lr=1e-3) with PyTorch's defaults,
    fp32, zero_grad / forward / cross-entropy / backward / step. On CUDA: 1 worker and pinned memory, as the
    example does; on CPU the example's defaults (no worker process)."""
    dev = pick_device(device)
    seed_everything(seed)
    cuda = dev.type == "cuda"
    loader = DataLoader(PerSampleImages(data.train.x[:images], data.train.y[:images]), batch_size=BATCH,
                        shuffle=True, num_workers=1 if cuda else 0, pin_memory=cuda)
    model = models.create(name).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    marks = [(time.perf_counter(), cpu_s())]
    for _ in range(1 + timed_epochs):
        model.train()
        for xb, yb in loader:
            xb, yb = xb.to(dev), yb.to(dev)
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
        float(loss.detach())  # sync a GPU before reading the clock
        marks.append((time.perf_counter(), cpu_s()))
    wall = marks[-1][0] - marks[1][0]
    xt, yt = to_tensors(data.test.x, data.test.y)
    acc = evaluate(model, Classification(), (xt - 0.1307) / 0.3081, yt)["acc"]
    return {"images_per_s": images * timed_epochs / wall, "warmup_s": marks[1][0] - marks[0][0],
            "cpu_util": (marks[-1][1] - marks[1][1]) / (wall * torch.get_num_threads()), "test_acc": acc,
            "threads": torch.get_num_threads(), "precision": "fp32", "images": images}


def train_flops_per_image(name: str) -> float:
    """FLOPs of one training step (forward + backward, matmuls and convolutions) per image, counted by
    torch.utils.flop_counter on a batch of 128 (multiply-add = 2 FLOPs)."""
    from torch.utils.flop_counter import FlopCounterMode

    model = models.create(name)
    x, y = torch.rand(BATCH, 1, 28, 28), torch.randint(0, 10, (BATCH,))
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), y).backward()
    return counter.get_total_flops() / BATCH


def matmul_peak(dtype: torch.dtype, device: str, sizes: tuple[int, ...] = (1024, 2048, 4096),
                repeats: int = 3) -> float:
    """Best GFLOP/s of square n x n x n matmuls over `sizes` and `repeats` (after a warm-up call): the machine's
    practical peak for this precision, measured with the same threads as the trials."""
    dev = pick_device(device)
    best = 0.0
    for size in sizes:
        a = torch.randn(size, size, device=dev).to(dtype)
        b = torch.randn(size, size, device=dev).to(dtype)
        reps = max(1, 2 * 2048**3 // size**3)  # about the same work per timing for every size
        for _ in range(repeats + 1):
            t0 = time.perf_counter()
            for _ in range(reps):
                c = a @ b
            float(c[0, 0])  # sync a GPU
            best = max(best, reps * 2 * size**3 / (time.perf_counter() - t0) / 1e9)
    return best


def copy_bandwidth(device: str, mib: int = 256, repeats: int = 5) -> float:
    """Best GB/s (bytes read + written) of copying a `mib` MiB float32 tensor: the memory bandwidth that
    bounds element-wise work such as the Adam update."""
    dev = pick_device(device)
    a = torch.randn(mib * 2**18, device=dev)
    b = torch.empty_like(a)
    best = 0.0
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        b.copy_(a)
        float(b[0])  # sync a GPU
        best = max(best, 2 * a.numel() * 4 / (time.perf_counter() - t0) / 1e9)
    return best


def profile_table(name: str, device: str, steps: int = 12, top: int = 8) -> list[dict[str, Any]]:
    """Where a default training step's time goes: torch.profiler over `steps` steps (after 3 warm-up steps) of
    our engine's inner loop (bf16 autocast as in `fit`), the `top` operators by self CPU time."""
    from torch.profiler import ProfilerActivity, profile

    dev = pick_device(device)
    bf16 = use_bf16("auto", dev)
    seed_everything(0)
    model = models.create(name).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    x, y = torch.rand(BATCH, 1, 28, 28, device=dev), torch.randint(0, 10, (BATCH,), device=dev)

    def step() -> None:
        with torch.autocast(dev.type, torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
    with profile(activities=acts) as prof:
        for _ in range(steps):
            step()
    # on a GPU the kernels' device time is what bounds a step; on a CPU the operators' own CPU time
    attr = "self_device_time_total" if dev.type == "cuda" else "self_cpu_time_total"
    events = sorted(prof.key_averages(), key=lambda e: getattr(e, attr), reverse=True)
    total = sum(getattr(e, attr) for e in events) or 1.0
    return [{"op": e.key, "ms_per_step": getattr(e, attr) / 1000 / steps, "share": getattr(e, attr) / total,
             "calls_per_step": e.count / steps} for e in events[:top]]
