"""Our training engine's throughput (`mnistlab.train.fit`) on MLP 3.1, CNN 4.1 and the Fashion single-task net at
batch 128: fp32 against bf16 autocast, NCHW against channels_last, 1 thread against 2, and the CNN's 'same'
padding as a separate pad layer (the old build) against padding inside the conv (the current build).

A trial trains a fresh model for 1 warm-up + `--epochs` timed epochs over the first `--images` training images and
reports images per second of wall time and per CPU-second of this process (user + system). On a shared machine
the wall figure depends on the other processes; CPU-seconds much less so, which is why both are kept. Trials
are interleaved (every configuration once, then again, ...) and the tables show medians over `--repeats`.

  python -m benchmarks engine [--repeats 3] [--images 3072] [--epochs 2] [--threads 1,2] [--out results.json]
  python -m benchmarks engine --accuracy [--acc-epochs 3]   # fp32 vs bf16 accuracy on the validation slice
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from typing import Any

import torch
from torch import nn

from benchmarks import common
from mnistlab.data import load_dataset, validation_split
from mnistlab.models.registry import create
from mnistlab.train import TrainSpec, fit, seed_everything, to_tensors

MODELS = {"mlp_3_1": "mnist", "cnn_4_1": "mnist", "fashion_items": "fashion"}


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def old_padding_cnn() -> nn.Sequential:
    """CNN 4.1 as first built: a ZeroPad2d layer (a copy of every activation) before each conv."""
    from mnistlab.models.cnn import same_padding

    layers: list[nn.Module] = []
    size, channels = 28, 1
    for width, stride in zip((32, 64, 128), (1, 2, 2), strict=True):
        lo, hi = same_padding(size, 4, stride)
        layers += [nn.ZeroPad2d((lo, hi, lo, hi)), nn.Conv2d(channels, width, 4, stride), nn.ReLU()]
        channels, size = width, -(-size // stride)
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(channels * size * size, 10))


def configs(threads: list[int]) -> list[dict[str, Any]]:
    """One dict per trial configuration: every precision x layout at the first thread count, the default
    configuration (bf16, channels_last for conv nets) at the others, and CNN 4.1 with the old pad layers."""
    out = []
    for model in MODELS:
        conv = model != "mlp_3_1"
        for precision in ("fp32", "bf16"):
            for cl in (False, True) if conv else (False,):
                out.append({"model": model, "precision": precision, "channels_last": cl, "threads": threads[0]})
        out += [{"model": model, "precision": "bf16", "channels_last": conv, "threads": n} for n in threads[1:]]
    out.append({"model": "cnn_4_1", "precision": "bf16", "channels_last": True, "threads": threads[0],
                 "padding": "pad layer"})
    return out


def trial(c: dict[str, Any], data: dict[str, tuple[torch.Tensor, torch.Tensor]], epochs: int) -> dict[str, float]:
    torch.set_num_threads(c["threads"])
    seed_everything(0)
    model = old_padding_cnn() if c.get("padding") else create(c["model"])
    marks: list[tuple[float, float]] = []

    def on_epoch(_row: dict[str, float]) -> None:
        marks.append((time.perf_counter(), cpu_s()))

    spec = TrainSpec(epochs=1 + epochs, batch_size=128, precision=c["precision"], channels_last=c["channels_last"])
    train = data[MODELS[c["model"]]]
    marks.append((time.perf_counter(), cpu_s()))
    fit(model, train, spec, name=label(c), device="cpu", on_epoch=on_epoch)
    images = epochs * len(train[0])
    wall, cpu = marks[-1][0] - marks[1][0], marks[-1][1] - marks[1][1]  # after the warm-up epoch
    return {"img_per_s": images / wall, "img_per_cpu_s": images / cpu, "cpu_util": cpu / (wall * c["threads"])}


def label(c: dict[str, Any]) -> str:
    parts = [c["model"], c["precision"], "channels_last" if c["channels_last"] else "NCHW", f"{c['threads']}t"]
    return " ".join(parts + ([c["padding"]] if c.get("padding") else []))


def throughput(a: argparse.Namespace) -> dict[str, Any]:
    data = {}
    for name in ("mnist", "fashion"):
        ds = load_dataset(name)
        data[name] = to_tensors(ds.train.x[: a.images], ds.train.y[: a.images])
    cfgs = configs([int(t) for t in a.threads.split(",")])
    if a.models:
        cfgs = [c for c in cfgs if c["model"] in a.models.split(",")]

    def show(c: dict[str, Any], rep: int, res: dict[str, float]) -> None:
        print(f"repeat {rep + 1}: {label(c)}: {res['img_per_s']:.0f} img/s wall, {res['img_per_cpu_s']:.0f} "
              f"img/CPU-s, util {res['cpu_util']:.2f}", file=sys.stderr, flush=True)

    runs = common.interleaved(cfgs, a.repeats, lambda c, _rep: trial(c, data, a.epochs), show)
    return {label(c): common.medians(r) for c, r in zip(cfgs, runs, strict=True)}


def accuracy(a: argparse.Namespace) -> dict[str, Any]:
    """fp32 vs bf16 autocast, same seed and recipe, scored on the mlp study's validation slice (5,000 train
    images, seed 0): the test set plays no part in this choice."""
    torch.set_num_threads(int(a.threads.split(",")[0]))
    ds = load_dataset("mnist")
    tr, va = validation_split(len(ds.train.x), 5000, 0)
    out = {}
    for model in ("mlp_3_1", "cnn_4_1"):
        image = model.startswith("cnn")
        train = to_tensors(ds.train.x[tr], ds.train.y[tr], image)
        val = to_tensors(ds.train.x[va], ds.train.y[va], image)
        for precision in ("fp32", "bf16"):
            seed_everything(0)
            spec = TrainSpec(epochs=a.acc_epochs, batch_size=128, lr=2e-3, schedule="onecycle", label_smoothing=0.1,
                             precision=precision, channels_last=image)
            res = fit(create(model), train, spec, name=f"{model} {precision}", test=val, device="cpu",
                      held_out="val")
            out[f"{model} {precision}"] = {"val_acc": res.final["val_acc"], "train_s": res.train_s,
                                           "curve": [h["val_acc"] for h in res.history]}
            print(model, precision, out[f"{model} {precision}"], file=sys.stderr, flush=True)
    return out


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--images", type=int, default=3072)
    ap.add_argument("--epochs", type=int, default=2, help="timed epochs after the warm-up epoch")
    ap.add_argument("--threads", default="1,2", help="comma list of torch thread counts")
    ap.add_argument("--models", default="", help="comma list of " + ", ".join(MODELS) + " (default all)")
    ap.add_argument("--accuracy", action="store_true", help="fp32 vs bf16 accuracy instead of throughput")
    ap.add_argument("--acc-epochs", type=int, default=3)


def run(a: argparse.Namespace) -> dict[str, Any]:
    args = {k: (str(v) if k == "out" else v) for k, v in vars(a).items()}
    return {"mode": "accuracy" if a.accuracy else "throughput", "args": args,
            "results": accuracy(a) if a.accuracy else throughput(a)}


def render(results: list[dict[str, Any]]) -> str:
    out = []
    for res in results:
        r = res["results"]
        if res["mode"] == "accuracy":
            rows = [[k, f"{v['val_acc']:.4f}", f"{v['train_s']:.0f}", " ".join(f"{c:.4f}" for c in v["curve"])]
                    for k, v in r.items()]
            out.append(common.table(["model, precision", "val acc", "train s", "val acc per epoch"], rows))
        else:
            rows = [[k, f"{v['img_per_s']:.0f}", f"{v['img_per_cpu_s']:.0f}", f"{v['cpu_util']:.2f}"]
                    for k, v in r.items()]
            out.append(common.table(["configuration", "img/s (wall)", "img per CPU-s", "CPU util"], rows))
    return "\n\n".join(out)
