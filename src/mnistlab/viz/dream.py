"""DeepDream and feature visualisation, in lucent's shape: an objective x an image parameterisation x
robustness transforms x one render loop.

- Objectives (`Objective`) score a batch per image, shape (B,), and are maximised. They compose with + - and
  scalar *, so a regularised class visualisation reads `class_logit(2) - 1e-3 * l2() - 5e-2 * tv()`.
- The parameterisation (`PixelImage`) is the image itself in [0, 1], optionally at a coarser resolution first
  (octaves): a 14x14 image upsampled to 28x28 can only hold coarse strokes, the 28x28 stage then adds detail.
- Transforms are applied to the image on its way into the model at every step: roll jitter of a few pixels
  and an optional small random rescale, so that the image has to work at several positions, not one pixel grid.
  Each image of a batch has its own seeded generator.
- The render loop (`render`) takes normalised gradient steps (the step is lr times the gradient divided by its
  mean absolute value, so `lr` is in pixel units whatever the logit scale), clips to the model's input range
  [0, 1] after each step, and blurs the image every few steps.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from mnistlab.viz.features import hook_points, record

Tensor = torch.Tensor


# ---------------------------------------------------------------- objectives
@dataclass
class Probe:
    """What an objective sees after one forward pass."""

    image: Tensor  # (B, 1, 28, 28) the parameterised image, before the transforms (penalties act on it)
    logits: Tensor  # (B, classes) pre-softmax outputs of the model for the transformed image
    acts: dict[str, Tensor]  # hooked outputs: 'convK' (B, C, H, W) pre-ReLU, 'convK.relu' after it
    start: Tensor  # (B, 1, 28, 28) the image the render started from


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


def border(margin: int = 4) -> Objective:
    """Sum of squared *new* ink (brightness above the start image) within `margin` pixels of the image edge.

    MNIST centres each digit's 20x20 box by its centre of mass, so the outer 4 pixels hold little ink: 3.5% of
    a training image's ink on average, 0.3% in the outer 2 (measured on the 60k training images). The models'
    weights there are barely trained, and an unpenalised ascent puts cheap, meaningless blobs in the corners.
    Subtracted as a penalty, this keeps a dream's new strokes inside the box, while ink that a real start digit
    already has in the frame costs nothing."""

    def fn(p: Probe) -> Tensor:
        new = (p.image - p.start).clamp_min(0).pow(2)  # (B, 1, H, W)
        inner = new[..., margin:new.shape[-2] - margin, margin:new.shape[-1] - margin]
        return new.sum(dim=(1, 2, 3)) - inner.sum(dim=(1, 2, 3))

    return Objective(fn, f"border[{margin}]")


def tv() -> Objective:
    """Anisotropic total variation: sum of absolute differences of neighbouring pixels. Subtract it as a
    penalty: it favours solid strokes over speckle."""

    def fn(p: Probe) -> Tensor:
        x = p.image
        dx = (x[..., :, 1:] - x[..., :, :-1]).abs().sum(dim=(1, 2, 3))
        dy = (x[..., 1:, :] - x[..., :-1, :]).abs().sum(dim=(1, 2, 3))
        return dx + dy

    return Objective(fn, "tv")


# ---------------------------------------------------------------- parameterisation
class PixelImage:
    """The image as free pixels in [0, 1], held at `size` x `size` and upsampled (bilinear) to the model's
    `full` x `full` input. `rescale(size)` moves to another resolution, keeping the picture."""

    def __init__(self, init: Tensor, size: int | None = None) -> None:
        self.full = init.shape[-1]
        self.param = init.detach().clone()
        self.rescale(size or self.full)

    def rescale(self, size: int) -> None:
        x = self.param.detach()
        if x.shape[-1] != size:
            x = F.interpolate(x, size=(size, size), mode="area" if size < x.shape[-1] else "bilinear",
                              align_corners=None if size < x.shape[-1] else False)
        self.param = x.clamp(0, 1).contiguous().requires_grad_(True)

    def image(self) -> Tensor:
        """(B, 1, full, full), differentiable with respect to `param`."""
        if self.param.shape[-1] == self.full:
            return self.param
        return F.interpolate(self.param, size=(self.full, self.full), mode="bilinear", align_corners=False)

    @torch.no_grad()
    def step_(self, grad: Tensor, lr: float) -> None:
        """Normalised gradient ascent: each image moves by lr * grad / mean|grad|, then is clipped to [0, 1]."""
        scale = grad.abs().mean(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12)
        self.param.add_(grad / scale, alpha=lr).clamp_(0, 1)

    @torch.no_grad()
    def blur_(self, sigma: float) -> None:
        self.param.copy_(gaussian_blur(self.param, sigma))


def gaussian_blur(x: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur of (B, 1, H, W) with a 3-sigma kernel and reflected borders."""
    radius = max(1, int(3 * sigma + 0.5))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    x = F.pad(x, (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1))
    return F.conv2d(x, k.view(1, 1, -1, 1))


def noise_image(seeds: Sequence[int], size: int = 28, scale: float = 0.1) -> Tensor:
    """Dim random starts: uniform noise in [0, scale), shape (len(seeds), 1, size, size), image k drawn from a
    generator seeded with seeds[k] (so it does not depend on the other seeds)."""
    return torch.cat([torch.rand(1, 1, size, size, generator=torch.Generator().manual_seed(s)) for s in seeds]) * scale


# ---------------------------------------------------------------- transforms
# Each image of a batch draws from its own generator, so image k depends on its own seed only: a batch of five
# seeds gives the same five images as five separate renders, in one pass (per-step overhead dominates here).
Transform = Callable[[Tensor, list[torch.Generator]], Tensor]


def roll_jitter(px: int) -> Transform:
    """Roll each image by its own random shift in [-px, px] on each axis (wrapping around, like torch.roll)."""

    def fn(x: Tensor, gens: list[torch.Generator]) -> Tensor:
        if px <= 0:
            return x
        b, c, h, w = x.shape
        shifts = torch.stack([torch.randint(-px, px + 1, (2,), generator=g) for g in gens]).to(x.device)  # (B, 2)
        rows = (torch.arange(h, device=x.device)[None, :] - shifts[:, :1]) % h  # (B, H): out[i] = x[i - dy]
        cols = (torch.arange(w, device=x.device)[None, :] - shifts[:, 1:]) % w  # (B, W)
        x = x.gather(2, rows[:, None, :, None].expand(b, c, h, w))
        return x.gather(3, cols[:, None, None, :].expand(b, c, h, w))

    return fn


def random_scale(amount: float) -> Transform:
    """Zoom each image by its own random factor in [1 - amount, 1 + amount] about the centre (zeros outside)."""

    def fn(x: Tensor, gens: list[torch.Generator]) -> Tensor:
        if amount <= 0:
            return x
        s = 1.0 + amount * (2 * torch.cat([torch.rand(1, generator=g) for g in gens]) - 1)  # (B,)
        theta = torch.zeros(len(x), 2, 3, dtype=x.dtype)
        theta[:, 0, 0] = theta[:, 1, 1] = 1 / s
        grid = F.affine_grid(theta.to(x.device), list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, padding_mode="zeros", align_corners=False)

    return fn


# ---------------------------------------------------------------- render loop
@dataclass
class RenderSpec:
    steps: int = 256  # gradient steps in all, split evenly over the octaves
    lr: float = 0.05  # normalised step size (pixels move by about lr per step)
    jitter: int = 2  # roll jitter, pixels
    scale: float = 0.0  # random rescale amount (0 = off)
    blur_every: int = 8  # blur every N steps (0 = never)
    blur_sigma: float = 0.5  # Gaussian sigma of that blur, pixels
    octaves: int = 1  # 1 = full resolution only; 2 = half then full (14 then 28 for MNIST)
    threads: int = 1  # CPU intra-op threads during the render (0 = leave torch's setting). The tensors are a
    # few 28x28 images, where thread hand-offs cost more than they give: 6 steps of a tiny CNN took 1.2 s with
    # 2 threads and 0.04 s with 1 on our busy 2-core machine


@dataclass
class RenderResult:
    images: Tensor  # (B, 1, 28, 28) in [0, 1], on the CPU
    trace: list[list[float]] = field(default_factory=list)  # (steps, B): each image's objective per step


def octave_sizes(full: int, octaves: int) -> list[int]:
    """Resolutions from coarse to fine, halving per octave: (28, 2) -> [14, 28]."""
    return [max(4, full // 2 ** k) for k in reversed(range(octaves))]


def render(model: nn.Module, objective: Objective, start: Tensor, spec: RenderSpec,
           seed: int | Sequence[int] = 0) -> RenderResult:
    """Maximise `objective` by gradient ascent on images that start at `start` (B, 1, H, W) in [0, 1].

    Image k draws its jitter from a generator seeded with seeds[k] (an int `seed` means seed + k), so the same
    seed and start give the same image, alone or in any batch. The model is put in eval mode; its parameters get
    no gradient (their requires_grad flags are restored afterwards)."""
    model.eval()
    device = next(model.parameters()).device
    seeds = [seed + k for k in range(len(start))] if isinstance(seed, int) else list(seed)
    if len(seeds) != len(start):
        raise ValueError(f"{len(seeds)} seeds for {len(start)} images")
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    start = start.to(device).float()
    transforms = [roll_jitter(spec.jitter), random_scale(spec.scale)]
    sizes = octave_sizes(start.shape[-1], spec.octaves)
    per_octave = [spec.steps // len(sizes) + (i < spec.steps % len(sizes)) for i in range(len(sizes))]
    param = PixelImage(start, sizes[0])
    trace: list[list[float]] = []
    grads_were = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)  # only the image is optimised; saves the weight gradients' compute
    try:
        with record(hook_points(model)) as acts, _cpu_threads(spec.threads if device.type == "cpu" else 0):
            for size, steps in zip(sizes, per_octave, strict=True):
                param.rescale(size)
                for step in range(steps):
                    image = param.image()
                    x = image
                    for t in transforms:
                        x = t(x, gens)
                    score = objective(Probe(image, model(x), acts, start))  # (B,)
                    (grad,) = torch.autograd.grad(score.sum(), param.param)
                    param.step_(grad, spec.lr)
                    if spec.blur_every and (step + 1) % spec.blur_every == 0:
                        param.blur_(spec.blur_sigma)
                    trace.append(score.detach().cpu().tolist())
    finally:
        for p, g in zip(model.parameters(), grads_were, strict=True):
            p.requires_grad_(g)
    with torch.no_grad():
        final = param.image().clamp(0, 1).detach().cpu()
    return RenderResult(final, trace)


@contextlib.contextmanager
def _cpu_threads(n: int) -> Iterator[None]:
    """Run the block with n intra-op threads (0 = unchanged), restoring the previous count afterwards."""
    before = torch.get_num_threads()
    if n > 0:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@torch.no_grad()
def probabilities(model: nn.Module, images: Tensor) -> Tensor:
    """Softmax class probabilities (B, classes) of images (B, 1, 28, 28), in fp32, eval mode."""
    model.eval()
    return torch.softmax(model(images.to(next(model.parameters()).device).float()).float(), dim=1).cpu()
