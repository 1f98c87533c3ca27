"""DeepDream regulariser ablation: why the `VizConfig` defaults are what they are.

For one run's CNN 4.1 and MLP 3.1 (read from `<run>/cnn/4_1/model.pt` and `<run>/mlp/3_1/model.pt`), renders
the dreams of each class from noise (and, with --real, from the test digit) with the default settings and with
one regulariser removed at a time, and reports per variant: the mean target probability under the CNN 4.1 and the
MLP 3.1, how many seeds the MLP classifies as the target, the share of the image's ink in the outer 4-pixel frame
(training digits: 3.5% on average), and the render time per batch of seeds. It also writes a figure with one row
per variant, to look at: the numbers alone cannot say whether a dream looks like the digit (--figures; --out is
the results JSON, as for every benchmark).

  python -m benchmarks viz_dreams --run DIR [--seeds 5] [--real] [--figures /tmp/viz-ablation] [--only TEXT]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks import common
from mnistlab.config import VizConfig
from mnistlab.models.registry import create
from mnistlab.plots import figure, save_figure
from mnistlab.studies import viz as study
from mnistlab.train import safe_load
from mnistlab.viz import dream as D

PIXEL = {"dream_param": "pixel"}
VARIANTS = {  # name -> overrides of VizConfig. Defaults: dreams from noise in the PCA parameterisation
    "defaults (pca, 40 components)": {},
    "pca, 20 components": {"pca_components": 20},
    "pca, 80 components": {"pca_components": 80},
    "pca, no Gaussian prior": {"pca_prior": 0.0},
    "pca, prior 0.3": {"pca_prior": 0.3},
    "pca + TV 0.2": {"pca_tv": 0.2},
    "pca, no border penalty": {"border": 0.0},
    "pca, no jitter or rescale": {"jitter": 0, "scale_jitter": 0.0},
    "pixel (the regularisers alone)": PIXEL,
    "pixel, no border penalty": {**PIXEL, "border": 0.0},
    "pixel, no TV penalty": {**PIXEL, "tv": 0.0},
    "pixel, no L2 penalty": {**PIXEL, "l2": 0.0},
    "pixel, no jitter or rescale": {**PIXEL, "jitter": 0, "scale_jitter": 0.0},
    "pixel, no blur": {**PIXEL, "blur_every": 0},
    "pixel, no gradient low-pass": {**PIXEL, "grad_sigma": 0.0},
    "pixel, one octave": {**PIXEL, "octaves": 1},
    "pixel, none of these": {**PIXEL, "border": 0.0, "tv": 0.0, "l2": 0.0, "jitter": 0, "scale_jitter": 0.0,
                             "blur_every": 0, "grad_sigma": 0.0, "octaves": 1, "real_anchor": 0.0},
}


def frame_share(images: np.ndarray, margin: int = 4) -> float:
    """Mean share of each image's ink (sum of pixel values) in the outer `margin` pixels. images (S, 28, 28)."""
    inner = images[:, margin:-margin, margin:-margin].sum(axis=(1, 2))
    total = images.sum(axis=(1, 2)).clip(min=1e-9)
    return float(((total - inner) / total).mean())


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--real", action="store_true", help="also the dreams from the test digits")
    ap.add_argument("--figures", type=Path, default=Path("/tmp/viz-ablation"), help="folder for ablation.png/svg")
    ap.add_argument("--only", default="", help="only the variants whose name contains this text")
    ap.add_argument("--steps", type=int, default=0, help="ascent steps per octave (0 = VizConfig's dream_steps)")


def load_models(run: Path) -> tuple[torch.nn.Module, torch.nn.Module]:
    from mnistlab.errors import UserError

    paths = (run / "cnn" / "4_1" / "model.pt", run / "mlp" / "3_1" / "model.pt")
    if missing := [str(p) for p in paths if not p.is_file()]:
        raise UserError(f"--run: no trained model at {', '.join(missing)}")
    cnn, mlp = create("cnn_4_1"), create("mlp_3_1")
    cnn.load_state_dict(safe_load(paths[0]))
    mlp.load_state_dict(safe_load(paths[1]))
    return cnn.eval(), mlp.eval()


def run(a: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(1)
    cnn, mlp = load_models(a.run)
    from mnistlab.data import load_dataset

    mnist = load_dataset("mnist")
    digits = study.example_digits(mnist, [2, 9])
    bases: dict[int, D.PCABasis] = {}
    seeds = list(range(a.seeds))
    rows, shown = [], []
    for name, overrides in VARIANTS.items():
        if a.only not in name:
            continue
        v = dataclasses.replace(VizConfig(), **overrides, **({"dream_steps": a.steps} if a.steps else {}))
        if v.dream_param == "pca" and v.pca_components not in bases:
            bases[v.pca_components] = study.prior_basis(mnist, v.pca_components)
        for target in (2, 9):
            for kind in ("noise", "real") if a.real else ("noise",):
                if kind == "real" and name != "defaults (pca, 40 components)" and not name.startswith("pixel"):
                    continue  # the pca settings do not act on dreams from a real digit
                basis = bases.get(v.pca_components) if v.dream_param == "pca" and kind == "noise" else None
                row, images, p_cnn, p_mlp = dream(cnn, mlp, v, target, kind, digits[target], seeds, basis)
                rows.append({"variant": name, **row})
                shown.append((name, target, kind, images, p_cnn, p_mlp))
                print(rows[-1], file=sys.stderr, flush=True)
    save_figure(_figure(shown), a.figures / "ablation")
    return {"run": str(a.run), "seeds": seeds, "figure": str(a.figures / "ablation.png"), "rows": rows}


def dream(cnn: torch.nn.Module, mlp: torch.nn.Module, v: VizConfig, target: int, kind: str, digit: Any,
          seeds: list[int], basis: Any) -> tuple[dict[str, Any], np.ndarray, Any, Any]:
    """One batch of dreams of `target` (one per seed): its row of numbers, the images and both models' p(target)."""
    spec = study.render_spec(v, v.dream_steps, v.octaves if kind == "noise" else 1)
    t0 = time.perf_counter()
    objective, penalty = study.dream_objective(v, target, kind)
    res = D.render(cnn, objective, study.dream_starts(v, kind, digit, seeds, basis), spec, seed=seeds,
                   penalty=penalty, basis=basis)
    seconds = time.perf_counter() - t0
    p_cnn, p_mlp = D.probabilities(cnn, res.images)[:, target], D.probabilities(mlp, res.images)[:, target]
    hits = int((D.probabilities(mlp, res.images).argmax(1) == target).sum())
    images = res.images[:, 0].numpy()
    row = {"target": target, "kind": kind, "p_cnn": float(p_cnn.mean()), "p_mlp": float(p_mlp.mean()),
           "mlp_hits": hits, "frame_share": frame_share(images), "seconds": seconds}
    return row, images, p_cnn, p_mlp


def render(results: list[dict[str, Any]]) -> str:
    rows = [[r["variant"], f"{r['target']} from {r['kind']}", f"{r['p_cnn']:.3f}", f"{r['p_mlp']:.3f}",
             f"{r['mlp_hits']}/{len(res['seeds'])}", f"{r['frame_share']:.3f}", f"{r['seconds']:.1f}"]
            for res in results for r in res["rows"]]
    return common.table(["variant", "dream", "p CNN 4.1", "p MLP 3.1", "MLP hits", "ink in frame", "s per batch"],
                        rows)


def _figure(rows: list) -> object:
    """One row per (variant, kind), the seeds of class 2 then of class 9 side by side; titles: p CNN | p MLP."""
    groups: dict[tuple[str, str], list] = {}
    for name, _target, kind, images, p_cnn, p_mlp in rows:
        groups.setdefault((name, kind), []).extend(zip(images, p_cnn, p_mlp, strict=True))
    import textwrap

    n_cols = max(len(g) for g in groups.values())
    fig, axes = figure(len(groups), n_cols, figsize=(0.95 * n_cols + 1.6, 1.1 * len(groups) + 0.4), squeeze=False,
                       layout="constrained")
    for ax_row, ((name, kind), cells) in zip(axes, groups.items(), strict=True):
        for ax, (image, pc, pm) in zip(ax_row, cells, strict=False):
            ax.imshow(image, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(f"{float(pc):.2f} | {float(pm):.2f}", fontsize=6)
        for ax in ax_row:
            ax.set_xticks([])
            ax.set_yticks([])
        ax_row[0].set_ylabel(textwrap.fill(f"{name} ({kind})", 18), fontsize=6)
    fig.suptitle("DeepDream ablation: p(target) under CNN 4.1 | MLP 3.1", fontsize=9)
    return fig

