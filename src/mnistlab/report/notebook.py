"""`mnistlab notebook --run DIR`: execute the study notebook headless into `DIR/study.ipynb`.

The source is the jupytext percent script `mnistlab/notebooks/study.py` (in the package, so an installed copy and
the bundle have it). The kernel runs inside the run folder, so the notebook reads that run's files through
relative paths and the saved notebook holds no machine-specific path. Cells get fixed ids (jupytext draws random
ones) and no timing metadata is recorded, so executing the same run twice gives a byte-identical file. Any cell
that raises stops the execution and fails the command: a notebook with an error cell is never written."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mnistlab.errors import UserError
from mnistlab.runs import atomic_write_text

SOURCE = Path(__file__).resolve().parents[1] / "notebooks" / "study.py"
OUTPUT = "study.ipynb"
TIMEOUT_S = 900  # one cell; the notebook reuses finished results, so a cell normally takes seconds


def load_source(path: Path = SOURCE) -> Any:
    """The percent script as an nbformat notebook with ids cell-000, cell-001, ... and a python3 kernelspec."""
    import jupytext
    import nbformat

    nb = jupytext.read(path, fmt="py:percent")
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:03d}"
        cell.metadata = {}  # jupytext keeps cell options here; none of ours matter once executed
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    nbformat.validate(nb)
    return nb


def run_notebook(nb: Any, cwd: Path) -> Any:
    """Execute `nb` in a fresh python3 kernel whose working folder is `cwd`; raise UserError on the first error
    cell, naming the cell and the exception."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    # The kernel must use the inline backend to embed figures: drop the CLI's MPLBACKEND=Agg from its env.
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"  # silences a debugger warning on frozen modules
    try:
        client = NotebookClient(nb, timeout=TIMEOUT_S, kernel_name="python3", allow_errors=False,
                                record_timing=False, resources={"metadata": {"path": str(cwd)}})
        client.execute(env=env)
    except CellExecutionError as err:
        cell = next((c for c in nb.cells if _has_error(c)), None)
        where = f"cell {cell['id']}" if cell is not None else "a cell"
        raise UserError(f"the notebook failed in {where}: {err.ename}: {err.evalue}") from None
    bad = [c["id"] for c in nb.cells if _has_error(c)]
    if bad:  # belt and braces: allow_errors=False already raised, but a kernel crash can leave error outputs
        raise UserError(f"the notebook has error output in cells {', '.join(bad)}")
    return nb


def _has_error(cell: Any) -> bool:
    return any(o.get("output_type") == "error" for o in cell.get("outputs", []))


def execute(run_dir: Path) -> Path:
    """Execute the study notebook against `run_dir` and write `run_dir/study.ipynb` atomically."""
    import nbformat

    run_dir = Path(run_dir).resolve()
    if not (run_dir / "config.json").is_file():
        raise UserError(f"{run_dir} is not a run folder (no config.json)")
    nb = run_notebook(load_source(), run_dir)
    out = run_dir / OUTPUT
    atomic_write_text(out, nbformat.writes(nb) + "\n")
    return out
