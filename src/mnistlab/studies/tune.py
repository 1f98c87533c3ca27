"""Adam tuning for study 6 with Optuna: learning rate, beta1 and beta2 of the multi-task net at lambda = 0.5.

Why lambda = 0.5: it is the middle of the sweep and the only setting where both heads weigh equally, so the
objective (mean validation accuracy of the two heads) rewards settings that train the whole net; the winner then
trains every model of the study (single nets, all lambdas, uncertainty weighting), so they differ only in the loss.

Protocol: a seeded validation slice (`mtl.val_size` images) of the training split, never the test split; each trial
trains a fresh net (same seed, same initial weights, same batch order) for `mtl.tune_epochs` epochs on a seeded
draw of `mtl.tune_subset` images from the rest of train. Seeded TPE sampler; Adam's defaults are the first trial,
so the winner is never worse on validation than the untuned optimiser. Storage: SQLite in `<run>/mtl/tuning/` by
default, or any Optuna storage URL (`--storage`), so several machines can fill one study. The study's name carries a
fingerprint of everything a trial depends on: changed settings start a new study, a larger `--trials` extends it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from mnistlab import data as datasets
from mnistlab.config import RunConfig
from mnistlab.errors import TrainingDiverged, UserError
from mnistlab.log import log
from mnistlab.runs import RunDir, atomic_path, atomic_write_json, atomic_write_text

SPACE_VERSION = 2  # bump when search_space changes, so old trials are not mixed into the new study
LAMBDA = 0.5
STATES_COUNTED = ("COMPLETE", "PRUNED")  # the trials that used up the budget


# The searched ranges, wide enough that a winner is not pinned to an edge (`at_edge` flags one that is). beta2 is
# searched as its gap to 1, log-uniform: its useful values crowd near 1.
SPACE = {"lr": (3e-5, 1e-2), "beta1": (0.5, 0.99), "beta2_gap": (1e-5, 0.2)}
LOG_SCALE = {"lr": True, "beta1": False, "beta2_gap": True}
EDGE = 0.05  # a winner within 5% of a range's width (in log units for log ranges) of either end is "at the edge"


def search_space(trial: Any) -> dict[str, float]:
    """lr log-uniform, beta1 uniform, 1 - beta2 log-uniform over SPACE (beta2 in [0.9, 0.9999])."""
    lr = trial.suggest_float("lr", *SPACE["lr"], log=LOG_SCALE["lr"])
    beta1 = trial.suggest_float("beta1", *SPACE["beta1"], log=LOG_SCALE["beta1"])
    gap = trial.suggest_float("beta2_gap", *SPACE["beta2_gap"], log=LOG_SCALE["beta2_gap"])
    return {"lr": lr, "beta1": beta1, "beta2": 1.0 - gap}


def settings(cfg: RunConfig) -> dict[str, Any]:
    """Everything a trial's result depends on (not the trial budget)."""
    m = cfg.mtl
    return {"seed": cfg.seed, "subset": m.subset, "val_size": m.val_size, "tune_subset": m.tune_subset,
            "tune_epochs": m.tune_epochs, "batch_size": m.batch_size, "epoch_images": m.epoch_images,
            "schedule": m.schedule, "lambda": LAMBDA, "space": SPACE_VERSION, "data_dir": bool(cfg.data_dir)}


def study_name(cfg: RunConfig) -> str:
    blob = json.dumps(settings(cfg), sort_keys=True).encode()
    return f"mtl-adam-{hashlib.sha256(blob).hexdigest()[:10]}"


def storage_url(cfg: RunConfig, rd: RunDir) -> str:
    if cfg.mtl.storage:
        return os.path.expandvars(cfg.mtl.storage)  # so a password can live in $VAR, not in config.json
    return f"sqlite:///{(rd.study_dir('mtl') / 'tuning' / 'optuna.db').resolve()}"


def redact(url: str) -> str:
    """The URL without its password, for files and logs."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", url)


def split(cfg: RunConfig, n_train: int) -> tuple[np.ndarray, np.ndarray]:
    """(trial training indices, validation indices) into the training split, both seeded and sorted."""
    train_idx, val_idx = datasets.validation_split(n_train, cfg.mtl.val_size, cfg.seed)
    k = cfg.mtl.tune_subset
    if 0 < k < len(train_idx):
        train_idx = np.sort(np.random.default_rng(cfg.seed + 1).choice(train_idx, size=k, replace=False))
    return train_idx, val_idx


def open_study(cfg: RunConfig, rd: RunDir) -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = storage_url(cfg, rd)
    (rd.study_dir("mtl") / "tuning").mkdir(exist_ok=True)
    sampler = optuna.samplers.TPESampler(seed=cfg.seed, n_startup_trials=min(5, cfg.mtl.tune_trials))
    pruner = optuna.pruners.MedianPruner(n_startup_trials=4)
    try:
        study = optuna.create_study(study_name=study_name(cfg), storage=url, direction="maximize",
                                    sampler=sampler, pruner=pruner, load_if_exists=True)
    except (ValueError, ImportError, ModuleNotFoundError) as err:
        raise UserError(f"cannot open Optuna storage {redact(url)!r}: {err}") from None
    except Exception as err:  # sqlalchemy's connection errors, without importing sqlalchemy here
        raise UserError(f"cannot open Optuna storage {redact(url)!r}: {type(err).__name__}: {err}") from None
    if not study.trials:  # Adam's defaults first: the baseline every other trial has to beat
        study.enqueue_trial({"lr": cfg.mtl.lr, "beta1": cfg.mtl.beta1, "beta2_gap": 1.0 - cfg.mtl.beta2},
                            skip_if_exists=True)
    return study


SpecMaker = Callable[..., Any]  # (cfg, adam, seed, epochs=) -> TrainSpec: the study's own recipe (mtl.train_spec)


def objective(cfg: RunConfig, data: Any, idx: tuple[np.ndarray, np.ndarray], device: str,
              make_spec: SpecMaker) -> Any:
    """The Optuna objective: mean validation accuracy of both heads after a short training of a fresh MTL net
    trained with `make_spec`'s recipe (passed in by the mtl study, so this module does not import it back)."""
    import optuna
    import torch

    from mnistlab.models.multitask import MultiTaskLoss, MultiTaskNet
    from mnistlab.train import configure_threads, fit, seed_everything

    x, y = data.train
    tr, va = torch.as_tensor(idx[0]), torch.as_tensor(idx[1])
    train, val = (x[tr], y[tr]), (x[va], y[va])

    def run_trial(trial: optuna.Trial) -> float:
        adam = search_space(trial)
        configure_threads()  # the free cores, as for every model of the study
        seed_everything(cfg.seed)  # identical initial weights in every trial
        # scored on the validation slice only: no pass over training images after each epoch
        spec = dataclasses.replace(make_spec(cfg, adam, cfg.seed, epochs=cfg.mtl.tune_epochs), train_eval=0)
        t0 = time.perf_counter()

        def report(row: dict[str, float]) -> None:
            value = (row["val_items"] + row["val_groups"]) / 2
            trial.report(value, int(row["epoch"]))
            if row["epoch"] < spec.epochs and trial.should_prune():
                raise optuna.TrialPruned(f"val {value:.4f} below the median at epoch {row['epoch']}")

        try:
            res = fit(MultiTaskNet(), train, spec, name=f"mtl/trial-{trial.number}", test=val,
                      task=MultiTaskLoss(LAMBDA), device=device, on_epoch=report, held_out="val")
        except TrainingDiverged as err:  # a too-large lr: a bad trial, not a failed study
            trial.set_user_attr("diverged", str(err))
            raise optuna.TrialPruned(str(err)) from None
        attrs = {"val_items": res.final["val_items"], "val_groups": res.final["val_groups"],
                 "seconds": round(time.perf_counter() - t0, 1), "beta2": adam["beta2"]}
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        return (res.final["val_items"] + res.final["val_groups"]) / 2

    return run_trial


def tune(cfg: RunConfig, rd: RunDir, data: Any, device: str, make_spec: SpecMaker) -> dict[str, Any]:
    """Fill the study up to `mtl.tune_trials` counted trials, write its table and figure; returns the winner.
    `data` is the study's FashionTensors (train + test); only its train part is used here."""
    import optuna
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    from mnistlab.plots import mtl as plots
    from mnistlab.plots import save_figure

    folder = rd.study_dir("mtl") / "tuning"
    folder.mkdir(exist_ok=True)
    idx = split(cfg, len(data.train[0]))
    with atomic_path(folder / "split.npz") as tmp:
        np.savez(tmp, train_idx=idx[0], val_idx=idx[1])
    study = open_study(cfg, rd)
    counted = tuple(getattr(TrialState, s) for s in STATES_COUNTED)
    left = cfg.mtl.tune_trials - len(study.get_trials(deepcopy=False, states=counted))
    log(f"[mtl] tuning: study {study.study_name} in {redact(storage_url(cfg, rd))}: {max(left, 0)} trial(s) to run")
    t0 = time.perf_counter()
    if left > 0:
        study.optimize(objective(cfg, data, idx, device, make_spec), n_trials=left, gc_after_trial=True,
                       callbacks=[MaxTrialsCallback(cfg.mtl.tune_trials, states=counted), _log_trial])
    rows = trials_table(study)
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    if not complete:
        raise TrainingDiverged("mtl/tuning", cfg.mtl.tune_epochs, 0, float("nan"))
    best = study.best_trial
    result = {"best": {"lr": best.params["lr"], "beta1": best.params["beta1"],
                       "beta2": 1.0 - best.params["beta2_gap"]},
              "best_value": best.value, "best_trial": best.number, "study": study.study_name,
              "storage": redact(storage_url(cfg, rd)), "settings": settings(cfg), "trials": rows,
              "n_trials": len(rows), "seconds": round(time.perf_counter() - t0, 1),
              "trials_s": round(sum(r["seconds"] or 0.0 for r in rows), 1),  # all trials, also earlier runs
              "train_images": len(idx[0]), "val_images": len(idx[1]), "space": SPACE,
              "optuna": optuna.__version__,
              "at_edge": at_edge(best.params)}  # the report compares the winner with the defaults' trial
    atomic_write_json(folder / "result.json", result)
    atomic_write_text(folder / "trials.csv", to_csv(rows))
    save_figure(plots.tuning(rows, SPACE), rd.study_dir("mtl") / "figures" / "tuning")
    return result


def at_edge(params: dict[str, float]) -> list[str]:
    """The tuned settings that ended within EDGE of a searched range's end (the range may have clipped them)."""
    edge = []
    for key, (lo, hi) in SPACE.items():
        f = math.log if LOG_SCALE[key] else (lambda v: v)
        if key in params and min(f(params[key]) - f(lo), f(hi) - f(params[key])) < EDGE * (f(hi) - f(lo)):
            edge.append(key)
    return edge


def _log_trial(study: Any, trial: Any) -> None:
    value = "pruned" if trial.value is None else f"{trial.value:.4f}"
    params = " ".join(f"{k}={v:.4g}" for k, v in trial.params.items())
    log(f"[mtl] trial {trial.number}: {trial.state.name.lower()} val={value} {params}")


def trials_table(study: Any) -> list[dict[str, Any]]:
    """One flat row per trial: number, state, objective, lr, beta1, beta2, both validation accuracies, seconds."""
    rows = []
    for t in study.trials:
        p = t.params
        rows.append({"trial": t.number, "state": t.state.name.lower(), "value": t.value,
                     "lr": p.get("lr"), "beta1": p.get("beta1"),
                     "beta2": 1.0 - p["beta2_gap"] if "beta2_gap" in p else None,
                     "val_items": t.user_attrs.get("val_items"), "val_groups": t.user_attrs.get("val_groups"),
                     "seconds": t.user_attrs.get("seconds")})
    return rows


def to_csv(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    keys = list(rows[0])
    lines = [",".join(keys)]
    lines += [",".join("" if r[k] is None else str(r[k]) for k in keys) for r in rows]
    return "\n".join(lines) + "\n"
