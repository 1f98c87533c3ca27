"""Figures of the perceptron study (study 2). Pure functions: results in, a matplotlib Figure out.

The notebook calls the same functions on what the study saved (`perceptron/curves.json`, `perceptron/weights.npz`,
`perceptron/summary.json`)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from mnistlab.plots import figure


def error_curves(curves: dict[str, list[float]], pocket_iter: dict[str, int]) -> Figure:
    """Training error rate after each iteration (one pass over the pair's training set), one line per pair.

    curves: pair ('0-1') -> errors (T,); pocket_iter: pair -> iteration (1-based) of the pocket weights, marked
    with a dot. Both axes are logarithmic: the pairs stop after 2 to 1000 iterations and their error rates
    span three decades."""
    fig, ax = figure(figsize=(6.4, 3.6))
    for i, (pair, errs) in enumerate(curves.items()):
        t = np.arange(1, len(errs) + 1)
        e = np.maximum(np.asarray(errs, dtype=float), 1e-5)  # an error of exactly 0 cannot sit on a log axis
        ax.plot(t, 100 * e, color=f"C{i}", lw=0.8, alpha=0.85,
                label=f"{pair} ({len(errs)} it., last {100 * errs[-1]:.2f}%)")
        k = pocket_iter.get(pair, 0)
        if k >= 1:
            ax.plot([k], [100 * e[k - 1]], "o", color=f"C{i}", ms=5, mec="black", mew=0.6)
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):  # 1, 10, 100 and 0.1, 1, 10: no 6 pt exponents at report size
        axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.set_xlabel("iteration (pass over the training set)")
    ax.set_ylabel("training error (%)")
    ax.set_title("Perceptron training error per iteration (dots: pocket weights)")
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), title="pair")
    return fig


def weight_images(rows: dict[str, dict[str, np.ndarray]]) -> Figure:
    """Each pair's weight vector as a 28x28 image: rows = variant ('plain', 'pocket') -> pair -> w (784,).

    A diverging map centred on 0 per image (red pushes towards the second digit, +1; blue towards the first, -1),
    each with its own colour bar since the scale of w grows with the number of updates."""
    variants = list(rows)
    pairs = list(rows[variants[0]])
    fig, axes = figure(len(variants), len(pairs), figsize=(1.5 * len(pairs), 1.55 * len(variants)), squeeze=False)
    for r, variant in enumerate(variants):
        for c, pair in enumerate(pairs):
            ax = axes[r][c]
            w = np.asarray(rows[variant][pair]).reshape(28, 28)
            lim = float(np.abs(w).max()) or 1.0
            im = ax.imshow(w, cmap="RdBu_r", vmin=-lim, vmax=lim)
            cb = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
            cb.ax.tick_params(labelsize=8.5)
            cb.ax.yaxis.get_offset_text().set_fontsize(8.5)
            a, b = pair.split("-")
            ax.set_title(f"{a} (-1) vs {b} (+1)", fontsize=9)
            if c == 0:
                ax.set_ylabel(variant, fontsize=9.5)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.spines[:].set_visible(False)
    fig.tight_layout()
    return fig


def pair_heatmap(plain: np.ndarray, pocket: np.ndarray, max_iter: int) -> Figure:
    """Test accuracy for all 45 pairs: plain perceptron below the diagonal, pocket above. (10, 10) matrices,
    symmetric, NaN where a pair was not run; max_iter: the iteration bound of these fits (in the title)."""
    both = np.where(np.tril(np.ones((10, 10), bool), -1), plain, pocket)
    np.fill_diagonal(both, np.nan)
    fig, ax = figure(figsize=(5.4, 4.6))
    shown = 100 * both
    lo = float(np.nanmin(shown)) if np.isfinite(shown).any() else 0.0
    im = ax.imshow(shown, cmap="viridis", vmin=lo, vmax=100)
    for i in range(10):
        for j in range(10):
            if np.isfinite(shown[i, j]):
                ax.text(j, i, f"{shown[i, j]:.1f}", ha="center", va="center", fontsize=7.5,
                        color="white" if shown[i, j] < lo + 0.6 * (100 - lo) else "black")
    ax.plot([-0.5, 9.5], [-0.5, 9.5], color="black", lw=0.8)
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.tick_params(length=0)
    ax.spines[:].set_visible(False)
    ax.set_xlabel("digit")
    ax.set_ylabel("digit")
    ax.set_title(f"Test accuracy (%) of every pair, at most {max_iter} iterations\n"
                 "lower left: plain perceptron, upper right: pocket")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="test accuracy (%)")
    return fig
