"""The report's data: everything the Typst template shows, read from a run folder and formatted, as one dict
that `build` writes to `data.json`. Per-study extraction lives in `sections.py`; a study whose files lack
something the report needs is shown as incomplete (with what is missing) instead of failing the whole report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mnistlab.config import STUDIES
from mnistlab.log import log
from mnistlab.report import sections
from mnistlab.report.results import MissingResult, Results, fmt

TITLES = {  # section titles; the section number is the brief's task number
    "pca": "Principal component analysis of MNIST",
    "perceptron": "A perceptron in NumPy",
    "mlp": "Multi-layer perceptrons",
    "cnn": "Convolutional neural networks",
    "viz": "Visualising the CNN",
    "mtl": "Multi-task learning on Fashion-MNIST",
}


def study_context(r: Results, study: str) -> dict[str, Any]:
    """{status, why, ...study fields}. status: done | failed | missing | incomplete."""
    status = r.status(study)
    if status != "done":
        why = "the run recorded a failure, see metrics.jsonl" if status == "failed" else None
        return {"status": status, "why": why}
    try:
        return {"status": "done", "why": None, **getattr(sections, study)(r)}
    except MissingResult as err:
        log(f"[report] {study}: {err}; its section is marked incomplete")
        return {"status": "incomplete", "why": str(err)}
    except (KeyError, IndexError, TypeError, ValueError) as err:  # a summary.json of another schema version
        log(f"[report] {study}: unexpected summary.json ({type(err).__name__}: {err}); section marked incomplete")
        return {"status": "incomplete", "why": f"unexpected summary.json ({type(err).__name__}: {err})"}


def run_info(r: Results) -> dict[str, Any]:
    """The run's identity for the title page: profile, seeds, device, versions, wall times."""
    env = r.env
    device = env.get("gpu") or f"CPU ({env.get('cpu_count', '?')} cores, {env.get('torch_threads', '?')} threads)"
    times = {s: r.metrics.get(f"time.{s}.s") for s in STUDIES}
    total = sum(t for t in times.values() if isinstance(t, int | float))
    return {
        "profile": str(r.config.get("profile", "?")), "seed": str(r.config.get("seed", "?")),
        "seeds": r.seeds, "multi_seed": r.seeds > 1, "device": device,
        "torch": str(env.get("torch", "?")), "python": str(env.get("python", "?")),
        "git": str(env.get("git_sha") or "unknown")[:10], "started": str(env.get("started", "?"))[:10],
        "minutes": fmt(total / 60, 1),
        "times": {"header": ["study", "status", "wall time (s)"],
                  "rows": [[TITLES[s], r.status(s), fmt(times[s], 1) if isinstance(times[s], int | float)
                            else "-"] for s in STUDIES], "align": "llr"},
    }


def config_strings(config: dict[str, Any]) -> dict[str, Any]:
    """config.json with every leaf as text ('0.001', '12', 'yes'), for the method paragraphs."""
    out: dict[str, Any] = {}
    for k, v in config.items():
        if isinstance(v, dict):
            out[k] = config_strings(v)
        elif isinstance(v, bool):
            out[k] = "yes" if v else "no"
        elif isinstance(v, float):
            out[k] = f"{v:g}"
        else:
            out[k] = str(v)
    return out


def build_context(run_dir: Path) -> dict[str, Any]:
    """The whole data.json for the template."""
    r = Results.load(run_dir)
    ctx: dict[str, Any] = {"run": run_info(r), "titles": TITLES, "cfg": config_strings(r.config)}
    for study in STUDIES:
        ctx[study] = study_context(r, study)
    ctx["all_done"] = all(ctx[s]["status"] == "done" for s in STUDIES)
    ctx["spread_note"] = (f"mean \u00b1 standard deviation over n = {r.seeds} seeds" if r.seeds > 1
                          else "one seed")
    return ctx
