"""Multi-layer perceptrons: Linear + ReLU blocks on the flattened image, then a linear classifier."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from torch import nn


def build_mlp(widths: Sequence[int]) -> nn.Sequential:
    """widths = [inputs, hidden..., outputs], e.g. [784, 1000, 1000, 10] (the brief's 3.1: 1,796,010 params).

    Input (B, 1, 28, 28) or (B, 784); output (B, widths[-1]) logits (softmax lives in the loss)."""
    if len(widths) < 2:
        raise ValueError("an MLP needs at least input and output widths")
    layers: list[nn.Module] = [nn.Flatten()]
    for i, (w_in, w_out) in enumerate(itertools.pairwise(widths)):
        layers.append(nn.Linear(w_in, w_out))
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)
