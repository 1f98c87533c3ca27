"""Study 3: MLPs on MNIST. 3.1 the brief's [784, 1000, 1000, 10] net, its batch size, learning rate and epochs
chosen on a validation slice of train; 3.2 four deeper nets (3, 4, 5, 7 hidden layers) at the same parameter
budget, trained with the 3.1 recipe.

The search (`mlp/search/`) never sees the test set: stage 1 trains the 3.1 net for `search_epochs` epochs for
every (batch size, learning rate) of the grid and scores it on the validation slice; stage 2 trains the winner
for each epoch budget. In both stages the cheapest candidate within `search_tol` of the best validation
accuracy wins, cheapest meaning the fewest epochs, then the largest batch: 5,000 validation images resolve
0.02 pp, but one standard error at 98% is about 0.2 pp, so smaller differences are noise while the cost
differences are real. The chosen recipe then trains 3.1 on all 60,000 training images; test accuracy is
reported per epoch and never used to choose anything.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mnistlab.config import RunConfig
from mnistlab.data import validation_split
from mnistlab.errors import ConfigError
from mnistlab.log import log
from mnistlab.models.mlp import DEPTHS, MLP_3_1, build_mlp, depth_model_widths
from mnistlab.plots import mlp as plots
from mnistlab.plots import save_figure
from mnistlab.runs import RunDir, atomic_write_json, read_json
from mnistlab.studies import StudyResult, nets
from mnistlab.train import configure_threads, fit, pick_device, seed_everything

NAME = "mlp"


def run(cfg: RunConfig, rd: RunDir) -> StudyResult:
    out = rd.study_dir(NAME)
    data = nets.mnist(cfg)
    recipe, search = choose_recipe(cfg, rd)
    tensors = nets.tensors(data, cfg.mlp.subset, image=False)
    depth_recipe = nets.Recipe(cfg.mlp.depth_epochs or recipe.epochs, recipe.batch_size, recipe.lr, recipe.schedule,
                            recipe.label_smoothing)
    models = {"3_1": (lambda: build_mlp(MLP_3_1), recipe, list(MLP_3_1))}
    models |= {f"3_2_depth{d}": (lambda d=d: build_mlp(depth_model_widths(d)), depth_recipe, depth_model_widths(d))
               for d in DEPTHS}
    rows: dict[str, dict[str, Any]] = {}
    for name, (build, rec, widths) in models.items():
        per_seed = [nets.train_net(rd, NAME, name, build, rec, tensors, s, cfg.device, cfg.seed)[1]
                    for s in nets.seeds(cfg)]
        rows[name] = {**nets.aggregate(per_seed), "widths": widths, "hidden_layers": len(widths) - 2}

    figures = write_figures(rows, search, out / "figures")
    metrics: dict[str, Any] = {}
    for row in rows.values():
        metrics |= nets.metrics(NAME, row)
    metrics |= {f"{NAME}.3_1.{k}": getattr(recipe, k) for k in ("batch_size", "lr", "epochs")}
    if search.get("searched"):
        metrics[f"{NAME}.search.val_acc"] = search["chosen"]["val_acc"]
    summary = {"recipe": vars(recipe) | {"depth_epochs": depth_recipe.epochs}, "search": search,
               "models": {k: nets.table_row(v) for k, v in rows.items()},
               "curves": {k: v["history"] for k, v in rows.items()},
               "depth_table": [depth_row(rows[k]) for k in rows], "figures": figures}
    return StudyResult(summary=summary, metrics=metrics)


def depth_row(row: dict[str, Any]) -> dict[str, Any]:
    keep = ("name", "hidden_layers", "widths", "params", "test_acc", "train_acc", "train_s", "train_cpu_s",
            "test_s", "test_cpu_s", "threads", "n", "test_acc_std", "train_s_std")
    return {k: row[k] for k in keep if k in row}


# ---------------------------------------------------------------- the 3.1 recipe
def choose_recipe(cfg: RunConfig, rd: RunDir) -> tuple[nets.Recipe, dict[str, Any]]:
    """The 3.1 recipe: from the config when `mlp.search` is off, else from the validation search (whose
    results are cached in `mlp/search/results.json`, so a re-run or another study reuses them)."""
    m = cfg.mlp
    if not m.search:
        return nets.Recipe(m.epochs, m.batch_size, m.lr, m.schedule, m.label_smoothing), {"searched": False}
    batches, lrs = m.search_batches, m.search_lrs  # non-empty and positive: config.build checked them
    budgets = sorted(set(m.search_budgets) | {m.search_epochs})
    folder = rd.study_dir(NAME) / "search"
    part, val = search_data(cfg, folder)
    done: dict[str, Any] = read_json(folder / "results.json", {})

    def score(rec: nets.Recipe) -> dict[str, Any]:
        key = f"bs{rec.batch_size}_lr{rec.lr:g}_e{rec.epochs}_ls{rec.label_smoothing:g}"
        if key not in done:
            done[key] = candidate(rec, (part, val), folder / key, cfg)
            atomic_write_json(folder / "results.json", done)
        return done[key]

    grid = [score(nets.Recipe(m.search_epochs, b, lr, m.schedule, m.label_smoothing)) for b in batches for lr in lrs]
    best = cheapest_within(grid, m.search_tol)
    stage2 = [score(nets.Recipe(e, best["batch_size"], best["lr"], m.schedule, m.label_smoothing)) for e in budgets]
    chosen = cheapest_within(stage2, m.search_tol)
    recipe = nets.Recipe(chosen["epochs"], chosen["batch_size"], chosen["lr"], m.schedule, m.label_smoothing)
    log(f"[{NAME}] search chose batch {recipe.batch_size}, lr {recipe.lr:g}, {recipe.epochs} epochs "
        f"(validation accuracy {chosen['val_acc']:.4f})")
    search = {"searched": True, "val_size": len(val[0]), "train_size": len(part[0]), "split_seed": cfg.seed,
              "tol": m.search_tol, "schedule": m.schedule, "label_smoothing": m.label_smoothing,
              "grid": grid, "budgets": stage2, "chosen": chosen,
              "rule": "within tol of the best validation accuracy: fewest epochs, then largest batch, then best",
              "val_indices": str((folder / "val_idx.json").relative_to(rd.path))}
    atomic_write_json(folder / "search.json", search)
    return recipe, search


def search_data(cfg: RunConfig, folder: Path) -> tuple[nets.Pair, nets.Pair]:
    """(train part, validation slice) of MNIST train, seeded by cfg.seed; the slice's indices are saved."""
    (train, _test) = nets.tensors(nets.mnist(cfg), cfg.mlp.subset, image=False)
    n = len(train[0])
    if not 0 < cfg.mlp.val_size < n:
        raise ConfigError(f"mlp.val_size must be between 1 and {n - 1} (the training images), got {cfg.mlp.val_size}")
    tr_idx, val_idx = validation_split(n, cfg.mlp.val_size, cfg.seed)
    path = folder / "val_idx.json"
    if not path.is_file():
        atomic_write_json(path, {"seed": cfg.seed, "n_train": n, "val_idx": val_idx.tolist()})
    tr, va = (train[0][tr_idx], train[1][tr_idx]), (train[0][val_idx], train[1][val_idx])
    return tr, va


def candidate(rec: nets.Recipe, data: tuple[nets.Pair, nets.Pair], out: Path, cfg: RunConfig) -> dict[str, Any]:
    """Train the 3.1 net with `rec` on the train part; score each epoch on the validation slice. Only the
    scores are kept: the candidate's weights are deleted (each is 7 MB and nothing reads them)."""
    (part, val) = data
    seed_everything(cfg.seed)
    model = build_mlp(MLP_3_1)
    dev = pick_device(cfg.device)
    if dev.type == "cpu":
        configure_threads()
    res = fit(model, part, rec.spec(cfg.seed), name=f"{NAME} search {out.name}", test=val, out_dir=out, device=dev,
              held_out="val")
    (out / "model.pt").unlink(missing_ok=True)
    return {"batch_size": rec.batch_size, "lr": rec.lr, "epochs": rec.epochs, "val_acc": res.final["val_acc"],
            "val_curve": [h["val_acc"] for h in res.history], "train_acc": res.final["train_acc"],
            "train_s": res.train_s}


def cheapest_within(rows: list[dict[str, Any]], tol: float) -> dict[str, Any]:
    """Among the rows whose val_acc is within `tol` of the best: the cheapest, i.e. the fewest epochs, then the
    largest batch (fewer steps: an epoch costs less, as the measured times show), then the best val_acc.
    A fixed order rather than the measured seconds, which on a shared machine swing with the load."""
    best = max(r["val_acc"] for r in rows)
    near = [r for r in rows if r["val_acc"] >= best - tol]
    return min(near, key=lambda r: (r["epochs"], -r["batch_size"], -r["val_acc"]))


# ---------------------------------------------------------------- figures
def write_figures(rows: dict[str, dict[str, Any]], search: dict[str, Any], folder: Path) -> dict[str, str]:
    figs = {"3_1_curves": plots.curves({"MLP 3.1": rows["3_1"]["history"]}),
            "3_2_depth": plots.depth(list(rows.values()))}
    if search.get("searched"):
        figs["3_1_search"] = plots.search(search)
    for stem, fig in figs.items():
        save_figure(fig, folder / stem)
    return {stem: f"figures/{stem}.png" for stem in figs}


def load_summary(run_dir: Path) -> dict[str, Any] | None:
    """This study's summary.json in a run folder, or None when the study has not finished there."""
    path = run_dir / NAME / "summary.json"
    return json.loads(path.read_text()) if path.is_file() else None
