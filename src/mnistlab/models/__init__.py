"""The networks: `perceptron` (NumPy), `mlp`, `cnn`, `multitask` (PyTorch); `registry` builds any of them by
name. This package module itself only counts parameters, so importing one network does not import the others."""

from __future__ import annotations

from torch import nn


def param_count(model: nn.Module) -> int:
    """Weights and biases of `model`, every parameter tensor counted once."""
    return sum(p.numel() for p in model.parameters())
