"""Visualising a trained CNN: filters and feature maps (`features`) and DeepDream / feature visualisation
(`objectives` x the pixel parameterisation, transforms and render loop of `dream`)."""

from mnistlab.viz.dream import PixelImage, RenderResult, RenderSpec, noise_image, probabilities, render
from mnistlab.viz.features import activations, conv_stack, filters, hook_points, record, strongest_slices, tile
from mnistlab.viz.objectives import (
    Objective,
    border,
    channel,
    class_logit,
    class_margin,
    l2,
    layer_energy,
    neuron,
    tv,
)

__all__ = [
    "Objective", "PixelImage", "RenderResult", "RenderSpec", "activations", "border", "channel", "class_logit",
    "class_margin", "conv_stack", "filters", "hook_points", "l2", "layer_energy", "neuron", "noise_image",
    "probabilities", "record", "render", "strongest_slices", "tile", "tv",
]
