"""Protocol search: which epochs / batch size / learning-rate schedule reach a study's accuracy target fastest.

Decided on the validation slice only (mnistlab.data.validation_split of the training set, 5,000 images, seed 0);
the test set is never touched. Each candidate trains a fresh model with our engine's defaults otherwise, and the
validation accuracy is read after every epoch, so one constant-rate run also answers "how many epochs". A
one-cycle schedule depends on its total length, so each of its epoch counts is its own run.

  python -m benchmarks protocol [--models mlp_3_1,cnn_4_1,fashion_items] [--epochs 4,8] [--out FILE]

The results file holds the rows (with per-epoch curves) under "rows", rewritten after every candidate, so a
stopped search keeps what it ran; `mnistlab bench --protocol FILE` adds them to the peer suite's report."""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch

from benchmarks import common
from benchmarks.suite import MODELS
from mnistlab.data import load_dataset, validation_split
from mnistlab.models import registry as models
from mnistlab.train import TrainSpec, configure_threads, fit, seed_everything, to_tensors

# SPEC.md's accuracy targets for one seed of the `full` profile (on test); we aim for them on validation
TARGETS = {"mlp_3_1": 0.985, "cnn_4_1": 0.993, "fashion_items": 0.925}


def candidates(epoch_counts: list[int], constant: bool = True) -> list[dict[str, Any]]:
    """The constant-rate baseline (the study defaults) run for the longest budget, then one-cycle schedules."""
    longest = max(epoch_counts)
    rows: list[dict[str, Any]] = []
    if constant:
        rows.append({"schedule": "constant", "lr": 1e-3, "batch_size": 128, "epochs": longest})
    for e in epoch_counts:
        rows += [{"schedule": "onecycle", "lr": 2e-3, "batch_size": 128, "epochs": e},
                 {"schedule": "onecycle", "lr": 3e-3, "batch_size": 256, "epochs": e}]
    return rows


def run_candidate(name: str, data: Any, cand: dict[str, Any], val_size: int) -> dict[str, Any]:
    tr, va = validation_split(len(data.train.x), val_size, 0)
    train = to_tensors(data.train.x[tr], data.train.y[tr])
    val = to_tensors(data.train.x[va], data.train.y[va])
    seed_everything(0)
    t0 = time.perf_counter()
    res = fit(models.create(name), train, TrainSpec(seed=0, **cand), name=f"protocol {name}", test=val,
              held_out="val")
    curve = [{"epoch": r["epoch"], "train_s": r["train_s"], "val_acc": r["val_acc"]} for r in res.history]
    return {"model": name, **cand, "curve": curve, "wall_s": time.perf_counter() - t0,
            "threads": torch.get_num_threads(), "date": time.strftime("%Y-%m-%d %H:%M"), "val_size": val_size}


def first_hit(row: dict[str, Any], target: float) -> dict[str, Any] | None:
    """The first epoch at or above target; for one-cycle only the last epoch counts (the schedule is built for
    its full length, stopping it early is a different protocol)."""
    curve = row["curve"] if row["schedule"] == "constant" else row["curve"][-1:]
    return next((c for c in curve if c["val_acc"] >= target), None)


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown: one row per candidate, with its final and best validation accuracy and when it hit the target."""
    out = ["| model | schedule | lr | batch | epochs run | val acc per epoch | final val acc | val target | "
           "first epoch at target | train s (all epochs) |", "|" + " --- |" * 10]
    for r in rows:
        hit = first_hit(r, TARGETS[r["model"]])
        per_epoch = " ".join(f"{c['val_acc']:.4f}" for c in r["curve"])
        out.append(f"| {r['model']} | {r['schedule']} | {r['lr']:g} | {r['batch_size']} | {r['epochs']} | "
                   f"{per_epoch} | {r['curve'][-1]['val_acc']:.4f} | {TARGETS[r['model']]:.3f} | "
                   f"{hit['epoch'] if hit else 'not reached'} | {r['curve'][-1]['train_s']:.0f} |")
    return "\n".join(out)


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--epochs", default="4,8", help="one-cycle lengths to try; constant runs the longest")
    ap.add_argument("--val-size", type=int, default=5000)
    ap.add_argument("--threads", type=int, default=0, help="compute threads (default: all cores)")
    ap.add_argument("--no-constant", action="store_true", help="skip the constant-rate baseline run")


def run(a: argparse.Namespace) -> dict[str, Any]:
    configure_threads()
    if a.threads:
        torch.set_num_threads(a.threads)
    m = common.machine()
    epochs = [int(e) for e in a.epochs.split(",")]
    rows: list[dict[str, Any]] = []
    for name in a.models.split(","):
        data = load_dataset(MODELS[name])
        for cand in candidates(epochs, constant=not a.no_constant):
            rows.append(run_candidate(name, data, cand, a.val_size))
            # what ran so far, in case the search is stopped (common.main writes the whole file at the end)
            common.write_results("protocol", {"val_size": a.val_size, "rows": rows}, a.out, "partial", m)
    return {"val_size": a.val_size, "rows": rows}


def render(results: list[dict[str, Any]]) -> str:
    rows = [r for res in results for r in res["rows"]]
    return f"Validation slice {results[0]['val_size']} of train (seed 0).\n\n{table(rows)}"
