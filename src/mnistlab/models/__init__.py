"""A small model registry: every network of the study built by name, so tests and benchmarks can loop over it."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from mnistlab.models.cnn import build_cnn
from mnistlab.models.mlp import build_mlp
from mnistlab.models.multitask import MultiTaskNet, build_single

REGISTRY: dict[str, Callable[[], nn.Module]] = {
    "mlp_3_1": lambda: build_mlp([784, 1000, 1000, 10]),
    "cnn_4_1": lambda: build_cnn([32, 64, 128], kernel=4, strides=(1, 2, 2)),
    "fashion_items": lambda: build_single(10),
    "fashion_groups": lambda: build_single(3),
    "mtl": MultiTaskNet,
}


def create(name: str) -> nn.Module:
    if name not in REGISTRY:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(REGISTRY)}")
    return REGISTRY[name]()


def register(name: str, factory: Callable[[], nn.Module]) -> None:
    REGISTRY[name] = factory


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
