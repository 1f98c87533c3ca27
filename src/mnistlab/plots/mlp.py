"""Figures of the MLP study (study 3), also used by the CNN study for its curves. Pure functions: results in
(the rows and histories the study writes to `mlp/summary.json`), a matplotlib Figure out."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from mnistlab.plots import figure

History = list[dict[str, float]]
_plain = FuncFormatter(lambda v, _pos: f"{v:g}")
FLOOR = 0.01  # error rates (%) below this (0 included) are drawn at it


def curves(histories: dict[str, History], title: str = "") -> Figure:
    """Error rates (left) and training loss (right) per epoch, one colour per model; solid = test, dashed = train.

    histories: label -> one dict per epoch with 'epoch', 'train_acc', 'test_acc', 'loss'. Accuracies are
    plotted as error rates on a log axis: between 97% and 100% is where the models differ. With more than two
    models the legends split: line styles on the left, models (with their last test accuracy) on the right."""
    many = len(histories) > 2
    fig, (ax, ax_loss) = figure(1, 2, figsize=(7.2, 3.2 if many else 3.0))
    for i, (label, hist) in enumerate(histories.items()):
        ep = [h["epoch"] for h in hist]
        for key, style, part in (("test_acc", "-", "test"), ("train_acc", "--", "train")):
            err = [max(100 * (1 - h[key]), FLOOR) for h in hist]  # 0 errors cannot sit on a log axis
            ax.plot(ep, err, style, color=f"C{i}", marker="o", ms=3, lw=1.2,
                    label=None if many else f"{label} {part} (last {100 * hist[-1][key]:.2f}%)")
        ax_loss.plot(ep, [h["loss"] for h in hist], color=f"C{i}", marker="o", ms=3, lw=1.2,
                     label=f"{label} (test {100 * hist[-1]['test_acc']:.2f}%)")
    if many:
        ax.plot([], [], "k-", lw=1.2, label="test")
        ax.plot([], [], "k--", lw=1.2, label="train")
        ax_loss.legend(frameon=False, fontsize=8)
    ax.legend(frameon=False, fontsize=8)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"error rate (%), log scale; 0 drawn at {FLOOR:g}")
    ax.set_title("Train and test error per epoch")
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("training loss (log scale)")
    ax_loss.set_title("Training loss per epoch")
    for a in (ax, ax_loss):
        a.xaxis.get_major_locator().set_params(integer=True)
        a.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        a.yaxis.set_major_formatter(_plain)  # 0.2, 0.5, 1 instead of 2x10^-1 ...
        a.yaxis.set_minor_formatter(NullFormatter())
        a.grid(alpha=0.3, lw=0.5)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def search(result: dict[str, Any]) -> Figure:
    """The 3.1 search: stage 1 as a heat-map of validation accuracy over batch size x learning rate, stage 2 as
    validation accuracy and training time against the epoch budget. The chosen candidates are outlined."""
    grid, budgets, chosen = result["grid"], result["budgets"], result["chosen"]
    batches = sorted({r["batch_size"] for r in grid})
    lrs = sorted({r["lr"] for r in grid})
    acc = np.full((len(batches), len(lrs)), np.nan)
    for r in grid:
        acc[batches.index(r["batch_size"]), lrs.index(r["lr"])] = 100 * r["val_acc"]
    fig, (ax, ax2) = figure(1, 2, figsize=(7.2, 3.0), gridspec_kw={"width_ratios": [1, 1.1]})
    im = ax.imshow(acc, cmap="viridis", aspect="auto")
    for (i, j), v in np.ndenumerate(acc):
        ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=8.5,
                color="black" if v > np.nanmean(acc) else "white")
    i, j = batches.index(chosen["batch_size"]), lrs.index(chosen["lr"])
    ax.add_patch(_box(i, j))
    ax.set_xticks(range(len(lrs)), [f"{lr:g}" for lr in lrs])
    ax.set_yticks(range(len(batches)), [str(b) for b in batches])
    ax.set_xlabel("learning rate (peak of the one-cycle)" if result.get("schedule") == "onecycle" else "learning rate")
    ax.set_ylabel("batch size")
    epochs = grid[0]["epochs"]
    ax.set_title(f"Stage 1: validation accuracy (%), {epochs} epoch{'' if epochs == 1 else 's'}")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03).ax.tick_params(labelsize=8.5)
    ep = [r["epochs"] for r in budgets]
    ax2.plot(ep, [100 * r["val_acc"] for r in budgets], "o-", color="C0")
    ax2.plot([chosen["epochs"]], [100 * chosen["val_acc"]], "o", ms=10, mfc="none", mec="red", mew=1.5)
    ax2.set_xlabel("epochs (budget of the one-cycle)")
    ax2.set_ylabel("validation accuracy (%)", color="C0")
    ax2.set_title(f"Stage 2: epochs at batch {chosen['batch_size']}, lr {chosen['lr']:g}")
    ax2.set_xticks(ep)
    t = ax2.twinx()
    t.spines["right"].set_visible(True)
    t.bar(ep, [r["train_s"] for r in budgets], width=0.6, color="C1", alpha=0.3)
    t.set_ylabel("training time (s)", color="C1")
    ax2.set_zorder(t.get_zorder() + 1)
    ax2.patch.set_visible(False)
    fig.tight_layout()
    return fig


def _box(i: int, j: int) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="red", lw=2)


def time_key(rows: list[dict[str, Any]], kind: str = "train") -> tuple[str, str]:
    """(row key, axis words) of the time to plot: CPU seconds (all threads) when every row has them, which on
    a shared machine depend far less on the other processes than wall seconds; else wall seconds."""
    if rows and all(r.get(f"{kind}_cpu_s", 0.0) > 0 for r in rows):
        return f"{kind}_cpu_s", "CPU s"
    return f"{kind}_s", "wall s"


def depth(rows: list[dict[str, Any]]) -> Figure:
    """Study 3.2: parameters, test accuracy and training time against the number of hidden layers.

    rows: one per model with 'hidden_layers', 'params', 'test_acc', 'train_s' (and '*_std' over seeds)."""
    rows = sorted(rows, key=lambda r: r["hidden_layers"])
    x = [r["hidden_layers"] for r in rows]
    fig, axes = figure(1, 3, figsize=(7.2, 2.5))
    t_key, t_unit = time_key(rows)
    panels = (("params", 1e-6, "parameters (millions)"), ("test_acc", 100, "test accuracy (%)"),
              (t_key, 1, f"training time ({t_unit})"))
    for ax, (key, scale, label) in zip(axes, panels, strict=True):
        y = [scale * r[key] for r in rows]
        err = [scale * r.get(f"{key}_std", 0.0) for r in rows]
        ax.errorbar(x, y, yerr=err if any(err) else None, fmt="o-", color="C0", ms=4, capsize=3)
        for xi, yi, r in zip(x, y, rows, strict=True):
            if r["name"] == "3_1":
                ax.plot([xi], [yi], "s", color="C3", ms=7, label="3.1 (width 1000)")
        ax.set_xticks(x)
        ax.set_xlabel("hidden layers")
        ax.set_title(label, fontsize=9)
        ax.grid(alpha=0.3, lw=0.5)
    axes[0].set_ylim(0, 1.15 * max(r["params"] for r in rows) * 1e-6)
    axes[0].legend(frameon=False, fontsize=8, loc="lower right")
    fig.suptitle("MLPs of equal parameter budget: depth against size, accuracy and time", fontsize=10)
    fig.tight_layout()
    return fig
