"""Study prerequisites: `plan` (a pure function) adds what a study NEEDS and lacks, in order, and refuses cycles and
unknown names; the runner (`run_studies`, also behind the notebook's `run_and_show`) follows it; the viz study
only loads the models of the cnn and mlp studies and never writes under their folders. The smoke run of
`mnistlab run viz` in an empty folder is in tests/test_viz.py."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import pytest

from mnistlab import config, studies
from mnistlab.errors import TrainingDiverged, UserError
from mnistlab.runs import RunDir
from mnistlab.studies import Step, StudyResult, declared, plan

NEEDS = {"viz": ("cnn", "mlp")}
USES = {"cnn": ("mlp",)}


def test_plan_adds_missing_prerequisites_before_the_study_in_studies_order() -> None:
    assert plan(["viz"], NEEDS, USES) == [Step("mlp", "viz needs it"), Step("cnn", "viz needs it"), Step("viz")]


def test_plan_skips_done_prerequisites_but_keeps_an_asked_for_study_that_is_done() -> None:
    assert plan(["viz"], NEEDS, USES, done={"cnn"}) == [Step("mlp", "viz needs it"), Step("viz")]
    assert plan(["viz"], NEEDS, USES, done={"cnn", "mlp"}) == [Step("viz")]
    assert plan(["viz"], NEEDS, USES, done={"cnn", "mlp", "viz"}) == [Step("viz")]  # the runner skips it


def test_plan_follows_prerequisites_of_prerequisites() -> None:
    chain = {"viz": ("cnn",), "cnn": ("pca",)}
    assert plan(["viz"], chain) == [Step("pca", "cnn needs it"), Step("cnn", "viz needs it"), Step("viz")]
    assert plan(["viz"], chain, done={"cnn"}) == [Step("viz")]  # a done study's own needs are not followed


def test_plan_keeps_the_asked_order_and_never_forces_a_used_study() -> None:
    assert plan(["mtl", "pca"], NEEDS, USES) == [Step("mtl"), Step("pca")]
    assert plan(["cnn"], NEEDS, USES) == [Step("cnn")]  # mlp is read if present, not trained for cnn
    assert plan(["cnn", "mlp"], NEEDS, USES) == [Step("mlp"), Step("cnn")]  # ... but runs first when asked too
    assert plan(["cnn", "viz"], NEEDS, USES) == [Step("mlp", "viz needs it"), Step("cnn"), Step("viz")]


def test_plan_refuses_a_cycle_and_unknown_studies() -> None:
    with pytest.raises(UserError, match="cycle: viz -> cnn -> viz"):
        plan(["viz"], {"viz": ("cnn",), "cnn": ("viz",)})
    with pytest.raises(UserError, match="cycle"):  # a cycle through an optional use is refused too
        plan(["viz"], NEEDS, {"mlp": ("viz",)})
    with pytest.raises(UserError, match="unknown study 'dreams'"):
        plan(["dreams"], NEEDS)
    with pytest.raises(UserError, match="unknown study 'cnn4'"):
        plan(["viz"], {"viz": ("cnn4",)})


def test_the_studies_declare_what_they_read() -> None:
    needs, uses = declared(["viz"])
    assert needs == {"viz": ("cnn", "mlp"), "cnn": (), "mlp": ()} and uses["cnn"] == ("mlp",)
    assert declared(["pca"]) == ({"pca": ()}, {"pca": ()})  # only what is reached is loaded (notebook order)


# ---------------------------------------------------------------- the runner, with stand-in studies
def _fake_studies(monkeypatch: pytest.MonkeyPatch, ran: list[str], diverge: str = "") -> None:
    """Stand-ins for the real modules (same NEEDS/USES), each recording that it ran; `diverge` fails."""

    def module(name: str) -> types.SimpleNamespace:
        def run(cfg: config.RunConfig, rd: RunDir) -> StudyResult:
            ran.append(name)
            if name == diverge:
                raise TrainingDiverged(name, epoch=0, step=3, loss=float("nan"))
            return StudyResult({"ok": True}, {f"{name}.x": 1.0})

        return types.SimpleNamespace(NEEDS=NEEDS.get(name, ()), USES=USES.get(name, ()), run=run)

    monkeypatch.setattr(studies, "load", module)


def test_runner_runs_prerequisites_first_and_says_why(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    ran: list[str] = []
    _fake_studies(monkeypatch, ran)
    cfg = config.build("smoke")
    with RunDir.open(tmp_path, cfg.to_dict()) as rd:
        assert studies.run_studies(cfg, rd, ["viz"]) == {"mlp": "done", "cnn": "done", "viz": "done"}
        assert ran == ["mlp", "cnn", "viz"]
        assert f"[cnn] not done in {rd.path}: running it first (viz needs it)" in capsys.readouterr().err
        (rd.path / "viz" / ".done").unlink()  # viz again: its prerequisites are done, so not rerun
        assert studies.run_studies(cfg, rd, ["viz"]) == {"viz": "done"}
    assert ran == ["mlp", "cnn", "viz", "viz"]


def test_a_failed_prerequisite_fails_its_dependent_without_running_it(monkeypatch: pytest.MonkeyPatch,
                                                                       tmp_path: Path) -> None:
    ran: list[str] = []
    _fake_studies(monkeypatch, ran, diverge="cnn")
    cfg = config.build("smoke")
    with RunDir.open(tmp_path, cfg.to_dict()) as rd:
        assert studies.run_studies(cfg, rd, ["viz", "pca"]) == {"mlp": "done", "cnn": "failed", "viz": "failed",
                                                               "pca": "done"}
        assert ran == ["mlp", "cnn", "pca"] and rd.metrics()["status.viz"] == "failed"


def test_the_notebook_runner_resolves_prerequisites_too(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`run_and_show` for task 5 alone, in an empty folder: cnn and mlp are trained first."""
    from mnistlab import show

    ran: list[str] = []
    _fake_studies(monkeypatch, ran)
    shown: list[Any] = []
    monkeypatch.setattr(show, "show_study", lambda path, study: shown.append(study))
    show.run_and_show(config.build("smoke"), tmp_path, "viz")
    assert ran == ["mlp", "cnn", "viz"] and shown == ["viz"]
    assert all((tmp_path / s / ".done").is_file() for s in ("mlp", "cnn", "viz"))


# ---------------------------------------------------------------- viz only loads
def test_viz_bypassing_the_runner_refuses_and_writes_nothing_for_cnn_or_mlp(tmp_path: Path) -> None:
    from mnistlab.studies import viz

    rd = RunDir(tmp_path)
    with pytest.raises(UserError, match=r"cnn/4_1/model.pt not found: the cnn study writes it"):
        viz.run(config.build("smoke"), rd)
    assert not (tmp_path / "cnn").exists() and not (tmp_path / "mlp").exists()
