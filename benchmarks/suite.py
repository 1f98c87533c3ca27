"""The benchmark suite: which trials run, in which order, and where their results go.

Throughput trials are interleaved (repeat 1 of every runner of every model, then repeat 2, ...) so that a slow
phase of the shared machine hits every runner alike; the report takes medians over repeats. Results are written
to results.json after every trial (atomically), so a killed run keeps what it measured; the machine record
(benchmarks/common.py) is under "machine", and again under "bench" as in every results file."""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks import common, keras_env, torch_peers
from mnistlab.data import load_dataset
from mnistlab.log import log
from mnistlab.runs import atomic_write_json

MODELS = {"mlp_3_1": "mnist", "cnn_4_1": "mnist", "fashion_items": "fashion"}
TARGETS = {"mlp_3_1": 0.980, "cnn_4_1": 0.990, "fashion_items": 0.910}  # time-to-accuracy, test set
PHASES = ("peak", "throughput", "tta", "profile")


@dataclass
class Plan:
    """What to measure. `quick()` and `full()` below are the two presets; flags of `mnistlab bench` edit them."""

    models: list[str] = field(default_factory=lambda: list(MODELS))
    variants: list[str] = field(default_factory=lambda: list(torch_peers.VARIANTS))
    peers: list[str] = field(default_factory=lambda: ["dataloader", "keras", "keras-bf16"])
    phases: list[str] = field(default_factory=lambda: list(PHASES))
    images: int = 6400  # training images per throughput epoch (50 steps of 128)
    timed_epochs: int = 1  # after one warm-up epoch
    repeats: int = 3
    max_epochs: int = 12  # time-to-accuracy gives up after this many epochs
    device: str = "auto"
    threads: int = 0  # compute threads for every runner (torch and TensorFlow); 0 = all cores this process may use
    install: bool = True  # install TensorFlow into benchmarks/.keras-venv when missing


def full() -> Plan:
    return Plan()


def quick() -> Plan:
    """A few minutes: fewer images and repeats, no torch.compile (its warm-up alone is ~1 min per model), no
    Keras bf16 and no time-to-accuracy."""
    return Plan(variants=["default", "fp32", "unfused Adam", "channels-last", "1 thread"],
                peers=["dataloader", "keras"], phases=["peak", "throughput", "profile"], images=2560, repeats=2)


def machine() -> dict[str, Any]:
    """The machine record (benchmarks/common.py) with the 1-minute load at the start, which report.py prints."""
    m = common.machine()
    return {**m, "loadavg_start": m["load_before"][0]}


class Suite:
    """Runs a Plan into `out` (results.json, the .npz files the Keras peer reads)."""

    def __init__(self, plan: Plan, out: Path, command: str = "mnistlab bench") -> None:
        self.plan, self.out = plan, out
        out.mkdir(parents=True, exist_ok=True)
        mc = machine()
        self.results: dict[str, Any] = {"plan": asdict(plan), "machine": mc, "peak": {}, "flops": {},
                                        "trials": [], "tta": [], "profile": {}, "notes": [], "command": command,
                                        "bench": {"benchmark": "peers", "command": command, "machine": mc}}
        self.data = {name: load_dataset(name) for name in sorted(set(MODELS[m] for m in plan.models))}
        self._keras: Path | None = None
        self._keras_error = ""  # why the Keras peer cannot run, once found out

    def save(self) -> None:
        self.results["machine"]["loadavg_end"] = os.getloadavg()[0]
        self.results["machine"]["load_after"] = list(os.getloadavg())
        atomic_write_json(self.out / "results.json", self.results)

    def note(self, text: str) -> None:
        log(text)
        self.results["notes"].append(text)

    def run(self) -> dict[str, Any]:
        t0 = time.perf_counter()
        from mnistlab.models import param_count
        from mnistlab.models.registry import create
        from mnistlab.train import configure_threads

        configure_threads()
        if self.plan.threads:
            torch.set_num_threads(self.plan.threads)
        self.results["machine"]["threads"] = torch.get_num_threads()

        for m in self.plan.models:
            self.results["flops"][m] = torch_peers.train_flops_per_image(m)
            self.results.setdefault("params", {})[m] = param_count(create(m))
        if "peak" in self.plan.phases:
            for label, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
                if label == "bf16" and not self.native_bf16():
                    # Emulated bf16 runs at a few GFLOP/s: the 4096^3 probes alone would take most of an hour,
                    # and no runner here uses bf16 on such a CPU (precision auto picks fp32).
                    log("matmul peak bf16: skipped, this CPU has no bf16 matmul instructions")
                    continue
                self.results["peak"][label] = torch_peers.matmul_peak(dtype, self.plan.device)
                log(f"matmul peak {label}: {self.results['peak'][label]:.0f} GFLOP/s")
            self.results["bandwidth_gbs"] = torch_peers.copy_bandwidth(self.plan.device)
        if "throughput" in self.plan.phases:
            self.throughput()
        if "tta" in self.plan.phases:
            self.time_to_accuracy()
        if "profile" in self.plan.phases:
            for m in self.plan.models:
                self.results["profile"][m] = torch_peers.profile_table(m, self.plan.device)
        self.results["machine"]["bench_wall_s"] = time.perf_counter() - t0
        self.save()
        return self.results

    def native_bf16(self) -> bool:
        from mnistlab.hardware import cpu_has_fast_bf16

        return torch_peers.pick_device(self.plan.device).type == "cuda" or cpu_has_fast_bf16()

    # ------------------------------------------------------------ throughput
    def runners(self) -> list[tuple[str, str]]:
        return [("ours", v) for v in self.plan.variants] + [(p, "") for p in self.plan.peers]

    def throughput(self) -> None:
        p = self.plan
        for rep in range(p.repeats):
            for m in p.models:
                for runner, variant in self.runners():
                    row = {"model": m, "runner": runner, "variant": variant, "repeat": rep}
                    try:
                        row.update(self.trial(m, runner, variant, seed=rep))
                    except (keras_env.PeerUnavailable, RuntimeError, ValueError) as err:
                        row["error"] = f"{type(err).__name__}: {err}"
                    self.results["trials"].append(row)
                    self.save()
                    shown = f"{row['images_per_s']:.0f} img/s acc {row['test_acc']:.4f}" if "error" not in row \
                        else row["error"]
                    log(f"[{rep + 1}/{p.repeats}] {m} {runner} {variant}: {shown}")

    def trial(self, model: str, runner: str, variant: str, seed: int) -> dict[str, Any]:
        p, data = self.plan, self.data[MODELS[model]]
        common = {"images": p.images, "timed_epochs": p.timed_epochs, "seed": seed}
        if runner == "ours":
            return torch_peers.engine_trial(model, data, torch_peers.VARIANTS[variant], device=p.device, **common)
        if runner == "dataloader":
            return torch_peers.dataloader_trial(model, data, device=p.device, **common)
        policy = "mixed_bfloat16" if runner == "keras-bf16" else "float32"
        result = keras_env.run_trial(self.keras(), self.npz(MODELS[model]), model, policy=policy,
                                     threads=p.threads or None, **common)
        result["precision"] = "bf16" if runner == "keras-bf16" else "fp32"
        return result

    def keras(self) -> Path:
        """The Keras venv's python; a failed install is reported once, then every Keras trial is skipped."""
        if self._keras is None and not self._keras_error:
            try:
                cuda = torch_peers.pick_device(self.plan.device).type == "cuda"
                self._keras = keras_env.ensure(self.plan.install, log, cuda=cuda)
            except keras_env.PeerUnavailable as err:
                self._keras_error = str(err)
                self.note(f"Keras peer skipped: {err}")
        if self._keras is None:
            raise keras_env.PeerUnavailable(self._keras_error)
        return self._keras

    def npz(self, dataset: str) -> Path:
        path = self.out / f"{dataset}.npz"
        if not path.is_file():
            d = self.data[dataset]
            np.savez(path, x_train=d.train.x, y_train=d.train.y, x_test=d.test.x, y_test=d.test.y)
        return path

    # ------------------------------------------------------------ time-to-accuracy
    def time_to_accuracy(self) -> None:
        for m in self.plan.models:
            for runner in ("ours", "keras"):
                row: dict[str, Any] = {"model": m, "runner": runner, "target": TARGETS[m]}
                try:
                    row.update(self.tta_ours(m) if runner == "ours" else self.tta_keras(m))
                except (keras_env.PeerUnavailable, RuntimeError, ValueError) as err:
                    row["error"] = f"{type(err).__name__}: {err}"
                self.results["tta"].append(row)
                self.save()
                shown = row.get("error") or (f"{row['seconds']:.0f} s, {row['epochs']} epochs" if row["reached"]
                                             else f"not reached, best {row['best_acc']:.4f}")
                log(f"time-to-accuracy {m} {runner} (target {TARGETS[m]}): {shown}")

    def tta_ours(self, model: str) -> dict[str, Any]:
        """Our engine, default settings (batch 128, Adam 1e-3, constant rate), test accuracy after every epoch,
        stopped at the first epoch that reaches the target."""
        from mnistlab.models import registry as models
        from mnistlab.train import TrainSpec, fit, seed_everything, to_tensors

        d, target = self.data[MODELS[model]], TARGETS[model]
        train, test = to_tensors(d.train.x, d.train.y), to_tensors(d.test.x, d.test.y)
        rows: list[dict[str, float]] = []
        t0 = time.perf_counter()

        def on_epoch(row: dict[str, float]) -> None:
            rows.append({**row, "elapsed_s": time.perf_counter() - t0})
            if row["test_acc"] >= target:
                raise _Reached

        seed_everything(0)
        with contextlib.suppress(_Reached):
            fit(models.create(model), train, TrainSpec(epochs=self.plan.max_epochs), name=f"tta {model}",
                test=test, device=self.plan.device, on_epoch=on_epoch)
        hit = rows[-1] if rows and rows[-1]["test_acc"] >= target else None
        return {"reached": hit is not None, "seconds": hit["elapsed_s"] if hit else None,
                "epochs": int(hit["epoch"]) if hit else None, "best_acc": max(r["test_acc"] for r in rows),
                "rows": rows}

    def tta_keras(self, model: str) -> dict[str, Any]:
        return keras_env.run_trial(self.keras(), self.npz(MODELS[model]), model, mode="tta",
                                   threads=self.plan.threads or None, target=TARGETS[model],
                                   max_epochs=self.plan.max_epochs)


class _Reached(Exception):
    """Raised from fit's on_epoch callback to stop training once the target accuracy is reached."""
