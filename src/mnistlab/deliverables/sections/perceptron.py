"""Task 2: the perceptron. Accuracies and iterations from metrics.json (`perceptron.<pair>.*`); the pairs' sizes
from perceptron/summary.json; how much each pair's weights look like its class-mean difference from
perceptron/weights.npz and the MNIST training images (left out where those cannot be read); the pairs' overlap
in the PCA plane from pca/summary.json, when the pca study ran."""

from __future__ import annotations

from typing import Any

import numpy as np

from mnistlab.deliverables import claims
from mnistlab.deliverables.results import Results, fmt
from mnistlab.deliverables.sections.common import and_list, figures, need


def _rank_corr(a: list[float], b: list[float]) -> float:
    """Spearman's rank correlation (no ties expected among accuracies of a handful of pairs)."""
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1]) if len(a) > 2 else float("nan")


def _templates(r: Results, pairs: list[str]) -> dict[str, float]:
    """Cosine similarity of each pair's final weights with the difference of the two class means (second minus
    first digit) on the training images: near 1, w is a smooth template of how the digits differ; near 0, it is
    dominated by individual hard images. {} when the weights or the data cannot be read."""
    path = r.path / "perceptron" / "weights.npz"
    try:
        from mnistlab.data import load_dataset

        data = load_dataset("mnist", r.config.get("data_dir") or None)
        weights = np.load(path)
    except Exception:  # the data or the weights are not on this machine: the sentence is left out
        return {}
    subset = int(r.config.get("perceptron", {}).get("subset", 0) or 0)
    x, y = data.train.x.reshape(len(data.train.x), -1).astype(np.float64), data.train.y
    out = {}
    for p in pairs:
        a, b = (int(v) for v in p.split("-"))
        xa, xb = x[y == a], x[y == b]
        if subset:
            xa, xb = xa[:subset], xb[:subset]
        diff, w = xb.mean(0) - xa.mean(0), np.asarray(weights[f"{p}.w"], dtype=np.float64)
        out[p] = float(w @ diff / (np.linalg.norm(w) * np.linalg.norm(diff) or 1.0))
    return out


def _separability(r: Results, rows: dict[str, dict[str, Any]], pairs: list[str]) -> dict[str, Any]:
    """Which pairs some fit separated with zero training errors (the only evidence of separability), which
    stopped at the loop's threshold with errors left, and which ran out of iterations."""
    words = {p: p.replace("-", " vs ") for p in pairs}
    max_iter = int(r.cfg("perceptron", "max_iter"))
    zero, stopped, ran_out, by_sklearn = [], [], [], []
    for p in pairs:
        n = int(rows[p]["n_train"])
        errs = {k: claims.errors_from_accuracy(r.value(f"perceptron.{p}.{k}"), n)
                for k in ("train_acc", "pocket.train_acc", "sklearn.train_acc")}
        if any(claims.separable(e) for e in errs.values()):
            zero.append(p)
            if not claims.separable(errs["train_acc"]) and claims.separable(errs["sklearn.train_acc"]):
                by_sklearn.append(p)
        elif r.value(f"perceptron.{p}.iters") < max_iter:
            stopped.append(p)
        else:
            ran_out.append(p)
    text = lambda ps: and_list([words[p] for p in ps]) if ps else ""  # noqa: E731
    return {"n_zero": str(len(zero)), "zero": text(zero), "zero_plural": len(zero) > 1,
            "by_sklearn": text(by_sklearn), "stopped": text(stopped), "stopped_plural": len(stopped) > 1,
            "ran_out": text(ran_out), "ran_out_plural": len(ran_out) > 1}


def _generalisation(r: Results, rows: dict[str, dict[str, Any]], pairs: list[str]) -> dict[str, Any]:
    """Test against training accuracy of the final weights, per pair, under the noise rule."""
    k = "perceptron.{}.{}".format
    below = [p for p in pairs if claims.verdict(
        claims.Accuracy(r.value(k(p, "test_acc")), int(rows[p]["n_test"])),
        claims.Accuracy(r.value(k(p, "train_acc")), int(rows[p]["n_train"]))) == claims.WORSE]
    n_test = [int(rows[p]["n_test"]) for p in pairs]
    return {"gap_pairs": and_list([p.replace("-", " vs ") for p in below]) if below else "",
            "test_min_n": fmt(float(min(n_test))), "test_max_n": fmt(float(max(n_test)))}


def _difficulty(r: Results, pairs: list[str]) -> dict[str, Any]:
    """Links the pairs' test errors to their overlap in the PCA plane and to what their weights look like."""
    out: dict[str, Any] = {"has_overlap": False, "has_templates": False}
    test_err = [1 - r.value(f"perceptron.{p}.test_acc") for p in pairs]
    overlap = {p["pair"]: p["overlap"] for p in r.summaries.get("pca", {}).get("pairs", [])}
    if len(pairs) > 2 and all(p in overlap for p in pairs):
        rho = _rank_corr([overlap[p] for p in pairs], test_err)
        hard = max(pairs, key=lambda p: overlap[p])
        out |= {"has_overlap": True, "rho": f"{rho:.2f}", "rho_strong": rho >= 0.7, "rho_weak": rho < 0.4,
                "overlap_hard": hard.replace("-", " vs "), "overlap_hard_pct": f"{100 * overlap[hard]:.0f}%"}
    cos = _templates(r, pairs)
    smooth = [p for p in pairs if cos.get(p, 0.0) >= 0.5]
    noisy = [p for p in pairs if p in cos and cos[p] < 0.3]
    if smooth and noisy:
        out |= {"has_templates": True, "smooth": and_list([p.replace("-", " vs ") for p in smooth]),
                "noisy": and_list([p.replace("-", " vs ") for p in noisy]),
                "cos_smooth": f"{min(cos[p] for p in smooth):.2f}", "cos_noisy": f"{max(cos[p] for p in noisy):.2f}",
                "noisy_iters": fmt(min(r.value(f"perceptron.{p}.iters") for p in noisy)),
                "smooth_iters": fmt(max(r.value(f"perceptron.{p}.iters") for p in smooth))}
    return out


def perceptron(r: Results) -> dict[str, Any]:
    from mnistlab.config import parse_pairs

    s = r.summary("perceptron")
    pairs = [f"{a}-{b}" for a, b in parse_pairs(r.cfg("perceptron", "pairs"))]
    rows = {row["pair"]: row for row in s["table"]}
    k = "perceptron.{}.{}".format
    table = [[p.replace("-", " vs "), r.num(k(p, "iters"), 0 if r.seeds == 1 else 1), r.pct(k(p, "train_acc")),
              r.pct(k(p, "test_acc")), r.pct(k(p, "pocket.test_acc")), r.pct(k(p, "sklearn.test_acc"))]
             for p in pairs]
    test = {p: r.value(k(p, "test_acc")) for p in pairs}
    best, worst = max(pairs, key=test.get), min(pairs, key=test.get)
    pocket_higher = [p for p in pairs if r.value(k(p, "pocket.test_acc")) > test[p] + 1e-12]
    pocket_clear = [p for p in pocket_higher if claims.verdict(
        claims.Accuracy(r.value(k(p, "pocket.test_acc")), int(rows[p]["n_test"])),
        claims.Accuracy(test[p], int(rows[p]["n_test"]))) == claims.BETTER]
    sk_diff = max(abs(r.value(k(p, "sklearn.test_acc")) - test[p]) for p in pairs)
    figs = figures(r, "perceptron", "errors", "weights", "all_pairs")
    need(figs["errors"], "perceptron/figures/errors")
    need(figs["weights"], "perceptron/figures/weights")
    words = {p: p.replace("-", " vs ") for p in pairs}
    return {
        "table": {"header": ["pair", "iterations", "train acc.", "test acc.", "pocket test", "sklearn test"],
                  "rows": table},
        "n_pairs": str(len(pairs)),
        **_separability(r, rows, pairs), **_generalisation(r, rows, pairs), **_difficulty(r, pairs),
        "best": words[best], "best_acc": r.pct(k(best, "test_acc")),
        "worst": words[worst], "worst_acc": r.pct(k(worst, "test_acc")),
        "pocket_higher": and_list([words[p] for p in pocket_higher]) if pocket_higher else "",
        "pocket_clear": and_list([words[p] for p in pocket_clear]) if pocket_clear else "",
        "sk_diff": f"{100 * sk_diff:.1f}",
        "has_all": figs["all_pairs"] is not None and r.has("perceptron.all_pairs.mean_test_acc"),
        "all_mean": r.pct("perceptron.all_pairs.mean_test_acc") if r.has("perceptron.all_pairs.mean_test_acc")
        else "",
        "all_min": r.pct("perceptron.all_pairs.min_test_acc") if r.has("perceptron.all_pairs.min_test_acc")
        else "",
        "all_iters": str(s.get("all_pairs_max_iter", "")),
        "hardest": str(s.get("all_pairs_hardest", "")).replace("-", " vs "),
        "iteration": str(s.get("iteration", "one pass over the training set")),
        "fig": figs,
    }
