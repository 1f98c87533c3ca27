"""Study 6 recipe checks: how the single items net's validation accuracy depends on weight init, epochs and the
number of images seen. Every number is on the study's validation slice (5,000 training images, seed 0, the
slice Optuna tunes on); the test split plays no part, since these runs choose the profiles' settings.

  init    one epoch (one-cycle) on the first N images of the rest of train for three weight inits: PyTorch's
          default (uniform +-1/sqrt(fan_in)), Glorot uniform (Keras' default) and He uniform (what the study uses).
  single  the single items net on the other 55,000 training images for E epochs (one-cycle), validation accuracy
          per epoch: the basis for the `full` profile's epochs; with --seed (initial weights, batch order), and
          two regularisers the study does not use, tried for accuracy margin: --flip (a random half of every
          batch mirrored left-right) and --label-smoothing.
  short   one short epoch on a seeded draw of N images (`mtl.epoch_images`) at several batch sizes and peak
          learning rates: the basis for the `quick` profile.

  python -m benchmarks mtl_recipe init [--n 12000]
  python -m benchmarks mtl_recipe single --epochs 6 [--batch 256] [--lr 0.0015] [--seed 0] [--flip]
                                        [--label-smoothing 0.1]
  python -m benchmarks mtl_recipe short [--images 20000,25000,30000] [--grid 128:1e-3,128:2e-3,256:1.5e-3]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from benchmarks import common


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


class Flip(nn.Module):
    """Training-time augmentation: mirrors a random half of the batch left-right (global RNG); identity in eval."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        return torch.where(torch.rand(x.shape[0], 1, 1, 1) < 0.5, x.flip(-1), x)


def train(epochs: int, batch: int, lr: float, train, val, init: str = "he", epoch_images: int = 0, seed: int = 0,
          flip: bool = False, smoothing: float = 0.0, eval_batch: int = 256) -> list[dict[str, float]]:
    import torch.nn.functional as F

    from mnistlab.models.multitask import SingleTask, build_single
    from mnistlab.train import TrainSpec, fit

    class Smoothed(SingleTask):
        def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return F.cross_entropy(out.float(), y[:, self.col], label_smoothing=smoothing)

    torch.manual_seed(seed)
    model = build_single(10)
    reinit(model, init)
    if flip:
        model = nn.Sequential(Flip(), *model)
    spec = TrainSpec(epochs=epochs, batch_size=batch, lr=lr, schedule="onecycle", epoch_images=epoch_images,
                     seed=seed, eval_batch=eval_batch)
    return fit(model, train, spec, name=f"{init}-e{epochs}-b{batch}", test=val, task=Smoothed("items"),
               device="cpu", held_out="val").history


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("what", choices=("init", "single", "short"))
    ap.add_argument("--n", type=int, default=12000, help="init: training images")
    ap.add_argument("--epochs", type=int, default=6, help="single: epochs")
    ap.add_argument("--batch", type=int, default=256, help="single: batch size")
    ap.add_argument("--lr", type=float, default=1.5e-3, help="single: peak learning rate")
    ap.add_argument("--seed", type=int, default=0, help="single: seed of the initial weights and batch order")
    ap.add_argument("--flip", action="store_true", help="single: mirror a random half of every batch")
    ap.add_argument("--label-smoothing", type=float, default=0.0, help="single: of the cross-entropy")
    ap.add_argument("--images", default="20000,25000,30000", help="short: images per epoch")
    ap.add_argument("--grid", default="128:1e-3,128:2e-3,256:1.5e-3", help="short: batch:peak lr pairs")
    ap.add_argument("--val-images", type=int, default=0, help="score on the first N of the validation slice only "
                    "(0 = all 5,000; for a quick try)")


def run(a: argparse.Namespace) -> dict[str, Any]:
    from mnistlab.data import load_dataset, validation_split
    from mnistlab.studies.mtl import EVAL_BATCH  # single: the study's inference batch (bf16 sums round by batch)

    ds = load_dataset("fashion")
    tr, va = validation_split(len(ds.train.x), 5000, 0)  # the mtl study's tuning slice (mtl.val_size, seed 0)
    va = va[: a.val_images] if a.val_images else va
    x, y = tensors(ds.train)
    part, val = (x[tr], y[tr]), (x[va], y[va])
    rows: list[dict[str, Any]] = []
    if a.what == "init":
        for kind in ("default", "glorot", "he"):
            hist = train(1, 128, 1e-3, (part[0][:a.n], part[1][:a.n]), val, kind)
            rows.append({"init": kind, "val_acc": hist[-1]["val_items"]})
    elif a.what == "short":
        for n in (int(v) for v in a.images.split(",")):
            for cell in a.grid.split(","):
                batch, lr = cell.split(":")
                hist = train(1, int(batch), float(lr), part, val, epoch_images=n)
                rows.append({"images": n, "batch": int(batch), "lr": float(lr), "val_acc": hist[-1]["val_items"],
                             "train_s": hist[-1]["train_s"]})
    else:
        t0 = time.process_time()
        rows = [{"epoch": h["epoch"], "train_acc": h["train_items"], "val_acc": h["val_items"],
                 "train_s": h["train_s"]}
                for h in train(a.epochs, a.batch, a.lr, part, val, seed=a.seed, flip=a.flip,
                               smoothing=a.label_smoothing, eval_batch=EVAL_BATCH)]
        rows[-1]["process_cpu_s"] = time.process_time() - t0
    return {"what": a.what, "args": {k: v for k, v in vars(a).items() if k != "out"}, "rows": rows}


def render(results: list[dict[str, Any]]) -> str:
    out = []
    for res in results:
        rows, a = res["rows"], res["args"]
        if res["what"] == "init":
            out.append(common.table(["init", f"val acc % (1 epoch, {a['n']} images, bs 128, lr 1e-3)"],
                                    [[r["init"], f"{100 * r['val_acc']:.2f}"] for r in rows]))
        elif res["what"] == "short":
            out.append(common.table(["images", "batch", "peak lr", "val acc %", "train s"],
                                    [[r["images"], r["batch"], f"{r['lr']:g}", f"{100 * r['val_acc']:.2f}",
                                      f"{r['train_s']:.0f}"] for r in rows]))
        else:
            extra = "".join(f", {k} {a[k]}" for k in ("seed", "flip", "label_smoothing") if a.get(k))
            out.append(f"Batch {a['batch']}, peak lr {a['lr']}, one-cycle over {a['epochs']} epochs{extra}:\n\n"
                       + common.table(["epoch", "train acc %", "val acc %", "wall s"],
                                      [[r["epoch"], f"{100 * r['train_acc']:.2f}", f"{100 * r['val_acc']:.2f}",
                                        f"{r['train_s']:.0f}"] for r in rows]))
    return "\n\n".join(out)
