"""Figures of the CNN study (study 4). Pure functions: results in (the rows the study writes to
`cnn/summary.json` and, for the comparison, `mlp/summary.json`), a matplotlib Figure out."""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from mnistlab.plots import figure
from mnistlab.plots.mlp import time_key

Row = dict[str, Any]


def label(row: Row) -> str:
    """'4.1' or the variant's tag ('wide'), for axes and legends."""
    name = row["name"]
    return "4.1" if name == "4_1" else name.removeprefix("4_2_")


def variants(rows: list[Row]) -> Figure:
    """Study 4.2: test accuracy, parameters, training time and test (inference) time of each CNN, as bars;
    4.1 in red. Error bars show the std over seeds when there are several."""
    fig, axes = figure(1, 4, figsize=(7.4, 2.6))
    (train_key, train_unit), (test_key, test_unit) = time_key(rows), time_key(rows, "test")
    panels = (("test_acc", 100, "test accuracy (%)"), ("params", 1e-3, "parameters (thousands)"),
              (train_key, 1, f"training time ({train_unit})"), (test_key, 1, f"test time, 10k images ({test_unit})"))
    names = [label(r) for r in rows]
    colors = ["C3" if r["name"] == "4_1" else "C0" for r in rows]
    for ax, (key, scale, title) in zip(axes, panels, strict=True):
        y = [scale * r[key] for r in rows]
        err = [scale * r.get(f"{key}_std", 0.0) for r in rows]
        ax.bar(range(len(rows)), y, color=colors, yerr=err if any(err) else None, capsize=2)
        ax.set_xticks(range(len(rows)), names, rotation=45, ha="right")
        ax.set_title(title, fontsize=9)
        ax.grid(axis="y", alpha=0.3, lw=0.5)
        if key == "test_acc":  # the nets differ in the last percent: start the axis near the lowest bar
            lo = min(y)
            ax.set_ylim(max(0.0, lo - 1.5 * (max(y) - lo) - 0.1), min(100.0, max(y) + 0.5 * (max(y) - lo) + 0.05))
            for i, v in enumerate(y):
                ax.text(i, v, f"{v:.2f}", ha="center", va="bottom", fontsize=8.5, rotation=90)
    fig.suptitle("CNNs of other depths and widths (4.1 in red)", fontsize=10)
    fig.tight_layout()
    return fig


def cnn_vs_mlp(cnn_rows: list[Row], mlp_rows: list[Row]) -> Figure:
    """Test accuracy against parameters (log scale) and against training time, CNNs (circles) and MLPs
    (squares) of the same run. mlp_rows may be empty (the MLP study did not run): the CNNs are shown alone."""
    fig, axes = figure(1, 2, figsize=(7.2, 3.0))
    t_key, t_unit = time_key(cnn_rows + mlp_rows)
    names: list[list[tuple[float, float, str, str]]] = [[], []]  # per panel: (x, y, name, colour)
    for ax, names_here, key, xlabel in ((axes[0], names[0], "params", "parameters (log scale)"),
                                        (axes[1], names[1], t_key, f"training time ({t_unit}, log scale)")):
        for rows, marker, color, kind in ((cnn_rows, "o", "C0", "CNN"), (mlp_rows, "s", "C1", "MLP")):
            if not rows:
                continue
            ax.scatter([r[key] for r in rows], [100 * r["test_acc"] for r in rows], marker=marker, color=color,
                       s=28, label=kind, zorder=3)
            names_here += [(r[key], 100 * r["test_acc"], label(r) if kind == "CNN" else _mlp_label(r), color)
                           for r in rows]
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(_compact))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(xlabel)
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3, lw=0.5)
    axes[0].legend(frameon=False, fontsize=8, loc="lower center")
    title = "CNNs against MLPs" if mlp_rows else "CNNs (no MLP results in this run)"
    fig.suptitle(f"{title}: accuracy against size and training time", fontsize=10)
    fig.tight_layout()
    for ax, names_here in zip(axes, names, strict=True):  # after the layout: names are placed in final positions
        label_points(ax, names_here)
    return fig


# Where a point's name may go, tried in order (offset in points, alignment): right, left, below, above.
_NAME_SPOTS = ((4, 3, "left"), (-4, 3, "right"), (4, -10, "left"), (-4, -10, "right"), (4, 11, "left"),
               (-4, 11, "right"))


def label_points(ax: Any, points: list[tuple[float, float, str, str]]) -> None:
    """Name each point (x, y, name, colour) beside it, at the first spot where the name overlaps no name placed
    before (greedy, in the order given; the first spot when none is free)."""
    renderer = ax.figure.canvas.get_renderer()
    placed: list[Any] = []

    def put(x: float, y: float, name: str, color: str, spot: tuple[int, int, str]) -> tuple[Any, Any]:
        note = ax.annotate(name, (x, y), textcoords="offset points", xytext=spot[:2], ha=spot[2], fontsize=8,
                           color=color)
        return note, note.get_window_extent(renderer)

    for x, y, name, color in points:
        for spot in _NAME_SPOTS:
            note, box = put(x, y, name, color, spot)
            if not any(box.overlaps(b) for b in placed):
                break
            note.remove()
        else:  # nowhere free: the first spot
            note, box = put(x, y, name, color, _NAME_SPOTS[0])
        placed.append(box)


def _compact(v: float, _pos: object = None) -> str:
    """200000 -> '200k', 2000000 -> '2M', 50 -> '50'."""
    for div, unit in ((1e6, "M"), (1e3, "k")):
        if v >= div:
            return f"{v / div:g}{unit}"
    return f"{v:g}"


def _mlp_label(row: Row) -> str:
    return "3.1" if row["name"] == "3_1" else f"{row.get('hidden_layers', '?')}L"
