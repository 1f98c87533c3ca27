"""Configs: one dataclass per study, one `RunConfig` holding them, and the profiles as small functions.

Profiles (`--profile`):
  full   the brief's protocol, one seed (the default)
  quick  all the data, short budgets: every study and deliverable in about 10 minutes on a 2-core CPU
  paper  `full` with several seeds; tables show mean +/- std over seeds
  smoke  tiny subsets and budgets, for tests and for trying the pipeline in seconds (numbers are meaningless)
Override any field with `--set study.field=value` (e.g. `--set mlp.epochs=5`); unknown keys and wrong types are
rejected with one clear message.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mnistlab.errors import ConfigError

STUDIES = ("pca", "perceptron", "mlp", "cnn", "viz", "mtl")


@dataclass
class PCAConfig:
    n_components: int = 50  # components drawn in the scree plot and saved (all 784 are fitted: exact cumulatives)
    scatter_points: int = 20000  # points drawn in the scatter (all 60k are fitted); fewer keeps it legible
    subset: int = 0  # 0 = all 60,000 training images; N > 0 = the first N (smoke runs)


@dataclass
class PerceptronConfig:
    pairs: str = "0-1,2-3,4-5,6-7,8-9"  # the brief's five digit pairs
    max_iter: int = 1000  # the brief's loop bound: `while iteration <= max_iter and error > 1e-3`
    all_pairs: bool = True  # the 10x10 heat-map over all 45 pairs (extra)
    all_pairs_max_iter: int = 0  # iteration bound of the 45 heat-map fits; 0 = max_iter (main fits are reused)
    subset: int = 0  # 0 = all images of each pair; N > 0 = the first N (smoke runs)


@dataclass
class MLPConfig:
    """Study 3. With `search` on, the 3.1 batch size, learning rate and epochs come from the validation search
    (studies/mlp.py says how); epochs/batch_size/lr below are used only when it is off."""

    epochs: int = 5  # 3.1 training epochs (when search is off); these three are what the search chose on full
    batch_size: int = 128
    lr: float = 2e-3
    schedule: str = "onecycle"  # constant | onecycle (warm-up then cosine decay, see train.TrainSpec)
    label_smoothing: float = 0.1  # cross-entropy against 0.9 one-hot + 0.1 uniform (a loss regulariser)
    search: bool = True  # choose batch size, learning rate and epochs on a validation slice of train
    search_batches: str = "128,256,512"  # stage 1 grid ...
    search_lrs: str = "1e-3,2e-3,4e-3"  # ... x these learning rates, `search_epochs` epochs each
    search_epochs: int = 2  # epochs per stage-1 candidate (a one-cycle over 2 epochs)
    search_budgets: str = "5,10"  # stage 2: epoch budgets tried with the stage-1 winner (besides search_epochs)
    search_tol: float = 0.001  # the cheapest candidate within this validation accuracy of the best wins
    depth_epochs: int = 0  # epochs for each 3.2 model; 0 = the 3.1 recipe's epochs
    val_size: int = 5000  # validation slice of train, for the search only
    subset: int = 0  # 0 = all data; N > 0 = the first N training and N // 5 test images


@dataclass
class CNNConfig:
    """Study 4. One recipe for 4.1 and the 4.2 variants, fixed on the mlp study's validation slice during
    development (docs/BENCHMARKS.md, "Training engine, MLPs and CNNs"): 8 epochs scored as well as 12 there;
    channels_last is the faster layout for conv nets on CPU."""

    epochs: int = 8  # 4.1 training epochs
    batch_size: int = 128
    lr: float = 2e-3
    schedule: str = "onecycle"  # constant | onecycle
    label_smoothing: float = 0.1
    variant_epochs: int = 0  # epochs for each 4.2 model; 0 = the same as 4.1
    channels_last: bool = True
    subset: int = 0  # 0 = all data; N > 0 = the first N training and N // 5 test images


@dataclass
class VizConfig:
    """Study 5. Penalty weights are in pixel units (the class gradient is normalised before they are added, see
    viz.dream.render). The defaults were chosen by looking at the dreams of several CNN 4.1s (1, 2 and 10
    epochs, with and without label smoothing) and checked with benchmarks/viz_dreams.py (docs/BENCHMARKS.md,
    "CNN visualisation")."""

    dream_classes: str = "2,9"  # target classes (each must have an example digit: test[1] '2', test[7] '9')
    dream_objective: str = "logit"  # logit (the class's pre-softmax score) | margin (its log-odds vs the rest)
    dream_param: str = "pca"  # dreams from noise: pca (whitened coefficients on the training digits' principal
    # components, with a Gaussian prior) | pixel (free pixels, the regularisers below only); see viz.dream
    pca_components: int = 40  # principal components of the pca parameterisation
    pca_prior: float = 0.1  # weight of the Gaussian prior (sum of squared whitened coefficients), pca only
    pca_init: float = 0.5  # dreams from noise start at coefficients drawn from N(0, pca_init^2), pca only
    pca_tv: float = 0.0  # TV penalty of pca dreams (0: the basis has no speckle to remove; TV thickened strokes)
    dream_steps: int = 256  # gradient-ascent steps per dream (pixel: split evenly over the octaves)
    dream_seeds: int = 5  # dreams per class and kind (seeds seed..seed+N-1); metrics are the mean over seeds
    dream_lr: float = 0.1  # normalised step: pixels move by about this much per step
    l2: float = 0.05  # penalty on the sum of squared pixels (pulls towards the black background), pixel only
    tv: float = 0.2  # total-variation penalty (solid strokes instead of speckle)
    border: float = 1.0  # penalty on ink in the outer frame, where MNIST digits have little (see dream.border)
    border_margin: int = 4  # width of that frame, pixels (MNIST centres each digit's 20x20 box in 28x28)
    jitter: int = 2  # roll jitter, pixels, each step
    scale_jitter: float = 0.1  # random rescale by 1 +/- this each step (0 = off)
    blur_every: int = 8  # Gaussian blur every N steps (0 = never)
    blur_sigma: float = 0.5  # sigma of that blur, pixels
    grad_sigma: float = 1.0  # Gaussian blur of the class gradient before each step, pixels (0 = off)
    samples: int = 1  # jittered copies per step whose class gradients are averaged
    octaves: int = 2  # 1 = single scale, 2 = 14x14 then 28x28 (pixel dreams from noise, preferred inputs)
    init_noise: float = 0.1  # pixel dreams from noise start as uniform noise in [0, init_noise)
    real_anchor: float = 3.0  # dreams from a real digit: penalty on the squared change from the start image
    real_energy: float = 0.0  # dreams from a real digit: weight of conv3's energy (classic DeepDream), 0 = off
    dream_both: bool = True  # dreams from noise in both parameterisations: dream_param's keeps the plain `noise`
    # keys, the other one is `noise_pixel` / `noise_pca`: what the PCA prior does to the independent check
    deepdream_layers: str = "conv2,conv3"  # classic DeepDream from the test digits: layers whose energy is raised
    # ("" = skip); see viz.deepdream
    deepdream_steps: int = 20  # its gradient steps per octave
    deepdream_octaves: int = 3  # image sizes 28 / 1.4^k, small to large (3: 14, 20, 28 pixels)
    deepdream_octave_scale: float = 1.4  # ratio of neighbouring octave sizes (Mordvintsev et al.'s notebook)
    deepdream_lr: float = 0.015  # normalised step, pixels (by eye on a quick run: 0.01 barely changed the digits,
    # 0.02 covered them in new strokes)
    filter_steps: int = 128  # steps for the input that maximises each conv2/conv3 channel's centre unit (0 = skip)
    filter_tv: float = 0.05  # TV penalty of those renders (lighter than the dreams': a unit sees a small patch)
    independent: str = "mlp_3_1"  # the independent judge: mlp_3_1 (the mlp study's) or cnn_4_1 (seed + 1)


@dataclass
class MTLConfig:
    lambdas: str = "0,0.25,0.5,0.75,1"  # loss = lambda * L_items + (1 - lambda) * L_groups; one fresh net each
    epochs: int = 6  # every final model (2 single nets, each lambda, uw); docs/BENCHMARKS.md, "Multi-task study"
    batch_size: int = 256  # per-step costs (Adam over 23M weights, bf16 casts) halve per image against 128
    epoch_images: int = 0  # images per epoch of every model: 0 = all 60,000; N = a fresh seeded draw of N
    lr: float = 1e-3  # Adam; used as is when `tune` is off, and as Optuna's first (enqueued) trial
    beta1: float = 0.9
    beta2: float = 0.999
    schedule: str = "onecycle"  # constant | onecycle (warm-up then cosine decay), for trials and final models
    tune: bool = True  # Optuna over lr, beta1, beta2 on the validation slice; the winner trains every model
    tune_trials: int = 12  # trials (complete or pruned) the study must hold; the first is Adam's defaults
    tune_epochs: int = 2  # epochs per trial: two, so the median pruner can stop a poor trial after the first
    tune_subset: int = 10000  # training images per trial, a seeded draw from the train part (0 = all of it)
    storage: str = ""  # Optuna storage URL ($VARS expanded at use); "" = SQLite in <run>/mtl/tuning/
    uncertainty: bool = True  # Kendall et al. (2018) learned task weights, as an extra row
    val_size: int = 5000  # validation slice of train, for tuning only
    subset: int = 0  # 0 = all data; N > 0 = the first N training and N // 5 test images


@dataclass
class RunConfig:
    profile: str = "full"
    seed: int = 0
    seeds: int = 1  # models trained per setting (paper: several, tables show mean +/- std)
    device: str = "auto"  # auto | cpu | cuda
    data_dir: str = ""  # "" = the lookup order of mnistlab.data
    pca: PCAConfig = field(default_factory=PCAConfig)
    perceptron: PerceptronConfig = field(default_factory=PerceptronConfig)
    mlp: MLPConfig = field(default_factory=MLPConfig)
    cnn: CNNConfig = field(default_factory=CNNConfig)
    viz: VizConfig = field(default_factory=VizConfig)
    mtl: MTLConfig = field(default_factory=MTLConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ---------------------------------------------------------------- profiles
def full() -> RunConfig:
    return RunConfig(profile="full")


def quick() -> RunConfig:
    """Every study on all the data with short budgets, sized on a 2-core AVX2 CPU without bf16 (docs/BENCHMARKS.md,
    "The quick profile"): each accuracy target of the quick profile is met with a margin, and the multi-task
    study, whose 8 Fashion nets cost ~180 MFLOP per training image, sees 25,000 images per net (a seeded draw of
    the 60,000 at batch 128: in one short epoch smaller batches reach a higher accuracy per image)."""
    cfg = RunConfig(profile="quick")
    cfg.perceptron.max_iter, cfg.perceptron.all_pairs_max_iter = 300, 30  # pairs that separate stop far earlier
    # Equal budgets wherever architectures are compared: the 3.2 / 4.2 networks train as long as 3.1 / 4.1.
    cfg.mlp.epochs, cfg.mlp.depth_epochs, cfg.mlp.search = 2, 0, False
    cfg.cnn.epochs, cfg.cnn.variant_epochs = 2, 0
    cfg.viz.dream_steps, cfg.viz.filter_steps = 128, 64
    cfg.mtl.epochs, cfg.mtl.batch_size, cfg.mtl.epoch_images = 1, 128, 25_000
    cfg.mtl.tune_trials, cfg.mtl.tune_subset, cfg.mtl.tune_epochs = 3, 5000, 1  # a smoke test of tuning, no more
    return cfg


def paper() -> RunConfig:
    cfg = RunConfig(profile="paper", seeds=3)
    return cfg


def smoke() -> RunConfig:
    cfg = RunConfig(profile="smoke")
    cfg.pca.subset, cfg.pca.scatter_points = 2000, 2000
    cfg.perceptron.subset, cfg.perceptron.max_iter = 600, 20
    cfg.mlp.subset, cfg.mlp.epochs, cfg.mlp.depth_epochs, cfg.mlp.search_epochs = 1000, 1, 1, 1
    cfg.mlp.val_size, cfg.mlp.search_batches, cfg.mlp.search_lrs = 200, "128", "1e-3,2e-3"
    cfg.mlp.search_budgets = "1"  # stage 2 reuses stage 1's 1-epoch run: two tiny candidates in all
    cfg.cnn.subset, cfg.cnn.epochs, cfg.cnn.variant_epochs = 1000, 1, 1
    cfg.viz.dream_steps, cfg.viz.dream_seeds, cfg.viz.filter_steps = 8, 2, 4
    cfg.mtl.subset, cfg.mtl.epochs, cfg.mtl.tune_trials, cfg.mtl.tune_epochs = 256, 1, 2, 1
    cfg.mtl.val_size, cfg.mtl.tune_subset, cfg.mtl.batch_size = 64, 0, 64
    return cfg


PROFILES: dict[str, Callable[[], RunConfig]] = {"quick": quick, "full": full, "paper": paper, "smoke": smoke}


def build(profile: str = "full", overrides: list[str] | None = None, **top: Any) -> RunConfig:
    """The profile's config, then top-level values (seed, device, ...), then `--set key=value` overrides."""
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    cfg = PROFILES[profile]()
    for key, value in top.items():
        if value is not None:
            set_value(cfg, key, str(value))
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got {item!r} (e.g. --set mlp.epochs=5)")
        key, value = item.split("=", 1)
        set_value(cfg, key.strip(), value.strip())
    validate(cfg)
    return cfg


def set_value(cfg: RunConfig, key: str, raw: str) -> None:
    """Set a dotted key ('mlp.epochs' or 'seed') from its string form, cast to the field's declared type."""
    *path, name = key.split(".")
    target: Any = cfg
    for part in path:
        if not dataclasses.is_dataclass(target) or part not in _fields(target):
            raise ConfigError(f"unknown config key {key!r}; known: {', '.join(known_keys(cfg))}")
        target = getattr(target, part)
    fields = _fields(target) if dataclasses.is_dataclass(target) else {}
    if name not in fields or dataclasses.is_dataclass(getattr(target, name)):
        raise ConfigError(f"unknown config key {key!r}; known: {', '.join(known_keys(cfg))}")
    setattr(target, name, _cast(raw, fields[name], key))


def _fields(obj: Any) -> dict[str, Any]:
    return typing.get_type_hints(type(obj))


def _cast(raw: str, kind: Any, key: str) -> Any:
    try:
        if kind is bool:
            low = raw.lower()
            if low not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError
            return low in ("1", "true", "yes", "on")
        return kind(raw)
    except ValueError:
        raise ConfigError(f"{key} expects {kind.__name__}, got {raw!r}") from None


def known_keys(cfg: RunConfig) -> list[str]:
    keys = []
    for name, value in vars(cfg).items():
        if dataclasses.is_dataclass(value):
            keys += [f"{name}.{sub}" for sub in vars(value)]
        else:
            keys.append(name)
    return keys


# Fields that must be strictly positive; every other number must be >= 0.
_POSITIVE = {"epochs", "batch_size", "lr", "max_iter", "dream_steps", "dream_seeds", "val_size",
             "search_epochs", "tune_trials", "tune_epochs", "seeds", "n_components", "octaves",
             "scatter_points", "dream_lr", "blur_sigma", "samples", "pca_components"}


def validate(cfg: RunConfig) -> None:
    if cfg.device not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"device must be auto, cpu or cuda, got {cfg.device!r}")
    for key in known_keys(cfg):
        obj: Any = cfg
        for part in key.split("."):
            obj = getattr(obj, part)
        name = key.split(".")[-1]
        if isinstance(obj, bool) or not isinstance(obj, int | float):
            continue
        if obj < 0 or (name in _POSITIVE and obj <= 0):
            raise ConfigError(f"{key} must be {'> 0' if name in _POSITIVE else '>= 0'}, got {obj}")
    for b in ("beta1", "beta2"):
        if not 0 <= getattr(cfg.mtl, b) < 1:
            raise ConfigError(f"mtl.{b} must be in [0, 1), got {getattr(cfg.mtl, b)}")
    for lam in parse_floats(cfg.mtl.lambdas, "mtl.lambdas"):
        if not 0 <= lam <= 1:
            raise ConfigError(f"mtl.lambdas must lie in [0, 1], got {lam}")
    parse_pairs(cfg.perceptron.pairs)


def parse_floats(text: str, key: str) -> list[float]:
    try:
        return [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise ConfigError(f"{key} expects comma-separated numbers, got {text!r}") from None


def parse_pairs(text: str) -> list[tuple[int, int]]:
    """'0-1,2-3' -> [(0, 1), (2, 3)]."""
    pairs = []
    for item in text.split(","):
        try:
            a, b = (int(v) for v in item.strip().split("-"))
        except ValueError:
            raise ConfigError(f"perceptron.pairs expects digit pairs like 0-1,2-3, got {item!r}") from None
        if a == b or not (0 <= a <= 9 and 0 <= b <= 9):
            raise ConfigError(f"perceptron.pairs: {item!r} is not a pair of two different digits 0-9")
        pairs.append((a, b))
    return pairs
