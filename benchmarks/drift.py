"""Epoch-time drift within a fit, with and without `hardware.prepare_cpu` (denormals flushed, freed memory kept).

For each model family (MLP 3.1, CNN 4.1, the Fashion single items net) one fit of several short epochs runs in a
fresh process per setting (both settings are process-wide), on real data with the study's recipe. Reported per
fit: each epoch's training seconds, the drift (last epoch / first epoch), the page faults and the kernel
(system) CPU seconds per step. Flat epoch times mean drift near 1.

  python -m benchmarks drift [--epochs 6] [--images 15000] [--threads 1] [--settings off,on] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python benchmarks/drift.py`, the form in use before `python -m benchmarks`
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks import common
from mnistlab import process

FAMILIES = {  # model -> (dataset, batch, lr, betas): the full profile's recipes (mtl: Adam as tuned in a full run)
    "mlp_3_1": ("mnist", 128, 4e-3, (0.9, 0.999)),
    "cnn_4_1": ("mnist", 128, 2e-3, (0.9, 0.999)),
    "fashion_items": ("fashion", 256, 1e-3, (0.775, 0.99)),
}


# prepare_cpu: neither part, both, only the denormal flush, only the allocator; "late": both, but with the OpenMP
# workers started before the flush (the order before mnistlab flushed at import: the main thread flushed, the
# workers did not); "hugepages": both, in a process started with glibc's huge-page tunable (mnistlab.process)
SETTINGS = ("off", "on", "flush", "alloc", "late", "hugepages")


def one_fit(model: str, setting: str, epochs: int, images: int) -> dict[str, object]:
    """In this process: one fit of `model` with `setting` of prepare_cpu's two parts (SETTINGS)."""
    import torch

    import mnistlab.hardware as hardware
    import mnistlab.train as train
    from mnistlab.data import load_dataset
    from mnistlab.models.registry import create

    if setting == "late":
        torch.set_flush_denormal(False)
        (torch.rand(1 << 22) * 2).sum()  # the workers start here, without the flush
        torch.set_flush_denormal(True)  # the main thread only, as prepare_cpu used to set it
    if setting not in ("on", "late", "hugepages"):  # the drift the issue reported: denormals kept, memory unmapped
        train.prepare_cpu = lambda: {}  # type: ignore[attr-defined]
        torch.set_flush_denormal(setting == "flush")
        if setting == "alloc":
            hardware.prepare_cpu()
            torch.set_flush_denormal(False)
    dataset, batch, lr, betas = FAMILIES[model]
    data = load_dataset(dataset)
    x, y = train.to_tensors(data.train.x, data.train.y, image=not model.startswith("mlp"))
    train.configure_threads()  # MNISTLAB_THREADS (--threads); without it torch would use every core
    train.seed_everything(0)
    net = create(model)
    spec = train.TrainSpec(epochs=epochs, batch_size=batch, lr=lr, betas=betas, schedule="onecycle",
                           epoch_images=images, train_eval=0, channels_last=model.startswith("cnn"))
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    res = train.fit(net, (x, y), spec, name=f"drift {model}", device="cpu")
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    steps = epochs * -(-images // batch)
    per_epoch = [res.history[0]["train_s"]] + [b["train_s"] - a["train_s"]
                                               for a, b in zip(res.history, res.history[1:], strict=False)]
    return {"model": model, "prepare_cpu": setting, "threads": res.threads, "epoch_s": [round(t, 2) for t in per_epoch],
            "drift": round(per_epoch[-1] / per_epoch[0], 2),
            "faults_per_step": round((r1.ru_minflt - r0.ru_minflt) / steps),
            "sys_s_per_step": round((r1.ru_stime - r0.ru_stime) / steps, 4), "precision": res.precision}


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--images", type=int, default=15000, help="images per epoch (a seeded draw)")
    ap.add_argument("--threads", default="1")
    ap.add_argument("--models", default=",".join(FAMILIES))
    ap.add_argument("--settings", default="off,on", help=f"any of {', '.join(SETTINGS)}")
    ap.add_argument("--child", nargs=2, metavar=("MODEL", "SETTING"), help=argparse.SUPPRESS)


def run(a: argparse.Namespace) -> dict[str, Any] | None:
    """Every model x setting, each fit in a fresh process (the settings are process-wide)."""
    if a.child:
        print(json.dumps(one_fit(a.child[0], a.child[1], a.epochs, a.images)))
        return None
    bad = [s for s in a.settings.split(",") if s not in SETTINGS] + [m for m in a.models.split(",")
                                                                     if m not in FAMILIES]
    if bad:
        from mnistlab.errors import UserError

        raise UserError(f"unknown {', '.join(bad)}; settings: {', '.join(SETTINGS)}; models: {', '.join(FAMILIES)}")
    rows = []
    for model in a.models.split(","):
        for setting in a.settings.split(","):
            env = {**os.environ, "MNISTLAB_THREADS": a.threads}
            tunables = [t for t in env.get("GLIBC_TUNABLES", "").split(":") if t and t != process.HUGEPAGES]
            env["GLIBC_TUNABLES"] = ":".join(tunables + ([process.HUGEPAGES] if setting == "hugepages" else []))
            args = [sys.executable, "-m", "benchmarks.drift", "--epochs", str(a.epochs), "--images", str(a.images),
                    "--child", model, setting]
            done = subprocess.run(args, capture_output=True, text=True, env=env, check=True, cwd=common.ROOT)
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(rows[-1], file=sys.stderr, flush=True)
    # the fields of the results files in benchmarks/results/2026-12-03-xeon-amx/ (the machine record is under
    # "bench", as in every results file)
    return {"machine": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
            "threads": a.threads, "date": time.strftime("%Y-%m-%d"), "epochs": a.epochs, "images": a.images,
            "rows": rows}


SHOWN = {False: "off", True: "on", "off": "off", "on": "on", "flush": "flush only", "alloc": "allocator only",
         "late": "on, workers started first", "hugepages": "on + huge pages"}


def render(results: list[dict[str, Any]]) -> str:
    """One row per fit of every results file, in order (prepare_cpu: the early files' false/true = off/on)."""
    rows = [[f"{common.NAMES.get(r['model'], r['model'])} ({res['images']:,})", SHOWN[r["prepare_cpu"]],
             str(r.get("threads", "not recorded")),  # fits before the threads were recorded ran on torch's default
             ", ".join(f"{t:.2f}" for t in r["epoch_s"]), f"{r['drift']:.2f}", f"{r['faults_per_step']:,}",
             f"{r['sys_s_per_step']:.4f}"] for res in results for r in res["rows"]]
    return common.table(["model (images per epoch)", "prepare_cpu", "threads", "epoch seconds", "last / first",
                         "page faults / step", "kernel s / step"], rows)


if __name__ == "__main__":
    sys.exit(common.main(sys.modules[__name__]))
