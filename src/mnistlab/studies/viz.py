"""Study 5: what the CNN 4.1 learned. Its filters, its feature maps for a test '2' and '9', the input each
deeper channel prefers, classic DeepDream of those two digits (the energy of conv2 and conv3 raised over
octaves), and class dreams of 2 and 9 (from noise with the PCA prior and on free pixels, and from a real digit),
each image judged by the CNN 4.1 and by an independently trained model.

Models: the CNN 4.1 of the cnn study (`<run>/cnn/4_1/model.pt`) and the MLP 3.1 of the mlp study
(`<run>/mlp/3_1/model.pt`), only loaded: this study declares those studies in `NEEDS`, so the runner
(`studies.run_studies`) runs them first where they are not done, and nothing here writes under their folders.
A CNN 4.1 judge (`viz.independent=cnn_4_1`) is a second net this study trains, with seed + 1, in its own folder.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mnistlab.config import RunConfig, VizConfig
from mnistlab.data import Dataset
from mnistlab.errors import DataError, UserError
from mnistlab.log import log
from mnistlab.models.cnn import CNN_4_1
from mnistlab.models.mlp import MLP_3_1, build_mlp
from mnistlab.plots import save_figure
from mnistlab.plots import viz as plots
from mnistlab.runs import RunDir, atomic_path, read_json
from mnistlab.studies import StudyResult, nets
from mnistlab.studies import cnn as cnn_study
from mnistlab.train import pick_device, safe_load
from mnistlab.viz import deepdream, dream, objectives, recipes
from mnistlab.viz.features import activations, conv_stack, filters, kernel_stats, map_similarity, strongest_slices
from mnistlab.viz.recipes import dream_objective, dream_starts, prior_basis, render_spec  # and benchmarks/viz_dreams.py

NAME = "viz"
# Prerequisites (see mnistlab.studies): the studies whose models this one loads, run first where not done. Static,
# so that `mnistlab run viz` always leaves a folder the report can use; with the non-default CNN 4.1 judge the
# MLP 3.1 is not loaded, but the report compares with the mlp study anyway.
NEEDS = ("cnn", "mlp")
# The models it loads: name -> (study, model folder, builder). The file is `<run>/<study>/<folder>/model.pt`.
LOADED = {"cnn_4_1": ("cnn", "4_1", CNN_4_1.build), "mlp_3_1": ("mlp", "3_1", lambda: build_mlp(MLP_3_1))}
DIGITS = {2: 1, 9: 7}  # class -> test index of the brief's example digit (test[1] is a '2', test[7] a '9')


def run(cfg: RunConfig, rd: RunDir) -> StudyResult:
    v = cfg.viz  # config.build has checked its choices (independent, dream_param, ...) and dream_classes
    targets = list(v.dream_classes)
    recipes.check_layers(v.deepdream_layers)  # a bad layer name fails before any training
    cnn, judge, models = loaded_models(cfg, rd)  # a missing model fails before the data are read
    out = rd.study_dir(NAME)
    device = pick_device(cfg.device)
    data = nets.mnist(cfg)
    digits = example_digits(data, targets)
    judge = judge or independent_cnn(cfg, rd, data, models)
    for model in (cnn, judge):
        model.to(device).eval()

    summary: dict[str, Any] = {"models": models}
    summary["filters"], summary["kernel_stats"] = filter_figures(cnn, out)
    summary["activations"], summary["map_similarity"] = activation_figures(cnn, digits, out)
    summary["preferred_inputs"] = preferred_inputs(cnn, v, cfg.seed, out)
    basis = prior_basis(data, v.pca_components, cnn_images(cfg)) if "pca" in recipes.dream_kinds(v).values() else None
    summary["dreams"], metrics, rows = dreams(cnn, judge, digits, targets, cfg, rd, out, basis)
    summary["deepdream"], classic = classic_deepdream(cnn, judge, digits, cfg, out,
                                                      [r for r in rows if r["kind"] == "real"])
    metrics |= classic
    metrics[f"{NAME}.cnn_4_1.test_acc"] = models["cnn_4_1"]["test_acc"]
    metrics[f"{NAME}.independent.test_acc"] = models["independent"]["test_acc"]
    return StudyResult(summary=summary, metrics=metrics)


def example_digits(data: Dataset, targets: list[int]) -> dict[int, np.ndarray]:
    """{class: test image (28, 28) float32 in [0, 1]} for the brief's test indices, with their labels checked."""
    found = {}
    for c in sorted(set(targets) | set(DIGITS)):
        i = DIGITS[c]
        if int(data.test.y[i]) != c:
            raise DataError(f"MNIST test image {i} should be a '{c}' but is labelled {int(data.test.y[i])}")
        found[c] = data.test.x[i].astype(np.float32) / 255.0
    return found


# ---------------------------------------------------------------- models
def cnn_images(cfg: RunConfig) -> int:
    """The training subset of this study's data: the cnn study's (`cnn.subset`), never a viz setting, because
    the CNN 4.1 is scored on the test images it was trained beside and the dream prior is fitted on its images."""
    return cfg.cnn.subset


def load_model(rd: RunDir, name: str) -> tuple[nn.Module, float]:
    """A model another study trained (`LOADED`), on CPU in eval mode, with the test accuracy that study measured
    for it (its history.json: the number of this very model, in the precision it trained in; not re-scored here).
    Missing files: one line saying which study writes them; nothing is trained or written here (the runner runs
    that study first, see NEEDS)."""
    study, folder, build = LOADED[name]
    path = rd.path / study / folder / "model.pt"
    history = read_json(path.with_name("history.json"))
    if not path.is_file() or history is None:
        raise UserError(f"{path} not found: the {study} study writes it, and viz only loads it; "
                        f"`mnistlab run viz --out {rd.path}` runs {study} first (remove {rd.path / study / '.done'} "
                        "if that study finished without it)")
    model = build()
    model.load_state_dict(safe_load(path))
    test_acc = float(history["final"]["test_acc"])
    log(f"[{NAME}] loaded {name} from {path} (test accuracy {test_acc:.4f}, measured by the {study} study)")
    return model.cpu().eval().to(memory_format=torch.contiguous_format), test_acc  # training may leave it NHWC


def loaded_models(cfg: RunConfig, rd: RunDir) -> tuple[nn.Module, nn.Module | None, dict[str, Any]]:
    """The CNN 4.1 and, unless the judge is a CNN 4.1 trained here, the MLP 3.1 judge, with where each came
    from (`reused` = loaded from the study that trained it, `LOADED`) and its test accuracy."""
    cnn, acc = load_model(rd, "cnn_4_1")
    info: dict[str, Any] = {"cnn_4_1": {"model": "cnn_4_1", "how": "reused", "path": "cnn/4_1/model.pt",
                                        "test_acc": acc}}
    if cfg.viz.independent != "mlp_3_1":
        return cnn, None, info
    judge, acc = load_model(rd, "mlp_3_1")
    info["independent"] = {"model": "mlp_3_1", "how": "reused", "path": "mlp/3_1/model.pt", "test_acc": acc}
    return cnn, judge, info


def independent_cnn(cfg: RunConfig, rd: RunDir, data: Dataset, info: dict[str, Any]) -> nn.Module:
    """A second CNN 4.1 (seed + 1), trained with the cnn study's recipe in this study's folder; `info` notes it."""
    seed = cfg.seed + 1
    log(f"[{NAME}] training an independent CNN 4.1 (seed {seed}) with the cnn study's recipe")
    judge, row = nets.train_net(rd, NAME, "independent_cnn_4_1", CNN_4_1.build, cnn_study.recipe(cfg),
                                nets.tensors(data, cnn_images(cfg), image=True), seed, cfg.device, seed)
    info["independent"] = {"model": "cnn_4_1", "how": "trained", "path": row["path"] + "/model.pt", "seed": seed,
                           "test_acc": row["test_acc"]}
    return judge


# ---------------------------------------------------------------- filters and feature maps
def filter_figures(cnn: nn.Module, out: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The filter figure; per layer its shape and how it is shown; the first layer's kernel statistics."""
    layers = filters(cnn)
    save_figure(plots.plot_filters(layers), out / "figures" / "filters")
    info = {}
    for name, w in layers:
        row: dict[str, Any] = {"shape": list(w.shape), "abs_max": float(np.abs(w).max())}
        if w.shape[1] > 1:
            _, channels = strongest_slices(w)
            row["shown"] = "slice on the input channel with the largest L2 norm"
            row["strongest_input_channel"] = channels.tolist()
        else:
            row["shown"] = "every kernel"
        info[name] = row
    first = layers[0][1]
    return info, ({"layer": layers[0][0], **kernel_stats(first)} if first.shape[1] == 1 else {})


def activation_figures(cnn: nn.Module, digits: dict[int, np.ndarray], out: Path,
                       ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Feature-map figures of each example digit, per layer its active maps and mean response, and (for the
    first two digits) per layer how alike the two digits' responses are."""
    info: dict[str, Any] = {}
    maps: dict[int, dict[str, np.ndarray]] = {}
    for c, image in digits.items():
        acts = activations(cnn, torch.from_numpy(image))
        maps[c] = dict(acts)
        label = f"'{c}' (test index {DIGITS[c]})"
        save_figure(plots.plot_activations(image, acts, label), out / "figures" / f"activations_{c}")
        info[str(c)] = {name: {"shape": list(a.shape),
                               "active_maps": int((a.reshape(len(a), -1).max(axis=1) > 0).sum()),
                               "mean": float(a.mean())} for name, a in acts}
    pair = list(maps)[:2]
    similarity = {layer: {"digits": pair, **map_similarity(maps[pair[0]][layer], maps[pair[1]][layer])}
                  for layer in maps[pair[0]]} if len(pair) == 2 else {}
    return info, similarity


def preferred_inputs(cnn: nn.Module, v: VizConfig, seed: int, out: Path) -> dict[str, Any]:
    """For each channel of the conv layers after the first, the input that maximises its centre unit's
    pre-activation: one batched render per layer, image k optimising channel k. Only a light TV and L2
    penalty: the unit sees a patch in the middle, so the border prior of the dreams has nothing to do here."""
    info: dict[str, Any] = {}
    if not v.filter_steps:
        return info
    images = {}
    shapes = {name: a.shape for name, a in activations(cnn, torch.zeros(1, 28, 28))}
    for layer in conv_stack(cnn)[1:]:
        n = layer.conv.out_channels
        start = dream.noise_image([seed + k for k in range(n)], 28, v.init_noise)
        result = dream.render(cnn, objectives.neuron(layer.name, list(range(n))), start,
                              render_spec(v, v.filter_steps, v.octaves), seed=seed,
                              penalty=v.l2 * objectives.l2() + v.filter_tv * objectives.tv())
        images[layer.name] = result.images[:, 0].numpy()
        save_figure(plots.plot_preferred_inputs(layer.name, images[layer.name], shapes[layer.name]),
                    out / "figures" / f"preferred_{layer.name}")
        info[layer.name] = {"channels": n, "steps": v.filter_steps,
                            "objective": "pre-activation of the channel's centre unit",
                            "objective_start_mean": float(np.mean(result.trace[0])),
                            "objective_end_mean": float(np.mean(result.trace[-1]))}
    with atomic_path(out / "preferred_inputs.npz") as tmp:
        np.savez_compressed(tmp, **images)
    return info


# ---------------------------------------------------------------- class dreams
def class_dream(cnn: nn.Module, judge: nn.Module, v: VizConfig, target: int, kind: str, digit: np.ndarray,
                seeds: list[int], basis: dream.PCABasis | None) -> tuple[dict[str, Any], np.ndarray]:
    """One batch of dreams (one per seed) of `target` made as `kind` says, scored by both models; returns its
    row and the objective trace (steps, S)."""
    how = recipes.dream_kinds(v)[kind]
    spec = render_spec(v, v.dream_steps, v.octaves if how == "pixel" else 1)
    objective, penalty = dream_objective(v, target, how)
    starts = dream_starts(v, how, digit, seeds, basis)
    result = dream.render(cnn, objective, starts, spec, seed=seeds, penalty=penalty,
                          basis=basis if how == "pca" else None)
    batch = result.images  # (S, 1, 28, 28)
    row = _dream_row(target, kind, seeds, batch, dream.probabilities(cnn, batch), dream.probabilities(judge, batch))
    row |= {"how": how, "label": f"class {target}\n{recipes.LABELS[how]}",
            "start": starts[0, 0].numpy(),  # the test digit, or the first seed's random start
            "p_start": float(dream.probabilities(cnn, starts[:1])[0, target])}
    return row, np.asarray(result.trace)


def dreams(cnn: nn.Module, judge: nn.Module, digits: dict[int, np.ndarray], targets: list[int], cfg: RunConfig,
           rd: RunDir, out: Path, basis: dream.PCABasis | None = None,
           ) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """Every (target, kind, seed) dream, its probabilities under both models, figures, arrays and metrics; also
    returns the rows (the dreams from a test digit are drawn beside classic DeepDream)."""
    v = cfg.viz
    seeds = [cfg.seed + k for k in range(v.dream_seeds)]
    rows, table, traces, arrays = [], [], {}, {}
    metrics: dict[str, Any] = {}
    for target in targets:
        for kind in recipes.dream_kinds(v):
            row, trace = class_dream(cnn, judge, v, target, kind, digits[target], seeds, basis)
            rows.append(row)
            traces[f"{target}, {row['how']}"] = trace.mean(axis=1).tolist()
            arrays[f"dream_{target}_{kind}"] = row["images"]
            for k, seed in enumerate(seeds):
                record = {"target": target, "kind": kind, "seed": seed, "p_cnn": row["p_cnn"][k],
                          "p_independent": row["p_judge"][k], "pred_cnn": row["cnn_pred"][k],
                          "pred_independent": row["judge_pred"][k], "objective_end": float(trace[-1, k])}
                table.append(record)
                rd.log_event({"event": "dream", "study": NAME, **record})
            metrics.update(_dream_metrics(row))
            log(f"[{NAME}] dream {target} from {kind}: CNN p={np.mean(row['p_cnn']):.3f}, "
                f"{v.independent} p={np.mean(row['p_judge']):.3f}, "
                f"{v.independent} argmax hits {metrics[_key(row, 'hits_independent')]}/{len(seeds)}")
    with atomic_path(out / "dreams.npz") as tmp:
        np.savez_compressed(tmp, **arrays)
    noise_rows = [r for r in rows if r["kind"] != "real"]
    save_figure(plots.plot_dreams(noise_rows, _judge_label(v.independent)), out / "figures" / "dreams")
    pixel_octaves = v.octaves == 2 and "pixel" in recipes.dream_kinds(v).values()
    switch = v.dream_steps // v.octaves + (v.dream_steps % v.octaves > 0) if pixel_octaves else None
    save_figure(plots.plot_trace(traces, switch), out / "figures" / "dream_trace")
    summary = {"seeds": seeds, "independent": v.independent, "table": table, "noise_param": v.dream_param,
               "kinds": recipes.dream_kinds(v), "settings": dataclasses.asdict(v),
               "start_p_cnn": {str(r["target"]): r["p_start"] for r in rows if r["kind"] == "real"}}
    return summary, metrics, rows


def _dream_row(target: int, kind: str, seeds: list[int], batch: torch.Tensor, p_cnn: torch.Tensor,
               p_judge: torch.Tensor) -> dict[str, Any]:
    return {"target": target, "kind": kind, "seeds": seeds, "images": batch[:, 0].numpy(),
            "p_cnn": p_cnn[:, target].tolist(), "p_judge": p_judge[:, target].tolist(),
            "cnn_pred": p_cnn.argmax(1).tolist(), "judge_pred": p_judge.argmax(1).tolist()}


def _key(row: dict[str, Any], name: str) -> str:
    return f"{NAME}.dream.{row['target']}.{row['kind']}.{name}"


def _dream_metrics(row: dict[str, Any]) -> dict[str, Any]:
    """Mean over seeds under `p_cnn` / `p_independent`, with `.std`, `.min`, `.n`; argmax hit counts."""
    m: dict[str, Any] = {}
    for name, values in (("p_cnn", row["p_cnn"]), ("p_independent", row["p_judge"])):
        a = np.asarray(values, dtype=np.float64)
        m[_key(row, name)] = float(a.mean())
        m[_key(row, f"{name}.std")] = float(a.std(ddof=1)) if len(a) > 1 else 0.0
        m[_key(row, f"{name}.min")] = float(a.min())
        m[_key(row, f"{name}.n")] = len(a)
    m[_key(row, "hits_cnn")] = sum(int(p == row["target"]) for p in row["cnn_pred"])
    m[_key(row, "hits_independent")] = sum(int(p == row["target"]) for p in row["judge_pred"])
    return m


def _judge_label(name: str) -> str:
    return {"mlp_3_1": "MLP 3.1", "cnn_4_1": "CNN 4.1 (seed+1)"}.get(name, name)


# ---------------------------------------------------------------- classic DeepDream
def classic_deepdream(cnn: nn.Module, judge: nn.Module, digits: dict[int, np.ndarray], cfg: RunConfig, out: Path,
                      class_rows: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Classic DeepDream (viz.deepdream) of the test '2' and '9' for each of viz.deepdream_layers: what each
    layer amplifies in a real digit, and whether both models still read it as that digit. The figure puts the
    class dream from the same digit (first seed) beside them. Returns (summary, metrics)."""
    v = cfg.viz
    layers = recipes.check_layers(v.deepdream_layers)
    if not layers:
        return {}, {}
    classes = sorted(digits)
    start = torch.from_numpy(np.stack([digits[c] for c in classes]))[:, None]
    done = deepdream.dream_layers(cnn, start, layers, recipes.deepdream_spec(v), seed=[cfg.seed + c for c in classes])
    real = {r["target"]: torch.from_numpy(r["images"][:1]) for r in class_rows}
    columns = [("start", start), *((d.layer, d.images) for d in done)]
    if all(c in real for c in classes):
        columns.append(("class", torch.stack([real[c] for c in classes])))
    scored = {name: deepdream.verdicts({"cnn": cnn, "independent": judge}, batch) for name, batch in columns}
    table, metrics = [], {}
    for k, c in enumerate(classes):
        # the share of the image within 2 pixels of the strokes: `near_strokes` of ink added at random
        band = float(deepdream.stroke_band(start[k:k + 1]).mean())
        table.append({"digit": c, "image": "start", **scored["start"][k], "band_area": band})
        for d in done:
            row = {**scored[d.layer][k], "energy_gain": float(d.energy_gain[k]),
                   "near_strokes": float(d.near_strokes[k])}
            table.append({"digit": c, "image": d.layer, **row})
            metrics |= {f"{NAME}.deepdream.{c}.{d.layer}.{name}": value for name, value in row.items()}
    with atomic_path(out / "deepdream.npz") as tmp:
        np.savez_compressed(tmp, classes=np.asarray(classes), **{n: b[:, 0].numpy() for n, b in columns})
    _deepdream_figure(columns, scored, classes, cfg, out)
    summary = {"layers": layers, "classes": classes, "objective": "mean squared activation after the layer's ReLU",
               "sizes": done[0].sizes, "steps_per_octave": v.deepdream_steps, "lr": v.deepdream_lr,
               "jitter": v.jitter, "near_radius_px": 2, "table": table}
    return summary, metrics


def _deepdream_figure(columns: list[tuple[str, torch.Tensor]], scored: dict[str, list[dict[str, Any]]],
                      classes: list[int], cfg: RunConfig, out: Path) -> None:
    """figures/deepdream: a row per test digit, a column per image kind, each model's verdict under each image."""
    titles = {"start": "test digit", "class": f"class logit\n(seed {cfg.seed})"}
    captions = [[_caption(scored[n][k], cfg.viz.independent) for n, _ in columns] for k in range(len(classes))]
    fig = plots.plot_deepdream([(titles.get(n, f"{n} energy"), b[:, 0].numpy()) for n, b in columns], captions,
                               [f"test '{c}' (index {DIGITS[c]})" for c in classes])
    save_figure(fig, out / "figures" / "deepdream")


def _caption(scored: dict[str, Any], independent: str) -> str:
    return (f"CNN: {scored['pred_cnn']} ({scored['p_cnn']:.2f})\n"
            f"{_judge_label(independent)}: {scored['pred_independent']} ({scored['p_independent']:.2f})")
