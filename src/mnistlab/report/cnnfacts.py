"""Facts about the trained CNN 4.1 that the visualisation text states, measured on the run's own weights, so that
the sentences under the filter and feature-map figures describe what those figures show instead of what such
figures usually show. Each function returns {} when the model or the data cannot be read; the text then leaves
the sentence out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

CONTRAST_SHARE = 0.25  # a kernel is a contrast detector when its smaller-signed part holds >= 25% of |w|
TOP = 10  # maps compared between the two digits: the most active ones of each layer


def _model(run_dir: Path) -> Any:
    import torch

    from mnistlab.models.registry import create

    model = create("cnn_4_1")
    model.load_state_dict(torch.load(run_dir / "cnn" / "4_1" / "model.pt", weights_only=True))
    return model.eval()


def kernel_facts(run_dir: Path) -> dict[str, Any]:
    """First-layer kernels: how many weigh positive against negative pixels (contrast, i.e. edge detectors) and
    how smooth they are (correlation of horizontally and vertically neighbouring weights)."""
    try:
        from mnistlab.viz.features import filters

        name, w = filters(_model(run_dir))[0]
    except Exception:  # no model in this run folder, or another architecture: leave the sentence out
        return {}
    w = w[:, 0] if w.ndim == 4 else w  # (32, 4, 4)
    pos, neg = np.clip(w, 0, None).sum((1, 2)), -np.clip(w, None, 0).sum((1, 2))
    share = np.minimum(pos, neg) / np.maximum(pos + neg, 1e-12)
    a = np.concatenate([w[:, :, :-1].ravel(), w[:, :-1, :].ravel()])
    b = np.concatenate([w[:, :, 1:].ravel(), w[:, 1:, :].ravel()])
    return {"layer": name, "n": len(w), "contrast": int((share >= CONTRAST_SHARE).sum()),
            "neighbour_r": float(np.corrcoef(a, b)[0, 1])}


def activation_facts(run_dir: Path, data_dir: str | None, digits: tuple[int, int] = (2, 9)) -> dict[str, Any]:
    """Per layer, how alike the responses to the two test digits are: the correlation of the maps' mean
    activations and how many of each digit's TOP most active maps are shared. {layer: {...}}."""
    try:
        import torch

        from mnistlab.data import load_dataset
        from mnistlab.studies.viz import example_digits
        from mnistlab.viz.features import activations

        model = _model(run_dir)
        images = example_digits(load_dataset("mnist", data_dir), list(digits))
        acts = {c: dict(activations(model, torch.from_numpy(images[c]))) for c in digits}
    except Exception:  # no model or no data on this machine: leave the sentence out
        return {}
    out = {}
    for layer in acts[digits[0]]:
        a, b = (acts[c][layer].reshape(len(acts[c][layer]), -1).mean(axis=1) for c in digits)
        top = min(TOP, len(a))
        shared = len(set(np.argsort(-a)[:top]) & set(np.argsort(-b)[:top]))
        out[layer] = {"r": float(np.corrcoef(a, b)[0, 1]), "shared": shared, "top": top}
    return out
