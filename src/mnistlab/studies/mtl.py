"""Study 6: multi-task learning on Fashion-MNIST (10 items, 3 groups).

Order of work: (1) tune Adam with Optuna on a seeded validation slice of train (`studies/tune.py`; the MTL net at
lambda = 0.5, the middle of the sweep, where both heads matter); (2) with the winning lr, beta1, beta2, train the
two single-task nets (6.1), one multi-task net per lambda (6.2) and the uncertainty-weighted net, each a freshly
built model (same seed, so the same initial weights) with a fresh optimiser, in its own folder
`<run>/mtl/<name>-s<seed>/` so that a killed sweep resumes at the model and epoch where it stopped.
The final models train on all 60,000 training images (the validation slice only chose the optimiser settings;
nothing is early-stopped), and the test split gives the final numbers only.
"""

from __future__ import annotations

import hashlib
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mnistlab import data as datasets
from mnistlab.config import RunConfig
from mnistlab.errors import ConfigError
from mnistlab.log import log
from mnistlab.models import param_count
from mnistlab.models.multitask import (
    GROUPS,
    ITEMS,
    MultiTaskLoss,
    MultiTaskNet,
    SingleTask,
    UncertaintyLoss,
    UncertaintyNet,
    build_single,
)
from mnistlab.runs import RunDir, atomic_write_text
from mnistlab.studies import StudyResult, tune
from mnistlab.train import Task, TrainSpec, configure_threads, fit, pick_device, seed_everything, to_tensors

NAME = "mtl"
HEADS = ("items", "groups", "groups_from_items")
Tensor = torch.Tensor


@dataclass
class FashionTensors:
    """train / test as (x float (N, 1, 28, 28) in [0, 1], y int64 (N, 2) = [item, group])."""

    train: tuple[Tensor, Tensor]
    test: tuple[Tensor, Tensor]


def load(cfg: RunConfig) -> FashionTensors:
    """Fashion-MNIST as tensors with both label columns; `cfg.mtl.subset` keeps the first N train, N // 5 test."""
    ds = datasets.load_dataset("fashion", cfg.data_dir or None)
    n = cfg.mtl.subset

    def split(s: datasets.Split, keep: int) -> tuple[Tensor, Tensor]:
        x, y = (s.x[:keep], s.y[:keep]) if keep else (s.x, s.y)
        return to_tensors(x, np.stack([y, datasets.fashion_groups(y)], axis=1))

    return FashionTensors(split(ds.train, n), split(ds.test, n // 5))


def check(cfg: RunConfig) -> None:
    """Settings whose bounds depend on other settings (config.build checks each field's own); wrong ones are user
    errors, raised before any training."""
    m = cfg.mtl
    n = m.subset or 60_000
    if m.tune and not 0 < m.val_size < n:
        raise ConfigError(f"mtl.val_size must be below the {n} training images, got {m.val_size}")


# ---------------------------------------------------------------- the models of the study
@dataclass(frozen=True)
class ModelSpec:
    name: str  # folder and table name: single_items, single_groups, lambda_0.25, uw
    kind: str  # single_items | single_groups | mtl | uw
    lam: float | None = None  # the loss weight of the items task (mtl only)


def prefix(name: str) -> str:
    """metrics.json prefix of a model: mtl.single (both single nets), mtl.lambda_<v>, mtl.uw."""
    return "mtl.single" if name.startswith("single") else f"mtl.{name}"


def model_specs(cfg: RunConfig) -> list[ModelSpec]:
    specs = [ModelSpec("single_items", "single_items"), ModelSpec("single_groups", "single_groups")]
    specs += [ModelSpec(f"lambda_{lam:g}", "mtl", lam) for lam in cfg.mtl.lambdas]
    if cfg.mtl.uncertainty:
        specs.append(ModelSpec("uw", "uw"))
    return specs


def build(spec: ModelSpec, seed: int) -> tuple[nn.Module, Task]:
    """A freshly initialised model and its loss. The global RNG is re-seeded first, so every MTL net (any lambda,
    and the uncertainty net) starts from identical weights, and the single nets' trunks from the same ones."""
    seed_everything(seed)
    if spec.kind == "single_items":
        return build_single(ITEMS), SingleTask("items")
    if spec.kind == "single_groups":
        return build_single(GROUPS), SingleTask("groups")
    if spec.kind == "mtl":
        assert spec.lam is not None
        return MultiTaskNet(), MultiTaskLoss(spec.lam)
    if spec.kind == "uw":
        model = UncertaintyNet()
        return model, UncertaintyLoss(model.log_vars)
    raise ValueError(f"unknown model kind {spec.kind!r}")


def digest(model: nn.Module) -> str:
    """SHA-256 (first 16 hex digits) of a model's weights: equal digests mean equal initial weights."""
    h = hashlib.sha256()
    for key, value in sorted(model.state_dict().items()):
        h.update(key.encode())
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


# Inference batch of the Fashion nets (the engine's default is 256, sized for CNN 4.1): their dense layers dominate,
# and a pass over 10,000 images took 0.7-0.9 s at 1024 against 1.2-1.3 s at 256 (bf16, 2 threads, AMX Xeon;
# docs/BENCHMARKS.md). Two passes per epoch (the training sample and the test set), 48 epochs per run.
EVAL_BATCH = 1024


def train_spec(cfg: RunConfig, adam: dict[str, float], seed: int, epochs: int | None = None) -> TrainSpec:
    m = cfg.mtl
    return TrainSpec(epochs=epochs or m.epochs, batch_size=m.batch_size, epoch_images=m.epoch_images, lr=adam["lr"],
                     betas=(adam["beta1"], adam["beta2"]), schedule=m.schedule, seed=seed, eval_batch=EVAL_BATCH)


def train_one(spec: ModelSpec, seed: int, data: FashionTensors, tspec: TrainSpec, folder: Path | None,
              device: str, rd: RunDir | None = None) -> dict[str, Any]:
    """Build, train (or resume, or load if finished) and test one model; one flat table row. The row carries
    digests of the initial and final weights: equal init digests prove a fair start, and a model trained alone
    or after others in a sweep must end with the same final digest (no state carried over). With `rd`, every
    epoch also goes to the run's metrics.jsonl, as for the MLPs and CNNs."""
    configure_threads()  # per model: the free cores change as other work on the machine starts and stops
    model, task = build(spec, seed)
    init = digest(model)

    def on_epoch(row: dict[str, float]) -> None:
        if rd is not None:
            rd.log_event({"event": "epoch", "study": "mtl", "model": spec.name, "seed": seed, **row})

    res = fit(model, data.train, tspec, name=f"mtl/{spec.name}-s{seed}", test=data.test, task=task,
              out_dir=folder, device=device, on_epoch=on_epoch)
    row: dict[str, Any] = {"model": spec.name, "lambda": spec.lam, "seed": seed, "params": param_count(model),
                           "epochs": tspec.epochs, "train_s": round(res.train_s, 2),
                           "train_cpu_s": round(res.train_cpu_s, 1), "threads": res.threads, "init_sha": init,
                           "final_sha": digest(model)}
    for head in HEADS:
        row[f"{head}_test"] = res.final.get(f"test_{head}")
        row[f"{head}_train"] = res.final.get(f"train_{head}")
    if isinstance(task, UncertaintyLoss):
        w_items, w_groups = task.weights()
        row.update(weight_items=w_items, weight_groups=w_groups, lambda_eff=w_items / (w_items + w_groups))
    return row


# ---------------------------------------------------------------- the study
def run(cfg: RunConfig, rd: RunDir) -> StudyResult:
    from mnistlab.plots import mtl as plots
    from mnistlab.plots import save_figure

    check(cfg)
    out = rd.study_dir(NAME)
    device = str(pick_device(cfg.device))
    data = load(cfg)
    t0 = time.perf_counter()
    tuning = tune.tune(cfg, rd, data, device, train_spec) if cfg.mtl.tune else None
    tune_s = time.perf_counter() - t0
    adam = tuning["best"] if tuning else {"lr": cfg.mtl.lr, "beta1": cfg.mtl.beta1, "beta2": cfg.mtl.beta2}
    log(f"[mtl] Adam for every model: lr={adam['lr']:.3g} beta1={adam['beta1']:.3f} beta2={adam['beta2']:.4f}")

    specs, rows, curves = model_specs(cfg), [], {}
    for seed in range(cfg.seed, cfg.seed + cfg.seeds):
        for spec in specs:
            folder = out / f"{spec.name}-s{seed}"
            rows.append(train_one(spec, seed, data, train_spec(cfg, adam, seed), folder, device, rd))
            if seed == cfg.seed:
                curves[spec.name] = _history(folder)
    table = aggregate(rows, specs)
    summary = {"results": table, "per_seed": rows, "params": params_table(),
               "adam": {**adam, "tuned": tuning is not None, "tune_s": round(tune_s, 1),
                        "trials_s": tuning["trials_s"] if tuning else 0.0},
               "best_lambda": best_lambda(table), "split": {"train": len(data.train[0]), "test": len(data.test[0]),
                                                            "val_for_tuning": cfg.mtl.val_size if tuning else 0}}
    if tuning:
        summary["trials"] = tuning["trials"]
        summary["tuning"] = {k: v for k, v in tuning.items() if k != "trials"}
    figs = out / "figures"
    save_figure(plots.lambda_sweep(table), figs / "lambda_sweep")
    save_figure(plots.curves(curves), figs / "curves")
    atomic_write_text(out / "results.md", markdown(table) + "\n")
    for line in markdown(table).splitlines():
        log(f"[mtl] {line}")
    return StudyResult(summary=summary, metrics=metrics(table, summary))


def _history(folder: Path) -> list[dict[str, float]]:
    from mnistlab.runs import read_json

    return read_json(folder / "history.json", {}).get("history", [])


def aggregate(rows: list[dict[str, Any]], specs: list[ModelSpec]) -> list[dict[str, Any]]:
    """One row per model: accuracies as the mean over seeds, with `<key>_std` and `n` when there are several."""
    table = []
    for spec in specs:
        mine = [r for r in rows if r["model"] == spec.name]
        row: dict[str, Any] = {"model": spec.name, "lambda": spec.lam, "params": mine[0]["params"], "n": len(mine),
                               "train_s": round(statistics.fmean(r["train_s"] for r in mine), 1),
                               "train_cpu_s": round(statistics.fmean(r["train_cpu_s"] for r in mine), 1),
                               "threads": max(r["threads"] for r in mine)}
        for key in [k for k in mine[0] if k.endswith(("_test", "_train")) or k.startswith(("weight_", "lambda_e"))]:
            values = [r[key] for r in mine if r[key] is not None]
            row[key] = statistics.fmean(values) if values else None
            if len(values) > 1:
                row[f"{key}_std"] = statistics.stdev(values)
        table.append(row)
    return table


def params_table() -> list[dict[str, Any]]:
    """Parameters of the two single-task nets together against the one multi-task net."""
    with torch.device("meta"):  # shapes only: no memory, no initialisation
        items, groups, mtl = (param_count(m) for m in (build_single(ITEMS), build_single(GROUPS), MultiTaskNet()))
    return [{"model": "single items net", "params": items}, {"model": "single groups net", "params": groups},
            {"model": "two single nets", "params": items + groups}, {"model": "MTL net", "params": mtl},
            {"model": "MTL / two single", "params": round(mtl / (items + groups), 4)}]


def best_lambda(table: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The lambda in (0, 1) with the highest mean of the two test accuracies, and its gaps (accuracy points,
    MTL minus single net) on each task. Descriptive only: nothing is trained or chosen with it."""
    inner = [r for r in table if r["lambda"] is not None and 0 < r["lambda"] < 1]
    single = {r["model"]: r for r in table if r["model"].startswith("single")}
    if not inner or len(single) < 2:
        return None
    best = max(inner, key=lambda r: r["items_test"] + r["groups_test"])
    return {"lambda": best["lambda"],
            "items_gap_points": 100 * (best["items_test"] - single["single_items"]["items_test"]),
            "groups_gap_points": 100 * (best["groups_test"] - single["single_groups"]["groups_test"])}


def metrics(table: list[dict[str, Any]], summary: dict[str, Any]) -> dict[str, Any]:
    """Flat metrics.json keys (README): mtl.<single|lambda_v|uw>.<head>.test_acc, mtl.tuned.*, mtl.params.*."""
    out: dict[str, Any] = {}
    for row in table:
        pre = prefix(row["model"])
        for head in HEADS:
            if row.get(f"{head}_test") is None:
                continue
            out[f"{pre}.{head}.test_acc"] = row[f"{head}_test"]
            if f"{head}_test_std" in row:
                out[f"{pre}.{head}.test_acc.std"] = row[f"{head}_test_std"]
            if row["n"] > 1:
                out[f"{pre}.{head}.test_acc.n"] = row["n"]
        if row["model"] == "uw":
            out.update({"mtl.uw.weight.items": row["weight_items"], "mtl.uw.weight.groups": row["weight_groups"],
                        "mtl.uw.lambda_eff": row["lambda_eff"]})
    adam = summary["adam"]
    if adam["tuned"]:
        out.update({f"mtl.tuned.{k}": adam[k] for k in ("lr", "beta1", "beta2")})
    params = {r["model"]: r["params"] for r in summary["params"]}
    out.update({"mtl.params.two_single": params["two single nets"], "mtl.params.mtl": params["MTL net"]})
    if summary["best_lambda"]:
        out["mtl.best_lambda"] = summary["best_lambda"]["lambda"]
    return out


def markdown(table: list[dict[str, Any]]) -> str:
    """The results table: lambda, test accuracy of both tasks (%), group accuracy implied by the items head."""
    def pct(row: dict[str, Any], key: str) -> str:
        v = row.get(key)
        if v is None:
            return "-"
        sd = row.get(f"{key}_std")
        return f"{100 * v:.2f}" + (f" +/- {100 * sd:.2f}" if sd is not None else "")

    lines = ["| model | lambda | items test % | groups test % | groups from items % | train s | train CPU s |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in table:
        lam = f"{r['lambda']:g}" if r["lambda"] is not None else (f"~{r['lambda_eff']:.2f}" if "lambda_eff" in r
                                                                   else "-")
        lines.append(f"| {r['model']} | {lam} | {pct(r, 'items_test')} | {pct(r, 'groups_test')} | "
                     f"{pct(r, 'groups_from_items_test')} | {r['train_s']:.0f} | {r['train_cpu_s']:.0f} |")
    return "\n".join(lines)
