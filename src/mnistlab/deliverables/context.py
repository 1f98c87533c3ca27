"""The report's data: everything the Typst template shows, read from a run folder and formatted, as one dict
that `build` writes to `data.json`. Per-study extraction lives in `sections/`; a study whose files lack
something the report needs is shown as incomplete (with what is missing) instead of failing the whole report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mnistlab.config import STUDIES
from mnistlab.deliverables import claims, sections
from mnistlab.deliverables import group as group_file
from mnistlab.deliverables.results import MissingResult, Results, fmt
from mnistlab.deliverables.sections.common import TEST_IMAGES
from mnistlab.log import log

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
    """What the title block's one provenance line says: seed(s) and the machine, nothing about the tooling."""
    env = r.env
    cores = env.get("cpu_count", "?")
    device = f"trained on {env['gpu']}" if env.get("gpu") else \
        f"trained on {cores} CPU core{'' if str(cores) == '1' else 's'}"
    return {"seed": str(r.config.get("seed", "?")), "seeds": r.seeds, "multi_seed": r.seeds > 1, "device": device}


PLACEHOLDER_MEMBERS = 2  # the brief's groups have two members (three when the class size is odd)


def group_context(run_dir: Path) -> dict[str, Any]:
    """Title block and contribution table from `<run>/group.json` (written by the CLI's --group/--member; the
    CLI also logs the one line naming what is still a placeholder). What is missing stays a visible placeholder."""
    g = group_file.load(run_dir)
    members = [m for m in g.get("members") or [] if isinstance(m, dict)] or [{}] * PLACEHOLDER_MEMBERS
    rows = [[str(m.get("name") or "(name)"), str(m.get("id") or "(student number)"),
             str(m.get("contribution") or "(to be filled in)")] for m in members]
    number = g.get("number")
    return {"number": "N" if number is None else str(number), "rows": rows}


def noise_rule(r: Results) -> dict[str, Any]:
    """The noise rule as the introduction states it, with what it means for 10,000 test images."""
    def points(p: float) -> str:
        a = claims.Accuracy(p, TEST_IMAGES)
        return f"{100 * claims.threshold(a, a):.1f}"

    return {"rule": claims.RULE, "at98": points(0.98), "at90": points(0.90), "n": fmt(TEST_IMAGES)}


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
        elif isinstance(v, list):  # a list field, as --set writes it: '0,0.25,0.5' (sec-mtl.typ spaces it)
            out[k] = ",".join(f"{x:g}" if isinstance(x, float) else str(x) for x in v)
        else:
            out[k] = str(v)
    return out


def build_context(run_dir: Path) -> dict[str, Any]:
    """The whole data.json for the template."""
    r = Results.load(run_dir)
    ctx: dict[str, Any] = {"run": run_info(r), "titles": TITLES, "cfg": config_strings(r.config),
                           "group": group_context(run_dir), "noise": noise_rule(r)}
    for study in STUDIES:
        ctx[study] = study_context(r, study)
    ctx["all_done"] = all(ctx[s]["status"] == "done" for s in STUDIES)
    ctx["spread_note"] = (f"mean \u00b1 standard deviation over n = {r.seeds} seeds" if r.seeds > 1
                          else "one seed")
    return ctx
