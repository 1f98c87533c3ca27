"""Classic DeepDream (Mordvintsev et al. 2015, and TensorFlow's DeepDream tutorial): start from a real image and
amplify whatever one layer already responds to, by gradient ascent on that layer's energy (`layer_energy`: the
mean squared activation after its ReLU), not on a class score.

The octave scheme is the one of the original notebook and the tutorial: the start image is resized to a ladder
of sizes (28 / 1.4^k: 14, 20, 28 pixels for three octaves), the ascent runs on the smallest copy first, and the
detail it added (dream minus the resized start) is upsampled and added to the next, larger copy. A pattern found
at a small scale is then drawn larger, and the final image keeps the start's full-resolution strokes. Only the
conv stack up to the chosen layer is run, which, unlike the dense head, accepts any image size: the network
really sees the small copies, as the tutorial's fully convolutional InceptionV3 does.

Each step rolls every image by its own random shift (jitter, so the pattern must work at several positions),
moves it by lr times the gradient over its mean absolute value (a normalised step, `lr` in pixel units), and
clips it to the model's input range [0, 1]."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from mnistlab.viz.dream import cpu_threads, frozen, prepare, probabilities, roll_jitter
from mnistlab.viz.features import conv_stack, hook_points, record
from mnistlab.viz.objectives import Objective, Probe, layer_energy

Tensor = torch.Tensor


@dataclass
class DeepDreamSpec:
    layer: str = "conv3"  # the layer whose energy is raised ('conv2', 'conv3', ...)
    steps: int = 20  # gradient steps per octave
    lr: float = 0.02  # normalised step: pixels move by about this much per step
    octaves: int = 3  # sizes in the ladder, the last one the full image
    octave_scale: float = 1.4  # ratio of neighbouring sizes (the original notebook's value)
    jitter: int = 2  # roll jitter, pixels, each step
    threads: int = 1  # CPU intra-op threads (tiny tensors: see RenderSpec.threads)


@dataclass
class DeepDreamResult:
    images: Tensor  # (B, 1, H, W) in [0, 1], on the CPU, at the start's size
    sizes: list[int]  # the octave ladder, small to large
    trace: list[list[float]] = field(default_factory=list)  # (steps, B): energy per step, at that octave's size


def octave_sizes(full: int, octaves: int, scale: float = 1.4) -> list[int]:
    """The ladder of image sizes, small to large, ending at `full`: (28, 3, 1.4) -> [14, 20, 28]. Sizes stop at
    8 pixels, below which a stride-2 stack has nothing left to see."""
    if octaves < 1 or scale <= 1:
        raise ValueError("octaves >= 1 and scale > 1")
    return [max(8, round(full / scale ** k)) for k in reversed(range(octaves))]


def resize(x: Tensor, size: int) -> Tensor:
    """(B, C, H, W) to size x size: area averaging when shrinking (no aliasing), bilinear when growing."""
    if x.shape[-1] == size:
        return x
    if size < x.shape[-1]:
        return F.interpolate(x, size=(size, size), mode="area")
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)


def features_up_to(model: nn.Module, layer: str) -> nn.Sequential:
    """The part of a Sequential model from its input to the ReLU after `layer` (the same modules, not copies):
    fully convolutional, so it runs on any image size. Hooks on those modules fire as in a full forward pass."""
    found = {c.name: c for c in conv_stack(model)}
    if layer not in found or found[layer].relu is None:
        raise ValueError(f"no conv layer {layer!r} with a ReLU in this model (has {', '.join(found)})")
    if not isinstance(model, nn.Sequential):
        raise TypeError("DeepDream with octaves needs a Sequential model (its conv stack must run on its own)")
    children = list(model)
    end = next(i for i, m in enumerate(children) if m is found[layer].relu)
    return nn.Sequential(*children[:end + 1])


def deepdream(model: nn.Module, start: Tensor, spec: DeepDreamSpec, seed: int | Sequence[int] = 0,
              ) -> DeepDreamResult:
    """Raise `spec.layer`'s energy on images that start at `start` (B, 1, H, W) in [0, 1], octave by octave.
    Image k draws its jitter from a generator seeded with seeds[k] (an int `seed` means seed + k). The model's
    parameters get no gradient (their flags are restored afterwards)."""
    start, gens = prepare(model, start, seed)
    device = start.device
    sizes = octave_sizes(start.shape[-1], spec.octaves, spec.octave_scale)
    stack, objective = features_up_to(model, spec.layer), layer_energy(spec.layer)
    trace: list[list[float]] = []
    detail = torch.zeros_like(resize(start, sizes[0]))
    with frozen(model), record(hook_points(model)) as acts, cpu_threads(spec.threads if device.type == "cpu" else 0):
        for size in sizes:
            base = resize(start, size)
            image = (base + resize(detail, size)).clamp(0, 1)
            for _ in range(spec.steps):
                image, energy = _step(stack, objective, image, base, acts, gens, spec)
                trace.append(energy.cpu().tolist())
            detail = image - base  # what the ascent added at this scale, carried to the next
    return DeepDreamResult(image.detach().cpu(), sizes, trace)


def _step(stack: nn.Module, objective: Objective, image: Tensor, base: Tensor, acts: dict[str, Tensor],
          gens: list[torch.Generator], spec: DeepDreamSpec) -> tuple[Tensor, Tensor]:
    """One jittered, normalised ascent step on the layer's energy; returns (new image, energy (B,))."""
    x = image.detach().requires_grad_(True)
    stack(roll_jitter(spec.jitter)(x, gens))  # the hooks fill `acts`; the gradient un-rolls itself
    energy = objective(Probe(x, x.new_zeros(len(x), 0), acts, base))
    grad = torch.autograd.grad(energy.sum(), x)[0]
    grad = grad / grad.abs().mean(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12)
    return (x + spec.lr * grad).clamp(0, 1).detach(), energy.detach()


@torch.no_grad()
def energy_of(model: nn.Module, images: Tensor, layer: str) -> Tensor:
    """`layer`'s energy (B,) for images (B, 1, H, W) at their own size, without jitter."""
    model.eval()
    with record(hook_points(model)) as acts:
        features_up_to(model, layer)(images.to(next(model.parameters()).device).float())
        probe = Probe(images, images.new_zeros(len(images), 0), acts, images)
        return layer_energy(layer)(probe).cpu()


def stroke_band(start: Tensor, radius: int = 2, ink: float = 0.5) -> Tensor:
    """(B, 1, H, W) mask of the pixels within `radius` pixels of the start's strokes (pixels of at least `ink`)."""
    strokes = (start >= ink).float()
    return F.max_pool2d(strokes, 2 * radius + 1, stride=1, padding=radius)  # a dilation by `radius`


def near_share(start: Tensor, dream: Tensor, radius: int = 2, ink: float = 0.5) -> Tensor:
    """Share of the ink a dream added (positive change) that lies within `radius` pixels of the start's strokes,
    per image (B,): near 1 means the dream thickens and extends what is there; ink added anywhere at random
    would give the band's share of the image (`stroke_band(...).mean()`). NaN when nothing was added."""
    added = (dream - start).clamp_min(0)
    total = added.sum(dim=(1, 2, 3))
    near = (added * stroke_band(start, radius, ink)).sum(dim=(1, 2, 3))
    return torch.where(total > 0, near / total.clamp_min(1e-12), torch.full_like(total, math.nan))


@dataclass
class LayerDream:
    """Classic DeepDream of a batch for one layer, with what it did to the layer and to the strokes."""

    layer: str
    images: Tensor  # (B, 1, H, W) in [0, 1]
    sizes: list[int]  # the octave ladder
    energy_gain: Tensor  # (B,) the layer's energy of the dream over that of the start, both at full size
    near_strokes: Tensor  # (B,) share of the added ink within 2 pixels of the start's strokes (`near_share`)


def dream_layers(model: nn.Module, start: Tensor, layers: Sequence[str], spec: DeepDreamSpec,
                 seed: int | Sequence[int] = 0) -> list[LayerDream]:
    """One classic DeepDream of `start` (B, 1, H, W) per layer, with `spec` but its layer; each layer's images
    use the same jitter seeds, so the layers differ only in what they amplify."""
    out = []
    before = {layer: energy_of(model, start, layer) for layer in layers}
    for layer in layers:
        result = deepdream(model, start, dataclasses.replace(spec, layer=layer), seed)
        gain = energy_of(model, result.images, layer) / before[layer].clamp_min(1e-12)
        out.append(LayerDream(layer, result.images, result.sizes, gain, near_share(start.cpu(), result.images)))
    return out


def verdicts(models: dict[str, nn.Module], batch: Tensor) -> list[dict[str, int | float]]:
    """Per image of `batch`, each model's predicted class and its probability: {'pred_<name>', 'p_<name>'}."""
    out: list[dict[str, int | float]] = [{} for _ in range(len(batch))]
    for name, model in models.items():
        top = probabilities(model, batch).max(dim=1)
        for k in range(len(batch)):
            out[k] |= {f"pred_{name}": int(top.indices[k]), f"p_{name}": float(top.values[k])}
    return out
