"""Study 2: the NumPy perceptron on pairs of MNIST digits.

For each pair a-b of `perceptron.pairs` (the brief's 0-1, 2-3, 4-5, 6-7, 8-9): pixels scaled to [-1, 1], labels
-1 for a and +1 for b, one run of the brief's loop (`mnistlab.models.perceptron.train`, which is what `optimize`
runs). That one run gives both variants of the table: *plain* = the weights after the last iteration (what
`optimize` returns), *pocket* = the weights with the lowest training error after any iteration (Gallant's pocket,
checked once per pass). scikit-learn's `Perceptron` is fitted on the same arrays as a cross-check. The test split
is only ever scored. Extra: the 10x10 heat-map of test accuracy over all 45 pairs (`all_pairs`, first seed only).

Writes under `perceptron/`: pairs/<a>-<b>-s<seed>-i<max_iter>.json (one finished fit each; a re-run after a crash reuses
them), curves.json, weights.npz, figures/{errors,weights,all_pairs}.{png,svg}.

Speed: every fit is independent and single-threaded (NumPy's BLAS is held to one thread, see
`models.perceptron.train`), so the fits run in as many worker processes as there are free cores
(`hardware.free_cores`; `MNISTLAB_THREADS` pins it; in the notebook they run in the kernel, one after another).
Each fit is seeded and alone in its process, so the numbers do not depend on the worker count; only the order
of the log lines does.
"""

from __future__ import annotations

import itertools
import multiprocessing
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import Perceptron as SkPerceptron

from mnistlab.config import RunConfig, parse_pairs
from mnistlab.data import flatten, load_dataset, select_pair, to_signed
from mnistlab.hardware import free_cores
from mnistlab.log import log, progress
from mnistlab.models.perceptron import error_rate, train
from mnistlab.runs import RunDir, atomic_path, atomic_write_json, read_json
from mnistlab.studies import StudyResult

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # x_train, y_train, x_test, y_test


def pair_data(data: Arrays, a: int, b: int, subset: int = 0) -> Arrays:
    """From uint8 images (N, 28, 28) and digit labels: the pair's images as (n, 784) float32 in [-1, 1] and labels
    in {-1, +1} (a = -1); subset > 0 keeps the first `subset` of each split. Selecting before scaling keeps the
    copies small (45 pairs are cut from the same arrays)."""
    x, y = select_pair(data[0], data[1], a, b)
    xt, yt = select_pair(data[2], data[3], a, b)
    n = subset or len(y)
    return flatten(to_signed(x[:n])), y[:n], flatten(to_signed(xt[:n])), yt[:n]


def fit_pair(data: Arrays, a: int, b: int, max_iter: int, seed: int, subset: int = 0,
             sklearn: bool = True) -> dict[str, Any]:
    """Train one pair; returns its flat result (accuracies in [0, 1], iterations) plus the weights and the
    error curve (lists, for the figures)."""
    x, y, xt, yt = pair_data(data, a, b, subset)
    t0 = time.perf_counter()
    tr = train(x, y, max_iter=max_iter, seed=seed)
    fit_s = time.perf_counter() - t0
    res: dict[str, Any] = {
        "pair": f"{a}-{b}", "seed": seed, "n_train": len(y), "n_test": len(yt), "fit_s": fit_s,
        "train_acc": 1 - error_rate(x, y, tr.w, tr.b), "test_acc": 1 - error_rate(xt, yt, tr.w, tr.b),
        "iters": len(tr.errors), "updates": tr.updates,
        "pocket.train_acc": 1 - error_rate(x, y, tr.best_w, tr.best_b),
        "pocket.test_acc": 1 - error_rate(xt, yt, tr.best_w, tr.best_b), "pocket.iters": tr.best_iter,
        # lists, not arrays: runs.to_json turns NumPy scalars into numbers but not whole arrays
        "w": tr.w.tolist(), "b": tr.b, "pocket_w": tr.best_w.tolist(), "pocket_b": tr.best_b, "errors": tr.errors,
    }
    if sklearn:  # same arrays, scikit-learn's defaults (shuffled epochs, stops when the hinge loss stalls)
        sk = SkPerceptron(max_iter=max_iter, tol=1e-3, random_state=seed).fit(x, y)
        res |= {"sklearn.train_acc": float(sk.score(x, y)), "sklearn.test_acc": float(sk.score(xt, yt)),
                "sklearn.iters": int(sk.n_iter_)}
    return res


Job = tuple[int, int, int, int, bool]  # a, b, max_iter, seed, sklearn


def fit_path(folder: Path, job: Job) -> Path:
    a, b, max_iter, seed, _ = job
    return folder / f"{a}-{b}-s{seed}-i{max_iter}.json"


def stored_fit(folder: Path, job: Job) -> dict[str, Any] | None:
    """A finished fit of `job` stored by an earlier run of the same run folder (which refuses a different config,
    so a stored fit always matches the settings), or None."""
    old = read_json(fit_path(folder, job))
    return old if old is not None and (not job[4] or "sklearn.test_acc" in old) else None


def fit_jobs(folder: Path, data: Arrays, jobs: list[Job], subset: int,
             workers: int) -> Iterator[tuple[Job, dict[str, Any]]]:
    """Yield (job, result) for every job, in the order they finish, each result stored under `folder` as JSON once done
    and read back, as a re-run of the same folder would see it; stored ones are not fitted again. With more than
    one worker the fits run in that many fresh processes ("spawn": nothing of this process's torch threads or
    heap is copied), each handed the image arrays once."""
    todo = []
    for job in jobs:
        old = stored_fit(folder, job)
        if old is not None:
            yield job, old
        else:
            todo.append(job)
    if workers <= 1 or len(todo) <= 1:
        for job in todo:
            yield job, _store(folder, job, fit_pair(data, *job[:4], subset, job[4]))
        return
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(min(workers, len(todo)), mp_context=ctx, initializer=_init_worker,
                             initargs=(data, subset)) as pool:
        futures = {pool.submit(_worker_fit, job): job for job in todo}
        for future in as_completed(futures):
            job = futures[future]
            yield job, _store(folder, job, future.result())


def _store(folder: Path, job: Job, res: dict[str, Any]) -> dict[str, Any]:
    atomic_write_json(fit_path(folder, job), res)
    return read_json(fit_path(folder, job))  # the JSON form (lists)


def pool_size(n_fits: int) -> int:
    """Fits to run at a time: the free cores, at most one per fit. 1 in the notebook: a spawned worker imports
    this module by name, so it must be a file on the path, while the notebook's cells define the modules in
    memory (no __spec__); there the fits run in the kernel, one after another."""
    return min(free_cores(), n_fits) if __spec__ is not None else 1


_WORKER: dict[str, Any] = {}  # in a worker process: the arrays and subset every fit of the pool uses


def _init_worker(data: Arrays, subset: int) -> None:
    _WORKER.update(data=data, subset=subset)


def _worker_fit(job: Job) -> dict[str, Any]:
    return fit_pair(_WORKER["data"], *job[:4], _WORKER["subset"], job[4])


SCORES = ("train_acc", "test_acc", "iters", "pocket.train_acc", "pocket.test_acc", "pocket.iters",
          "sklearn.train_acc", "sklearn.test_acc", "sklearn.iters", "fit_s")


def aggregate(runs: list[dict[str, Any]]) -> dict[str, float]:
    """The SCORES of one pair over seeds: the value itself for one seed; otherwise the mean, plus `.std`
    (sample standard deviation) and `.n`, the convention of metrics.json."""
    if len(runs) == 1:
        return {k: runs[0][k] for k in SCORES if k in runs[0]}
    out: dict[str, float] = {}
    for key in SCORES:
        vals = np.array([r[key] for r in runs if key in r], dtype=float)
        if len(vals):
            out[key], out[f"{key}.std"], out[f"{key}.n"] = float(vals.mean()), float(vals.std(ddof=1)), len(vals)
    return out


def all_pairs_matrix(results: dict[str, dict[str, Any]], key: str) -> np.ndarray:
    """(10, 10) symmetric matrix of results[pair][key], NaN on the diagonal and for pairs not run."""
    m = np.full((10, 10), np.nan)
    for res in results.values():
        a, b = (int(v) for v in res["pair"].split("-"))
        m[a, b] = m[b, a] = res[key]
    return m


def _figures(out: Path, first: dict[str, dict[str, Any]], every: dict[str, dict[str, Any]], budget: int) -> None:
    from mnistlab.plots import perceptron as plots
    from mnistlab.plots import save_figure

    fig_dir = out / "figures"
    save_figure(plots.error_curves({p: r["errors"] for p, r in first.items()},
                                   {p: r["pocket.iters"] for p, r in first.items()}), fig_dir / "errors")
    save_figure(plots.weight_images({"plain": {p: r["w"] for p, r in first.items()},
                                     "pocket": {p: r["pocket_w"] for p, r in first.items()}}), fig_dir / "weights")
    if every:
        save_figure(plots.pair_heatmap(all_pairs_matrix(every, "test_acc"),
                                       all_pairs_matrix(every, "pocket.test_acc"), budget), fig_dir / "all_pairs")


def run(cfg: RunConfig, rd: RunDir) -> StudyResult:
    c = cfg.perceptron
    out = rd.study_dir("perceptron")
    ds = load_dataset("mnist", cfg.data_dir or None)
    data = (ds.train.x, ds.train.y, ds.test.x, ds.test.y)
    pairs = parse_pairs(c.pairs)
    seeds = [cfg.seed + i for i in range(cfg.seeds)]
    budget = c.all_pairs_max_iter or c.max_iter
    main: list[Job] = [(a, b, c.max_iter, seed, True) for (a, b), seed in itertools.product(pairs, seeds)]
    # extra: all 45 pairs, first seed, reusing the fits above when the budget is the same
    extra: list[Job] = [(a, b, budget, cfg.seed, False) for a, b in itertools.combinations(range(10), 2)
                        if c.all_pairs and (budget != c.max_iter or (a, b) not in pairs)]
    workers = pool_size(len(main) + len(extra))
    log(f"[perceptron] {len(main) + len(extra)} fits, {workers} at a time")
    done: dict[Job, dict[str, Any]] = {}
    for job, res in progress(fit_jobs(out / "pairs", data, main + extra, c.subset, workers), "perceptron fits",
                             total=len(main) + len(extra)):
        done[job] = res
        if job[4]:  # the brief's pairs: one line each
            log(f"[perceptron] {res['pair']} seed {res['seed']}: {res['iters']} it., test {res['test_acc']:.4f} "
                f"(pocket {res['pocket.test_acc']:.4f}, sklearn {res['sklearn.test_acc']:.4f}) in "
                f"{res['fit_s']:.1f} s")
    runs: dict[str, list[dict[str, Any]]] = {}
    for job in main:
        runs.setdefault(f"{job[0]}-{job[1]}", []).append(done[job])
    first = {p: rs[0] for p, rs in runs.items()}
    every: dict[str, dict[str, Any]] = {}
    if c.all_pairs:
        reuse = first if budget == c.max_iter else {}
        for a, b in itertools.combinations(range(10), 2):
            key = f"{a}-{b}"
            every[key] = reuse.get(key) or done[(a, b, budget, cfg.seed, False)]

    with atomic_path(out / "weights.npz") as tmp, open(tmp, "wb") as f:  # keys '0-1.w', '0-1.pocket_b', ...
        np.savez(f, **{f"{p}.{k}": np.asarray(r[k]) for p, r in first.items()
                       for k in ("w", "b", "pocket_w", "pocket_b")})
    atomic_write_json(out / "curves.json", {p: r["errors"] for p, r in first.items()})
    _figures(out, first, every, budget)

    table = [{"pair": p, "n_train": rs[0]["n_train"], "n_test": rs[0]["n_test"], **aggregate(rs)}
             for p, rs in runs.items()]
    metrics = {f"perceptron.{row['pair']}.{k}": v for row in table for k, v in row.items()
               if k not in ("pair", "n_train", "n_test") and not k.startswith("fit_s")}
    summary: dict[str, Any] = {
        "iteration": "one pass over the pair's training set with per-sample updates",
        "seeds": seeds, "max_iter": c.max_iter, "table": table,
        "pocket_ge_plain": {row["pair"]: row["pocket.test_acc"] >= row["test_acc"] for row in table},
        "figures": sorted(p.name for p in (out / "figures").glob("*.png")),
    }
    if every:
        acc = np.array([[r["test_acc"], r["pocket.test_acc"]] for r in every.values()])
        worst = min(every.values(), key=lambda r: r["test_acc"])
        summary["all_pairs"] = [{k: r[k] for k in ("pair", "train_acc", "test_acc", "iters", "pocket.test_acc",
                                                   "pocket.iters")} for r in every.values()]
        summary["all_pairs_hardest"], summary["all_pairs_max_iter"] = worst["pair"], budget
        metrics |= {"perceptron.all_pairs.mean_test_acc": float(acc[:, 0].mean()),
                    "perceptron.all_pairs.pocket.mean_test_acc": float(acc[:, 1].mean()),
                    "perceptron.all_pairs.min_test_acc": float(acc[:, 0].min())}
    return StudyResult(summary=summary, metrics=metrics)
