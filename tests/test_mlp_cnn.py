"""Studies 3 and 4 through the CLI on the smoke profile (tiny subsets: the numbers mean nothing, the files,
keys and contracts do), plus the helpers they share."""

from pathlib import Path

import pytest

from mnistlab import config
from mnistlab.models import param_count
from mnistlab.models.registry import create
from mnistlab.runs import read_json
from mnistlab.studies import mlp as mlp_study
from mnistlab.studies import nets as N
from mnistlab.train import Classification, evaluate, safe_load

MLP_NAMES = ["3_1", "3_2_depth3", "3_2_depth4", "3_2_depth5", "3_2_depth7"]
CNN_NAMES = ["4_1", "4_2_shallow", "4_2_narrow", "4_2_wide", "4_2_deep"]


@pytest.fixture
def run_dir(smoke_studies) -> Path:
    """The shared smoke run (conftest.smoke_studies): its mlp and cnn studies."""
    return smoke_studies.path


def test_metrics_keys_and_values(run_dir: Path) -> None:
    metrics = read_json(run_dir / "metrics.json")
    for study, names, prefix in (("mlp", MLP_NAMES, "mlp_"), ("cnn", CNN_NAMES, "cnn_")):
        for name in names:
            for key in ("test_acc", "train_acc"):
                assert 0.0 <= metrics[f"{study}.{name}.{key}"] <= 1.0
            assert metrics[f"{study}.{name}.train_s"] > 0 and metrics[f"{study}.{name}.test_s"] > 0
            assert metrics[f"{study}.{name}.params"] == param_count(create(prefix + name))
    assert metrics["mlp.3_1.params"] == 1_796_010 and metrics["cnn.4_1.params"] == 227_306


def test_model_files_are_the_contract(run_dir: Path, mnist) -> None:
    """`<run>/mlp/3_1/model.pt` and `<run>/cnn/4_1/model.pt` load into the registry's models, and the loaded CNN
    scores what the run reported on the same (smoke) test images."""
    mlp = create("mlp_3_1")
    mlp.load_state_dict(safe_load(run_dir / "mlp" / "3_1" / "model.pt"))
    cnn = create("cnn_4_1")
    cnn.load_state_dict(safe_load(run_dir / "cnn" / "4_1" / "model.pt"))
    cfg = config.build("smoke")
    _train, test = N.tensors(mnist, cfg.cnn.subset, image=True)
    acc = evaluate(cnn, Classification(), *test)["acc"]  # fp32 here, bf16 in training: a flip or two allowed
    assert abs(acc - read_json(run_dir / "metrics.json")["cnn.4_1.test_acc"]) <= 0.011
    for name in MLP_NAMES:
        assert (run_dir / "mlp" / name / "history.json").is_file()
        assert (run_dir / "mlp" / name / "tensorboard").is_dir()
    for name in CNN_NAMES:
        assert (run_dir / "cnn" / name / "model.pt").is_file()


def test_search_uses_the_validation_slice_only(run_dir: Path) -> None:
    search = read_json(run_dir / "mlp" / "search" / "search.json")
    cfg = config.build("smoke")
    val = read_json(run_dir / "mlp" / "search" / "val_idx.json")["val_idx"]
    assert len(val) == len(set(val)) == cfg.mlp.val_size and min(val) >= 0 and max(val) < cfg.mlp.subset
    assert search["train_size"] + search["val_size"] == cfg.mlp.subset
    rows = search["grid"] + search["budgets"]
    assert len(search["grid"]) == 2 and all("test_acc" not in r for r in rows)  # 1 batch size x 2 rates
    assert search["chosen"] in rows
    metrics = read_json(run_dir / "metrics.json")
    for key in ("batch_size", "lr", "epochs"):
        assert metrics[f"mlp.3_1.{key}"] == search["chosen"][key]
    assert metrics["mlp.search.val_acc"] == search["chosen"]["val_acc"]


def test_summaries_tables_and_figures(run_dir: Path) -> None:
    mlp = read_json(run_dir / "mlp" / "summary.json")
    cnn = read_json(run_dir / "cnn" / "summary.json")
    assert [r["hidden_layers"] for r in mlp["depth_table"]] == [2, 3, 4, 5, 7]
    assert [r["name"] for r in cnn["table"]] == CNN_NAMES
    assert cnn["mlp_compared"] == sorted(MLP_NAMES)  # the CNN-vs-MLP figure read the mlp study's results
    assert len(mlp["curves"]["3_1"]) == mlp["recipe"]["epochs"]
    for study, summary in (("mlp", mlp), ("cnn", cnn)):
        assert {"3_1_curves", "3_2_depth", "3_1_search"} <= set(mlp["figures"])
        assert {"4_1_curves", "4_2_variants", "cnn_vs_mlp"} <= set(cnn["figures"])
        for png in summary["figures"].values():
            assert (run_dir / study / png).stat().st_size > 5000
            assert (run_dir / study / png).with_suffix(".svg").is_file()
    events = (run_dir / "metrics.jsonl").read_text()
    assert '"model": "4_2_deep"' in events and '"model": "3_2_depth7"' in events


def test_aggregate_over_seeds() -> None:
    rows = [{"name": "4_1", "seed": s, "test_acc": a, "train_acc": 1.0, "params": 10, "train_s": t, "test_s": 0.5,
             "history": [s]} for s, a, t in ((0, 0.98, 10.0), (1, 0.99, 12.0), (2, 0.97, 11.0))]
    agg = N.aggregate(rows)
    assert agg["test_acc"] == pytest.approx(0.98) and agg["test_acc_std"] == pytest.approx(0.01)
    assert agg["n"] == 3 and agg["history"] == [0] and agg["seeds"] == [0, 1, 2]
    m = N.metrics("cnn", agg)
    assert m["cnn.4_1.test_acc"] == pytest.approx(0.98) and m["cnn.4_1.test_acc.std"] == pytest.approx(0.01)
    assert m["cnn.4_1.test_acc.n"] == 3 and m["cnn.4_1.params"] == 10
    single = N.metrics("cnn", N.aggregate(rows[:1]))
    assert "cnn.4_1.test_acc.std" not in single and single["cnn.4_1.test_acc"] == 0.98


def test_search_rule_prefers_the_cheapest_within_tolerance() -> None:
    def row(acc, epochs, batch):
        return {"val_acc": acc, "epochs": epochs, "batch_size": batch}

    grid = [row(0.981, 2, 128), row(0.9805, 2, 256), row(0.9804, 2, 256), row(0.975, 2, 512)]
    assert mlp_study.cheapest_within(grid, 0.001) is grid[1]  # larger batch within tolerance; then the better
    assert mlp_study.cheapest_within(grid, 0.0) is grid[0]
    budgets = [row(0.982, 2, 128), row(0.9851, 5, 128), row(0.9856, 10, 128)]
    assert mlp_study.cheapest_within(budgets, 0.001) is budgets[1]
