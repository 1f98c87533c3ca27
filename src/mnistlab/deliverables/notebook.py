"""`mnistlab notebook --run DIR`: build the self-contained study notebook and execute it into `DIR/study.ipynb`.

The notebook holds, as code cells, the source of every package module the six studies run (`inline`), each cell
run as that module by a small `%%module NAME` cell magic defined in the notebook itself, so the imports in the
code stay as they are and the notebook never imports an installed `mnistlab`. After the shared code, each task
section has its modules and one cell that runs the task in the run folder (finished work is read, missing work is
trained) and shows its epoch log, tables and figures. The first code cell names the profile, so "Restart & Run
All" in an empty folder runs the whole study.

The kernel runs inside the run folder, so the notebook holds no machine-specific path. Cells get fixed ids and no
timing metadata is recorded, so executing the same run twice gives a byte-identical file. Any cell that raises
fails the command: a notebook with an error cell is never written."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mnistlab import process
from mnistlab.config import check_saved
from mnistlab.deliverables import inline, nbtext
from mnistlab.errors import UserError
from mnistlab.runs import atomic_write_text, read_json

OUTPUT = "study.ipynb"
TIMEOUT_S = 3600  # one cell; a task cell on a finished run takes seconds, on an empty folder it trains the task


def build(run_dir: Path) -> Any:
    """The notebook for `run_dir` (not executed): settings from its config.json, group from its group.json."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    config = read_json(run_dir / "config.json", {})
    sections = inline.notebook_modules()
    cells: list[Any] = [new_markdown_cell(nbtext.intro(run_dir, sections)),
                        new_code_cell(nbtext.settings(config)),
                        new_code_cell(nbtext.requirements(sections)),
                        new_markdown_cell(nbtext.MAGIC_TEXT), new_code_cell(nbtext.MAGIC)]
    for key, modules in sections:
        cells.append(new_markdown_cell(nbtext.section_heading(key)))
        for module in modules:
            cells.append(new_markdown_cell(nbtext.module_heading(module)))
            cells.append(new_code_cell(f"%%module {module.name}{' package' if module.is_package else ''}\n"
                                       + module.source().rstrip("\n")))
        if key == "shared":
            cells.append(new_markdown_cell(nbtext.RUNNER_TEXT))
            cells.append(new_code_cell(nbtext.RUNNER))
        else:
            cells.append(new_markdown_cell(f"#### Running {nbtext.task_name(key)} and its results"))
            cells.append(new_code_cell(f'run_and_show(CFG, RUN_DIR, "{key}")'))
    nb = new_notebook(cells=cells, metadata={
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"}})
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:03d}"
    nbformat.validate(nb)
    return nb


def run_notebook(nb: Any, cwd: Path, env: dict[str, str] | None = None) -> Any:
    """Execute `nb` in a fresh python3 kernel whose working folder is `cwd`; raise UserError on the first error
    cell, naming the cell and the exception."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    # The kernel must use the inline backend to embed figures: drop the CLI's MPLBACKEND=Agg from its env.
    kernel_env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"} | (env or {})
    kernel_env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"  # silences a debugger warning on frozen modules
    try:
        client = NotebookClient(nb, timeout=TIMEOUT_S, kernel_name="python3", allow_errors=False,
                                record_timing=False, resources={"metadata": {"path": str(cwd)}})
        client.execute(env=kernel_env)
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


def data_env() -> dict[str, str]:
    """MNISTLAB_DATA for the kernel: the folder this process would read the datasets from. The notebook's copy of
    the data module has no checkout around it to find the vendored data in, so it is told where that is."""
    from mnistlab import data

    if os.environ.get("MNISTLAB_DATA"):
        return {"MNISTLAB_DATA": os.environ["MNISTLAB_DATA"]}
    return {"MNISTLAB_DATA": str(data.REPO_DATA)} if (data.REPO_DATA / "mnist").is_dir() else {}


def execute(run_dir: Path) -> Path:
    """Build and execute the study notebook against `run_dir`; write `run_dir/study.ipynb` atomically."""
    import nbformat

    run_dir = Path(run_dir).resolve()
    if not (run_dir / "config.json").is_file():
        raise UserError(f"{run_dir} is not a run folder (no config.json)")
    check_saved(run_dir)
    nb = run_notebook(build(run_dir), run_dir, data_env() | process.kernel_env(os.environ))
    out = run_dir / OUTPUT
    atomic_write_text(out, nbformat.writes(nb) + "\n")
    return out
