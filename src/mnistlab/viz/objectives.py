"""DeepDream objectives: per-image scores (B,) computed from one forward pass (`Probe`), to be maximised
(objectives) or minimised (penalties) by `viz.dream.render`. They compose with + - and scalar *, as in lucent:
`class_logit(2)` is a class visualisation, `1e-3 * l2() + 0.1 * tv()` a penalty."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

Tensor = torch.Tensor


# ---------------------------------------------------------------- objectives
@dataclass
class Probe:
    """What an objective sees after one forward pass."""

    image: Tensor  # (B, 1, 28, 28) the parameterised image, before the transforms (penalties act on it)
    logits: Tensor  # (B, classes) pre-softmax outputs of the model for the transformed image
    acts: dict[str, Tensor]  # hooked outputs: 'convK' (B, C, H, W) pre-ReLU, 'convK.relu' after it
    start: Tensor  # (B, 1, 28, 28) the image the render started from
    code: Tensor | None = None  # the parameterisation's free variables, e.g. whitened PCA coefficients (B, k)


class Objective:
    """A per-image score (B,) to maximise; objectives add, subtract and scale like numbers."""

    def __init__(self, fn: Callable[[Probe], Tensor], name: str) -> None:
        self.fn, self.name = fn, name

    def __call__(self, probe: Probe) -> Tensor:
        return self.fn(probe)

    def __add__(self, other: Objective) -> Objective:
        return Objective(lambda p: self(p) + other(p), f"{self.name} + {other.name}")

    def __sub__(self, other: Objective) -> Objective:
        return Objective(lambda p: self(p) - other(p), f"{self.name} - {other.name}")

    def __mul__(self, k: float) -> Objective:
        return Objective(lambda p: k * self(p), f"{k:g} * {self.name}")

    __rmul__ = __mul__

    def __neg__(self) -> Objective:
        return -1.0 * self


def _per_image(values: int | Sequence[int], batch: int, device: torch.device) -> Tensor:
    """An int, or one int per image, as a (B,) index tensor."""
    idx = torch.as_tensor([values] * batch if isinstance(values, int) else list(values), device=device)
    if len(idx) != batch:
        raise ValueError(f"{len(idx)} targets for a batch of {batch}")
    return idx


def class_logit(target: int | Sequence[int]) -> Objective:
    """The pre-softmax score of a class (one for the batch, or one per image): class-score maximisation."""

    def fn(p: Probe) -> Tensor:
        idx = _per_image(target, len(p.logits), p.logits.device)
        return p.logits.gather(1, idx[:, None])[:, 0]

    return Objective(fn, f"logit[{target}]")


def class_margin(target: int | Sequence[int]) -> Objective:
    """The target's logit minus the log-sum-exp of the other logits: its log-odds against all other classes.
    Raising it needs evidence for the class *and* against its look-alikes (a lone stroke raises the 9 logit,
    but also the 1, 4 and 7 logits), so it gives more complete digits than the bare logit."""

    def fn(p: Probe) -> Tensor:
        idx = _per_image(target, len(p.logits), p.logits.device)
        own = p.logits.gather(1, idx[:, None])[:, 0]
        others = p.logits.scatter(1, idx[:, None], float("-inf"))
        return own - torch.logsumexp(others, dim=1)

    return Objective(fn, f"margin[{target}]")


def channel(layer: str, ch: int | Sequence[int]) -> Objective:
    """Mean pre-activation of one channel of a conv layer ('conv2'), one per image or per batch: what input
    drives that filter most. Pre-ReLU, so a channel that starts inactive still has a gradient."""

    def fn(p: Probe) -> Tensor:
        a = p.acts[layer]  # (B, C, H, W)
        idx = _per_image(ch, len(a), a.device)
        return a[torch.arange(len(a), device=a.device), idx].mean(dim=(1, 2))

    return Objective(fn, f"{layer}[{ch}]")


def neuron(layer: str, ch: int | Sequence[int]) -> Objective:
    """Pre-activation of one channel of a conv layer at the centre of its map, per image: the input pattern
    that unit responds to most, within its receptive field (lucent's 'neuron'; `channel` averages over all
    positions and gives repeated textures instead)."""

    def fn(p: Probe) -> Tensor:
        a = p.acts[layer]  # (B, C, H, W)
        idx = _per_image(ch, len(a), a.device)
        return a[torch.arange(len(a), device=a.device), idx, a.shape[-2] // 2, a.shape[-1] // 2]

    return Objective(fn, f"{layer}[{ch}] centre")


def layer_energy(layer: str) -> Objective:
    """Classic DeepDream: the mean squared activation of a layer after its ReLU ('conv3'): amplify whatever
    features the layer already sees."""
    return Objective(lambda p: p.acts[f"{layer}.relu"].pow(2).mean(dim=(1, 2, 3)), f"energy[{layer}]")


def l2(anchor: str = "zero") -> Objective:
    """Sum of squared pixels (anchor 'zero': pulls towards MNIST's black background) or of squared change from
    the start image (anchor 'start': stay close to it). Subtract it as a penalty."""
    if anchor not in ("zero", "start"):
        raise ValueError("anchor is 'zero' or 'start'")

    def fn(p: Probe) -> Tensor:
        ref = p.start if anchor == "start" else torch.zeros_like(p.image)
        return (p.image - ref).pow(2).sum(dim=(1, 2, 3))

    return Objective(fn, f"l2[{anchor}]")


def border(margin: int = 4, anchor: str = "zero") -> Objective:
    """Sum of squared ink within `margin` pixels of the image edge: all of it (anchor 'zero', for dreams from
    noise) or only ink added to the start image (anchor 'start': ink a real digit already has there is free).

    MNIST centres each digit's 20x20 box by its centre of mass, so the outer 4 pixels hold little ink: 3.5% of
    a training image's ink on average, 0.3% in the outer 2 (measured on the 60k training images). The models'
    weights there are barely trained, and an unpenalised ascent puts cheap, meaningless blobs in the corners.
    Subtracted as a penalty, this keeps a dream's strokes inside the box."""
    if anchor not in ("zero", "start"):
        raise ValueError("anchor is 'zero' or 'start'")

    def fn(p: Probe) -> Tensor:
        ink = (p.image - p.start).clamp_min(0) if anchor == "start" else p.image  # (B, 1, H, W)
        ink = ink.pow(2)
        inner = ink[..., margin:ink.shape[-2] - margin, margin:ink.shape[-1] - margin]
        return ink.sum(dim=(1, 2, 3)) - inner.sum(dim=(1, 2, 3))

    return Objective(fn, f"border[{margin},{anchor}]")


def tv() -> Objective:
    """Anisotropic total variation: sum of absolute differences of neighbouring pixels. Subtract it as a
    penalty: it favours solid strokes over speckle."""

    def fn(p: Probe) -> Tensor:
        x = p.image
        dx = (x[..., :, 1:] - x[..., :, :-1]).abs().sum(dim=(1, 2, 3))
        dy = (x[..., 1:, :] - x[..., :-1, :]).abs().sum(dim=(1, 2, 3))
        return dx + dy

    return Objective(fn, "tv")


def pca_prior() -> Objective:
    """Sum of squared whitened PCA coefficients: minus the log-density of a Gaussian fitted to the training
    digits, up to a constant (each coefficient is the image's offset from the mean digit along one principal
    component, in units of that component's standard deviation). Subtract it as a penalty: it keeps a dream
    as typical of the training images as the class score allows. Zero for a pixel parameterisation."""

    def fn(p: Probe) -> Tensor:
        if p.code is None:
            return torch.zeros(len(p.image), device=p.image.device)
        return p.code.pow(2).sum(dim=1)

    return Objective(fn, "pca_prior")
