"""The Fashion-MNIST nets of study 6: the single-task CNN and the multi-task net with two heads.

Shared trunk: conv 32 -> pool -> conv 64 -> pool -> conv 128 (3x3, stride 1, 'same', ReLU), 2x2/2 max-pools
after conv1 and conv2: (B, 1, 28, 28) -> (B, 128, 7, 7) -> flatten 6272 -> dense 3136 (ReLU)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

ITEMS, GROUPS = 10, 3


def trunk() -> nn.Sequential:
    """Conv stack + the dense 3136 layer, shared by both tasks in the MTL net. Output (B, 3136)."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 32, 14, 14)
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 64, 7, 7)
        nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(),  # (B, 128, 7, 7)
        nn.Flatten(), nn.Linear(6272, 3136), nn.ReLU(),
    )


def head(n_out: int, widths: Sequence[int] = (1024, 100)) -> nn.Sequential:
    """Dense 3136 -> 1024 -> 100 -> n_out (ReLU between, logits out)."""
    layers: list[nn.Module] = []
    w_in = 3136
    for w in widths:
        layers += [nn.Linear(w_in, w), nn.ReLU()]
        w_in = w
    layers.append(nn.Linear(w_in, n_out))
    return nn.Sequential(*layers)


def build_single(n_out: int) -> nn.Sequential:
    """6.1: trunk + dense [1024, 100, n_out] for one task (10 items or 3 groups)."""
    return nn.Sequential(*trunk(), *head(n_out))


class MultiTaskNet(nn.Module):
    """6.2: one shared trunk, two heads. forward -> (items logits (B, 10), groups logits (B, 3))."""

    def __init__(self) -> None:
        super().__init__()
        self.trunk = trunk()
        self.items = head(ITEMS)
        self.groups = head(GROUPS)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.trunk(x)
        return self.items(z), self.groups(z)
