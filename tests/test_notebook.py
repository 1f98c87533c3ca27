"""The submission obeys the brief: the pre-run notebook holds all the code the studies run, it runs without the
installed package (also from an empty folder, training everything), and the zip holds no .py file."""

from __future__ import annotations

import ast
import dataclasses
import os
import zipfile
from pathlib import Path

import nbformat
import pytest

from conftest import DATA, SMOKE_NAME, SmokeRun
from mnistlab.deliverables import inline

TASKS = ("pca", "perceptron", "mlp", "cnn", "viz", "mtl")


@pytest.fixture
def notebook(smoke: SmokeRun) -> nbformat.NotebookNode:
    return nbformat.read(smoke.path / "study.ipynb", as_version=4)


def module_cells(nb: nbformat.NotebookNode) -> dict[str, str]:
    """{module name: its source} for every `%%module` cell, in notebook order."""
    out = {}
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.startswith("%%module "):
            first, _, body = cell.source.partition("\n")
            out[first.split()[1]] = body
    return out


def test_closure_follows_lazy_imports_and_leaves_the_tools_out() -> None:
    modules = inline.all_modules()
    names = inline.closure(modules)
    assert {f"mnistlab.studies.{t}" for t in TASKS} <= names
    assert "mnistlab.studies.tune" in names  # imported by the mtl study
    assert "mnistlab.viz.objectives" in names and "mnistlab.models.multitask" in names
    for tool in ("mnistlab.cli", "mnistlab.pipeline", "mnistlab.bench", "mnistlab.models.registry"):
        assert tool not in names, tool  # command line, orchestrator, benchmarks, registry: not study code
    assert not [n for n in names if n.startswith("mnistlab.deliverables")]


def test_ordering_refuses_a_module_that_needs_a_later_one() -> None:
    modules = inline.all_modules()
    names = inline.closure(modules)
    bad = dict(modules)
    pca = modules["mnistlab.studies.pca"]
    # a shared module that imports a task-6 module must be refused, not silently reordered
    bad["mnistlab.data"] = dataclasses.replace(modules["mnistlab.data"], imports=frozenset({pca.name}),
                                               eager=frozenset({"mnistlab.studies.mtl"}))
    with pytest.raises(ValueError, match="come later"):
        inline.ordered(bad, names)


def test_notebook_holds_every_studied_module_verbatim_in_dependency_order(notebook) -> None:
    cells = module_cells(notebook)
    modules = inline.all_modules()
    assert set(cells) == inline.closure(modules)
    for name, body in cells.items():
        assert body == modules[name].source().rstrip("\n"), name  # verbatim, comments and docstrings included
    seen: set[str] = set()
    for name in cells:
        assert modules[name].eager <= seen, (name, sorted(modules[name].eager - seen))
        seen.add(name)
    code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    assert "import mnistlab\n" not in code and "pip install mnistlab" not in code


def test_optimize_shows_the_perceptron_rule(notebook) -> None:
    source = module_cells(notebook)["mnistlab.models.perceptron"]
    fn = next(n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef) and n.name == "optimize")
    body = ast.unparse(fn)
    assert "while iteration <= max_iter and error > 0.001" in body
    assert "w += lr * yi * xi" in body and "b += lr * yi" in body
    assert any(isinstance(n, ast.FunctionDef) and n.name == "predict" for n in ast.parse(source).body)


def test_every_task_shows_its_log_tables_and_figures(notebook) -> None:
    assert [c["id"] for c in notebook.cells] == [f"cell-{i:03d}" for i in range(len(notebook.cells))]
    outputs = {t: [] for t in TASKS}
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert not [o for o in cell.outputs if o.output_type == "error"], cell["id"]
            for t in TASKS:
                if cell.source == f'run_and_show(CFG, RUN_DIR, "{t}")':
                    outputs[t] = cell.outputs
    for task, outs in outputs.items():
        assert sum("image/png" in o.get("data", {}) for o in outs) >= 1, task
        assert any("**" in o.get("data", {}).get("text/markdown", "") for o in outs), task  # a table
    for task in ("mlp", "cnn", "mtl"):  # every trained network's epochs, as the run recorded them
        log = "".join(o.get("text", "") for o in outputs[task] if o.output_type == "stream")
        assert f"{task} " in log and " epoch 1:" in log, task
    first = next(c for c in notebook.cells if c.cell_type == "markdown").source
    assert "Task 6" in first and "(#mtl)" in first and "Restart & Run All" in first


def test_group_details_fill_the_deliverables(smoke: SmokeRun) -> None:
    nb = nbformat.read(smoke.path / "study.ipynb", as_version=4)
    assert "Group 7" in nb.cells[0].source and "Ada Lovelace" in nb.cells[0].source
    assert (smoke.path / f"{SMOKE_NAME}.zip").is_file()


def test_bundle_holds_no_python_file(smoke: SmokeRun) -> None:
    from mnistlab import data

    with zipfile.ZipFile(smoke.path / f"{SMOKE_NAME}.zip") as zf:
        names = zf.namelist()
        readme = zf.read(f"{SMOKE_NAME}.code/README.md").decode()
        reqs = zf.read(f"{SMOKE_NAME}.code/requirements.txt").decode()
    assert {n.split("/", 1)[0] for n in names} == {f"{SMOKE_NAME}.ipynb", f"{SMOKE_NAME}.pdf", f"{SMOKE_NAME}.code"}
    assert not [n for n in names if n.endswith(".py")]
    assert sorted(names) == sorted([f"{SMOKE_NAME}.ipynb", f"{SMOKE_NAME}.pdf", f"{SMOKE_NAME}.code/README.md",
                                    f"{SMOKE_NAME}.code/requirements.txt"])
    assert all(digest in readme for digest in data.SHA256.values())
    assert "numpy==" in reqs and "optuna==" in reqs and "matplotlib==" in reqs


def test_safe_member_refuses_python_files() -> None:
    from mnistlab.deliverables.bundle import safe_member

    with pytest.raises(ValueError, match=r"\.py"):
        safe_member("X.code/src/mnistlab/cli.py")


BLOCK_INSTALLED = '''import sys


class _BlockInstalled:  # added by the test: the installed package must never load
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "mnistlab":
            raise ImportError(f"test: the installed {name} was asked for")
        return None


sys.meta_path.insert(0, _BlockInstalled())
sys.path = [p for p in sys.path if not p.endswith("src")]'''

ALL_FROM_NOTEBOOK = '''import sys

mine = {n: getattr(m, "__file__", "") for n, m in sys.modules.items() if n.split(".")[0] == "mnistlab"}
assert len(mine) >= 30 and all("<notebook>" in f for f in mine.values()), mine'''


def test_restart_and_run_all_in_an_empty_folder_without_the_package(notebook, tmp_path: Path) -> None:
    """The shipped notebook, outputs cleared, run from the top in an empty folder: it trains every task (smoke
    budgets) with its own code only, and ends with every task's results shown and no error."""
    from mnistlab.deliverables.notebook import run_notebook

    nb = nbformat.from_dict(notebook)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.cells.insert(0, nbformat.v4.new_code_cell(BLOCK_INSTALLED))
    nb.cells.append(nbformat.v4.new_code_cell(ALL_FROM_NOTEBOOK))
    env = {"MNISTLAB_DATA": str(DATA), "MNISTLAB_THREADS": "1", "MNISTLAB_CACHE": str(tmp_path / "cache"),
           "PYTHONPATH": ""}
    empty = tmp_path / "run"
    empty.mkdir()
    run_notebook(nb, empty, env)  # raises on any error cell
    assert all((empty / t / ".done").is_file() for t in TASKS)
    assert os.listdir(empty / "mtl" / "figures")
