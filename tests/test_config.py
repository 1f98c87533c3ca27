"""The typed config: every field declares its doc and bounds (mnistlab.settings.setting), the bounds refuse bad
values with one line, list fields are lists in config.json and in --set, `--list-settings` shows every field,
and the profiles' values stay what they were."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
import typing
from pathlib import Path
from typing import Any

import pytest

from conftest import run_cli
from mnistlab import cli, config
from mnistlab.errors import ConfigError, UserError
from mnistlab.runs import RunDir
from mnistlab.settings import bounds_text, describe, format_value, known_keys

STUDY_CLASSES = {"pca": config.PCAConfig, "perceptron": config.PerceptronConfig, "mlp": config.MLPConfig,
                 "cnn": config.CNNConfig, "viz": config.VizConfig, "mtl": config.MTLConfig}
LIST_FIELDS = {"perceptron.pairs": ["0-1", "2-3", "4-5", "6-7", "8-9"], "mlp.search_batches": [128, 256, 512],
               "mlp.search_lrs": [1e-3, 2e-3, 4e-3], "mlp.search_budgets": [5, 10], "viz.dream_classes": [2, 9],
               "viz.deepdream_layers": ["conv2", "conv3"], "mtl.lambdas": [0.0, 0.25, 0.5, 0.75, 1.0]}


def all_fields() -> list[tuple[str, dataclasses.Field[Any]]]:
    """(key, field) of every settable field, read straight from the dataclasses (not through mnistlab.settings)."""
    top = [(f.name, f) for f in dataclasses.fields(config.RunConfig) if f.name not in STUDY_CLASSES]
    return top + [(f"{s}.{f.name}", f) for s, cls in STUDY_CLASSES.items() for f in dataclasses.fields(cls)]


def is_float(key: str) -> bool:
    """Whether the field (or each element of the list field) is a float, from its annotation."""
    study, _, name = key.rpartition(".")
    cls = STUDY_CLASSES[study] if study else config.RunConfig
    return "float" in str(typing.get_type_hints(cls)[name])


def listing(*args: str) -> str:
    """What `mnistlab run --list-settings ARGS` prints (in-process: main() would install a signal handler)."""
    a = cli.parser().parse_args(["run", "--list-settings", *args])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.COMMANDS[a.command](a) == 0
    return out.getvalue()


def value_of(cfg: config.RunConfig, key: str) -> Any:
    obj: Any = cfg
    for part in key.split("."):
        obj = getattr(obj, part)
    return obj


def outside(meta: Any) -> float:
    """A number just outside the field's bounds: below `low`, or above `high` when there is no `low`."""
    if meta["low"] is not None:
        return meta["low"] if meta["low_open"] else meta["low"] - 1
    return meta["high"] if meta["high_open"] else meta["high"] + 1


# ---------------------------------------------------------------- bounds and choices
BOUNDED = [(k, f) for k, f in all_fields() if f.metadata.get("low") is not None or f.metadata.get("high") is not None]


def test_the_usual_bounds_are_declared():
    keys = {k for k, _ in BOUNDED}
    assert {"seed", "seeds", "mlp.epochs", "mtl.beta1", "mtl.lambdas", "pca.subset", "viz.dream_lr"} <= keys
    assert len(BOUNDED) > 60  # every count, rate and penalty


@pytest.mark.parametrize("key, f", BOUNDED, ids=[k for k, _ in BOUNDED])
def test_a_value_out_of_bounds_is_one_line_naming_key_bound_and_value(key, f):
    bad = outside(f.metadata)
    text = str(float(bad) if is_float(key) else int(bad))
    with pytest.raises(ConfigError) as err:
        config.build("full", [f"{key}={text}"])
    message = str(err.value)
    assert "\n" not in message and message.startswith(key)
    assert bounds_text(f.metadata) in message and text in message


@pytest.mark.parametrize("item, message", [
    ("mtl.beta1=1", "mtl.beta1 must lie in [0, 1), got 1.0"),
    ("mtl.lambdas=0,1.5", "mtl.lambdas must lie in [0, 1], got 1.5"),
    ("mlp.search_lrs=0.001,0", "mlp.search_lrs must be > 0, got 0.0"),
    ("seeds=0", "seeds must be > 0, got 0"),
    ("pca.n_components=785", "pca.n_components must lie in (0, 784], got 785"),
    ("device=tpu", "device must be auto, cpu or cuda, got 'tpu'"),
    ("mlp.schedule=cyclic", "mlp.schedule must be constant or onecycle, got 'cyclic'"),
    ("viz.dream_param=voxel", "viz.dream_param must be pca or pixel, got 'voxel'"),
    ("viz.independent=svm", "viz.independent must be mlp_3_1 or cnn_4_1, got 'svm'"),
    ("viz.dream_classes=2,3", "viz.dream_classes must be 2 or 9, got 3"),
    ("perceptron.pairs=0-1,3-3", "perceptron.pairs: '3-3' is not a pair of two different digits 0-9"),
    ("perceptron.pairs=0-1,12", "perceptron.pairs: '12' is not a pair of two different digits 0-9"),
    ("mtl.lambdas=", "mtl.lambdas is empty; give at least 1 value, e.g. mtl.lambdas=0,0.25,0.5,0.75,1"),
    ("mtl.lambdas=0,half", "mtl.lambdas expects comma-separated numbers, got '0,half'"),
    ("mlp.search_batches=128,1e3", "mlp.search_batches expects comma-separated whole numbers"),
    ("mlp.lr=fast", "mlp.lr expects float, got 'fast'"),
])
def test_bad_values_name_the_rule(item, message):
    with pytest.raises(ConfigError) as err:
        config.build("full", [item])
    assert message in str(err.value) and "\n" not in str(err.value)


def test_every_choice_field_refuses_an_unknown_value_and_accepts_its_choices():
    chosen = [(k, f) for k, f in all_fields() if f.metadata.get("choices")]
    assert {"device", "mlp.schedule", "cnn.schedule", "mtl.schedule", "viz.dream_param", "viz.independent",
            "viz.dream_objective", "viz.dream_classes"} <= {k for k, _ in chosen}
    assert set(dict(chosen)["profile"].metadata["choices"]) == set(config.PROFILES)
    for key, f in chosen:
        for choice in f.metadata["choices"]:
            if key != "profile":  # the profile is chosen by --profile; --set only relabels it
                assert value_of(config.build("full", [f"{key}={choice}"]), key) in (choice, [choice])
        with pytest.raises(ConfigError, match="must be"):
            config.build("full", [f"{key}=99"])


def test_unknown_key_suggests_the_near_one_and_how_to_list():
    with pytest.raises(ConfigError) as err:
        config.build("full", ["mlp.epoch=3"])
    assert "did you mean mlp.epochs" in str(err.value) and "--list-settings" in str(err.value)


# ---------------------------------------------------------------- lists
def test_list_fields_are_lists_of_their_element_type():
    cfg = config.build("full")
    for key, expected in LIST_FIELDS.items():
        value = value_of(cfg, key)
        assert value == expected and [type(v) for v in value] == [type(v) for v in expected], key
    assert value_of(config.RunConfig(), "mtl.lambdas") is not value_of(config.RunConfig(), "mtl.lambdas")


def test_set_parses_a_list_element_by_element():
    cfg = config.build("full", ["mtl.lambdas=0, 0.5,1", "mlp.search_batches=64,128", "viz.deepdream_layers=",
                                "perceptron.pairs=3-8", "mlp.search_budgets="])
    assert cfg.mtl.lambdas == [0.0, 0.5, 1.0] and all(isinstance(v, float) for v in cfg.mtl.lambdas)
    assert cfg.mlp.search_batches == [64, 128] and cfg.viz.deepdream_layers == [] and cfg.mlp.search_budgets == []
    assert cfg.perceptron.pairs == ["3-8"] and config.parse_pairs(cfg.perceptron.pairs) == [(3, 8)]


def test_a_list_round_trips_through_config_json_and_set(tmp_path):
    cfg = config.build("smoke", ["mtl.lambdas=0,0.5,1", "viz.deepdream_layers=conv3"])
    with RunDir.open(tmp_path / "run", cfg.to_dict()) as rd:
        stored = json.loads((rd.path / "config.json").read_text())
    assert stored["mtl"]["lambdas"] == [0, 0.5, 1] and stored["viz"]["deepdream_layers"] == ["conv3"]
    assert stored["perceptron"]["pairs"] == ["0-1", "2-3", "4-5", "6-7", "8-9"]
    assert stored["mlp"]["search_lrs"] == [0.001, 0.002]
    again = config.build("smoke", [f"{k}={format_value(value_of(cfg, k))}" for k in LIST_FIELDS])
    assert again.to_dict() == stored
    RunDir.open(tmp_path / "run", again.to_dict())  # the same config: the folder is accepted for a resume


def test_the_notebook_settings_cell_reproduces_a_config_with_lists():
    from mnistlab.deliverables import nbtext

    cfg = config.build("quick", ["mtl.lambdas=0.25,0.75", "viz.deepdream_layers=", "mlp.search_lrs=0.0015"])
    cell: dict[str, Any] = {}
    exec(nbtext.settings(cfg.to_dict()), cell)
    assert "mtl.lambdas=0.25,0.75" in cell["OVERRIDES"] and "viz.deepdream_layers=" in cell["OVERRIDES"]
    assert config.build(cell["PROFILE"], cell["OVERRIDES"]).to_dict() == cfg.to_dict()


def test_a_folder_with_the_old_string_lists_refuses_to_resume_in_one_line(tmp_path):
    old = config.build("smoke").to_dict()
    old["mtl"]["lambdas"], old["perceptron"]["pairs"] = "0,0.25,0.5,0.75,1", "0-1,2-3,4-5,6-7,8-9"
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text(json.dumps(old))
    with pytest.raises(UserError, match=r"differs in: mtl, perceptron"):
        RunDir.open(tmp_path / "run", config.build("smoke").to_dict())
    res = run_cli("run", "pca", "--profile", "smoke", "--out", str(tmp_path / "run"), "--no-deliverables")
    assert res.returncode == 2 and "different config" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr


# ---------------------------------------------------------------- the listing
def test_every_field_has_a_doc_and_the_listing_shows_it():
    text = listing("--profile", "quick")
    flat = " ".join(text.split())
    fields = all_fields()
    assert len(fields) == len(known_keys(config.RunConfig())) == len(describe(config.RunConfig()))
    for key, f in fields:
        doc = f.metadata.get("doc", "")
        assert len(doc) > 10, f"{key} has no doc"
        assert f"\n{key}: " in text and " ".join(doc.split()) in flat, key
    assert "mtl.lambdas: list[float] = 0,0.25,0.5,0.75,1  (each must lie in [0, 1]; at least 1 value)" in text
    assert "mlp.search: bool = false" in text and "mtl.epoch_images: int = 30000  (must be >= 0)" in text


def test_the_listing_follows_profile_and_set_and_help_points_to_it():
    out = listing("--set", "mtl.lambdas=0.5")
    assert "profile full with the --set values given" in out and "mtl.lambdas: list[float] = 0.5 " in out
    assert "mlp.search: bool = true" in out
    res = run_cli("run", "--help")
    assert res.returncode == 0 and "--list-settings" in " ".join(res.stdout.split()[-30:])  # the epilog, last
    res = run_cli("tune", "--list-settings", "--set", "mtl.nope=1")
    assert res.returncode == 2 and "unknown config key 'mtl.nope'" in res.stderr


# ---------------------------------------------------------------- the profiles keep their values
@pytest.mark.parametrize("profile, expected", [
    ("full", {"seeds": 1, "mlp.epochs": 5, "mlp.search": True, "mlp.search_batches": [128, 256, 512],
              "mlp.search_lrs": [0.001, 0.002, 0.004], "mlp.search_budgets": [5, 10], "cnn.epochs": 8,
              "viz.dream_steps": 256, "viz.dream_classes": [2, 9], "viz.deepdream_layers": ["conv2", "conv3"],
              "mtl.lambdas": [0, 0.25, 0.5, 0.75, 1], "mtl.epochs": 6, "mtl.batch_size": 256, "mtl.tune_trials": 12,
              "perceptron.pairs": ["0-1", "2-3", "4-5", "6-7", "8-9"], "perceptron.max_iter": 1000,
              "mtl.beta2": 0.999, "viz.deepdream_lr": 0.015}),
    ("quick", {"perceptron.max_iter": 300, "perceptron.all_pairs_max_iter": 30, "mlp.epochs": 2,
               "mlp.search": False, "cnn.epochs": 2, "viz.dream_steps": 128, "viz.filter_steps": 64,
               "mtl.epochs": 1, "mtl.batch_size": 128, "mtl.epoch_images": 30_000, "mtl.tune_trials": 3,
               "mtl.tune_subset": 5000, "mtl.tune_epochs": 1, "mtl.lambdas": [0, 0.25, 0.5, 0.75, 1],
               "mlp.search_lrs": [0.001, 0.002, 0.004], "perceptron.pairs": ["0-1", "2-3", "4-5", "6-7", "8-9"]}),
    ("smoke", {"mlp.search_batches": [128], "mlp.search_lrs": [0.001, 0.002], "mlp.search_budgets": [1],
               "mlp.val_size": 200, "mtl.subset": 256, "pca.subset": 2000}),
    ("paper", {"seeds": 3, "mlp.epochs": 5, "mtl.lambdas": [0, 0.25, 0.5, 0.75, 1]}),
])
def test_profile_values_are_unchanged(profile, expected):
    cfg = config.build(profile)
    for key, value in expected.items():
        got = value_of(cfg, key)
        if isinstance(value, list):  # element types: test_list_fields_are_lists_of_their_element_type
            assert len(got) == len(value) and all(math.isclose(a, b) for a, b in zip(got, value, strict=True)
                                                  if not isinstance(b, str)) and got == value, key
        else:
            assert got == value and type(got) is type(value), (key, got)


def test_profiles_differ_from_full_only_where_they_say():
    full = config.build("full").to_dict()
    quick = config.build("quick").to_dict()
    changed = {f"{s}.{k}" for s, v in quick.items() if isinstance(v, dict) for k in v if v[k] != full[s][k]}
    assert changed == {"perceptron.max_iter", "perceptron.all_pairs_max_iter", "mlp.epochs", "mlp.search",
                       "cnn.epochs", "viz.dream_steps", "viz.filter_steps", "mtl.epochs", "mtl.batch_size",
                       "mtl.epoch_images", "mtl.tune_trials", "mtl.tune_subset", "mtl.tune_epochs"}


def test_readme_says_how_to_list_settings():
    readme = (Path(config.__file__).parents[2] / "README.md").read_text()
    assert "--list-settings" in readme and "--list-settings" in (config.__doc__ or "")


def test_a_run_folder_with_text_lists_is_refused_by_the_deliverables_in_one_line(tmp_path):
    """Older versions saved list settings as text; the notebook, report and bundle would misread them."""
    from mnistlab.config import check_saved

    cfg = config.build("smoke").to_dict()
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    check_saved(tmp_path)  # today's folder passes
    cfg["mtl"]["lambdas"] = "0,0.5,1"
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ConfigError, match=r"older mnistlab \(mtl.lambdas is '0,0.5,1', now a list\)"):
        check_saved(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="cannot be read"):
        check_saved(tmp_path)
