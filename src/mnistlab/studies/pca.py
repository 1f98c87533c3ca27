"""Study 1: PCA of MNIST.

Fits scikit-learn's PCA on the vectorised training images (60,000 x 784, pixels scaled to [0, 1]; the scaling does
not change the explained-variance ratios), keeps every component so cumulative numbers are exact, and projects the
images on PC1/PC2. Which digit pairs overlap in that plane is scored per pair by the training error of a linear
boundary (LDA) fitted to the pair's 2-D points: 0 means the pair is linearly separable in 2-D, 0.5 means the two
clouds coincide. The test split is not used.

Writes under `pca/`: figures/{scatter,variance,overlap,components}.{png,svg}, embedding.npz (the 2-D points of
every training image and their labels), pca.npz (mean, first components, all explained-variance ratios).
"""

from __future__ import annotations

import itertools

import numpy as np
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

from mnistlab.config import RunConfig
from mnistlab.data import flatten, load_dataset, to_unit
from mnistlab.log import log
from mnistlab.plots import pca as plots
from mnistlab.plots import save_figure
from mnistlab.runs import RunDir, atomic_path
from mnistlab.studies import StudyResult

CUM_KS = (2, 10, 50, 100)  # k at which the cumulative explained variance goes to metrics.json
MARKS = (0.9, 0.95, 0.99)  # variance fractions for which the smallest k is reported
N_SHOWN = 3  # pairs listed as most / least separable in the summary


def fit_pca(x: np.ndarray) -> PCA:
    """PCA with every component. x (N, 784) float. The covariance route (784 x 784 eigenproblem) is exact and far
    faster than an SVD of the 60,000 x 784 matrix; a test checks it against the SVD."""
    return PCA(svd_solver="covariance_eigh").fit(x)


def embed(x: np.ndarray, pca: PCA, k: int = 2) -> np.ndarray:
    """Project x (N, 784) on the first k components -> (N, k); equals pca.transform(x)[:, :k] without computing
    all 784 coordinates."""
    return ((x - pca.mean_) @ pca.components_[:k].T).astype(np.float32)


def smallest_k(ratio: np.ndarray, fraction: float) -> int:
    """Smallest number of components whose cumulative explained-variance ratio reaches `fraction`."""
    return int(min(np.searchsorted(np.cumsum(ratio), fraction) + 1, len(ratio)))


def pair_overlap(z: np.ndarray, y: np.ndarray) -> list[dict[str, object]]:
    """Per pair of digits: how much their 2-D clouds overlap. z (N, 2), y (N,) digits.

    overlap: training error of LDA on the pair's points (the fraction a straight line in the PC1/PC2 plane gets
    wrong; in [0, 0.5]). separation: distance between the two centroids divided by the pooled standard deviation
    of the points along the line joining them (a Fisher-style d'). Sorted from most to least separable."""
    rows = []
    for a, b in itertools.combinations(range(10), 2):
        keep = (y == a) | (y == b)
        if len(np.unique(y[keep])) < 2:
            continue  # a tiny subset may lack a digit
        za, yb = z[keep], (y[keep] == b).astype(np.int8)
        lda = LinearDiscriminantAnalysis().fit(za, yb)
        error = float(1.0 - lda.score(za, yb))
        ca, cb = z[y == a].mean(0), z[y == b].mean(0)
        direction = (cb - ca) / (np.linalg.norm(cb - ca) + 1e-12)
        spread = np.sqrt(0.5 * (np.var(z[y == a] @ direction) + np.var(z[y == b] @ direction)))
        rows.append({"pair": f"{a}-{b}", "a": a, "b": b, "overlap": error,
                     "separation": float(np.linalg.norm(cb - ca) / (spread + 1e-12))})
    return sorted(rows, key=lambda r: (r["overlap"], -r["separation"]))


def overlap_matrix(rows: list[dict[str, object]]) -> np.ndarray:
    """(10, 10) symmetric matrix of the rows' overlap scores, NaN on the diagonal and for missing pairs."""
    m = np.full((10, 10), np.nan)
    for r in rows:
        m[r["a"], r["b"]] = m[r["b"], r["a"]] = r["overlap"]
    return m


def _save_npz(path: object, **arrays: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)


def run(cfg: RunConfig, rd: RunDir) -> StudyResult:
    c = cfg.pca
    out = rd.study_dir("pca")
    train = load_dataset("mnist", cfg.data_dir or None).train
    n = c.subset or len(train.y)
    x, y = flatten(to_unit(train.x[:n])), train.y[:n].astype(np.int64)  # (N, 784) in [0, 1], (N,)
    log(f"[pca] fitting PCA on {len(x):,} x {x.shape[1]} training images")
    pca = fit_pca(x)
    ratio = pca.explained_variance_ratio_  # (784,) descending
    z = embed(x, pca)  # (N, 2)
    centroids = np.stack([z[y == d].mean(0) if np.any(y == d) else np.full(2, np.nan) for d in range(10)])
    rows = pair_overlap(z, y)

    _save_npz(out / "embedding.npz", z=z, y=y.astype(np.uint8), centroids=centroids)
    k_show = min(c.n_components, len(ratio))
    _save_npz(out / "pca.npz", mean=pca.mean_.astype(np.float32),
              components=pca.components_[:k_show].astype(np.float32), ratio=ratio)

    # Figures: a seeded subsample for the scatter (all points are fitted; 60k dots would be an opaque blob).
    shown = np.random.default_rng(cfg.seed).permutation(len(z))[: min(c.scatter_points, len(z))]
    fig_dir = out / "figures"
    save_figure(plots.scatter_2d(z[shown], y[shown], centroids, ratio[:2]), fig_dir / "scatter")
    save_figure(plots.variance(ratio, k_show, MARKS), fig_dir / "variance")
    save_figure(plots.overlap_heatmap(overlap_matrix(rows), "Overlap of digit pairs on PC1/PC2"),
                fig_dir / "overlap")
    save_figure(plots.components(pca.mean_, pca.components_[:7], ratio[:7]), fig_dir / "components")

    cum = np.cumsum(ratio)
    metrics: dict[str, float | int] = {"pca.pc1_var": float(ratio[0]), "pca.pc2_var": float(ratio[1]),
                                       "pca.n_train": len(x)}
    metrics |= {f"pca.cum_var.{k}": float(cum[k - 1]) for k in CUM_KS if k <= len(cum)}
    metrics |= {f"pca.k{round(100 * m)}": smallest_k(ratio, m) for m in MARKS}
    metrics |= {f"pca.overlap.{r['pair']}": r["overlap"] for r in rows}
    summary = {
        "n_train": len(x), "solver": "covariance_eigh", "scatter_points": len(shown),
        "explained_variance_ratio": ratio[:k_show].tolist(),
        "cumulative": {str(k): float(cum[k - 1]) for k in CUM_KS if k <= len(cum)},
        "k_for_fraction": {str(m): smallest_k(ratio, m) for m in MARKS},
        "centroids": {str(d): centroids[d].tolist() for d in range(10)},
        "overlap_score": "training error of LDA on the pair's PC1/PC2 points (0 = separable, 0.5 = identical)",
        "pairs": rows,
        "most_separable": [r["pair"] for r in rows[:N_SHOWN]],
        "least_separable": [r["pair"] for r in rows[::-1][:N_SHOWN]],
        "figures": sorted(p.name for p in fig_dir.glob("*.png")),
    }
    log(f"[pca] PC1 {ratio[0]:.4f}, PC2 {ratio[1]:.4f}; most separable {summary['most_separable']}, "
        f"least {summary['least_separable']}")
    return StudyResult(summary=summary, metrics=metrics)
