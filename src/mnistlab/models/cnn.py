"""Convolutional nets for 28x28 inputs, with Keras-style 'same' padding (also for strides > 1)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import nn


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
        if lo or hi:
            layers.append(nn.ZeroPad2d((lo, hi, lo, hi)))  # (left, right, top, bottom)
        layers += [nn.Conv2d(channels, width, kernel, stride), nn.ReLU()]
        channels, size = width, math.ceil(size / stride)
    layers += [nn.Flatten(), nn.Linear(channels * size * size, n_classes)]
    return nn.Sequential(*layers)


def conv_layers(model: nn.Module) -> list[nn.Conv2d]:
    """The conv layers of a model, in forward order (for the visualisation study)."""
    return [m for m in model.modules() if isinstance(m, nn.Conv2d)]
