import json

import numpy as np
import pytest
from sklearn.decomposition import PCA

from mnistlab.data import flatten, to_unit
from mnistlab.studies import pca as study


@pytest.fixture(scope="module")
def digits(mnist):
    x = flatten(to_unit(mnist.train.x[:1000]))  # (1000, 784)
    return x, mnist.train.y[:1000].astype(np.int64)


def _same_up_to_sign(a: np.ndarray, b: np.ndarray, atol: float) -> bool:
    """Columns of a and b equal, each up to a global sign flip."""
    return all(min(np.abs(a[:, j] - b[:, j]).max(), np.abs(a[:, j] + b[:, j]).max()) < atol
               for j in range(a.shape[1]))


def test_projection_equals_sklearn_svd_up_to_sign(digits):
    x, _ = digits
    ours = study.embed(x, study.fit_pca(x), k=3)
    ref = PCA(n_components=3, svd_solver="full").fit_transform(x.astype(np.float64))
    assert ours.shape == (1000, 3)
    assert _same_up_to_sign(ours, ref, atol=1e-3)
    # and against a plain NumPy SVD of the centred data
    xc = x.astype(np.float64) - x.mean(0)
    u, s, _ = np.linalg.svd(xc, full_matrices=False)
    assert _same_up_to_sign(ours, u[:, :3] * s[:3], atol=1e-3)


def test_variance_ratios_are_exact(digits):
    x, _ = digits
    ratio = study.fit_pca(x).explained_variance_ratio_
    assert ratio.shape == (784,) and np.all(np.diff(ratio) <= 1e-7)
    assert ratio.sum() == pytest.approx(1.0, abs=1e-5)  # every component kept
    k = study.smallest_k(ratio, 0.9)  # the first k whose cumulative ratio reaches 90%, not one more or less
    assert np.cumsum(ratio)[k - 1] >= 0.9 > np.cumsum(ratio)[k - 2]


def test_smallest_k_counts_components_exactly():
    ratio = np.array([0.5, 0.3, 0.2])
    assert [study.smallest_k(ratio, f) for f in (0.1, 0.5, 0.51, 0.8, 0.81, 1.0)] == [1, 1, 2, 2, 3, 3]
    assert study.smallest_k(ratio, 1.5) == 3  # unreachable: all components, not an index past the end


def test_overlap_score_separates_and_overlaps():
    rng = np.random.default_rng(0)
    z = np.concatenate([rng.normal(0, 1, (500, 2)), rng.normal(0, 1, (500, 2)), rng.normal(20, 1, (500, 2))])
    y = np.repeat([0, 1, 2], 500)
    rows = {r["pair"]: r for r in study.pair_overlap(z, y)}
    assert set(rows) == {"0-1", "0-2", "1-2"}
    assert rows["0-2"]["overlap"] == 0.0 and rows["1-2"]["overlap"] == 0.0  # far apart: a line separates them
    assert rows["0-1"]["overlap"] > 0.35  # the same cloud: close to chance (0.5)
    assert rows["0-2"]["separation"] > 10 > rows["0-1"]["separation"]
    m = study.overlap_matrix(list(rows.values()))
    assert m[0, 1] == m[1, 0] and np.isnan(m[0, 0]) and np.isnan(m[0, 3])


def test_pca_study_end_to_end(smoke_studies):
    out = smoke_studies.path  # the shared smoke run (conftest.smoke_studies)
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0 < metrics["pca.pc2_var"] <= metrics["pca.pc1_var"] < 1
    assert metrics["pca.cum_var.2"] == pytest.approx(metrics["pca.pc1_var"] + metrics["pca.pc2_var"])
    assert metrics["pca.k90"] <= metrics["pca.k95"] <= metrics["pca.k99"]
    assert len([k for k in metrics if k.startswith("pca.overlap.")]) == 45
    summary = json.loads((out / "pca" / "summary.json").read_text())
    assert summary["n_train"] == 2000 and len(summary["pairs"]) == 45
    overlaps = [r["overlap"] for r in summary["pairs"]]
    assert overlaps == sorted(overlaps) and summary["most_separable"][0] == summary["pairs"][0]["pair"]
    for name in ("scatter", "variance", "overlap", "components"):
        for ext in ("png", "svg"):
            assert (out / "pca" / "figures" / f"{name}.{ext}").stat().st_size > 1000
    emb = np.load(out / "pca" / "embedding.npz")
    assert emb["z"].shape == (2000, 2) and emb["centroids"].shape == (10, 2)
    assert (out / "pca" / ".done").is_file()
