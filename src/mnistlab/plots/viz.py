"""Figures of study 5 (what the CNN 4.1 learned): pure functions, arrays in, figure out.

Grids are drawn as one image per layer (tiles separated by a background-coloured gap) rather than one axis per
map: 128 axes would be slow to draw and unreadable at report size, one mosaic stays sharp."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from mnistlab.plots import figure
from mnistlab.viz.features import grid_cols, strongest_slices, tile

DIVERGING = "RdBu_r"  # weights: red positive, blue negative, white zero
GAP = "#d9d9d9"  # colour of the gaps between tiles
TEXT = 11  # titles and colour bars of the filter and feature-map grids: >= 7 pt when printed at 3/4 width


def _cmap(name: str) -> Any:
    import matplotlib

    cmap = matplotlib.colormaps[name].copy()
    cmap.set_bad(GAP)  # NaN = gap between tiles
    return cmap


def _mosaic(ax: Any, maps: np.ndarray, cmap: str, vmin: float, vmax: float) -> Any:
    """Draw maps (N, h, w) on `ax` as one tiled image; returns the image artist (for a colour bar)."""
    grid = tile(maps, grid_cols(len(maps)))
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    return ax.imshow(np.ma.masked_invalid(grid), cmap=_cmap(cmap), vmin=vmin, vmax=vmax, interpolation="nearest")


def _symmetric(*arrays: np.ndarray) -> float:
    return float(max(np.abs(a).max() for a in arrays)) or 1.0


def _aspect(n: int) -> float:
    """Width / height of a grid of n square tiles (an image: 1; 4 x 8 and 8 x 16 grids: 2)."""
    cols = grid_cols(n)
    return cols / -(-n // cols)


def _panels(n_tiles: Sequence[int]) -> tuple[Figure, list[Any]]:
    """A constrained-layout figure for three or four grids of n_tiles tiles: the first two share the top row,
    the others the bottom row (a lone third grid spans it). Within a row each axis is as wide as its grid's
    aspect, plus room for a colour bar."""
    import matplotlib.pyplot as plt

    from mnistlab.plots import style

    style()
    fig = plt.figure(figsize=(7.5, 6.6), layout="constrained")
    outer = fig.add_gridspec(2, 1)
    groups = [list(n_tiles[:2]), list(n_tiles[2:])]
    axes = []
    for r, group in enumerate(groups):
        widths = [_aspect(n) + (0.35 if n > 1 else 0.0) for n in group]
        inner = outer[r].subgridspec(1, len(group), width_ratios=widths)
        axes += [fig.add_subplot(inner[0, k]) for k in range(len(group))]
    return fig, axes


def plot_filters(layers: Sequence[tuple[str, np.ndarray]]) -> Figure:
    """One panel per conv layer. layers = [(name, weights (out, in, kh, kw))].

    The first layer (in = 1) shows every kernel. Deeper layers have 3-D kernels (in > 1); each filter is shown
    by its slice on the input channel it weighs most (largest L2 norm): the 2-D pattern that dominates it.
    Each panel has one colour scale, symmetric about 0, shared by all its tiles."""
    fig, axes = _panels([len(w) for _, w in layers])
    deep = False
    for ax, (name, w) in zip(axes, layers, strict=True):
        out, cin, kh, kw = w.shape
        maps = w[:, 0] if cin == 1 else strongest_slices(w)[0]
        deep = deep or cin > 1
        lim = _symmetric(maps)
        im = _mosaic(ax, maps, DIVERGING, -lim, lim)
        ax.set_title(f"{name}: {'all ' if cin == 1 else ''}{out} kernels of {cin} x {kh} x {kw}", fontsize=TEXT)
        bar = fig.colorbar(im, ax=ax, shrink=0.8)
        bar.set_label("weight", fontsize=TEXT)
        bar.ax.tick_params(labelsize=TEXT)
    how = "\ndeeper layers: each kernel shown by its slice on the input channel with the largest L2 norm"
    fig.suptitle(f"CNN 4.1 filters (one colour scale per layer, centred on 0){how if deep else ''}",
                 fontsize=TEXT + 1)
    return fig


def plot_activations(image: np.ndarray, acts: Sequence[tuple[str, np.ndarray]], label: str) -> Figure:
    """The input (28, 28) and, per conv layer, its feature maps after ReLU (C, H, W) on a grid. One colour
    scale per layer (0 to the layer's maximum), so weak and strong channels can be compared within a layer."""
    fig, axes = _panels([1, *(len(a) for _, a in acts)])
    ax0 = axes[0]
    ax0.imshow(image, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax0.set_title(f"input: {label}\n1 x {image.shape[0]} x {image.shape[1]}", fontsize=TEXT)
    ax0.set_xticks([])
    ax0.set_yticks([])
    for ax, (name, a) in zip(axes[1:], acts, strict=True):
        c, h, w = a.shape
        im = _mosaic(ax, a, "magma", 0.0, float(a.max()) or 1.0)
        active = int((a.reshape(c, -1).max(axis=1) > 0).sum())
        ax.set_title(f"{name} after ReLU: {c} x {h} x {w}\n{active} of {c} maps active", fontsize=TEXT)
        fig.colorbar(im, ax=ax, shrink=0.8).ax.tick_params(labelsize=TEXT)
    fig.suptitle(f"CNN 4.1 feature maps for the test {label}", fontsize=TEXT + 1)
    return fig


def plot_preferred_inputs(name: str, images: np.ndarray, shape: tuple[int, ...]) -> Figure:
    """Per channel of a conv layer, the input (28, 28) that drives the channel's centre unit highest (found by
    regularised gradient ascent from a dim noise image); images (C, 28, 28) in [0, 1]."""
    cols = grid_cols(len(images))
    rows = -(-len(images) // cols)
    fig, ax = figure(figsize=(0.75 * cols + 0.4, 0.75 * rows + 0.7))
    _mosaic(ax, images, "gray", 0.0, 1.0)
    c, h, w = shape
    ax.set_title(f"{name} ({c} x {h} x {w}): input that maximises each channel's centre unit",
                 fontsize=10)
    return fig


def plot_dreams(rows: Sequence[dict[str, Any]], judge: str) -> Figure:
    """DeepDream images, one row per (class, kind), one column per seed after the start image (the test digit,
    or the first seed's random start). rows = [{"target", "kind", "seeds", "images" (S, 28, 28), "p_cnn" (S,),
    "p_judge" (S,), "judge_pred" (S,), optional "start" (28, 28), "p_start" and "label" (the row's name)}];
    captions give each image's
    target-class probability under the CNN 4.1 and under the independent model `judge` (its predicted class if
    not the target)."""
    n_cols = 1 + max(len(r["images"]) for r in rows)
    fig, axes = figure(len(rows), n_cols, figsize=(1.45 * n_cols + 0.3, 1.75 * len(rows) + 0.5), squeeze=False)
    for ax_row, r in zip(axes, rows, strict=True):
        first = ax_row[0]
        real = r["kind"] == "real"
        if r.get("start") is not None:
            first.imshow(r["start"], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            what = "test digit" if real else f"seed {r['seeds'][0]}"
            first.set_title(f"start ({what})\nCNN p={r['p_start']:.2f}", fontsize=8.5)
        else:
            first.axis("off")
        first.set_ylabel(r.get("label") or f"class {r['target']}\nfrom {'a test digit' if real else 'noise'}",
                         fontsize=9)
        for k, ax in enumerate(ax_row[1:]):
            if k >= len(r["images"]):
                ax.axis("off")
                continue
            ax.imshow(r["images"][k], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            pred = int(r["judge_pred"][k])
            tag = "" if pred == r["target"] else f" (says {pred})"
            ax.set_title(f"seed {r['seeds'][k]}\nCNN {r['p_cnn'][k]:.2f}\n{judge} {r['p_judge'][k]:.2f}{tag}",
                         fontsize=8.5)  # three short lines: legible at print size without overlapping
        for ax in ax_row:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(f"Class dreams: target-class probability under CNN 4.1 | independent {judge}", fontsize=10)
    return fig


def plot_deepdream(columns: Sequence[tuple[str, np.ndarray]], captions: Sequence[Sequence[str]],
                   row_labels: Sequence[str]) -> Figure:
    """Classic DeepDream: one row per start digit, one column per image kind (the start, the dream of each
    layer, ...). columns = [(title, images (B, 28, 28) in [0, 1])]; captions[b][j] is the text under image j of
    row b (each model's verdict)."""
    n_rows, n_cols = len(row_labels), len(columns)
    fig, axes = figure(n_rows, n_cols, figsize=(1.6 * n_cols + 0.4, 2.05 * n_rows + 0.3), squeeze=False)
    for b, ax_row in enumerate(axes):
        for j, ax in enumerate(ax_row):
            ax.imshow(columns[j][1][b], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel(captions[b][j], fontsize=10)  # >= 7 pt when the report prints it at 62% width
            if b == 0:
                ax.set_title(columns[j][0], fontsize=10.5)
        ax_row[0].set_ylabel(row_labels[b], fontsize=10.5)
    return fig


def plot_trace(traces: dict[str, Sequence[float]], switch: int | None = None) -> Figure:
    """The class logit per gradient step for each kind of class dream (mean over seeds), to show the ascent
    converged; `switch` marks the step where pixel dreams from noise move from the coarse to the full resolution."""
    fig, ax = figure(figsize=(5.0, 3.0))
    for label, values in traces.items():
        ax.plot(np.arange(1, len(values) + 1), values, label=label, lw=1.2)
    ax.set_xlabel("gradient step")
    if switch:
        ax.axvline(switch, color="0.6", lw=0.8, ls="--")
        ax.text(switch, ax.get_ylim()[1], " 14 -> 28 px", fontsize=7, va="top", color="0.4")
    ax.set_ylabel("target-class logit (mean over seeds)")
    ax.legend(fontsize=7, frameon=False)
    ax.set_title("Class-dream objective during the ascent")
    return fig
