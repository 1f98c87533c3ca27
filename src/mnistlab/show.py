"""What the notebook does with a study: run it in the run folder unless it is finished there, then show what it
recorded: every network's per-epoch line, the study's tables and its figures, in the report's order.

Nothing here computes a result: the numbers are read from the files the study wrote (`metrics.jsonl`, the study's
`summary.json`, its `figures/`), so the notebook shows exactly what the report is built from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mnistlab.config import RunConfig
from mnistlab.runs import RunDir, read_json
from mnistlab.studies import run_studies

# Figures in the order the report uses them; a figure not named here is shown after these.
FIGURES = {
    "pca": ("scatter", "variance", "overlap", "components"),
    "perceptron": ("errors", "weights", "all_pairs"),
    "mlp": ("3_1_search", "3_1_curves", "3_2_depth"),
    "cnn": ("4_1_curves", "4_2_variants", "4_2_curves", "cnn_vs_mlp"),
    "viz": ("filters", "preferred_conv2", "preferred_conv3", "activations_2", "activations_9", "dreams",
            "deepdream", "dream_trace"),
    "mtl": ("lambda_sweep", "curves", "tuning"),
}
SKIPPED = ("curves",)  # per-epoch histories: the epoch log shows them line by line
MAX_ROWS = 50  # longer tables are cut here; the whole table is in the study's summary.json
# Not printed in an epoch line: the line names the epoch and seed, and shows the time in its own way.
NOT_SHOWN = ("epoch", "seed", "train_s", "train_cpu_s", "eval_s", "eval_cpu_s", "train_n")


def run_and_show(cfg: RunConfig, run_dir: str | Path, study: str) -> None:
    """Run `study` into `run_dir` unless it finished (or failed) there before, then show its results. It runs
    through `run_studies`, as `mnistlab run` does, so the studies it needs and lacks run first (a reader who runs
    only task 5's cell gets the CNN and MLP it loads). A finished study is only read: no lock is taken and no
    file is written, so showing a finished run changes nothing."""
    rd = RunDir.open(run_dir, cfg.to_dict())  # refuses a folder that holds a run with another config
    if not rd.is_done(study) and rd.metrics().get(f"status.{study}") != "failed":
        with rd:
            run_studies(cfg, rd, [study])
    show_study(rd.path, study)


def show_study(run_dir: Path, study: str) -> None:
    """The study's status, then its epoch log, tables and figures (one note instead when it has no results)."""
    metrics = read_json(run_dir / "metrics.json", {})
    if metrics.get(f"status.{study}") == "failed":
        entry = read_json(run_dir / "summary.json", {}).get("studies", {}).get(study, {})
        reason = entry.get("message", "see the run's log")
        _markdown(f"**This study failed in this run:** {reason}")
        return
    if not (run_dir / study / ".done").is_file():
        _markdown(f"*No results for `{study}` in this run folder.*")
        return
    seconds = metrics.get(f"time.{study}.s")
    if isinstance(seconds, int | float):
        _markdown(f"`{study}` finished in {seconds:,.1f} s of wall time (all attempts).")
    epoch_log(run_dir, study)
    tables(run_dir, study)
    figures(run_dir, study)


def epoch_log(run_dir: Path, study: str) -> None:
    """One line per network and epoch, from the run's `metrics.jsonl` (the line a resumed epoch wrote last)."""
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    path = run_dir / "metrics.jsonl"
    for line in path.read_text().splitlines() if path.is_file() else []:
        rec = json.loads(line)
        if rec.get("event") == "epoch" and rec.get("study") == study:
            rows[(rec.get("model"), rec.get("seed"), rec.get("epoch"))] = rec
    if rows:
        print("\n".join(epoch_line(r) for r in rows.values()))


def epoch_line(rec: dict[str, Any]) -> str:
    """'mlp 3_1 seed 0 epoch 2: loss=0.5519 ... test_acc=0.9849 (5.5 s of training so far)'."""
    parts = " ".join(f"{k}={v:.4f}" for k, v in rec.items() if k not in NOT_SHOWN and isinstance(v, int | float))
    took = f" ({rec['train_s']:.1f} s of training so far)" if isinstance(rec.get("train_s"), int | float) else ""
    return f"{rec.get('study')} {rec.get('model')} seed {rec.get('seed')} epoch {rec.get('epoch')}: {parts}{took}"


def tables(run_dir: Path, study: str) -> None:
    """Every table of the study's summary.json, as Markdown: a list of records, or a mapping of names to records
    (one row per name), at the top level or one level down (e.g. `dreams.table`)."""
    summary = read_json(run_dir / study / "summary.json", {})
    for title, rows in found_tables(summary):
        if max(len(row) for row in rows) < 2:  # names only: nothing to read in it
            continue
        _markdown(f"**{study}: {title}**\n\n" + markdown_table(rows))


def found_tables(obj: dict[str, Any], prefix: str = "", depth: int = 2) -> list[tuple[str, list[dict[str, Any]]]]:
    """(title, flat rows) for each table in `obj`; nested lists and mappings inside a row are left out."""
    out = []
    for key in sorted(k for k in obj if k not in SKIPPED):
        value, title = obj[key], f"{prefix}{key}"
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            out.append((title, [_flat_row(v) for v in value]))
        elif isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            out.append((title, [{"name": k, **_flat_row(v)} for k, v in value.items()]))
        elif isinstance(value, dict) and depth > 1:
            out += found_tables(value, f"{title}.", depth - 1)
    return out


def _flat_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if not isinstance(v, dict | list)}


def markdown_table(rows: list[dict[str, Any]], limit: int = MAX_ROWS) -> str:
    """Flat records as a Markdown table; columns are the union of the keys, in first-seen order."""
    cols = list(dict.fromkeys(k for row in rows for k in row))
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_cell(row.get(c)) for c in cols) + " |" for row in rows[:limit]]
    if len(rows) > limit:
        lines.append(f"| ({len(rows) - limit} more rows in summary.json) |" + " |" * (len(cols) - 1))
    return "\n".join(lines)


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 1000 else f"{v:,.0f}"
    return str(v).replace("|", "/")


def figures(run_dir: Path, study: str) -> None:
    """The study's PNG figures, embedded: those the report uses in its order, then any others by name."""
    from IPython.display import Image, display

    folder = run_dir / study / "figures"
    found = {p.stem: p for p in sorted(folder.glob("*.png"))}
    order = [s for s in FIGURES.get(study, ()) if s in found] + [s for s in found if s not in FIGURES.get(study, ())]
    for stem in order:
        _markdown(f"`{study}/figures/{stem}.png`")
        display(Image(filename=str(found[stem])))


def _markdown(text: str) -> None:
    from IPython.display import Markdown, display

    display(Markdown(text))
