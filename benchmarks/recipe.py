"""Development runs behind the MLP and CNN recipes: train one registry model on the mlp study's split of MNIST
train (55,000 images, the 5,000-image validation slice of seed 0 held out) and print the validation accuracy
after every epoch. The test set is not loaded.

  python -m benchmarks recipe mlp_3_1 --epochs 10 --batch 256 --lr 2e-3 --schedule onecycle --label-smoothing 0.1
  python -m benchmarks recipe mlp_3_1 --epochs 10 --batch 256 --lr 2e-3 --weight-decay 0.1   # AdamW
  python -m benchmarks recipe cnn_4_1 --epochs 8 --batch 128 --lr 2e-3 --label-smoothing 0.1

One thread by default (`--threads`): on the shared 2-core machine that is the fastest setting (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
from typing import Any

import torch

import mnistlab.train as T
from benchmarks import common
from mnistlab.data import load_dataset, validation_split
from mnistlab.models.registry import create


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("model")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--schedule", default="onecycle")
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--label-smoothing", type=float, default=0.0)
    ap.add_argument("--weight-decay", type=float, default=0.0, help="> 0: AdamW with this decoupled decay")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--images", type=int, default=0, help="train on the first N of the 55,000 only (0 = all)")


def run(a: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(a.threads)
    if a.weight_decay:  # the engine's optimiser is plain Adam; this experiment swaps in AdamW
        T.make_optimizer = lambda model, spec, _dev: torch.optim.AdamW(  # type: ignore[assignment]
            model.parameters(), lr=spec.lr, betas=spec.betas, weight_decay=a.weight_decay, fused=True)
    ds = load_dataset("mnist")
    tr, va = validation_split(len(ds.train.x), 5000, 0)
    tr = tr[: a.images] if a.images else tr
    image = not a.model.startswith("mlp")
    train = T.to_tensors(ds.train.x[tr], ds.train.y[tr], image)
    val = T.to_tensors(ds.train.x[va], ds.train.y[va], image)
    T.seed_everything(a.seed)
    spec = T.TrainSpec(epochs=a.epochs, batch_size=a.batch, lr=a.lr, schedule=a.schedule, precision=a.precision,
                       label_smoothing=a.label_smoothing, seed=a.seed, channels_last=image)
    res = T.fit(create(a.model), train, spec, name=a.model, test=val, device="cpu", held_out="val")
    args = {k: v for k, v in vars(a).items() if k != "out"}
    return {"args": args, "val_curve": [h["val_acc"] for h in res.history], "train_acc": res.final["train_acc"],
            "train_s": res.train_s, "train_cpu_s": res.train_cpu_s}


def render(results: list[dict[str, Any]]) -> str:
    rows = [[r["args"]["model"], r["args"]["epochs"], r["args"]["batch"], f"{r['args']['lr']:g}",
             r["args"]["schedule"], r["args"]["label_smoothing"], r["args"]["weight_decay"],
             " ".join(f"{v:.4f}" for v in r["val_curve"]), f"{r['train_s']:.0f}"] for r in results]
    return common.table(["model", "epochs", "batch", "lr", "schedule", "label smoothing", "weight decay",
                         "val acc per epoch", "train s"], rows)
