"""What the mlp and cnn studies share: MNIST as tensors, a training recipe, one trained net per (model, seed)
in its own folder, and mean +/- std over seeds.

Folders: `<run>/<study>/<name>/` for the run's first seed (the contract other studies rely on, e.g.
`<run>/cnn/4_1/model.pt`), `<run>/<study>/<name>.s<seed>/` for the other seeds of the paper profile."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mnistlab.config import RunConfig
from mnistlab.data import Dataset, load_dataset
from mnistlab.models import param_count
from mnistlab.runs import RunDir
from mnistlab.train import TrainSpec, configure_threads, fit, pick_device, seed_everything, to_tensors

Tensor = torch.Tensor
Pair = tuple[Tensor, Tensor]
METRIC_FIELDS = ("test_acc", "train_acc", "params", "train_s", "test_s")  # mlp.<name>.<field> in metrics.json
CPU_FIELDS = ("train_cpu_s", "test_cpu_s")  # also in metrics.json, when measured (models trained before: 0)


@dataclass(frozen=True)
class Recipe:
    """How a net is trained: epochs of Adam with a learning-rate schedule over mini-batches, cross-entropy
    with optional label smoothing."""

    epochs: int
    batch_size: int
    lr: float
    schedule: str = "onecycle"
    label_smoothing: float = 0.0

    def spec(self, seed: int, channels_last: bool = False) -> TrainSpec:
        return TrainSpec(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, schedule=self.schedule,
                         label_smoothing=self.label_smoothing, seed=seed, channels_last=channels_last)


def mnist(cfg: RunConfig) -> Dataset:
    return load_dataset("mnist", cfg.data_dir or None)


def tensors(data: Dataset, subset: int, image: bool) -> tuple[Pair, Pair]:
    """(train, test) tensors: x (N, 1, 28, 28) or (N, 784) float in [0, 1], y (N,) int64. subset N > 0 keeps
    the first N training and N // 5 test images (smoke runs)."""
    n_tr = subset or len(data.train.x)
    n_te = subset // 5 if subset else len(data.test.x)
    return (to_tensors(data.train.x[:n_tr], data.train.y[:n_tr], image),
            to_tensors(data.test.x[:n_te], data.test.y[:n_te], image))


def seeds(cfg: RunConfig) -> list[int]:
    """The seeds of this run: cfg.seed, cfg.seed + 1, ... (cfg.seeds of them)."""
    return [cfg.seed + k for k in range(cfg.seeds)]


def model_dir(study_dir: Path, name: str, seed: int, first: int) -> Path:
    return study_dir / (name if seed == first else f"{name}.s{seed}")


def train_net(rd: RunDir, study: str, name: str, build: Callable[[], nn.Module], recipe: Recipe,
              data: tuple[Pair, Pair], seed: int, device: str, first_seed: int,
              channels_last: bool = False) -> tuple[nn.Module, dict[str, Any]]:
    """Train (or load, if finished) one net in `<run>/<study>/<name>[.s<seed>]/`; every epoch goes to
    metrics.jsonl. Returns the model and its row: params, final accuracies, times, per-epoch history."""
    (train, test), out = data, model_dir(rd.study_dir(study), name, seed, first_seed)
    seed_everything(seed)  # the initial weights depend on the seed only, also when resuming
    model = build()

    def on_epoch(row: dict[str, float]) -> None:
        rd.log_event({"event": "epoch", "study": study, "model": name, "seed": seed, **row})

    dev = pick_device(device)
    if dev.type == "cpu":
        configure_threads()  # per model: the free cores change as other work on the machine starts and stops
    res = fit(model, train, recipe.spec(seed, channels_last), name=f"{study} {name}", test=test, out_dir=out,
              device=dev, on_epoch=on_epoch)
    row = {"name": name, "seed": seed, "params": param_count(model), "test_acc": res.final["test_acc"],
           "train_acc": res.final["train_acc"], "train_s": res.train_s, "test_s": res.test_s,
           "train_cpu_s": res.train_cpu_s, "test_cpu_s": res.test_cpu_s,
           "threads": res.threads, **asdict(recipe), "history": res.history, "path": str(out.relative_to(rd.path))}
    return model, row


def aggregate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One row per seed -> one row: the first seed's row (its history, for the curves) with every metric
    field replaced by the mean over seeds, plus `<field>_std` and `n` when there are several seeds."""
    out = dict(rows[0])
    out["n"] = len(rows)
    for key in METRIC_FIELDS + CPU_FIELDS:
        values = [float(r.get(key, 0.0)) for r in rows]
        out[key] = int(values[0]) if key == "params" else statistics.fmean(values)  # params: same for every seed
        if len(rows) > 1:
            out[f"{key}_std"] = statistics.stdev(values)
    if len(rows) > 1:
        out["seeds"] = [r["seed"] for r in rows]
        out["test_acc_per_seed"] = [r["test_acc"] for r in rows]
    return out


def metrics(study: str, row: dict[str, Any]) -> dict[str, Any]:
    """Flat metrics.json keys of one aggregated row: <study>.<name>.<field>, and .std/.n over several seeds."""
    name, out = row["name"], {}
    for key in METRIC_FIELDS + tuple(k for k in CPU_FIELDS if row.get(k, 0.0) > 0):
        value = row[key]
        out[f"{study}.{name}.{key}"] = int(value) if key == "params" else float(value)
        if f"{key}_std" in row:
            out[f"{study}.{name}.{key}.std"] = float(row[f"{key}_std"])
            out[f"{study}.{name}.{key}.n"] = int(row["n"])
    return out


def table_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row for summary tables: the aggregated row without the per-epoch history."""
    return {k: v for k, v in row.items() if k != "history"}
