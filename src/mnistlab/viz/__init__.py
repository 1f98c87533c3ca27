"""Visualising a trained CNN: filters and feature maps (`features`), class dreams / feature visualisation
(`objectives` x the pixel or PCA parameterisation, transforms and render loop of `dream`), classic DeepDream with
octaves (`deepdream`, imported as a module: its main function has the same name), and the study's settings for
each (`recipes`)."""

from mnistlab.viz.dream import (
    PCABasis,
    PCAImage,
    PixelImage,
    RenderResult,
    RenderSpec,
    noise_image,
    probabilities,
    render,
)
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
    pca_prior,
    tv,
)

__all__ = [
    "Objective", "PCABasis", "PCAImage", "PixelImage", "RenderResult", "RenderSpec", "activations", "border",
    "channel", "class_logit", "class_margin", "conv_stack", "filters", "hook_points", "l2", "layer_energy", "neuron",
    "noise_image", "pca_prior", "probabilities", "record", "render", "strongest_slices", "tile", "tv",
]
