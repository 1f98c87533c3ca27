"""Visualising a trained CNN: filters and feature maps (`features`) and DeepDream / feature visualisation
(`dream`: objectives x parameterisation x transforms x one render loop)."""

from mnistlab.viz.dream import (
    Objective,
    PixelImage,
    RenderResult,
    RenderSpec,
    border,
    channel,
    class_logit,
    l2,
    layer_energy,
    neuron,
    noise_image,
    probabilities,
    render,
    tv,
)
from mnistlab.viz.features import activations, conv_stack, filters, hook_points, record, strongest_slices, tile

__all__ = [
    "Objective", "PixelImage", "RenderResult", "RenderSpec", "activations", "border", "channel", "class_logit",
    "conv_stack", "filters", "hook_points", "l2", "layer_energy", "neuron", "noise_image", "probabilities", "record",
    "render", "strongest_slices", "tile", "tv",
]
