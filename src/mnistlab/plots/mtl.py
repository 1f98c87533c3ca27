"""Figures of the multi-task study (study 6). Pure functions: results in (the rows of `mtl/summary.json`, the
histories in `mtl/<model>-s<seed>/history.json`, the trials table), a matplotlib Figure out; the caller saves it."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from mnistlab.plots import figure

ITEMS_C, GROUPS_C, DERIVED_C = "C0", "C1", "C2"
CHANCE = {"items": 0.10, "groups": 0.40}  # items balanced; groups: the largest group (Uni-Sex) holds 4 of 10 items


def _pct(v: float | None) -> float:
    return math.nan if v is None else 100 * v


def lambda_sweep(table: list[dict[str, Any]]) -> Figure:
    """Test accuracy of both tasks against lambda (loss = lambda * L_items + (1 - lambda) * L_groups).

    table: rows with model, lambda (None for single nets and uw), items_test, groups_test, groups_from_items_test
    (fractions), lambda_eff for uw. Left: the full range, where lambda = 0 and 1 leave one head untrained (near
    chance); middle and right: each task zoomed to the lambdas that train its head, against its single-task net."""
    sweep = sorted((r for r in table if r["lambda"] is not None), key=lambda r: r["lambda"])
    single = {r["model"]: r for r in table if r["model"].startswith("single")}
    uw = next((r for r in table if r["model"] == "uw"), None)
    lam = [r["lambda"] for r in sweep]
    fig, axes = figure(1, 3, figsize=(7.4, 3.2))  # report width: 9 pt text prints at >= 8 pt
    over, items_ax, groups_ax = axes
    _sweep_line(over, sweep, "items_test", "o-", ITEMS_C, "MTL items head")
    _sweep_line(over, sweep, "groups_test", "s-", GROUPS_C, "MTL groups head")
    _sweep_line(over, sweep, "groups_from_items_test", "^:", DERIVED_C, "groups from items argmax")
    for task, color in (("items", ITEMS_C), ("groups", GROUPS_C)):
        over.axhline(100 * CHANCE[task], color=color, ls=":", lw=0.8, alpha=0.7)
    over.set_ylim(0, 100)
    over.set_title("Both tasks (dotted: chance)")
    trained_items = [r for r in sweep if r["lambda"] > 0]
    trained_groups = [r for r in sweep if r["lambda"] < 1]
    _sweep_line(items_ax, trained_items, "items_test", "o-", ITEMS_C, "MTL items head")
    _sweep_line(groups_ax, trained_groups, "groups_test", "s-", GROUPS_C, "MTL groups head")
    _sweep_line(groups_ax, trained_items, "groups_from_items_test", "^:", DERIVED_C, "groups from items argmax")
    items_ax.set_title("Items head, \u03bb > 0")
    groups_ax.set_title("Groups, \u03bb < 1")
    for ax, name, key, color in ((items_ax, "single_items", "items_test", ITEMS_C),
                                 (groups_ax, "single_groups", "groups_test", GROUPS_C)):
        if name in single:
            for a in (over, ax):
                a.axhline(_pct(single[name][key]), color=color, ls="--", lw=1, label=f"single {name[7:]} net")
        if uw is not None:
            for a in (over, ax):
                a.plot([uw["lambda_eff"]], [_pct(uw[key])], "*", ms=11, color="C3", ls="",
                       label="uncertainty weighting (at its effective \u03bb)")
    for ax in axes:
        ax.set_xlabel("\u03bb (weight of the items loss)")
        ax.set_xticks(lam)
        ax.set_xticklabels([f"{v:g}" for v in lam])
        ax.grid(alpha=0.3)
    over.set_ylabel("test accuracy (%)")
    for ax in (items_ax, groups_ax):
        ys = [y for line in ax.get_lines() for y in np.atleast_1d(line.get_ydata()) if np.isfinite(y)]
        if ys:
            pad = max(0.15, 0.1 * (max(ys) - min(ys)))
            ax.set_ylim(min(ys) - pad, max(ys) + pad)
    handles = {lab: h for ax in axes for h, lab in zip(*ax.get_legend_handles_labels(), strict=True)}
    fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=2, frameon=False,
               bbox_to_anchor=(0.5, -0.2))
    fig.tight_layout()
    return fig


def _sweep_line(ax: Any, rows: list[dict[str, Any]], key: str, style: str, color: str, label: str) -> None:
    pts = [(r["lambda"], _pct(r.get(key))) for r in rows]
    if pts:
        ax.plot(*zip(*pts, strict=True), style, color=color, ms=5, label=label)


def _style(name: str, lambdas: list[float]) -> tuple[Any, str, str]:
    """(colour, line style, legend label): single nets black, uncertainty weighting red, lambdas along viridis."""
    from matplotlib import colormaps

    if name.startswith("single"):
        return "black", "--", "single-task net"
    if name == "uw":
        return "C3", "-.", "uncertainty weighting"
    lam = float(name.split("_", 1)[1])
    span = max(lambdas) - min(lambdas) or 1.0
    return colormaps["viridis"](0.9 * (lam - min(lambdas)) / span), "-", f"lambda = {lam:g}"


def _untrained(name: str, task: str) -> bool:
    """The head that gets no gradient: items at lambda = 0, groups at lambda = 1; the other task's single net."""
    if name.startswith("single"):
        return not name.endswith(task)
    return (task == "items" and name == "lambda_0") or (task == "groups" and name == "lambda_1")


def curves(histories: dict[str, list[dict[str, float]]]) -> Figure:
    """Per-epoch accuracy of every model (one seed): test (top) and train (bottom), items (left), groups (right).
    A head that gets no gradient (items at lambda = 0, groups at lambda = 1) stays near chance and is left out.

    histories: model name -> fit's history rows (epoch, train_items, test_items, train_groups, ...)."""
    from matplotlib.ticker import MaxNLocator

    lambdas = [float(n.split("_", 1)[1]) for n in histories if n.startswith("lambda_")] or [0.0]
    fig, axes = figure(2, 2, figsize=(9.0, 6.0), sharex=True)
    for row, split in enumerate(("test", "train")):
        for col, task in enumerate(("items", "groups")):
            ax, key = axes[row][col], f"{split}_{task}"
            for name, hist in histories.items():
                pts = [(h["epoch"], 100 * h[key]) for h in hist if h.get(key) is not None]
                if pts and not _untrained(name, task):
                    color, ls, label = _style(name, lambdas)
                    ax.plot(*zip(*pts, strict=True), ls=ls, marker="o", ms=3, color=color, label=label)
            ax.set_title(f"{task}: {split} accuracy")
            ax.set_ylabel("accuracy (%)")
            ax.grid(alpha=0.3)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if row == 1:
                ax.set_xlabel("epoch")
    handles = {lab: h for ax in axes[0] for h, lab in zip(*ax.get_legend_handles_labels(), strict=True)}
    fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=min(len(handles), 4), frameon=False,
               bbox_to_anchor=(0.5, -0.08))
    fig.tight_layout()
    return fig


def tuning(trials: list[dict[str, Any]], space: dict[str, tuple[float, float]] | None = None) -> Figure:
    """The Optuna trials: objective (mean validation accuracy of both heads) per trial with the best so far, and
    against each searched parameter, over its whole searched range.

    trials: rows with trial, state, value (None unless complete), lr, beta1, beta2; space: the searched ranges
    {"lr": (lo, hi), "beta1": (lo, hi), "beta2_gap": (lo, hi)} (beta2 shown as its gap 1 - beta2)."""
    from matplotlib.ticker import MaxNLocator

    done = [t for t in trials if t["value"] is not None]
    pruned = [t for t in trials if t["state"] == "pruned" and t["lr"] is not None]
    fig, axes = figure(1, 4, figsize=(11.0, 2.9), sharey=True)
    v = np.array([100 * t["value"] for t in done])
    axes[0].plot([t["trial"] for t in done], v, "o", color="C0", label="complete trial")
    if len(v):
        axes[0].step([t["trial"] for t in done], np.maximum.accumulate(v), where="post", color="C3",
                     label="best so far")
    axes[0].xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].set_xlabel("trial")
    axes[0].set_ylabel("validation accuracy (%)\n(mean of the two heads)")
    axes[0].set_title("Optuna trials (TPE)")
    floor = float(np.min(v)) if len(v) else 0.0

    def gap(t: dict[str, Any], key: str) -> float:
        return 1.0 - t["beta2"] if key == "beta2_gap" else t[key]

    for ax, key, label in ((axes[1], "lr", "learning rate"), (axes[2], "beta1", "beta1"),
                           (axes[3], "beta2_gap", "1 - beta2")):
        ax.plot([gap(t, key) for t in done], v, "o", color="C0")
        if pruned:  # no final value: drawn on the floor of the axis
            ax.plot([gap(t, key) for t in pruned], [floor] * len(pruned), "x", color="0.5",
                    label="pruned or diverged")
        if len(v):
            best = done[int(np.argmax(v))]
            ax.plot([gap(best, key)], [100 * best["value"]], "*", ms=13, color="C3", label="winner")
        if key != "beta1":
            ax.set_xscale("log")
        if space and key in space:
            lo, hi = space[key]
            ax.set_xlim(lo / 1.3, hi * 1.3) if key != "beta1" else ax.set_xlim(lo - 0.01, hi + 0.01)
        ax.set_xlabel(f"{label} (searched range)")
        ax.set_title(f"objective vs {label}")
    for ax in axes:
        ax.grid(alpha=0.3)
    handles = {lab: h for ax in axes for h, lab in zip(*ax.get_legend_handles_labels(), strict=True)}
    fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=len(handles), frameon=False,
               bbox_to_anchor=(0.5, -0.1))
    fig.tight_layout()
    return fig
