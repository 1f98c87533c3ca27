"""A small model registry: every network of the study built by name, so tests and benchmarks can loop over it.
The studies call their builders directly; this module is for code that wants every model at once."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from mnistlab.models.cnn import CNN_4_1, VARIANTS
from mnistlab.models.mlp import DEPTHS, MLP_3_1, build_mlp, depth_model_widths
from mnistlab.models.multitask import MultiTaskNet, build_single

__all__ = ["REGISTRY", "create", "register"]

REGISTRY: dict[str, Callable[[], nn.Module]] = {
    "mlp_3_1": lambda: build_mlp(MLP_3_1),
    "cnn_4_1": CNN_4_1.build,
    "fashion_items": lambda: build_single(10),
    "fashion_groups": lambda: build_single(3),
    "mtl": MultiTaskNet,
}
# Studies 3.2 and 4.2: registered too, so every test that loops over the registry covers them.
REGISTRY.update({f"mlp_3_2_depth{d}": (lambda d=d: build_mlp(depth_model_widths(d))) for d in DEPTHS})
REGISTRY.update({f"cnn_4_2_{tag}": spec.build for tag, spec in VARIANTS.items()})


def create(name: str) -> nn.Module:
    """A freshly initialised model (seed torch first for a reproducible init)."""
    if name not in REGISTRY:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(REGISTRY)}")
    return REGISTRY[name]()


def register(name: str, factory: Callable[[], nn.Module]) -> None:
    REGISTRY[name] = factory
