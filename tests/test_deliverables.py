"""The deliverables (issue 7): notebook, report and bundle built from a real smoke run through the CLI, and the
checks behind them (word count, Typst warnings, unsafe zip paths, error cells) on tiny inputs."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from conftest import SMOKE_ARGS, SMOKE_NAME, SmokeRun, copy_run, run_cli
from mnistlab.config import STUDIES
from mnistlab.deliverables.context import TITLES
from mnistlab.errors import UserError

NAME = SMOKE_NAME
RUN_ARGS = ("run", *SMOKE_ARGS, "--name", NAME)  # the command the shared smoke run was made with


@pytest.fixture
def smoke_run(smoke: SmokeRun) -> Path:
    """All six studies on tiny subsets, then notebook, report and bundle: the one command a user runs."""
    return smoke.path


def _pdf_text(path: Path) -> tuple[str, list[str]]:
    import pypdf

    reader = pypdf.PdfReader(path)
    outline = [o.title for o in reader.outline if not isinstance(o, list)]
    return "\n".join(p.extract_text() for p in reader.pages), outline


def test_notebook_reexecution_is_byte_identical(smoke_run: Path) -> None:
    before = (smoke_run / "study.ipynb").read_bytes()
    res = run_cli("notebook", "--run", str(smoke_run))
    assert res.returncode == 0, res.stderr[-2000:]
    assert (smoke_run / "study.ipynb").read_bytes() == before


def test_report_sections_words_and_figures(smoke_run: Path) -> None:
    text, outline = _pdf_text(smoke_run / "report.pdf")
    for i, study in enumerate(STUDIES, 1):
        assert f"{i} {TITLES[study]}" in outline, outline
    assert "no results in this run" not in text
    assert "else [" not in text and "#if" not in text and "#s." not in text  # no Typst code leaked as text
    assert "Contributions" in outline and "References" in outline
    words = json.loads((smoke_run / "report" / "words.json").read_text())
    assert 2700 <= words["body_words"] <= 3300 and words["enforced"]
    assert json.loads((smoke_run / "metrics.json").read_text())["report.words"] == words["body_words"]
    assert len(words["figures"]) >= 12
    for fig in words["figures"]:
        assert (smoke_run / fig.lstrip("/")).is_file(), fig


def test_bundle_has_exactly_three_parts(smoke_run: Path) -> None:
    from mnistlab.deliverables.bundle import safe_member

    with zipfile.ZipFile(smoke_run / f"{NAME}.zip") as zf:
        names = zf.namelist()
        assert {n.split("/", 1)[0] for n in names} == {f"{NAME}.ipynb", f"{NAME}.pdf", f"{NAME}.code"}
        assert zf.read(f"{NAME}.pdf") == (smoke_run / "report.pdf").read_bytes()
    assert all(safe_member(n) == n for n in names)
    code = {n.split("/", 1)[1] for n in names if n.startswith(f"{NAME}.code/")}
    assert code == {"README.md", "requirements.txt"}  # the code itself is in the notebook
    assert not [n for n in names if n.endswith((".pt", ".npz", ".npy", ".gz", ".pyc", ".zip"))]


def test_rerun_skips_finished_work(smoke_run: Path) -> None:
    res = run_cli(*RUN_ARGS, "--out", str(smoke_run))
    assert res.returncode == 0, res.stderr[-2000:]
    for kind in ("notebook", "report", "bundle"):
        assert f"[{kind}] up to date" in res.stderr
    assert "report body" in res.stdout and f"{NAME}.zip" in res.stdout


def test_report_builds_with_a_failed_and_a_missing_study(smoke_run: Path, tmp_path: Path) -> None:
    run = copy_run(smoke_run, tmp_path / "partial")
    (run / "mtl" / ".done").unlink()  # missing
    (run / "perceptron" / ".done").unlink()  # failed
    metrics = json.loads((run / "metrics.json").read_text())
    (run / "metrics.json").write_text(json.dumps({**metrics, "status.perceptron": "failed"}))
    res = run_cli("report", "--run", str(run))
    assert res.returncode == 0, res.stderr[-2000:]
    text, _ = _pdf_text(run / "report.pdf")
    assert "status: failed" in text and "status: missing" in text


def test_word_count_keeps_prose_only(tmp_path: Path) -> None:
    from mnistlab.deliverables import typst_doc

    (tmp_path / "d.typ").write_text(
        '#let body(it) = [#par(it)<body>]\n#set text(font: "Arimo")\n= A heading not counted\n'
        "#body[Five words, with $x^2$ maths: 98.5% -- yes.]\n#figure(rect(), caption: [not counted]) <f>\n"
        "#body[See @f and *bold* text.]\nUnlabelled text is not counted.\n")
    comp = typst_doc.compiler(tmp_path / "d.typ", tmp_path)
    typst_doc.compile_checked(comp)
    texts = typst_doc.body_text(comp)
    assert typst_doc.count_words(texts) == 6 + 4  # "Five words, with maths: 98.5% yes." + "See and bold text."


def test_typst_warning_is_an_error(tmp_path: Path) -> None:
    from mnistlab.deliverables import typst_doc

    (tmp_path / "d.typ").write_text('#set text(font: "No Such Font")\nHello\n')
    with pytest.raises(RuntimeError, match="warned"):
        typst_doc.compile_checked(typst_doc.compiler(tmp_path / "d.typ", tmp_path))


@pytest.mark.parametrize("name", ["../x.py", "/etc/passwd", "a\\b", "C:/x", "a/../../b", ""])
def test_unsafe_zip_members_are_refused(name: str) -> None:
    from mnistlab.deliverables.bundle import safe_member

    with pytest.raises(ValueError):
        safe_member(name)


def test_bundle_and_report_refuse_bad_input(tmp_path: Path) -> None:
    res = run_cli("report", "--run", str(tmp_path))
    assert res.returncode == 2 and "not a run folder" in res.stderr and "Traceback" not in res.stderr
    (tmp_path / "config.json").write_text("{}")
    res = run_cli("bundle", "--run", str(tmp_path), "--name", "../evil")
    assert res.returncode == 2 and "bundle name" in res.stderr


def test_notebook_error_cell_fails(tmp_path: Path) -> None:
    import nbformat

    from mnistlab.deliverables.notebook import run_notebook

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"),
                                         nbformat.v4.new_code_cell("raise ValueError('boom')")])
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:03d}"
    with pytest.raises(UserError, match=r"cell-001: ValueError: boom"):
        run_notebook(nb, tmp_path)


def test_diagrams_match_the_models() -> None:
    import torch

    from mnistlab.deliverables.diagrams import trace
    from mnistlab.models import param_count
    from mnistlab.models.registry import create

    layers = trace(create("cnn_4_1"), torch.zeros(1, 1, 28, 28))
    assert [ly.shape for ly in layers] == ["32×28×28", "64×14×14", "128×7×7", "6272", "10"]
    assert sum(ly.params for ly in layers) == param_count(create("cnn_4_1")) == 227_306


def test_templates_keep_else_on_the_closing_line() -> None:
    """In Typst markup an `else` must follow `]` on the same line, or the branch silently prints as text."""
    import re

    from mnistlab.deliverables.build import TEMPLATE

    for path in TEMPLATE.glob("*.typ"):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            assert not re.search(r"\belse\s*$|\belse if [^\[{]*$|^\s*else\b", line), f"{path.name}:{n}: {line}"


def test_templates_do_not_swallow_semicolons() -> None:
    """`#s.value;` ends the Typst expression at the semicolon, which then vanishes from the text."""
    import re

    from mnistlab.deliverables.build import TEMPLATE

    for path in TEMPLATE.glob("*.typ"):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            assert not re.search(r"#[a-z_][a-z0-9_.]*[a-z0-9_];", line), f"{path.name}:{n}: {line}"
            assert not re.search(r"#if .*\];", line), f"{path.name}:{n}: {line}"  # `#if c [..];` eats it too


def test_network_text_names_unequal_budgets(smoke_run: Path) -> None:
    """When a profile trains 3.1/4.1 longer than 3.2/4.2 (quick does), the text says so and ranks CNN speed per
    epoch; with equal budgets it says neither."""
    from mnistlab.deliverables import sections
    from mnistlab.deliverables.results import Results

    r = Results.load(smoke_run)  # a fresh load: the edits below stay in memory
    r.summaries["mlp"]["recipe"]["epochs"], r.summaries["mlp"]["recipe"]["depth_epochs"] = 2, 1
    assert sections.mlp(r)["depth_shorter"]
    r.summaries["mlp"]["recipe"]["depth_epochs"] = 2
    assert not sections.mlp(r)["depth_shorter"]

    r.summaries["cnn"]["recipe"]["epochs"], r.summaries["cnn"]["variant_recipe"]["epochs"] = 4, 1
    for key in ("train_s", "train_cpu_s"):  # the report ranks by the measure its figures plot
        r.metrics |= {k: 1.0 for k in r.metrics if k.startswith("cnn.") and k.endswith(f".{key}")}
        r.metrics |= {f"cnn.4_1.{key}": 10.0, f"cnn.4_2_wide.{key}": 3.0}  # 4.1: 2.5 s per epoch, wide: 3 s
    out = sections.cnn(r)
    assert out["variants_shorter"] and "wide" in out["slowest"]
    r.summaries["cnn"]["variant_recipe"]["epochs"] = 4
    out = sections.cnn(r)
    assert not out["variants_shorter"] and out["slowest"] == "4.1"
