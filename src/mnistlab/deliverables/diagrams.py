"""Architecture diagrams for the report and the notebook, drawn with matplotlib from the models themselves:
layer kinds, output shapes and parameter counts come from a forward pass through `mnistlab.models`, so a change
to a model changes its drawing. Pure functions: they return a figure; `write_all` saves them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch
from torch import nn

from mnistlab.models import param_count
from mnistlab.models.registry import create
from mnistlab.plots import figure, save_figure

BOX = "#dbe7f3"  # trainable layers
PLAIN = "#f2f2f2"  # inputs, reshapes and pools (no parameters)
EDGE = "#3b5b7a"


@dataclass
class Layer:
    """One box of a diagram: what the layer is, its output shape, its parameter count."""

    title: str
    shape: str
    params: int = 0


def _shape(t: torch.Tensor) -> str:
    return "\u00d7".join(str(s) for s in t.shape[1:])  # drop the batch axis: (1, 32, 28, 28) -> 32x28x28


def trace(model: nn.Module, x: torch.Tensor) -> list[Layer]:
    """Walk `model`'s leaf modules in forward order and describe each that changes what the data is
    (conv, linear, pool, flatten). A ReLU is folded into the layer before it; padding is implied by 'same'."""
    rows: list[Layer] = []
    hooks = []

    def hook(mod: nn.Module, _inp: object, out: torch.Tensor) -> None:
        if isinstance(mod, nn.Conv2d):
            k, s = mod.kernel_size[0], mod.stride[0]
            rows.append(Layer(f"conv {k}\u00d7{k}/{s}", _shape(out), param_count(mod)))
        elif isinstance(mod, nn.Linear):
            rows.append(Layer(f"dense {mod.out_features}", _shape(out), param_count(mod)))
        elif isinstance(mod, nn.MaxPool2d):  # drawn inside the conv box before it: fewer, wider boxes
            rows[-1] = Layer(rows[-1].title + "\n+ pool 2\u00d72", _shape(out), rows[-1].params)
        elif isinstance(mod, nn.Flatten):
            rows.append(Layer("flatten", _shape(out)))

    for m in model.modules():
        if not list(m.children()):
            hooks.append(m.register_forward_hook(hook))
    with torch.no_grad():
        model.eval()(x)
    for h in hooks:
        h.remove()
    return rows


def _box(ax: object, x: float, y: float, w: float, h: float, layer: Layer, fs: float = 8.5) -> None:
    """A rounded box centred at (x, y): the layer's title line(s), its output shape, its parameters below."""
    face = BOX if layer.params else PLAIN
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.06",
                                fc=face, ec=EDGE, lw=0.8))
    lines = [*layer.title.split("\n"), layer.shape]
    gap = fs / 72 * 1.3  # line height in inches (the canvas is drawn in inches)
    top = y + gap * (len(lines) - 1) / 2
    for i, line in enumerate(lines):
        ax.text(x, top - i * gap, line, ha="center", va="center", fontsize=fs, color="#000" if i < len(lines) - 1
                else "#333")
    if layer.params:
        ax.text(x, y - h / 2 - 0.05, f"{layer.params:,} p", ha="center", va="top", fontsize=fs - 0.5, color="#555")


def _arrow(ax: object, a: tuple[float, float], b: tuple[float, float]) -> None:
    ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=8, lw=0.8, color=EDGE, shrinkA=0, shrinkB=0))


def _chain(ax: object, layers: list[Layer], x0: float, y: float, step: float, w: float, h: float,
           fs: float = 8.5) -> float:
    """Draw boxes left to right with arrows between them; return the x of the last box's right edge."""
    for i, layer in enumerate(layers):
        x = x0 + i * step
        _box(ax, x, y, w, h, layer, fs)
        if i:
            _arrow(ax, (x - step + w / 2, y), (x - w / 2, y))
    return x0 + (len(layers) - 1) * step + w / 2


def _canvas(width: float, height: float) -> tuple[Figure, object]:
    """A blank figure whose data units are inches, so box sizes and font sizes can be reasoned about together."""
    fig, ax = figure(figsize=(width, height))
    fig.subplots_adjust(0, 0, 1, 1)
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_axis_off()
    return fig, ax


def cnn_diagram() -> Figure:
    """CNN 4.1: input -> three 'same' convs (strides 1, 2, 2) -> flatten -> dense 10, with shapes and parameters."""
    model = create("cnn_4_1")
    layers = [Layer("input", "1\u00d728\u00d728"), *trace(model, torch.zeros(1, 1, 28, 28))]
    layers[-1] = Layer(layers[-1].title + "\n+ softmax", layers[-1].shape, layers[-1].params)
    step = 6.6 / len(layers)
    fig, ax = _canvas(6.6, 1.45)
    _chain(ax, layers, step / 2, 1.0, step, step - 0.16, 0.66)
    ax.text(3.3, 0.06, f"{param_count(model):,} trainable parameters (p); ReLU after every conv; 'same' padding; "
            "conv k\u00d7k/s = kernel k, stride s", ha="center", va="bottom", fontsize=8.5)
    return fig


def mtl_diagram() -> Figure:
    """The multi-task net of 6.2: the shared conv trunk and dense 3136 on the top row, the items and groups heads
    on the two rows below, fed from the trunk's last layer. Two rows keep every box wide enough for 8.5 pt text
    at the report's width (one long row needed 5.5 pt)."""
    model = create("mtl")
    x = torch.zeros(1, 1, 28, 28)
    trunk = [Layer("input", "1\u00d728\u00d728"), *trace(model.trunk, x)]
    z = model.trunk.eval()(x)
    heads = {name: trace(getattr(model, name), z) for name in ("items", "groups")}
    width = 6.6
    step = width / len(trunk)
    w, h = step - 0.16, 0.62
    fig, ax = _canvas(width, 3.35)
    y_trunk, rows = 2.6, {"items": 1.55, "groups": 0.45}
    right = _chain(ax, trunk, step / 2, y_trunk, step, w, h)
    x_head, bus_x, bus_y = step * 2.5, step * 2.5 - w / 2 - 0.22, y_trunk - h / 2 - 0.38
    # Elbow connector: down from the trunk's last box, left along a bus, down to each head's first box.
    drop = right - w + 0.05  # left of the box's parameter count, which is centred under it
    ax.plot([drop, drop, bus_x, bus_x], [y_trunk - h / 2, bus_y, bus_y, rows["groups"]],
            color=EDGE, lw=0.8)
    for name, y in rows.items():
        end = _chain(ax, heads[name], x_head, y, step, w, h)
        _arrow(ax, (bus_x, y), (x_head - w / 2, y))
        label = "L1: items\n(10 classes)" if name == "items" else "L2: groups\n(3 classes)"
        ax.text(end + 0.08, y, label, ha="left", va="center", fontsize=8.5)
    ax.text(0.05, 3.3, f"shared trunk: {param_count(model.trunk):,} parameters (p)", va="top", fontsize=8.5)
    ax.text(0.05, 1.0, "loss = \u03bb\u00b7L1\n + (1 \u2212 \u03bb)\u00b7L2\n\n"
            f"{param_count(model):,}\nparameters in all", va="center", fontsize=8.5)
    return fig


def perceptron_diagram(n_inputs: int = 28 * 28) -> Figure:
    """The single-layer perceptron: inputs x_1..x_n (pixels in [-1, 1]) and a bias, weighted sum, sign."""
    fig, ax = _canvas(6.0, 2.6)
    ys = [2.3, 1.85, 1.4, 0.65, 0.2]
    labels = ["x\u2081", "x\u2082", "x\u2083", f"x\u2099 (n={n_inputs})", "1 (bias)"]
    weights = ["w\u2081", "w\u2082", "w\u2083", "w\u2099", "b"]
    sx, sy = 3.2, 1.25
    for y, lab, wt in zip(ys, labels, weights, strict=True):
        ax.add_patch(Circle((0.9, y), 0.16, fc=PLAIN, ec=EDGE, lw=0.8))
        ax.text(0.68, y, lab, ha="right", va="center", fontsize=9.5)
        _arrow(ax, (1.06, y), (sx - 0.3, sy + (y - sy) * 0.15))
        ax.text(2.0, y + (sy - y) * 0.42 + 0.04, wt, fontsize=9.5, ha="center", va="bottom", color="#444")
    ax.plot([0.9] * 3, [0.9, 1.02, 1.14], ".", color=EDGE, ms=2.5)  # vertical ellipsis (not in Arimo)
    ax.add_patch(Circle((sx, sy), 0.3, fc=BOX, ec=EDGE, lw=0.9))
    ax.text(sx, sy, "\u03a3", ha="center", va="center", fontsize=15)
    ax.text(sx, sy - 0.45, "z = w\u00b7x + b", ha="center", va="top", fontsize=9.5)
    ax.add_patch(FancyBboxPatch((4.05, sy - 0.28), 0.8, 0.56, boxstyle="round,pad=0.02", fc=BOX, ec=EDGE, lw=0.9))
    ax.plot([4.2, 4.45, 4.45, 4.7], [sy - 0.14, sy - 0.14, sy + 0.14, sy + 0.14], color=EDGE, lw=1.2)
    ax.text(4.45, sy - 0.45, "sign(z)", ha="center", va="top", fontsize=9.5)
    _arrow(ax, (sx + 0.3, sy), (4.05, sy))
    _arrow(ax, (4.85, sy), (5.35, sy))
    ax.text(5.4, sy, "\u0177 = \u22121 or +1", ha="left", va="center", fontsize=9.5)
    return fig


DIAGRAMS = {"perceptron": perceptron_diagram, "cnn41": cnn_diagram, "mtl": mtl_diagram}


def write_all(folder: Path) -> dict[str, Path]:
    """Save every diagram as PNG + SVG under `folder`; returns {name: svg path}."""
    return {name: save_figure(make(), folder / f"diagram_{name}")[1] for name, make in DIAGRAMS.items()}
