"""DeepDream and feature visualisation, in lucent's shape: an objective x an image parameterisation x
robustness transforms x one render loop.

- Objectives (`Objective`) score a batch per image, shape (B,). They compose with + - and scalar *. A render
  maximises an objective (e.g. `class_logit(2)`) and minimises a penalty built the same way (e.g.
  `1e-3 * l2() + 0.1 * tv()`); the objective's gradient is normalised before the penalty's is added, so
  penalty weights are in pixel units, independent of the model's logit scale.
- The parameterisation is either the image itself (`PixelImage`, pixels in [0, 1], optionally at a coarser
  resolution first: a 14x14 image upsampled to 28x28 can only hold coarse strokes, the 28x28 stage then adds
  detail), or whitened coefficients on the first k principal components of the training digits (`PCAImage`):
  every image it can express is a blend of 'eigen-digits', so the ascent can only draw digit-like strokes,
  and an L2 penalty on the whitened coefficients is a Gaussian prior fitted on the training set.
- Transforms are applied to the image on its way into the model at every step: roll jitter of a few pixels
  and an optional small random rescale, so that the image has to work at several positions, not one pixel grid.
  Each image of a batch has its own seeded generator.
- The render loop (`render`) takes normalised gradient steps (lr times the combined gradient divided by its
  mean absolute value, so `lr` is in pixel units), clips to the model's input range [0, 1] after each step, and
  blurs the image every few steps.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from mnistlab.viz.features import hook_points, record
from mnistlab.viz.objectives import Objective, Probe

Tensor = torch.Tensor


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

    def code(self) -> Tensor | None:
        """The free variables other than pixels, for penalties on them: none here."""
        return None

    def smooth_grad(self, grad: Tensor, sigma: float) -> Tensor:
        """Low-pass the class gradient (sigma in pixels of the full image): strokes, not pixel-period stripes."""
        return gaussian_blur(grad, sigma * grad.shape[-1] / self.full) if sigma > 0 else grad


@dataclass(frozen=True)
class PCABasis:
    """The first k principal components of the training images: mean (784,), components (k, 784) with unit
    rows, sigma (k,) the standard deviation of the training images along each (pixels in [0, 1])."""

    mean: Tensor
    components: Tensor
    sigma: Tensor

    @staticmethod
    def fit(x: Tensor, k: int) -> PCABasis:
        """From training images x (N, 784) float in [0, 1]: eigenvectors of the 784 x 784 covariance matrix
        (exact, float64; the sign of each component does not matter for a dream)."""
        x = x.double()
        mean = x.mean(0)
        xc = x - mean
        values, vectors = torch.linalg.eigh(xc.T @ xc / (len(x) - 1))  # ascending
        top = torch.argsort(values, descending=True)[:k]
        return PCABasis(mean.float(), vectors[:, top].T.contiguous().float(), values[top].clamp_min(0).sqrt().float())

    def sample(self, seeds: Sequence[int], scale: float = 0.5) -> Tensor:
        """Random digit-like starts (len(seeds), 1, 28, 28): whitened coefficients drawn from N(0, scale^2), one
        seeded generator per image, mapped to pixels and clipped to [0, 1]."""
        z = torch.cat([torch.randn(1, len(self.sigma), generator=torch.Generator().manual_seed(s)) for s in seeds])
        side = int(len(self.mean) ** 0.5)
        return (self.mean + (scale * z * self.sigma) @ self.components).clamp(0, 1).view(len(z), 1, side, side)


class PCAImage:
    """The image as whitened PCA coefficients z (B, k): image = clip(mean + (sigma * z) @ components, 0, 1).
    A start image is projected onto the basis; `code()` is z, for the Gaussian prior penalty `pca_prior`.
    Octaves and blurs do not apply: the leading components are the coarse scale, and every image the basis can
    express is already as smooth as the training digits."""

    def __init__(self, init: Tensor, basis: PCABasis) -> None:
        self.full, self.basis = init.shape[-1], basis
        self.param = self._project(init).requires_grad_(True)

    def _project(self, images: Tensor) -> Tensor:
        b = self.basis
        return ((images.reshape(len(images), -1) - b.mean) @ b.components.T / b.sigma).detach().clone()

    def rescale(self, size: int) -> None:
        pass

    def image(self) -> Tensor:
        b = self.basis
        flat = b.mean + (self.param * b.sigma) @ b.components  # (B, 784)
        return flat.clamp(0, 1).view(len(flat), 1, self.full, self.full)

    @torch.no_grad()
    def step_(self, grad: Tensor, lr: float) -> None:
        """Normalised gradient ascent on z: each image's coefficients move by lr * grad / mean|grad|."""
        scale = grad.abs().mean(dim=1, keepdim=True).clamp_min(1e-12)
        self.param.add_(grad / scale, alpha=lr)

    def blur_(self, sigma: float) -> None:
        pass

    def code(self) -> Tensor | None:
        return self.param

    def smooth_grad(self, grad: Tensor, sigma: float) -> Tensor:
        return grad  # the components are smooth already


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
    grad_sigma: float = 0.0  # Gaussian blur of the objective's gradient, pixels at full size (0 = off)
    samples: int = 1  # transformed copies per step whose gradients are averaged (robustness to the transforms)
    threads: int = 1  # CPU intra-op threads during the render (0 = leave torch's setting). The tensors are a
    # few 28x28 images, where thread hand-offs cost more than they give: 6 steps of a tiny CNN took 1.2 s with
    # 2 threads and 0.04 s with 1 on our busy 2-core machine


@dataclass
class RenderResult:
    images: Tensor  # (B, 1, 28, 28) in [0, 1], on the CPU
    trace: list[list[float]] = field(default_factory=list)  # (steps, B): each image's objective per step
    penalty: list[list[float]] = field(default_factory=list)  # (steps, B): its penalty (empty without one)


def octave_sizes(full: int, octaves: int) -> list[int]:
    """Resolutions from coarse to fine, halving per octave: (28, 2) -> [14, 28]."""
    return [max(4, full // 2 ** k) for k in reversed(range(octaves))]


def render(model: nn.Module, objective: Objective, start: Tensor, spec: RenderSpec,
           seed: int | Sequence[int] = 0, penalty: Objective | None = None, basis: PCABasis | None = None,
           ) -> RenderResult:
    """Maximise `objective` minus `penalty` by gradient ascent on images that start at `start` (B, 1, H, W)
    in [0, 1].

    The two gradients are combined on different scales: the objective's is first divided by its mean absolute
    value (per image), the penalty's is used as it is, so penalty weights are in pixel units and mean the same
    for any model. (A model's logit scale varies a lot: label smoothing keeps logits ~5x smaller, and with one
    summed objective the same weights then drown the class signal.) The sum is normalised again for the step.
    Image k draws its jitter from a generator seeded with seeds[k] (an int `seed` means seed + k), so the same
    seed and start give the same image, alone or in any batch. The model is put in eval mode; its parameters get
    no gradient (their requires_grad flags are restored afterwards). With `basis`, the image is parameterised
    by its whitened PCA coefficients (`PCAImage`, one scale) instead of its pixels."""
    start, gens = prepare(model, start, seed)
    device = start.device
    transforms = [roll_jitter(spec.jitter), random_scale(spec.scale)]
    sizes = octave_sizes(start.shape[-1], spec.octaves if basis is None else 1)
    per_octave = [spec.steps // len(sizes) + (i < spec.steps % len(sizes)) for i in range(len(sizes))]
    param: PixelImage | PCAImage = PixelImage(start, sizes[0]) if basis is None else PCAImage(start, _on(basis,
                                                                                                     device))
    trace: list[list[float]] = []
    penalties: list[list[float]] = []
    with frozen(model), record(hook_points(model)) as acts, cpu_threads(spec.threads if device.type == "cpu" else 0):
        for size, steps in zip(sizes, per_octave, strict=True):
            param.rescale(size)
            for step in range(steps):
                score, probe, grad = _class_gradient(model, objective, param, transforms, gens, acts, start, spec)
                if penalty is not None:
                    cost = penalty(probe)  # (B,)
                    grad = grad - torch.autograd.grad(cost.sum(), param.param)[0]
                    penalties.append(cost.detach().cpu().tolist())
                param.step_(grad, spec.lr)
                if spec.blur_every and (step + 1) % spec.blur_every == 0:
                    param.blur_(spec.blur_sigma)
                trace.append(score.cpu().tolist())
    with torch.no_grad():
        final = param.image().clamp(0, 1).detach().cpu()
    return RenderResult(final, trace, penalties)


def _on(basis: PCABasis, device: torch.device) -> PCABasis:
    return PCABasis(basis.mean.to(device), basis.components.to(device), basis.sigma.to(device))


def _class_gradient(model: nn.Module, objective: Objective, param: PixelImage | PCAImage, transforms: list[Transform],
                    gens: list[torch.Generator], acts: dict[str, Tensor], start: Tensor, spec: RenderSpec,
                    ) -> tuple[Tensor, Probe, Tensor]:
    """The objective's gradient with respect to the parameter, averaged over `spec.samples` randomly transformed
    copies, low-passed (grad_sigma) and normalised to mean |g| = 1 per image. Returns (mean score (B,), the last
    probe, gradient)."""
    image = param.image()
    total, scores, probe = torch.zeros_like(param.param), torch.zeros(len(start), device=start.device), None
    for k in range(spec.samples):
        x = image
        for t in transforms:
            x = t(x, gens)
        probe = Probe(image, model(x), acts, start, param.code())
        score = objective(probe)  # (B,)
        total += torch.autograd.grad(score.sum(), param.param, retain_graph=k == spec.samples - 1)[0]
        scores += score.detach()
    total = param.smooth_grad(total, spec.grad_sigma)
    dims = tuple(range(1, total.dim()))  # per image: pixels (1, H, W) or coefficients (k,)
    total = total / total.abs().mean(dim=dims, keepdim=True).clamp_min(1e-12)
    return scores / spec.samples, probe, total


def prepare(model: nn.Module, start: Tensor, seed: int | Sequence[int]) -> tuple[Tensor, list[torch.Generator]]:
    """Put `model` in eval mode; `start` (B, ...) as float on the model's device, and one generator per image,
    seeded with seeds[k] (an int `seed` means seed + k): the same seed and start give the same image, alone or
    in any batch."""
    model.eval()
    seeds = [seed + k for k in range(len(start))] if isinstance(seed, int) else list(seed)
    if len(seeds) != len(start):
        raise ValueError(f"{len(seeds)} seeds for {len(start)} images")
    return start.to(next(model.parameters()).device).float(), [torch.Generator().manual_seed(s) for s in seeds]


@contextlib.contextmanager
def frozen(model: nn.Module) -> Iterator[None]:
    """Within the block no parameter of `model` needs a gradient (only the image is optimised, which saves the
    weight gradients' compute); each parameter's requires_grad flag is restored afterwards, also on errors."""
    were = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, g in zip(model.parameters(), were, strict=True):
            p.requires_grad_(g)


@contextlib.contextmanager
def cpu_threads(n: int) -> Iterator[None]:
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
