import json

import numpy as np
import pytest

from conftest import SMOKE_ARGS, copy_run
from mnistlab import config
from mnistlab.models import perceptron as P
from mnistlab.runs import RunDir
from mnistlab.studies import perceptron as study


def separable(n: int = 400, d: int = 20, seed: int = 0, margin: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Points in [-1, 1]^d labelled by a random hyperplane, keeping only those at least `margin` away from it."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (4 * n, d))
    u = rng.normal(size=d)
    s = x @ u / np.linalg.norm(u) + 0.05
    keep = np.abs(s) > margin
    return x[keep][:n], np.where(s[keep][:n] >= 0, 1, -1)


@pytest.fixture(scope="module")
def pair23(mnist):
    return study.pair_data((mnist.train.x, mnist.train.y, mnist.test.x, mnist.test.y), 2, 3, subset=1500)


def test_predict_sign_convention_and_shapes():
    w, b = np.array([1.0, -1.0]), 0.0
    x = np.array([[2.0, 1.0], [1.0, 2.0], [1.0, 1.0]])  # scores +1, -1, exactly 0
    out = P.predict(x, w, b)
    assert out.shape == (3,) and out.dtype == np.int8
    assert out.tolist() == [1, -1, 1]  # sign(0) = +1
    assert P.predict(np.array([0.0, 3.0]), w, b).shape == ()
    assert int(P.predict(np.array([0.0, 3.0]), w, 3.0)) == 1  # the bias moves the 0 score to +1


def test_optimize_reaches_zero_error_on_separable_data_and_stops():
    x, y = separable()
    w, b, errors = P.optimize(x, y)
    assert w.shape == (20,) and isinstance(b, float)
    assert errors[-1] <= 1e-3 and all(e > 1e-3 for e in errors[:-1])  # stops at the first good iteration
    assert len(errors) < 1000
    assert np.all(P.predict(x, w, b) == y)


@pytest.mark.parametrize("seed", range(5))
def test_converges_for_many_seeds(seed):
    x, y = separable(seed=seed)
    t = P.train(x, y, seed=seed)
    assert t.errors[-1] == 0.0 and t.best_error == 0.0 and t.best_iter == len(t.errors)


def test_rule_moves_w_towards_a_misclassified_point():
    x = np.array([[0.5, -1.0, 0.25]])
    for y in (1.0, -1.0):
        w0 = -y * np.array([1.0, 1.0, 1.0]) * np.sign(x[0]) * 0.1  # margin y (x.w + b) < 0: misclassified
        for one_pass in (P.reference_pass, lambda x_, y_, w_, b_, lr: P.fast_pass(x_, y_, w_, b_, lr,
                                                                                 P.block_grams(x_))):
            w = w0.copy()
            b, n = one_pass(x, np.array([y]), w, 0.0, 1.0)
            assert n == 1
            np.testing.assert_allclose(w, w0 + y * x[0])  # w += lr y x
            assert b == y
            # the margin grew by exactly lr (|x|^2 + 1): the point moved towards the right side
            assert y * (x[0] @ w + b) == pytest.approx(y * (x[0] @ w0) + (x[0] @ x[0] + 1))


def test_correct_points_leave_w_alone():
    x, y = separable(n=50)
    w, b, _ = P.optimize(x, y)
    w2 = w.copy()
    b2, n = P.fast_pass(x.astype(np.float32), y.astype(float), w2, b, 1.0, P.block_grams(x.astype(np.float32)))
    assert n == 0 and b2 == b and np.array_equal(w2, w)


def test_fast_pass_matches_the_per_sample_loop(pair23):
    x, y = pair23[0].astype(np.float64), pair23[1].astype(np.float64)
    w1, b1 = P.init_weights(784, 3)
    w2, b2 = w1.copy(), b1
    grams = P.block_grams(x, block=64)  # several blocks, with updates spanning them
    for _ in range(4):
        b1, n1 = P.fast_pass(x, y, w1, b1, 1.0, grams, block=64)
        b2, n2 = P.reference_pass(x, y, w2, b2, 1.0)
        assert n1 == n2 > 0
        np.testing.assert_allclose(w1, w2, atol=1e-9)
        assert b1 == pytest.approx(b2)


@pytest.mark.parametrize("seed", (0, 1))
def test_optimize_the_readable_rule_equals_train_the_fast_one(pair23, seed):
    """`optimize` is the textbook loop a reader checks; `train` (what the study runs) must give the same updates."""
    x, y = pair23[:2]
    w, b, errors = P.optimize(x, y, max_iter=6, seed=seed)
    t = P.train(x, y, max_iter=6, seed=seed)
    assert len(errors) == 6 and errors == t.errors  # the same misclassifications, pass after pass
    np.testing.assert_allclose(w, t.w, atol=1e-6)
    assert b == pytest.approx(t.b)


def test_optimize_shows_the_rule_itself():
    """The brief asks for the update rule inside `optimize`'s while loop, not behind a call."""
    import inspect

    src = inspect.getsource(P.optimize)
    assert "while iteration <= max_iter and error > 1e-3:" in src
    assert "w += lr * yi * xi" in src and "b += lr * yi" in src
    assert "train(" not in src.split('"""')[-1]  # the body does not delegate to the fast engine


def test_same_seed_same_weights_other_seed_other_weights(pair23):
    x, y = pair23[:2]
    a = P.optimize(x, y, max_iter=5, seed=7)
    b = P.optimize(x, y, max_iter=5, seed=7)
    c = P.optimize(x, y, max_iter=5, seed=8)
    assert np.array_equal(a[0], b[0]) and a[1] == b[1] and a[2] == b[2]
    assert not np.array_equal(a[0], c[0])


def test_errors_has_one_entry_per_iteration(pair23):
    x, y = pair23[:2]
    for max_iter in (1, 3, 7):
        _, _, errors = P.optimize(x, y, max_iter=max_iter)
        assert len(errors) == max_iter  # 2-3 is not separable in 7 passes: the loop bound stops it
        assert all(0 <= e <= 1 for e in errors)


def test_estimator_api_and_pocket(pair23):
    x, y, xt, _ = pair23
    labels = np.where(y > 0, 3, 2)  # any two labels: classes_ sorted, the first coded -1
    plain = P.Perceptron(max_iter=15, random_state=1).fit(x, labels)
    assert plain.classes_.tolist() == [2, 3] and plain.coef_.shape == (784,) and plain.n_iter_ == 15
    w, b, errors = P.optimize(x, y, max_iter=15, seed=1)
    np.testing.assert_allclose(plain.coef_, w, atol=1e-6)
    assert plain.intercept_ == pytest.approx(b) and plain.errors_ == errors
    assert set(np.unique(plain.predict(xt))) <= {2, 3}
    assert plain.score(x, labels) == pytest.approx(1 - errors[-1])
    pocket = P.Perceptron(max_iter=15, random_state=1, pocket=True).fit(x, labels)
    best = min(pocket.errors_)
    assert pocket.score(x, labels) == pytest.approx(1 - best)
    assert pocket.score(x, labels) >= plain.score(x, labels)
    assert pocket.errors_[pocket.best_iter_ - 1] == best
    np.testing.assert_allclose(pocket.decision_function(xt), xt @ pocket.coef_ + pocket.intercept_, rtol=1e-6)
    with pytest.raises(ValueError, match="two classes"):
        P.Perceptron().fit(x[:10], np.zeros(10))


def test_aggregate_over_seeds():
    runs = [{"test_acc": 0.9, "iters": 10}, {"test_acc": 0.8, "iters": 20}]
    agg = study.aggregate(runs)
    assert agg["test_acc"] == pytest.approx(0.85) and agg["test_acc.std"] == pytest.approx(np.std([0.9, 0.8],
                                                                                                     ddof=1))
    assert agg["iters.n"] == 2
    assert study.aggregate(runs[:1]) == {"test_acc": 0.9, "iters": 10}


def test_perceptron_study_end_to_end(smoke_studies, tmp_path):
    out = copy_run(smoke_studies.path, tmp_path / "run")  # the shared smoke run (conftest.smoke_studies)
    metrics = json.loads((out / "metrics.json").read_text())
    for pair in ("0-1", "2-3", "4-5", "6-7", "8-9"):
        for key in ("train_acc", "test_acc", "pocket.train_acc", "pocket.test_acc", "sklearn.test_acc"):
            assert 0.5 < metrics[f"perceptron.{pair}.{key}"] <= 1.0
        assert 1 <= metrics[f"perceptron.{pair}.iters"] <= 20  # smoke: max_iter 20
        assert metrics[f"perceptron.{pair}.pocket.train_acc"] >= metrics[f"perceptron.{pair}.train_acc"]
    summary = json.loads((out / "perceptron" / "summary.json").read_text())
    assert len(summary["all_pairs"]) == 45 and len(summary["table"]) == 5
    for name in ("errors", "weights", "all_pairs"):
        assert (out / "perceptron" / "figures" / f"{name}.png").stat().st_size > 1000
    weights = np.load(out / "perceptron" / "weights.npz")
    assert weights["0-1.w"].shape == (784,)

    # A re-run of the study in the same folder (e.g. after a crash) reuses the stored fits: same numbers.
    (out / "perceptron" / ".done").unlink()
    cfg = config.build("smoke", [a for a in SMOKE_ARGS[2:] if a != "--set"])
    with RunDir.open(out, cfg.to_dict()) as rd:
        again = study.run(cfg, rd)
    assert {k: v for k, v in again.metrics.items()} == {k: v for k, v in metrics.items()
                                                        if k.startswith("perceptron.")}


def test_fits_in_worker_processes_equal_the_fits_in_this_process(mnist, tmp_path):
    """The study's fits run in parallel processes when cores are free: each fit must come out exactly as it does
    in this process (same stored JSON), whatever the worker count, and a stored fit is read back, not re-fitted."""
    data = (mnist.train.x, mnist.train.y, mnist.test.x, mnist.test.y)
    jobs = [(2, 3, 5, 0, True), (4, 9, 5, 0, False), (0, 1, 5, 1, False)]
    inline = dict(study.fit_jobs(tmp_path / "one", data, jobs, 800, workers=1))
    pooled = dict(study.fit_jobs(tmp_path / "two", data, jobs, 800, workers=2))
    assert set(inline) == set(pooled) == set(jobs)
    for job in jobs:
        assert {k: v for k, v in pooled[job].items() if k != "fit_s"} == \
            {k: v for k, v in inline[job].items() if k != "fit_s"}
        assert json.loads(study.fit_path(tmp_path / "two", job).read_text())["pair"] == f"{job[0]}-{job[1]}"
    assert "sklearn.test_acc" in pooled[jobs[0]] and "sklearn.test_acc" not in pooled[jobs[1]]
    stored = study.fit_path(tmp_path / "two", jobs[1])
    stored.write_text(json.dumps({**pooled[jobs[1]], "test_acc": -1.0}))  # a marker only a re-fit would lose
    again = dict(study.fit_jobs(tmp_path / "two", data, jobs, 800, workers=2))
    assert again[jobs[1]]["test_acc"] == -1.0
