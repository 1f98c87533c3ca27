"""What the study notebook calls: show a run's status, numbers, tables, figures and the package's key source
code. The notebook itself holds no logic; these helpers only read the run folder and display what they find.
Output is deterministic (sorted keys, fixed formatting, figures embedded from the run's PNG files), so executing
the notebook twice on the same run gives identical output."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

from mnistlab.config import STUDIES
from mnistlab.report.context import TITLES
from mnistlab.report.results import Results, fmt

MAX_ROWS = 15  # longer tables are cut (the full table is in the study's summary.json)


def _md(text: str) -> None:
    from IPython.display import Markdown, display

    display(Markdown(text))


def _cell(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, int | float):
        return fmt(float(v), 4)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_cell(x) for x in v[:8]) + (", ..." if len(v) > 8 else "") + "]"
    return str(v).replace("|", "/")


def markdown_table(rows: list[dict[str, Any]], limit: int = MAX_ROWS) -> str:
    """A list of flat dicts as a Markdown table (columns: the keys of the first row, in order)."""
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_cell(r.get(c)) for c in cols) + " |" for r in rows[:limit]]
    if len(rows) > limit:
        lines.append(f"| ... {len(rows) - limit} more rows | " + " | " * (len(cols) - 1))
    return "\n".join(lines)


class Run:
    """A run folder as seen from the notebook (which is executed inside it, hence the default '.')."""

    def __init__(self, path: str | Path = ".") -> None:
        self.path = Path(path)
        self.results = Results.load(self.path)

    def done(self, study: str) -> bool:
        """True if the study finished in this run; otherwise says so in the notebook."""
        if self.results.status(study) == "done":
            return True
        _md(f"*{TITLES[study]}: no results in this run (status: {self.results.status(study)}).*")
        return False

    def overview(self) -> None:
        """The run's profile, seeds and each study's status and wall time."""
        r = self.results
        times = {s: r.metrics.get(f"time.{s}.s") for s in STUDIES}
        rows = [{"study": s, "status": r.status(s),
                 "wall time (s)": fmt(times[s], 1) if isinstance(times[s], int | float) else "-"} for s in STUDIES]
        _md(f"Profile **{r.config.get('profile')}**, seed {r.config.get('seed')}, {r.seeds} seed(s) per setting, "
            f"torch {r.env.get('torch')}, code {str(r.env.get('git_sha'))[:10]}.\n\n" + markdown_table(rows))

    def show(self, study: str) -> None:
        """Everything the study wrote: its tables, its headline numbers, its figures (or one note if absent)."""
        if self.done(study):
            self.tables(study)
            self.metrics(study)
            self.figures(study)

    def metrics(self, study: str) -> None:
        """The study's headline numbers from metrics.json (accuracies are fractions)."""
        if not self.done(study):
            return
        keys = sorted(k for k in self.results.metrics if k.startswith(study + ".") and not k.endswith(".n"))
        rows = [{"key": k, "value": self.results.metrics[k]} for k in keys if not k.endswith(".std")]
        for row in rows:
            sd = self.results.metrics.get(f"{row['key']}.std")
            if sd is not None:
                row["std"] = sd
        _md(markdown_table(rows, limit=60) if rows else "*no metrics*")

    def tables(self, study: str, *names: str) -> None:
        """Every table (a list of flat records) in the study's summary.json, or only `names`."""
        if not self.done(study):
            return
        summary = self.results.summary(study)
        for key in names or sorted(summary):
            value = summary.get(key)
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                flat = [{k: v for k, v in row.items() if not isinstance(v, dict)} for row in value]
                _md(f"**{key}**\n\n" + markdown_table(flat))

    def figures(self, study: str, *stems: str) -> None:
        """The study's figures (PNG, embedded), all of them or only `stems`, in name order."""
        from IPython.display import Image, display

        if not self.done(study):
            return
        folder = self.path / study / "figures"
        paths = [folder / f"{s}.png" for s in stems] if stems else sorted(folder.glob("*.png"))
        for p in paths:
            _md(f"`{study}/figures/{p.name}`")
            display(Image(filename=str(p)))


def show_source(*names: str) -> None:
    """Show the source of package objects given as 'module:attribute' (e.g. 'mnistlab.train:fit').
    A module that is not in this version of the package is named as such; a missing attribute is an error."""
    for name in names:
        module_name, _, attr = name.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name != module_name:
                raise
            _md(f"*`{module_name}` is not part of this version of the package.*")
            continue
        obj = getattr(module, attr) if attr else module
        _md(f"`{name}`\n\n```python\n{inspect.getsource(obj).rstrip()}\n```")


def load_model(run: Run, name: str, *candidates: str) -> Any:
    """The registry model `name` with the weights of the first checkpoint in `candidates` (paths relative to the
    run) that exists, in eval mode; None (and a note) when the run has none. Nothing is trained."""
    from mnistlab.models import create
    from mnistlab.train import safe_load

    for rel in candidates:
        path = run.path / rel
        if path.is_file():
            model = create(name)
            model.load_state_dict(safe_load(path))
            _md(f"Loaded `{name}` from the run's checkpoint `{rel}`.")
            return model.eval()
    _md(f"*No finished `{name}` checkpoint in this run ({', '.join(candidates)}).*")
    return None


def classify_test_images(run: Run, model: Any, indices: tuple[int, ...] = (1, 7)) -> None:
    """Predict MNIST test images `indices` with `model`: a table of true label, predicted label and probability."""
    import torch

    from mnistlab.data import load_dataset
    from mnistlab.train import to_tensors

    if model is None:
        return
    test = load_dataset("mnist", run.results.config.get("data_dir") or None).test
    x, y = to_tensors(test.x[list(indices)], test.y[list(indices)])
    with torch.no_grad():
        p = torch.softmax(model(x).float(), dim=1)
    rows = [{"test index": i, "label": int(y[k]), "predicted": int(p[k].argmax()),
             "probability": round(float(p[k].max()), 4)} for k, i in enumerate(indices)]
    _md(markdown_table(rows))


def diagram(name: str) -> None:
    """Draw one of the report's architecture diagrams ('perceptron', 'cnn41', 'mtl') from the models. Rendered
    to PNG here because the package selects matplotlib's Agg backend, which the notebook would not display."""
    import io

    import matplotlib.pyplot as plt
    from IPython.display import Image, display

    from mnistlab.report.diagrams import DIAGRAMS

    fig = DIAGRAMS[name]()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    display(Image(data=buf.getvalue(), format="png"))
