"""Figures of the PCA study (study 1). Pure functions: arrays in, a matplotlib Figure out; the caller saves it.

The notebook calls the same functions on the arrays the study saved (`pca/embedding.npz`, `pca/pca.npz`)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from mnistlab.plots import figure

# tab10 gives ten colours that stay distinct in print and for the common colour-vision deficiencies better than
# a continuous map would; the digit is also written on each centroid so the legend is not the only key.
COLORS = [f"C{i}" for i in range(10)]


def scatter_2d(z: np.ndarray, labels: np.ndarray, centroids: np.ndarray, ratio: np.ndarray) -> Figure:
    """The 2-D PCA embedding coloured by digit.

    z (M, 2) projected points (already subsampled, in drawing order); labels (M,) digits 0-9;
    centroids (10, 2) class means in the PC1/PC2 plane (from all points); ratio (2,) explained-variance ratios.
    """
    fig, ax = figure(figsize=(6.4, 5.6))
    colors = np.array(COLORS)[labels]
    # One call in a shuffled order, so no digit is systematically painted over the others.
    ax.scatter(z[:, 0], z[:, 1], c=colors, s=3, alpha=0.4, linewidths=0, rasterized=True)
    for d, (cx, cy) in enumerate(centroids):
        ax.scatter([cx], [cy], s=190, c=COLORS[d], edgecolors="black", linewidths=1.0, zorder=3)
        ax.text(cx, cy, str(d), ha="center", va="center", fontsize=9.5, color="white", zorder=4)
    handles = [Line2D([], [], ls="", marker="o", ms=6, color=COLORS[d], label=str(d)) for d in range(10)]
    ax.legend(handles=handles, title="digit", loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    ax.set_xlabel(f"PC1 ({100 * ratio[0]:.1f}% of variance)")
    ax.set_ylabel(f"PC2 ({100 * ratio[1]:.1f}% of variance)")
    ax.set_title(f"MNIST training images on the first two principal components ({len(z):,} shown)")
    ax.set_aspect("equal", adjustable="datalim")
    return fig


def variance(ratio: np.ndarray, n_bars: int, marks: tuple[float, ...] = (0.9, 0.95, 0.99)) -> Figure:
    """Scree plot (left: ratio of each of the first `n_bars` components) and cumulative explained variance
    (right: all components, log-x). ratio (D,) explained-variance ratios sorted descending, summing to 1."""
    fig, (left, right) = figure(1, 2, figsize=(7.2, 3.0))
    k = np.arange(1, len(ratio) + 1)
    n = min(n_bars, len(ratio))
    left.bar(k[:n], 100 * ratio[:n], color="C0", width=0.8)
    left.set_xlabel("principal component")
    left.set_ylabel("explained variance (%)")
    left.set_title(f"Scree plot, first {n} components")
    cum = np.cumsum(ratio)
    right.plot(k, 100 * cum, color="C0")
    right.set_xscale("log")
    right.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))  # 1, 10, 100: no small exponents
    for j, m in enumerate(marks):
        kk = int(np.searchsorted(cum, m) + 1)
        right.axhline(100 * m, color="0.6", lw=0.6, ls=":")
        right.plot([kk], [100 * cum[kk - 1]], "o", color=f"C{j + 1}", ms=4,
                   label=f"{100 * m:g}% at k = {kk}")
    right.set_xlabel("number of components k (log scale)")
    right.set_ylabel("cumulative explained variance (%)")
    right.set_title("Cumulative explained variance")
    right.legend(frameon=False, loc="lower right")
    fig.tight_layout()
    return fig


def overlap_heatmap(matrix: np.ndarray, title: str) -> Figure:
    """10x10 symmetric matrix of pair overlap scores in [0, 0.5] (diagonal NaN), annotated in percent."""
    fig, ax = figure(figsize=(5.0, 4.3))
    im = ax.imshow(100 * matrix, cmap="viridis", vmin=0)
    for i in range(10):
        for j in range(10):
            if np.isfinite(matrix[i, j]):
                v = 100 * matrix[i, j]
                ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=7,
                        color="black" if v > 0.6 * np.nanmax(100 * matrix) else "white")
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.tick_params(length=0)
    ax.set_xlabel("digit")
    ax.set_ylabel("digit")
    ax.spines[:].set_visible(False)
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="error of a linear boundary in 2-D (%)")
    return fig


def components(mean: np.ndarray, comps: np.ndarray, ratio: np.ndarray) -> Figure:
    """The mean image and the first principal components as 28x28 images.

    mean (784,); comps (k, 784) unit-norm component vectors; ratio (k,) their explained-variance ratios.
    Components are shown with a diverging map centred on 0 (their sign is arbitrary)."""
    k = len(comps)
    fig, axes = figure(1, k + 1, figsize=(1.25 * (k + 1), 1.6))
    axes[0].imshow(mean.reshape(28, 28), cmap="gray_r")
    axes[0].set_title("mean", fontsize=8)
    for i, (ax, c) in enumerate(zip(axes[1:], comps, strict=True)):
        lim = float(np.abs(c).max())
        ax.imshow(c.reshape(28, 28), cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_title(f"PC{i + 1} ({100 * ratio[i]:.1f}%)", fontsize=8)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.spines[:].set_visible(False)
    return fig
