"""Multi-layer perceptrons: Linear + ReLU blocks on the flattened image, then a linear classifier.

Study 3.2 compares depths at a fixed parameter budget: every deeper MLP gets the constant hidden width that
brings it closest to the 3.1 net's 1,796,010 parameters, so depth is the only thing that changes (a constant
width of 1000 would also triple the parameters and the training time, mixing depth with size)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from torch import nn

MLP_3_1 = (784, 1000, 1000, 10)
BUDGET = 1_796_010  # parameters of the 3.1 net, the budget every 3.2 net is sized to
DEPTHS = (3, 4, 5, 7)  # hidden layers of the 3.2 nets (the 3.1 net has 2)


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


def mlp_params(widths: Sequence[int]) -> int:
    """Weights + biases of `build_mlp(widths)`, without building it."""
    return sum(a * b + b for a, b in itertools.pairwise(widths))


def budget_width(hidden_layers: int, budget: int = BUDGET, n_in: int = 784, n_out: int = 10,
                 multiple: int = 16) -> int:
    """The constant hidden width w, a multiple of `multiple` (AMX/AVX-512 friendly), whose MLP with
    `hidden_layers` layers has the parameter count closest to `budget`.

    Parameters: (n_in + 1) w + (L - 1)(w^2 + w) + (w + 1) n_out; we solve the quadratic, then round."""
    a, b, c = hidden_layers - 1, n_in + 1 + (hidden_layers - 1) + n_out, n_out - budget
    w = -c / b if a == 0 else (-b + math.sqrt(b * b - 4 * a * c)) / (2 * a)
    candidates = {max(multiple, multiple * math.floor(w / multiple)), multiple * math.ceil(w / multiple)}
    return min(candidates, key=lambda v: abs(mlp_params(depth_widths(hidden_layers, v, n_in, n_out)) - budget))


def depth_widths(hidden_layers: int, width: int, n_in: int = 784, n_out: int = 10) -> list[int]:
    """[n_in, width x hidden_layers, n_out]."""
    return [n_in, *([width] * hidden_layers), n_out]


def depth_model_widths(hidden_layers: int) -> list[int]:
    """Widths of the 3.2 net with `hidden_layers` hidden layers, sized to the 3.1 budget."""
    return depth_widths(hidden_layers, budget_width(hidden_layers))
