"""How study 5 turns its VizConfig into renders: the render settings, the objective, penalty and start of each
kind of class dream (from noise on PCA coefficients or on free pixels, or from a test digit), the PCA prior's
basis, and the classic DeepDream settings. The study (`studies.viz`) runs them, scores and saves the results."""

from __future__ import annotations

import numpy as np
import torch

from mnistlab.config import VizConfig
from mnistlab.data import Dataset
from mnistlab.errors import ConfigError
from mnistlab.models.cnn import CNN_4_1
from mnistlab.viz import dream, objectives
from mnistlab.viz.deepdream import DeepDreamSpec

LABELS = {"pca": "from noise,\nPCA prior", "pixel": "from noise,\nfree pixels", "real": "from a test digit"}


def render_spec(v: VizConfig, steps: int, octaves: int) -> dream.RenderSpec:
    return dream.RenderSpec(steps=steps, lr=v.dream_lr, jitter=v.jitter, scale=v.scale_jitter,
                            blur_every=v.blur_every, blur_sigma=v.blur_sigma, octaves=octaves,
                            grad_sigma=v.grad_sigma, samples=v.samples)


def dream_kinds(v: VizConfig) -> dict[str, str]:
    """{kind: how} of the class dreams. `noise` starts from noise in dream_param's parameterisation; with
    dream_both, `noise_pixel` or `noise_pca` is the other one on the same seeds (the PCA prior confines a dream
    to the span of training digits, so only the pair shows what the prior does to the independent check);
    `real` starts from the test digit, on its pixels (it must be free to change single strokes of that digit)."""
    kinds = {"noise": v.dream_param}
    if v.dream_both:
        other = "pixel" if v.dream_param == "pca" else "pca"
        kinds[f"noise_{other}"] = other
    return kinds | {"real": "real"}


def prior_basis(data: Dataset, k: int, subset: int = 0) -> dream.PCABasis:
    """The first k principal components of the MNIST training images (all 60,000; the first `subset` in smoke
    runs) that parameterise the PCA-prior dreams. Class labels play no part: the prior knows what digits look
    like in general, not what a 2 looks like."""
    x = data.train.x[:subset or None].reshape(-1, 28 * 28)
    return dream.PCABasis.fit(torch.from_numpy(x.astype(np.float32) / 255.0), k)


def dream_objective(v: VizConfig, target: int, how: str) -> tuple[objectives.Objective, objectives.Objective]:
    """(objective, penalty) of a dream made `how`: pca | pixel from noise ('noise' = dream_param's), real from a
    test digit. Objective: the target's logit (from a real digit optionally plus conv3's energy). Penalty from
    noise: L2 (pixel: towards the black background; pca: the Gaussian prior on the whitened coefficients), TV and
    the border frame; from a real digit: the squared change from the start image, TV and new ink in the frame,
    so the dream amplifies the class while staying close to the digit."""
    how = v.dream_param if how == "noise" else how
    objective = objectives.class_logit(target)
    if v.dream_objective == "margin":
        objective = objectives.class_margin(target)
    if how != "real":
        frame = v.border * objectives.border(v.border_margin)
        if how == "pca":
            return objective, v.pca_prior * objectives.pca_prior() + v.pca_tv * objectives.tv() + frame
        return objective, v.l2 * objectives.l2() + v.tv * objectives.tv() + frame
    if v.real_energy:
        objective = objective + v.real_energy * objectives.layer_energy("conv3")
    frame = v.border * objectives.border(v.border_margin, "start")
    return objective, v.real_anchor * objectives.l2("start") + v.tv * objectives.tv() + frame


def dream_starts(v: VizConfig, how: str, digit: np.ndarray, seeds: list[int],
                 basis: dream.PCABasis | None = None) -> torch.Tensor:
    """(S, 1, 28, 28): one seeded start per seed (pca: random coefficients drawn from the prior, `basis`; pixel:
    dim uniform noise; 'noise': pca when a basis is given, else pixel), or S copies of the real digit."""
    if how == "noise":
        how = "pixel" if basis is None else "pca"
    if how == "pca":
        if basis is None:
            raise ValueError("a start from the PCA prior needs its basis")
        return basis.sample([10_000 + s for s in seeds], v.pca_init)
    if how == "pixel":
        return dream.noise_image([10_000 + s for s in seeds], 28, v.init_noise)
    return torch.from_numpy(digit)[None, None].repeat(len(seeds), 1, 1, 1)


def check_layers(layers: list[str]) -> list[str]:
    """viz.deepdream_layers (['conv2', 'conv3']), each checked against the CNN 4.1's conv layers (which the config
    layer cannot import, so config.build does not check them)."""
    known = [f"conv{k + 1}" for k in range(len(CNN_4_1.filters))]
    if bad := [layer for layer in layers if layer not in known]:
        raise ConfigError(f"viz.deepdream_layers: choose among {', '.join(known)}, got {','.join(bad)!r}")
    return list(layers)


def deepdream_spec(v: VizConfig) -> DeepDreamSpec:
    """Classic DeepDream's settings (its layer is set per render)."""
    return DeepDreamSpec(steps=v.deepdream_steps, lr=v.deepdream_lr, octaves=v.deepdream_octaves,
                         octave_scale=v.deepdream_octave_scale, jitter=v.jitter)
