"""Study 6 (multi-task learning): heads, losses, gradients, fresh models per lambda, the sweep and the tuning."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import SMOKE_ARGS, copy_run, run_cli
from mnistlab import config
from mnistlab.data import ITEM_TO_GROUP
from mnistlab.errors import ConfigError
from mnistlab.models import param_count
from mnistlab.models.multitask import (
    MultiTaskLoss,
    MultiTaskNet,
    SingleTask,
    UncertaintyLoss,
    UncertaintyNet,
    build_single,
)
from mnistlab.runs import read_json
from mnistlab.studies import mtl
from mnistlab.train import TrainSpec, fit

# The brief's architecture by hand: convs (3x3 kernels + bias), dense 6272 -> 3136, heads 3136 -> 1024 -> 100 -> n.
TRUNK = (9 + 1) * 32 + (32 * 9 + 1) * 64 + (64 * 9 + 1) * 128 + 6272 * 3136 + 3136


def head_params(n: int) -> int:
    return 3136 * 1024 + 1024 + 1024 * 100 + 100 + 100 * n + n


def _batch(n: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    items = torch.randint(0, 10, (n,), generator=g)
    y = torch.stack([items, torch.as_tensor(ITEM_TO_GROUP)[items]], dim=1)
    return torch.rand(n, 1, 28, 28, generator=g), y


def test_head_shapes_and_parameter_counts():
    x, _ = _batch(4)
    net, items_net, groups_net = MultiTaskNet(), build_single(10), build_single(3)
    items, groups = net(x)
    assert items.shape == (4, 10) and groups.shape == (4, 3)
    assert items_net(x).shape == (4, 10) and groups_net(x).shape == (4, 3)
    assert param_count(items_net) == TRUNK + head_params(10) == 23_080_598
    assert param_count(groups_net) == TRUNK + head_params(3)
    assert param_count(net) == TRUNK + head_params(10) + head_params(3) == 26_395_689


@pytest.mark.parametrize("lam", [0.0, 0.3, 0.5, 1.0])
def test_total_loss_is_the_weighted_sum(lam):
    g = torch.Generator().manual_seed(1)
    out = (torch.randn(16, 10, generator=g), torch.randn(16, 3, generator=g))
    _, y = _batch(16)
    expected = lam * F.cross_entropy(out[0], y[:, 0]) + (1 - lam) * F.cross_entropy(out[1], y[:, 1])
    assert torch.allclose(MultiTaskLoss(lam).loss(out, y), expected)


def test_uncertainty_loss_formula_and_its_gradient():
    net = UncertaintyNet()
    with torch.no_grad():
        net.log_vars.copy_(torch.tensor([0.4, -0.7]))
    task = UncertaintyLoss(net.log_vars)
    x, y = _batch(8)
    out = net(x)
    li, lg = task.losses(out, y)
    expected = torch.exp(torch.tensor(-0.4)) * li + torch.exp(torch.tensor(0.7)) * lg + (0.4 - 0.7) / 2
    loss = task.loss(out, y)
    assert torch.allclose(loss, expected)
    loss.backward()
    assert net.log_vars.grad is not None and torch.all(net.log_vars.grad != 0)


@pytest.mark.parametrize("lam, dead, alive", [(1.0, "groups", "items"), (0.0, "items", "groups")])
def test_a_zero_weighted_head_gets_no_gradient(lam, dead, alive):
    torch.manual_seed(0)
    net = MultiTaskNet()
    x, y = _batch(8)
    MultiTaskLoss(lam).loss(net(x), y).backward()
    assert all(p.grad is None for p in getattr(net, dead).parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in getattr(net, alive).parameters())
    assert all(p.grad is not None for p in net.trunk.parameters())


def test_training_at_lambda_1_leaves_the_groups_head_untouched():
    torch.manual_seed(0)
    net = MultiTaskNet()
    before = {k: v.clone() for k, v in net.groups.state_dict().items()}
    items_before = net.items[0].weight.detach().clone()
    fit(net, _batch(32), TrainSpec(epochs=1, batch_size=16), name="t", task=MultiTaskLoss(1.0), device="cpu")
    assert all(torch.equal(before[k], v) for k, v in net.groups.state_dict().items())
    assert not torch.equal(items_before, net.items[0].weight)


def test_group_accuracy_from_the_items_head():
    logits = torch.full((3, 10), -5.0)
    logits[0, 5], logits[1, 3], logits[2, 0] = 5, 5, 5  # predicts Sandal, Dress, T-shirt
    y = torch.tensor([[7, 0], [6, 1], [3, 1]])  # Sneaker (Shoes), Shirt (Gendered), Dress (Gendered)
    counts = MultiTaskLoss(0.5).correct((logits, torch.zeros(3, 3)), y)
    assert counts["items"] == 0 and counts["groups_from_items"] == 2
    assert SingleTask("items").correct(logits, y) == {"items": 0, "groups_from_items": 2}


def test_every_model_starts_fresh_from_the_same_weights():
    specs = {s.name: s for s in mtl.model_specs(config.build("smoke"))}
    a, _ = mtl.build(specs["lambda_0"], seed=3)
    b, _ = mtl.build(specs["lambda_1"], seed=3)
    uw, _ = mtl.build(specs["uw"], seed=3)
    c, _ = mtl.build(specs["lambda_1"], seed=4)
    assert a is not b and mtl.digest(a) == mtl.digest(b) == mtl.digest(uw.net)
    assert mtl.digest(c) != mtl.digest(a)


def test_no_state_carries_from_one_lambda_to_the_next():
    """lambda 0.5 trained after lambda 0 in a sweep ends with exactly the weights it has when trained alone."""
    x, y = _batch(64, seed=5)
    data = mtl.FashionTensors(train=(x, y), test=_batch(16, seed=6))
    spec = TrainSpec(epochs=1, batch_size=32, lr=1e-3, seed=0)
    specs = {s.name: s for s in mtl.model_specs(config.build("smoke"))}
    sweep = [mtl.train_one(specs[n], 0, data, spec, None, "cpu") for n in ("lambda_0", "lambda_0.5")]
    alone = mtl.train_one(specs["lambda_0.5"], 0, data, spec, None, "cpu")
    assert sweep[0]["init_sha"] == sweep[1]["init_sha"] == alone["init_sha"]
    assert sweep[1]["final_sha"] == alone["final_sha"] != sweep[0]["final_sha"]


@pytest.mark.parametrize("item, message", [("mtl.schedule=cyclic", "schedule"), ("mtl.lambdas=", "empty"),
                                           ("mtl.val_size=300", "val_size")])
def test_bad_settings_are_config_errors(item, message):
    with pytest.raises(ConfigError, match=message):
        mtl.check(config.build("smoke", [item]))


@pytest.fixture
def swept(smoke_studies):
    """The shared smoke run (conftest.smoke): `mnistlab tune` with a 2-trial budget, then `mnistlab run` on the same
    folder, whose mtl study (3 lambdas + 2 single nets + uw: 6 models) reuses the Optuna study."""
    return smoke_studies.path, smoke_studies.tuned, smoke_studies.ran


def test_two_trial_tuning_writes_its_study(swept):
    import optuna

    out, tuned, _ = swept
    assert tuned.returncode == 0, tuned.stderr
    tuning = read_json(out / "mtl" / "tuning" / "result.json")
    study = optuna.load_study(study_name=tuning["study"], storage=f"sqlite:///{out / 'mtl/tuning/optuna.db'}")
    assert len(study.trials) == 2 and (out / "mtl" / "tuning" / "trials.csv").is_file()
    first, m = study.trials[0].params, config.build("smoke").mtl  # the config's Adam settings are trial 0
    assert (first["lr"], first["beta1"], 1 - first["beta2_gap"]) == pytest.approx((m.lr, m.beta1, m.beta2))
    split = np.load(out / "mtl" / "tuning" / "split.npz")
    assert len(split["val_idx"]) == 64 and not set(split["val_idx"]) & set(split["train_idx"])
    assert tuning["best"]["lr"] == pytest.approx(study.best_params["lr"])


def test_a_tiny_sweep_end_to_end(swept):
    out, _, ran = swept
    assert ran.returncode == 0, ran.stderr
    assert "0 trial(s) to run" in ran.stderr  # the study `mnistlab tune` filled is reused
    metrics = read_json(out / "metrics.json")
    for key in ("mtl.single.items.test_acc", "mtl.single.groups.test_acc", "mtl.lambda_0.5.items.test_acc",
                "mtl.lambda_1.groups.test_acc", "mtl.uw.items.test_acc", "mtl.uw.groups.test_acc",
                "mtl.lambda_0.5.groups_from_items.test_acc", "mtl.tuned.lr", "mtl.tuned.beta2"):
        assert key in metrics, key
        assert 0 <= metrics[key] <= 1
    assert metrics["mtl.tuned.lr"] == read_json(out / "mtl" / "tuning" / "result.json")["best"]["lr"]
    rows = {r["model"]: r for r in read_json(out / "mtl" / "summary.json")["per_seed"]}
    assert len({rows[f"lambda_{v}"]["init_sha"] for v in ("0", "0.5", "1")} | {rows["uw"]["init_sha"]}) == 2
    assert len({rows[f"lambda_{v}"]["final_sha"] for v in ("0", "0.5", "1")}) == 3
    # lambda = 1 trains exactly what the single items net trains: same init, no gradient into the groups head
    assert rows["lambda_1"]["items_test"] == rows["single_items"]["items_test"]
    for stem in ("lambda_sweep", "curves", "tuning"):
        assert (out / "mtl" / "figures" / f"{stem}.png").is_file(), stem
    assert "| lambda_0.5 | 0.5 |" in (out / "mtl" / "results.md").read_text()
    assert (out / "mtl" / ".done").is_file()


@pytest.mark.slow
def test_a_deleted_model_is_retrained_alone(swept, tmp_path):
    out, _, ran = swept
    assert ran.returncode == 0, ran.stderr
    out = copy_run(out, tmp_path / "run", weights=True)
    before = read_json(out / "metrics.json")
    (out / "mtl" / ".done").unlink()
    for name in ("model.pt", "history.json"):
        (out / "mtl" / "lambda_0.5-s0" / name).unlink()
    res = run_cli("run", "mtl", *SMOKE_ARGS, "--out", str(out), "--no-deliverables", env={"MNISTLAB_THREADS": "1"})
    assert res.returncode == 0, res.stderr
    assert res.stderr.count("already trained") == 5 and "lambda_0.5-s0 epoch 1/1" in res.stderr
    assert read_json(out / "metrics.json")["mtl.lambda_0.5.items.test_acc"] == before["mtl.lambda_0.5.items.test_acc"]


def test_bad_storage_url_is_one_line(tmp_path):
    res = run_cli("tune", "--profile", "smoke", "--out", str(tmp_path / "r"), "--storage", "nosuchdb://x/y")
    assert res.returncode == 2
    assert "cannot open Optuna storage" in res.stderr and "Traceback" not in res.stderr


def test_at_edge_flags_a_winner_near_a_range_end() -> None:
    from mnistlab.studies.tune import SPACE, at_edge

    lo, hi = SPACE["lr"]
    middle = {"lr": (lo * hi) ** 0.5, "beta1": sum(SPACE["beta1"]) / 2, "beta2_gap": 1e-3}
    assert at_edge(middle) == []
    assert at_edge({**middle, "lr": hi * 0.99, "beta1": SPACE["beta1"][0] + 1e-4}) == ["lr", "beta1"]
