"""Speed of one perceptron iteration (a pass with per-sample updates) and of the whole 5-pair study.

Compared on the same data and starting weights (every variant makes the same updates; checked here):
  reference   the textbook loop, one Python step per sample (`perceptron.reference_pass`)
  rescan      vectorised scores per block, recomputed (B x 784 product) after each update
  gram B=..   `perceptron.fast_pass`: block scores once, an update corrects the later scores from the block's
              Gram matrix (O(B) per update); B = block size
with 1 and 2 BLAS threads, interleaved repeats, the best of them. Then the five pairs of the study (max_iter
1000) and scikit-learn's Perceptron on them.

  python -m benchmarks perceptron [--pair 2-3] [--passes 20] [--repeats 3] [--max-iter 1000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks import common
from mnistlab.data import load_dataset
from mnistlab.models import perceptron as P
from mnistlab.studies.perceptron import pair_data


def rescan_pass(x: np.ndarray, y: np.ndarray, w: np.ndarray, b: float, lr: float, block: int = 256) -> tuple[float,
                                                                                                            int]:
    """Find the next mistake with a vectorised scan; after each update rescan the rest of the block."""
    n_updates, i, n = 0, 0, len(x)
    while i < n:
        end = min(i + block, n)
        s = x[i:end] @ w.astype(x.dtype) + b
        wrong = np.flatnonzero((s >= 0) != (y[i:end] > 0))
        if len(wrong) == 0:
            i = end
            continue
        j = i + int(wrong[0])
        w += lr * y[j] * x[j]
        b += lr * y[j]
        n_updates += 1
        i = j + 1
    return b, n_updates


def time_passes(kind: str, x: np.ndarray, y: np.ndarray, passes: int, block: int = 256) -> tuple[float, int]:
    """Seconds per pass (median over `passes` passes from the same seeded start) and the updates made."""
    w, b = P.init_weights(x.shape[1], 0)
    grams = P.block_grams(x, block) if kind == "gram" else None
    times, updates = [], 0
    for _ in range(passes):
        t0 = time.perf_counter()
        if kind == "reference":
            b, n = P.reference_pass(x, y, w, b, 1.0)
        elif kind == "rescan":
            b, n = rescan_pass(x, y, w, b, 1.0)
        else:
            b, n = P.fast_pass(x, y, w, b, 1.0, grams, block)
        times.append(time.perf_counter() - t0)
        updates += n
    return statistics.median(times), updates


PAIRS = ((0, 1), (2, 3), (4, 5), (6, 7), (8, 9))
VARIANTS = [(kind, block, threads) for kind, block in (("rescan", 256), ("gram", 64), ("gram", 128), ("gram", 256),
                                                       ("gram", 512)) for threads in (1, 2)]


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--pair", default="2-3")
    ap.add_argument("--passes", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-iter", type=int, default=1000, help="iterations of the five-pair study run")


def passes(data: tuple[np.ndarray, ...], a: argparse.Namespace) -> dict[str, Any]:
    """One pair: the reference loop, then every variant (best of interleaved repeats)."""
    first, second = (int(v) for v in a.pair.split("-"))
    x, y = pair_data(data, first, second)[:2]
    yf = y.astype(np.float64)
    with threadpool_limits(1):
        ref, ref_updates = time_passes("reference", x, yf, min(a.passes, 3))
    _, expected = time_passes("gram", x, yf, min(a.passes, 3))
    assert expected == ref_updates, "the fast pass must make exactly the reference's updates"

    def trial(v: tuple[str, int, int], _rep: int) -> tuple[float, int]:
        with threadpool_limits(v[2]):
            return time_passes(v[0], x, yf, a.passes, v[1])

    runs = common.interleaved(VARIANTS, a.repeats, trial)  # the machine is shared, load comes and goes: best of
    rows = [{"variant": "rescan" if kind == "rescan" else f"gram B={block}", "threads": threads,
             "s_per_pass": min(r[0] for r in rep), "updates": rep[0][1]}
            for (kind, block, threads), rep in zip(VARIANTS, runs, strict=True)]
    return {"pair": a.pair, "images": len(y), "reference_s": ref, "reference_updates": ref_updates, "rows": rows}


def study(data: tuple[np.ndarray, ...], max_iter: int) -> list[dict[str, Any]]:
    """The study's five pairs (`perceptron.train`, B=256, 1 BLAS thread) and scikit-learn on the same arrays."""
    from sklearn.linear_model import Perceptron as SkPerceptron

    rows = []
    for first, second in PAIRS:
        x, y = pair_data(data, first, second)[:2]
        t0 = time.perf_counter()
        iters = len(P.train(x, y, max_iter=max_iter).errors)
        sec = time.perf_counter() - t0
        sk = SkPerceptron(max_iter=max_iter, tol=1e-3, random_state=0)
        sk_sec = common.timed(sk.fit, x, y)
        rows.append({"pair": f"{first}-{second}", "iters": iters, "train_s": sec, "sklearn_s": sk_sec,
                     "sklearn_epochs": int(sk.n_iter_)})
    return rows


def run(a: argparse.Namespace) -> dict[str, Any]:
    ds = load_dataset("mnist")
    data = (ds.train.x, ds.train.y, ds.test.x, ds.test.y)
    return {**passes(data, a), "passes": a.passes, "repeats": a.repeats, "max_iter": a.max_iter,
            "study": study(data, a.max_iter)}


def render(results: list[dict[str, Any]]) -> str:
    out = []
    for res in results:
        ref = res["reference_s"]
        rows = [["reference (per-sample loop)", 1, f"{1e3 * ref:.1f}", f"{res['reference_updates']} (3 passes)",
                 "1.0x"]]
        rows += [[r["variant"], r["threads"], f"{1e3 * r['s_per_pass']:.2f}", r["updates"],
                  f"{ref / r['s_per_pass']:.0f}x"] for r in res["rows"]]
        pairs = [[r["pair"], r["iters"], f"{r['train_s']:.2f}", f"{1e3 * r['train_s'] / r['iters']:.1f} ms",
                  f"{r['sklearn_s']:.2f}", r["sklearn_epochs"]] for r in res["study"]]
        pairs.append(["all five", "", f"{sum(r['train_s'] for r in res['study']):.1f}", "",
                      f"{sum(r['sklearn_s'] for r in res['study']):.1f}", ""])
        out += [f"Pair {res['pair']}: {res['images']} training images, {res['passes']} passes from the same start "
                "(median s/pass)", "",
                common.table(["variant", "BLAS threads", "ms per pass", "updates", "speed-up vs reference"], rows),
                "", f"The study's five pairs, max_iter {res['max_iter']}, and scikit-learn:", "",
                common.table(["pair", "iterations", "train s", "s per iteration", "sklearn Perceptron s",
                              "sklearn epochs"], pairs), ""]
    return "\n".join(out)
