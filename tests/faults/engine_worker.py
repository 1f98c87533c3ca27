"""A small study-shaped program on the real training engine, for faults that need a process to kill.

`python engine_worker.py OUT [--models 2] [--epochs 3] [--n 6000] [--lr 1e-3]` opens OUT as a run folder (the
real `RunDir`: config, env, lock), trains `models` small MLPs one after the other with `train.fit` (each in its
own folder, checkpoint per epoch, exact resume), logs every epoch to metrics.jsonl, saves a figure, and records
the study as finished. Re-running the same command resumes it. Exit codes follow the CLI's.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--models", type=int, default=2)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--n", type=int, default=6000)
    p.add_argument("--lr", type=float, default=1e-3)
    a = p.parse_args(argv)
    from mnistlab.cli import EXIT_INTERRUPTED, EXIT_USER
    from mnistlab.errors import UserError

    try:
        return _run(a)
    except UserError as err:
        print(f"mnistlab: error: {err}", file=sys.stderr)
        return EXIT_USER
    except KeyboardInterrupt:
        print("mnistlab: interrupted; finished work is saved, re-run the same command to resume", file=sys.stderr)
        return EXIT_INTERRUPTED


def _run(a: argparse.Namespace) -> int:
    from mnistlab.data import load_dataset
    from mnistlab.models.mlp import build_mlp
    from mnistlab.plots import figure, save_figure
    from mnistlab.runs import RunDir
    from mnistlab.studies import run_studies  # noqa: F401  (the runner's module must import cleanly too)
    from mnistlab.train import TrainSpec, fit, seed_everything, to_tensors

    t0 = time.perf_counter()
    with RunDir.open(a.out, {"worker": "engine", **vars(a), "out": None}) as rd:
        if rd.is_done("engine"):
            return 0
        ds = load_dataset("mnist")
        train = to_tensors(ds.train.x[: a.n], ds.train.y[: a.n], image=False)
        test = to_tensors(ds.test.x[:2000], ds.test.y[:2000], image=False)
        metrics, curves = {}, []
        for m in range(a.models):
            seed_everything(m)  # built before fit, resumed or not: the RNG sees the same calls either way
            model = build_mlp([784, 256, 128, 10])
            spec = TrainSpec(epochs=a.epochs, batch_size=64, lr=a.lr, seed=m)
            res = fit(model, train, spec, name=f"engine_mlp{m}", test=test, out_dir=rd.study_dir("engine") / f"m{m}",
                      device="cpu", on_epoch=lambda row, m=m: rd.log_event({"model": m, **row}))
            metrics.update({f"engine.m{m}.test_acc": res.final["test_acc"], f"engine.m{m}.loss": res.final["loss"],
                            f"engine.m{m}.train_s": res.train_s})
            curves.append([row["test_acc"] for row in res.history])
        fig, ax = figure(figsize=(3, 2))
        for c in curves:
            ax.plot(range(1, len(c) + 1), c)
        save_figure(fig, rd.study_dir("engine") / "figures" / "curves")
        rd.finish_study("engine", {"curves": curves}, metrics, time.perf_counter() - t0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
