"""Study 6 recipe checks: how the single items net's test accuracy depends on weight init and epochs.

  init    one epoch (one-cycle) on the first N training images for three weight inits: PyTorch's default
          (uniform +-1/sqrt(fan_in)), Glorot uniform (Keras' default) and He uniform (what the study uses);
          test accuracy on the first 2,000 test images.
  single  the single items net on all 60,000 training images for E epochs (one-cycle), test accuracy per epoch
          on the full test split: the basis for the `full` and `quick` profiles' epochs.

Usage: python benchmarks/mtl_recipe.py init [--n 12000]
       python benchmarks/mtl_recipe.py single --epochs 6 [--batch 256] [--lr 0.0015]"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from torch import nn


def tensors(split, n: int | None = None):
    from mnistlab.data import fashion_groups
    from mnistlab.train import to_tensors

    x, y = (split.x[:n], split.y[:n]) if n else (split.x, split.y)
    return to_tensors(x, np.stack([y, fashion_groups(y)], axis=1))


def reinit(model: nn.Module, kind: str) -> None:
    """kind: default (PyTorch's own reset), glorot, he (the study's, already applied at build)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            if kind == "default":
                m.reset_parameters()
            elif kind == "glorot":
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)


def train(epochs: int, batch: int, lr: float, train, test, init: str = "he") -> list[dict[str, float]]:
    from mnistlab.models.multitask import SingleTask, build_single
    from mnistlab.train import TrainSpec, fit

    torch.manual_seed(0)
    model = build_single(10)
    reinit(model, init)
    spec = TrainSpec(epochs=epochs, batch_size=batch, lr=lr, schedule="onecycle")
    return fit(model, train, spec, name=f"{init}-e{epochs}-b{batch}", test=test, task=SingleTask("items"),
               device="cpu").history


def main() -> None:
    from mnistlab.data import load_dataset

    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=("init", "single"))
    ap.add_argument("--n", type=int, default=12000)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=1.5e-3)
    a = ap.parse_args()
    ds = load_dataset("fashion")
    print(f"date {time.strftime('%Y-%m-%d %H:%M')}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"load avg {os.getloadavg()[0]:.1f}")
    if a.what == "init":
        print(f"| init | test acc % (1 epoch, {a.n} images, bs 128, lr 1e-3) |\n| --- | --- |")
        for kind in ("default", "glorot", "he"):
            hist = train(1, 128, 1e-3, tensors(ds.train, a.n), tensors(ds.test, 2000), kind)
            print(f"| {kind} | {100 * hist[-1]['test_items']:.2f} |", flush=True)
    else:
        t0 = time.process_time()
        hist = train(a.epochs, a.batch, a.lr, tensors(ds.train), tensors(ds.test))
        print(f"| epoch | train acc % | test acc % | wall s |  (batch {a.batch}, peak lr {a.lr}, one-cycle over "
              f"{a.epochs} epochs)\n| --- | --- | --- | --- |")
        for h in hist:
            print(f"| {h['epoch']} | {100 * h['train_items']:.2f} | {100 * h['test_items']:.2f} | "
                  f"{h['train_s']:.0f} |")
        print(f"process CPU time {time.process_time() - t0:.0f} s, load avg {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
