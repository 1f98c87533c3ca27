"""What a CNN holds: its conv filters and its feature maps, read through forward hooks that are always removed.

`record(model, modules)` is the one way in: a context manager that registers a forward hook on each module,
collects their outputs into a dict, and removes every hook on exit, also when the block raises. The DeepDream
render loop (`viz.dream`) uses the same context manager, so hooks never leak across calls.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

Tensor = torch.Tensor


@dataclass(frozen=True)
class ConvLayer:
    """One conv layer of a model: its name ('conv1'...), the Conv2d and the ReLU that follows it (or None)."""

    name: str
    conv: nn.Conv2d
    relu: nn.Module | None


def conv_stack(model: nn.Module) -> list[ConvLayer]:
    """The model's conv layers in forward order, each paired with the first ReLU registered after it.

    Works for `nn.Sequential` stacks like `build_cnn`'s (pad, conv, ReLU, pad, conv, ReLU, ...), where module
    registration order is forward order."""
    layers: list[ConvLayer] = []
    pending: nn.Conv2d | None = None
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            if pending is not None:
                layers.append(ConvLayer(f"conv{len(layers) + 1}", pending, None))
            pending = module
        elif isinstance(module, nn.ReLU) and pending is not None:
            layers.append(ConvLayer(f"conv{len(layers) + 1}", pending, module))
            pending = None
    if pending is not None:
        layers.append(ConvLayer(f"conv{len(layers) + 1}", pending, None))
    return layers


@contextlib.contextmanager
def record(modules: dict[str, nn.Module], detach: bool = False) -> Iterator[dict[str, Tensor]]:
    """Hook each module of `modules` ({name: module}); inside the block, the returned dict maps each name to the
    module's output of the latest forward pass. Every hook is removed on exit, whatever happens in the block.

    detach=True stores detached outputs (for reading activations); False keeps the graph (for objectives)."""
    outputs: dict[str, Tensor] = {}
    handles = []
    try:
        for name, module in modules.items():
            def hook(_mod: nn.Module, _inp: object, out: Tensor, name: str = name) -> None:
                outputs[name] = out.detach() if detach else out

            handles.append(module.register_forward_hook(hook))
        yield outputs
    finally:
        for handle in handles:
            handle.remove()


def hook_points(model: nn.Module) -> dict[str, nn.Module]:
    """Every hookable point of the conv stack: 'convK' (the conv output, pre-activation) and 'convK.relu'."""
    points: dict[str, nn.Module] = {}
    for layer in conv_stack(model):
        points[layer.name] = layer.conv
        if layer.relu is not None:
            points[f"{layer.name}.relu"] = layer.relu
    return points


def activations(model: nn.Module, image: Tensor) -> list[tuple[str, np.ndarray]]:
    """Feature maps of every conv layer after its ReLU for one image (1, 28, 28) or (1, 1, 28, 28).

    Returns [(name, maps (C, H, W) float32)] in forward order. ReLUs are hooked, so a model whose ReLUs are
    in-place still yields each layer's own maps (a hook on the conv would see them overwritten)."""
    x = image.reshape(1, 1, *image.shape[-2:]).float()
    points = {f"{layer.name}.relu": layer.relu for layer in conv_stack(model) if layer.relu is not None}
    model.eval()
    with record(points, detach=True) as out, torch.no_grad():
        model(x.to(next(model.parameters()).device))
    return [(name.removesuffix(".relu"), out[name][0].float().cpu().numpy()) for name in points]


def filters(model: nn.Module) -> list[tuple[str, np.ndarray]]:
    """The kernels of every conv layer: [(name, weights (out, in, kh, kw) float32)] in forward order."""
    return [(layer.name, layer.conv.weight.detach().float().cpu().numpy()) for layer in conv_stack(model)]


CONTRAST_SHARE = 0.25  # a kernel is a contrast detector when its smaller-signed part holds >= 25% of |w|


def kernel_stats(weights: np.ndarray) -> dict[str, float | int]:
    """First-layer kernels (out, 1, kh, kw): how many weigh positive against negative pixels (contrast, i.e. edge
    detectors, rather than ink detectors) and how smooth they are (correlation of neighbouring weights)."""
    w = weights[:, 0]  # (out, kh, kw)
    pos, neg = np.clip(w, 0, None).sum((1, 2)), -np.clip(w, None, 0).sum((1, 2))
    share = np.minimum(pos, neg) / np.maximum(pos + neg, 1e-12)
    a = np.concatenate([w[:, :, :-1].ravel(), w[:, :-1, :].ravel()])  # each weight and its right / lower neighbour
    b = np.concatenate([w[:, :, 1:].ravel(), w[:, 1:, :].ravel()])
    return {"n": len(w), "contrast": int((share >= CONTRAST_SHARE).sum()),
            "neighbour_r": float(np.corrcoef(a, b)[0, 1])}


def map_similarity(a: np.ndarray, b: np.ndarray, top: int = 10) -> dict[str, float | int]:
    """How alike one layer's responses to two images are: the correlation of the maps' mean activations and how
    many of each image's `top` most active maps are shared. a, b (C, H, W) from `activations`."""
    ma, mb = a.reshape(len(a), -1).mean(axis=1), b.reshape(len(b), -1).mean(axis=1)
    top = min(top, len(ma))
    shared = len(set(np.argsort(-ma)[:top].tolist()) & set(np.argsort(-mb)[:top].tolist()))
    return {"r": float(np.corrcoef(ma, mb)[0, 1]), "shared": shared, "top": top}


def strongest_slices(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A 2-D view of 3-D kernels: for each output filter, its slice on the input channel with the largest L2
    norm (the channel it weighs most). weights (out, in, kh, kw) -> (slices (out, kh, kw), channels (out,))."""
    norms = np.sqrt((weights.astype(np.float64) ** 2).sum(axis=(2, 3)))  # (out, in)
    channels = norms.argmax(axis=1)
    return weights[np.arange(len(weights)), channels], channels


def tile(maps: np.ndarray, cols: int, pad: int = 1) -> np.ndarray:
    """Lay maps (N, h, w) on a grid with `cols` columns, `pad` pixels of NaN between tiles (drawn as the
    background colour), NaN in the unused tail. Returns (rows * (h + pad) - pad, cols * (w + pad) - pad)."""
    n, h, w = maps.shape
    rows = -(-n // cols)
    grid = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad), np.nan, dtype=np.float32)
    for i in range(n):
        r, c = divmod(i, cols)
        grid[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = maps[i]
    return grid


def grid_cols(n: int) -> int:
    """Columns for a grid of n tiles: 8 up to 64 tiles (32 -> 4 x 8, 64 -> 8 x 8), 16 beyond (128 -> 8 x 16)."""
    return min(n, 8 if n <= 64 else 16)
