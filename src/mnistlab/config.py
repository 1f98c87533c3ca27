"""Configs: one dataclass per study, one `RunConfig` holding them, and the profiles as small functions.

Profiles (`--profile`):
  full   the brief's protocol, one seed (the default)
  quick  all the data, short budgets: every study and deliverable in about 10 minutes on a 2-core CPU
  paper  `full` with several seeds; tables show mean +/- std over seeds
  smoke  tiny subsets and budgets, for tests and for trying the pipeline in seconds (numbers are meaningless)

Every field is declared with `setting(default, doc, bounds...)` (mnistlab.settings): its doc and its bounds sit
beside it, `build` checks them all and `mnistlab run --list-settings [--profile P]` prints every key with its
type, value in that profile, bounds and doc. Override any field with `--set study.field=value` (e.g.
`--set mlp.epochs=5`); a list field takes comma-separated values (`--set mtl.lambdas=0,0.5,1`; an empty value
is an empty list) and config.json holds it as a JSON list. Unknown keys, wrong types and values out of bounds
are rejected with one line naming the key.
"""

# ruff: noqa: RUF009  (ruff flags any call as a list field's default; setting() gives each a default_factory)
from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mnistlab.errors import ConfigError
from mnistlab.settings import AT_LEAST_0, POSITIVE, set_value, setting, validate

STUDIES = ("pca", "perceptron", "mlp", "cnn", "viz", "mtl")
SCHEDULES = ("constant", "onecycle")  # train.SCHEDULES; the config layer cannot import the engine


def parse_pair(text: str) -> tuple[int, int]:
    """'0-1' -> (0, 1); ValueError unless it names two different digits 0-9."""
    try:
        a, b = (int(v) for v in text.split("-"))
    except ValueError:
        a = b = -1
    if a == b or not (0 <= a <= 9 and 0 <= b <= 9):
        raise ValueError("not a pair of two different digits 0-9 like 0-1")
    return a, b


def parse_pairs(pairs: list[str]) -> list[tuple[int, int]]:
    """['0-1', '2-3'] -> [(0, 1), (2, 3)] (validate has checked each)."""
    return [parse_pair(p) for p in pairs]


@dataclass
class PCAConfig:
    n_components: int = setting(50, "components drawn in the scree plot and saved (all 784 are fitted: exact "
                                "cumulatives)", **POSITIVE, high=784)
    scatter_points: int = setting(20000, "points drawn in the scatter (all 60k are fitted); fewer keeps it legible",
                                  **POSITIVE)
    subset: int = setting(0, "0 = all 60,000 training images; N > 0 = the first N (smoke runs)", **AT_LEAST_0)


@dataclass
class PerceptronConfig:
    # Pairs are "a-b" strings: config.json reads like the brief and the metric keys (perceptron.0-1.test_acc),
    # and --set takes them as a plain comma-separated list.
    pairs: list[str] = setting(("0-1", "2-3", "4-5", "6-7", "8-9"), "digit pairs a-b (two different digits 0-9), "
                               "one perceptron each; the brief's five", min_len=1, check=parse_pair)
    max_iter: int = setting(1000, "the brief's loop bound: `while iteration <= max_iter and error > 1e-3`",
                            **POSITIVE)
    all_pairs: bool = setting(True, "the 10x10 heat-map over all 45 pairs (extra)")
    all_pairs_max_iter: int = setting(0, "iteration bound of the 45 heat-map fits; 0 = max_iter (main fits are "
                                      "reused)", **AT_LEAST_0)
    subset: int = setting(0, "0 = all images of each pair; N > 0 = the first N (smoke runs)", **AT_LEAST_0)


@dataclass
class MLPConfig:
    """Study 3. With `search` on, the 3.1 batch size, learning rate and epochs come from the validation search
    (studies/mlp.py says how); epochs/batch_size/lr below are used only when it is off."""

    epochs: int = setting(5, "3.1 training epochs when search is off (what the search chose on full)", **POSITIVE)
    batch_size: int = setting(128, "3.1 batch size when search is off (what the search chose on full)", **POSITIVE)
    lr: float = setting(2e-3, "3.1 peak learning rate when search is off (what the search chose on full)",
                        **POSITIVE)
    schedule: str = setting("onecycle", "learning-rate schedule: onecycle = warm-up then cosine decay "
                            "(train.TrainSpec)", choices=SCHEDULES)
    label_smoothing: float = setting(0.1, "cross-entropy against 0.9 one-hot + 0.1 uniform (a loss regulariser)",
                                     low=0, high=1, high_open=True)
    search: bool = setting(True, "choose batch size, learning rate and epochs on a validation slice of train")
    search_batches: list[int] = setting((128, 256, 512), "stage 1 grid: batch sizes ...", **POSITIVE, min_len=1)
    search_lrs: list[float] = setting((1e-3, 2e-3, 4e-3), "... x these learning rates, `search_epochs` epochs each",
                                      **POSITIVE, min_len=1)
    search_epochs: int = setting(2, "epochs per stage-1 candidate (a one-cycle over 2 epochs)", **POSITIVE)
    search_budgets: list[int] = setting((5, 10), "stage 2: epoch budgets tried with the stage-1 winner (besides "
                                        "search_epochs)", **POSITIVE)
    search_tol: float = setting(0.001, "the cheapest candidate within this validation accuracy of the best wins",
                                low=0, high=1)
    depth_epochs: int = setting(0, "epochs for each 3.2 model; 0 = the 3.1 recipe's epochs", **AT_LEAST_0)
    val_size: int = setting(5000, "validation slice of train, for the search only", **POSITIVE)
    subset: int = setting(0, "0 = all data; N > 0 = the first N training and N // 5 test images", **AT_LEAST_0)


@dataclass
class CNNConfig:
    """Study 4. One recipe for 4.1 and the 4.2 variants, fixed on the mlp study's validation slice during
    development (docs/BENCHMARKS.md, "Training engine, MLPs and CNNs"): 8 epochs scored as well as 12 there;
    channels_last is the faster layout for conv nets on CPU."""

    epochs: int = setting(8, "4.1 training epochs", **POSITIVE)
    batch_size: int = setting(128, "batch size of every CNN", **POSITIVE)
    lr: float = setting(2e-3, "peak learning rate of every CNN", **POSITIVE)
    schedule: str = setting("onecycle", "learning-rate schedule", choices=SCHEDULES)
    label_smoothing: float = setting(0.1, "label smoothing of the cross-entropy", low=0, high=1, high_open=True)
    variant_epochs: int = setting(0, "epochs for each 4.2 model; 0 = the same as 4.1", **AT_LEAST_0)
    channels_last: bool = setting(True, "train in the channels_last memory layout (faster for conv nets on CPU)")
    subset: int = setting(0, "0 = all data; N > 0 = the first N training and N // 5 test images", **AT_LEAST_0)


@dataclass
class VizConfig:
    """Study 5. Penalty weights are in pixel units (the class gradient is normalised before they are added, see
    viz.dream.render). The defaults were chosen by looking at the dreams of several CNN 4.1s (1, 2 and 10
    epochs, with and without label smoothing) and checked with benchmarks/viz_dreams.py (docs/BENCHMARKS.md,
    "CNN visualisation")."""

    dream_classes: list[int] = setting((2, 9), "target classes, each with an example digit (test[1] '2', test[7] "
                                       "'9')", choices=(2, 9), min_len=1)
    dream_objective: str = setting("logit", "logit (the class's pre-softmax score) | margin (its log-odds vs the "
                                   "rest)", choices=("logit", "margin"))
    dream_param: str = setting("pca", "dreams from noise: pca (whitened coefficients on the training digits' "
                               "principal components, with a Gaussian prior) | pixel (free pixels, the regularisers "
                               "below only); see viz.dream", choices=("pca", "pixel"))
    pca_components: int = setting(40, "principal components of the pca parameterisation", **POSITIVE, high=784)
    pca_prior: float = setting(0.1, "weight of the Gaussian prior (sum of squared whitened coefficients), pca only",
                               **AT_LEAST_0)
    pca_init: float = setting(0.5, "dreams from noise start at coefficients drawn from N(0, pca_init^2), pca only",
                              **AT_LEAST_0)
    pca_tv: float = setting(0.0, "TV penalty of pca dreams (0: the basis has no speckle to remove; TV thickened "
                            "strokes)", **AT_LEAST_0)
    dream_steps: int = setting(256, "gradient-ascent steps per dream (pixel: split evenly over the octaves)",
                               **POSITIVE)
    dream_seeds: int = setting(5, "dreams per class and kind (seeds seed..seed+N-1); metrics are the mean over "
                               "seeds", **POSITIVE)
    dream_lr: float = setting(0.1, "normalised step: pixels move by about this much per step", **POSITIVE)
    l2: float = setting(0.05, "penalty on the sum of squared pixels (pulls towards the black background), pixel "
                        "only", **AT_LEAST_0)
    tv: float = setting(0.2, "total-variation penalty (solid strokes instead of speckle)", **AT_LEAST_0)
    border: float = setting(1.0, "penalty on ink in the outer frame, where MNIST digits have little (see "
                            "dream.border)", **AT_LEAST_0)
    border_margin: int = setting(4, "width of that frame, pixels (MNIST centres each digit's 20x20 box in 28x28)",
                                 **AT_LEAST_0)
    jitter: int = setting(2, "roll jitter, pixels, each step", **AT_LEAST_0)
    scale_jitter: float = setting(0.1, "random rescale by 1 +/- this each step (0 = off)", low=0, high=1,
                                  high_open=True)
    blur_every: int = setting(8, "Gaussian blur every N steps (0 = never)", **AT_LEAST_0)
    blur_sigma: float = setting(0.5, "sigma of that blur, pixels", **POSITIVE)
    grad_sigma: float = setting(1.0, "Gaussian blur of the class gradient before each step, pixels (0 = off)",
                                **AT_LEAST_0)
    samples: int = setting(1, "jittered copies per step whose class gradients are averaged", **POSITIVE)
    octaves: int = setting(2, "1 = single scale, 2 = 14x14 then 28x28 (pixel dreams from noise, preferred inputs)",
                           **POSITIVE)
    init_noise: float = setting(0.1, "pixel dreams from noise start as uniform noise in [0, init_noise)",
                                **AT_LEAST_0)
    real_anchor: float = setting(3.0, "dreams from a real digit: penalty on the squared change from the start "
                                 "image", **AT_LEAST_0)
    real_energy: float = setting(0.0, "dreams from a real digit: weight of conv3's energy (classic DeepDream), "
                                 "0 = off", **AT_LEAST_0)
    dream_both: bool = setting(True, "dreams from noise in both parameterisations: dream_param's keeps the plain "
                               "`noise` keys, the other one is `noise_pixel` / `noise_pca`: what the PCA prior does "
                               "to the independent check")
    deepdream_layers: list[str] = setting(("conv2", "conv3"), "classic DeepDream from the test digits: the CNN "
                                          "4.1's conv layers whose energy is raised (empty = skip); see "
                                          "viz.deepdream")
    deepdream_steps: int = setting(20, "its gradient steps per octave", **AT_LEAST_0)
    deepdream_octaves: int = setting(3, "image sizes 28 / 1.4^k, small to large (3: 14, 20, 28 pixels)",
                                     **POSITIVE)
    deepdream_octave_scale: float = setting(1.4, "ratio of neighbouring octave sizes (Mordvintsev et al.'s "
                                            "notebook)", **POSITIVE)
    deepdream_lr: float = setting(0.015, "normalised step, pixels (by eye on a quick run: 0.01 barely changed the "
                                  "digits, 0.02 covered them in new strokes)", **AT_LEAST_0)
    filter_steps: int = setting(128, "steps for the input that maximises each conv2/conv3 channel's centre unit "
                                "(0 = skip)", **AT_LEAST_0)
    filter_tv: float = setting(0.05, "TV penalty of those renders (lighter than the dreams': a unit sees a small "
                               "patch)", **AT_LEAST_0)
    independent: str = setting("mlp_3_1", "the independent judge: mlp_3_1 (the mlp study's) or cnn_4_1 (seed + 1)",
                               choices=("mlp_3_1", "cnn_4_1"))


@dataclass
class MTLConfig:
    lambdas: list[float] = setting((0.0, 0.25, 0.5, 0.75, 1.0), "loss = lambda * L_items + (1 - lambda) * "
                                   "L_groups; one fresh net each", low=0, high=1, min_len=1)
    epochs: int = setting(6, "every final model (2 single nets, each lambda, uw); docs/BENCHMARKS.md, "
                          "\"Multi-task study\"", **POSITIVE)
    batch_size: int = setting(256, "per-step costs (Adam over 23M weights, bf16 casts) halve per image against 128",
                              **POSITIVE)
    epoch_images: int = setting(0, "images per epoch of every model: 0 = all 60,000; N = a fresh seeded draw of N",
                                **AT_LEAST_0)
    lr: float = setting(1e-3, "Adam; used as is when `tune` is off, and as Optuna's first (enqueued) trial",
                        **POSITIVE)
    beta1: float = setting(0.9, "Adam's beta1 (as lr)", low=0, high=1, high_open=True)
    beta2: float = setting(0.999, "Adam's beta2 (as lr)", low=0, high=1, high_open=True)
    schedule: str = setting("onecycle", "learning-rate schedule (warm-up then cosine decay), for trials and final "
                            "models", choices=SCHEDULES)
    tune: bool = setting(True, "Optuna over lr, beta1, beta2 on the validation slice; the winner trains every "
                         "model")
    tune_trials: int = setting(12, "trials (complete or pruned) the study must hold; the first is Adam's defaults",
                               **POSITIVE)
    tune_epochs: int = setting(2, "epochs per trial: two, so the median pruner can stop a poor trial after the "
                               "first", **POSITIVE)
    tune_subset: int = setting(10000, "training images per trial, a seeded draw from the train part (0 = all of "
                               "it)", **AT_LEAST_0)
    storage: str = setting("", "Optuna storage URL ($VARS expanded at use); empty = SQLite in <run>/mtl/tuning/")
    uncertainty: bool = setting(True, "Kendall et al. (2018) learned task weights, as an extra row")
    val_size: int = setting(5000, "validation slice of train, for tuning only", **POSITIVE)
    subset: int = setting(0, "0 = all data; N > 0 = the first N training and N // 5 test images", **AT_LEAST_0)


@dataclass
class RunConfig:
    profile: str = setting("full", "the profile the config starts from (choose it with --profile)",
                           choices=("quick", "full", "paper", "smoke"))
    seed: int = setting(0, "base seed (--seed)", **AT_LEAST_0)
    seeds: int = setting(1, "models trained per setting (paper: several, tables show mean +/- std)", **POSITIVE)
    device: str = setting("auto", "where networks train (--device)", choices=("auto", "cpu", "cuda"))
    data_dir: str = setting("", "folder of the datasets (--data-dir); empty = the lookup order of mnistlab.data")
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
    "The quick profile"), and the multi-task study, whose 8 Fashion nets cost ~180 MFLOP per training image, sees
    30,000 images per net (a seeded draw of the 60,000 at batch 128: in one short epoch smaller batches reach a
    higher accuracy per image). 30,000 rather than 25,000: with bf16 on 2 threads 25,000 left the items net at
    87.96%, under the 88% target; on the validation slice one epoch reached 88.40% (25,000 images), 88.78%
    (30,000) and 89.00% (35,000), and 30,000 costs the study ~25 s (docs/BENCHMARKS.md, 2026-12-03 afternoon)."""
    cfg = RunConfig(profile="quick")
    cfg.perceptron.max_iter, cfg.perceptron.all_pairs_max_iter = 300, 30  # pairs that separate stop far earlier
    # Equal budgets wherever architectures are compared: the 3.2 / 4.2 networks train as long as 3.1 / 4.1.
    cfg.mlp.epochs, cfg.mlp.depth_epochs, cfg.mlp.search = 2, 0, False
    cfg.cnn.epochs, cfg.cnn.variant_epochs = 2, 0
    cfg.viz.dream_steps, cfg.viz.filter_steps = 128, 64
    cfg.mtl.epochs, cfg.mtl.batch_size, cfg.mtl.epoch_images = 1, 128, 30_000
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
    cfg.mlp.val_size, cfg.mlp.search_batches, cfg.mlp.search_lrs = 200, [128], [1e-3, 2e-3]
    cfg.mlp.search_budgets = [1]  # stage 2 reuses stage 1's 1-epoch run: two tiny candidates in all
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


def check_saved(run_dir: Path) -> None:
    """Refuse a run folder whose config.json an older version wrote, with list settings saved as text
    ("0,0.25,0.5"): the notebook, report and bundle read those settings as lists, and would otherwise show the
    studies concerned as incomplete. One line instead, saying what to do."""
    try:
        saved = json.loads((run_dir / "config.json").read_text())
    except (OSError, ValueError) as err:
        raise ConfigError(f"{run_dir / 'config.json'} cannot be read ({err}); is {run_dir} a run folder?") from None
    for study, fields in RunConfig().to_dict().items():
        old = saved.get(study)
        if not isinstance(fields, dict) or not isinstance(old, dict):
            continue
        for name, default in fields.items():
            if isinstance(default, list) and name in old and not isinstance(old[name], list):
                raise ConfigError(f"{run_dir / 'config.json'} was written by an older mnistlab ({study}.{name} is "
                                  f"{old[name]!r}, now a list); run the studies again in a new folder")
