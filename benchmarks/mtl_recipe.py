"""Study 6 recipe checks: how the single items net's validation accuracy depends on weight init, epochs and the
number of images seen. Every number is on the study's validation slice (5,000 training images, seed 0, the
slice Optuna tunes on); the test split plays no part, since these runs choose the profiles' settings.

  init    one epoch (one-cycle) on the first N images of the rest of train for three weight inits: PyTorch's
          default (uniform +-1/sqrt(fan_in)), Glorot uniform (Keras' default) and He uniform (what the study uses).
  single  the single items net on the other 55,000 training images for E epochs (one-cycle), validation accuracy
          per epoch: the basis for the `full` profile's epochs.
  short   one short epoch on a seeded draw of N images (`mtl.epoch_images`) at several batch sizes and peak
          learning rates: the basis for the `quick` profile.

Usage: python benchmarks/mtl_recipe.py init [--n 12000]
       python benchmarks/mtl_recipe.py single --epochs 6 [--batch 256] [--lr 0.0015]
       python benchmarks/mtl_recipe.py short [--n 20000,25000,30000] [--grid 128:1e-3,128:2e-3,256:1.5e-3]"""

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


def train(epochs: int, batch: int, lr: float, train, val, init: str = "he",
          epoch_images: int = 0) -> list[dict[str, float]]:
    from mnistlab.models.multitask import SingleTask, build_single
    from mnistlab.train import TrainSpec, fit

    torch.manual_seed(0)
    model = build_single(10)
    reinit(model, init)
    spec = TrainSpec(epochs=epochs, batch_size=batch, lr=lr, schedule="onecycle", epoch_images=epoch_images)
    return fit(model, train, spec, name=f"{init}-e{epochs}-b{batch}", test=val, task=SingleTask("items"),
               device="cpu", held_out="val").history


def main() -> None:
    from mnistlab.data import load_dataset

    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=("init", "single", "short"))
    ap.add_argument("--n", type=int, default=12000)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=1.5e-3)
    ap.add_argument("--images", default="20000,25000,30000", help="short: images per epoch")
    ap.add_argument("--grid", default="128:1e-3,128:2e-3,256:1.5e-3", help="short: batch:peak lr pairs")
    a = ap.parse_args()
    from mnistlab.data import validation_split

    ds = load_dataset("fashion")
    tr, va = validation_split(len(ds.train.x), 5000, 0)  # the mtl study's tuning slice (mtl.val_size, seed 0)
    x, y = tensors(ds.train)
    part, val = (x[tr], y[tr]), (x[va], y[va])
    print(f"date {time.strftime('%Y-%m-%d %H:%M')}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"load avg {os.getloadavg()[0]:.1f}")
    if a.what == "init":
        print(f"| init | val acc % (1 epoch, {a.n} images, bs 128, lr 1e-3) |\n| --- | --- |")
        for kind in ("default", "glorot", "he"):
            hist = train(1, 128, 1e-3, (part[0][:a.n], part[1][:a.n]), val, kind)
            print(f"| {kind} | {100 * hist[-1]['val_items']:.2f} |", flush=True)
    elif a.what == "short":
        print("| images | batch | peak lr | val acc % | train s |\n| --- | --- | --- | --- | --- |")
        for n in (int(v) for v in a.images.split(",")):
            for cell in a.grid.split(","):
                batch, lr = cell.split(":")
                hist = train(1, int(batch), float(lr), part, val, epoch_images=n)
                print(f"| {n} | {batch} | {lr} | {100 * hist[-1]['val_items']:.2f} | {hist[-1]['train_s']:.0f} |",
                      flush=True)
    else:
        t0 = time.process_time()
        hist = train(a.epochs, a.batch, a.lr, part, val)
        print(f"| epoch | train acc % | val acc % | wall s |  (batch {a.batch}, peak lr {a.lr}, one-cycle over "
              f"{a.epochs} epochs)\n| --- | --- | --- | --- |")
        for h in hist:
            print(f"| {h['epoch']} | {100 * h['train_items']:.2f} | {100 * h['val_items']:.2f} | "
                  f"{h['train_s']:.0f} |")
        print(f"process CPU time {time.process_time() - t0:.0f} s, load avg {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
