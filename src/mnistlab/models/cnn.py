"""Convolutional nets for 28x28 inputs, with Keras-style 'same' padding (also for strides > 1).

`CNN_4_1` is the brief's net; `VARIANTS` are study 4.2's four other depths and widths. All share 4x4 kernels,
'same' padding, ReLU, and one dense layer on the flattened maps; they differ in depth, width and where they
downsample, which sets their cost (`conv_macs`). The wide and deep nets downsample from the first layer on, so
that each costs about as much compute per image as 4.1 or less: the CNN study must stay within minutes on CPU."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class CNNSpec:
    """One conv stack: filters per layer, one stride per layer, a square kernel."""

    filters: tuple[int, ...]
    strides: tuple[int, ...]
    kernel: int = 4
    about: str = ""  # what the variant changes, for the table

    def build(self, n_classes: int = 10) -> nn.Sequential:
        return build_cnn(self.filters, self.kernel, self.strides, n_classes)


CNN_4_1 = CNNSpec((32, 64, 128), (1, 2, 2), about="the brief's net")
VARIANTS: dict[str, CNNSpec] = {  # name suffix (4_2_<tag>) -> spec
    "shallow": CNNSpec((32, 64), (2, 2), about="2 conv layers"),
    "narrow": CNNSpec((16, 32, 64), (1, 2, 2), about="4.1 at half width"),
    "wide": CNNSpec((64, 128, 256), (2, 2, 2), about="double width, downsampling from layer 1"),
    "deep": CNNSpec((32, 64, 128, 256), (2, 2, 2, 2), about="4 conv layers, downsampling from layer 1"),
}


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after) padding so that out = ceil(size / stride), the extra pixel after, as Keras/TF do."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def build_cnn(filters: Sequence[int], kernel: int = 4, strides: Sequence[int] = (1, 2, 2),
              n_classes: int = 10, in_channels: int = 1, size: int = 28) -> nn.Sequential:
    """Conv('same') + ReLU per entry of `filters`, flatten, one dense layer to `n_classes` logits.

    The brief's 4.1: filters [32, 64, 128], 4x4 kernels, strides 1, 2, 2 -> 28 -> 28 -> 14 -> 7, flatten 6272,
    dense 10: 227,306 parameters. Input (B, 1, 28, 28), output (B, n_classes)."""
    if len(filters) != len(strides):
        raise ValueError("one stride per conv layer")
    layers: list[nn.Module] = []
    channels = in_channels
    for width, stride in zip(filters, strides, strict=True):
        lo, hi = same_padding(size, kernel, stride)
        if hi > lo:  # the conv pads `lo` on both sides itself (no copy); only the extra pixel needs a pad layer
            layers.append(nn.ZeroPad2d((0, hi - lo, 0, hi - lo)))  # (left, right, top, bottom)
        layers += [nn.Conv2d(channels, width, kernel, stride, padding=lo), nn.ReLU()]
        channels, size = width, math.ceil(size / stride)
    layers += [nn.Flatten(), nn.Linear(channels * size * size, n_classes)]
    return nn.Sequential(*layers)


def conv_layers(model: nn.Module) -> list[nn.Conv2d]:
    """The conv layers of a model, in forward order (for the visualisation study)."""
    return [m for m in model.modules() if isinstance(m, nn.Conv2d)]


def conv_macs(spec: CNNSpec, size: int = 28, in_channels: int = 1, n_classes: int = 10) -> int:
    """Multiply-accumulates of one forward pass for one image (conv layers + the dense layer)."""
    macs, channels = 0, in_channels
    for width, stride in zip(spec.filters, spec.strides, strict=True):
        size = math.ceil(size / stride)
        macs += size * size * width * channels * spec.kernel * spec.kernel
        channels = width
    return macs + channels * size * size * n_classes
