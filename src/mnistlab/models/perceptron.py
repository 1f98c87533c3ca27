"""The perceptron in NumPy (no framework), with the brief's API and a scikit-learn-style estimator.

    predict(x, w, b)   -> sign(x.w + b) as -1/+1, with sign(0) = +1
    optimize(x, y)     -> (w, b, errors): seeded random init, then
                          `while iteration <= max_iter and error > 1e-3:` one iteration of the perceptron rule,
                          written out sample by sample
    train(x, y)        -> the same loop with a blockwise pass (below), and the pocket weights: what the study runs

One *iteration* is one pass (epoch) over the training set in its given order, with the textbook per-sample rule:
for each sample i in turn, if predict(x_i, w, b) != y_i then w += lr * y_i * x_i and b += lr * y_i. After the
pass, the training error rate of the new (w, b) is recorded; `errors[t]` is the error after iteration t + 1, so
len(errors) is the number of iterations run. Iterations are counted from 1, so `max_iter` is the most passes made.

Speed, with the rule unchanged. The rule is sequential (whether sample i is misclassified depends on every update
before it), but between two updates nothing changes, so the only per-sample work that matters is finding the
next misclassified sample. The pass walks the data in blocks of `BLOCK` samples: the scores of a whole block are
one matrix-vector product; an update at sample j changes the score of every later sample k of the block by
lr * y_j * (x_j . x_k + 1), read from the block's Gram matrix (computed once per fit, since the order is fixed),
so the Python loop runs once per *update*, not once per sample, and each of its steps is O(BLOCK), not O(784).
`reference_pass` is the plain per-sample loop; a test checks both give the same updates and weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits  # a dependency of scikit-learn

BLOCK = 256  # samples per block: its Gram matrix is BLOCK x BLOCK; see benchmarks/perceptron.py for the choice
INIT_SCALE = 0.01  # std of the random initial weights: small next to one update (|x| ~ 20 for MNIST in [-1, 1])


def predict(x: np.ndarray, w: np.ndarray, b: float) -> np.ndarray:
    """sign(x.w + b) with sign(0) = +1. x (N, D) or (D,), w (D,), b scalar -> int8 labels (N,) or () in {-1, +1}."""
    return np.where(np.asarray(x) @ w + b >= 0, 1, -1).astype(np.int8)


def error_rate(x: np.ndarray, y: np.ndarray, w: np.ndarray, b: float) -> float:
    """Fraction of samples with predict(x, w, b) != y. x (N, D), y (N,) in {-1, +1}."""
    return float(np.mean(predict(x, w, b) != y))


@dataclass
class Trace:
    """Everything one training run produces. w/b are the last weights (the plain perceptron), best_w/best_b the
    weights with the lowest training error seen after any iteration, or the initial ones (the pocket)."""

    w: np.ndarray  # (D,) float64
    b: float
    errors: list[float] = field(default_factory=list)  # training error rate after each iteration
    best_w: np.ndarray | None = None
    best_b: float = 0.0
    best_error: float = 1.0
    best_iter: int = 0  # iteration whose weights are best_w (0 = the random initialisation)
    updates: int = 0  # total number of weight updates


def _error32(x: np.ndarray, y: np.ndarray, w: np.ndarray, b: float) -> float:
    """error_rate with the product in x's dtype (float32), as the passes score samples."""
    return float(np.mean(np.where(x @ w.astype(x.dtype) + b >= 0, 1.0, -1.0) != y))


def init_weights(dim: int, seed: int) -> tuple[np.ndarray, float]:
    """Seeded random start: w (dim,) and b drawn from N(0, INIT_SCALE^2)."""
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, INIT_SCALE, dim), float(rng.normal(0.0, INIT_SCALE))


def block_grams(x: np.ndarray, block: int = BLOCK) -> list[np.ndarray]:
    """Gram matrices (with the bias input 1 appended) of consecutive blocks of x (N, D): list of (B, B)."""
    return [xb @ xb.T + 1.0 for xb in (x[i:i + block] for i in range(0, len(x), block))]


def fast_pass(x: np.ndarray, y: np.ndarray, w: np.ndarray, b: float, lr: float,
              grams: list[np.ndarray], block: int = BLOCK) -> tuple[float, int]:
    """One iteration of the per-sample rule over x (N, D), y (N,) float in {-1, +1}, blockwise (module docstring).
    Updates w (D,) in place; returns the new b and the number of updates."""
    n_updates = 0
    for k, gram in enumerate(grams):
        lo = k * block
        xb, yb = x[lo:lo + len(gram)], y[lo:lo + len(gram)]
        # (B,) scores under the weights at the start of the block: a float32 product (half the memory traffic of
        # float64, which is what bounds this loop), accumulated in float64 from here on.
        s = (xb @ w.astype(x.dtype)).astype(np.float64) + b
        neg = yb < 0
        hits = []
        i = 0
        while i < len(s):
            wrong = (s[i:] >= 0) == neg[i:]  # predicted +1 for a -1 sample, or -1 for a +1 sample
            j = int(wrong.argmax())
            if not wrong[j]:
                break
            j += i
            s += (lr * yb[j]) * gram[j]  # scores after w += lr y_j x_j, b += lr y_j (earlier ones are not read)
            hits.append(j)
            i = j + 1
        if hits:
            step = lr * yb[hits]  # (H,)
            w += xb[hits].T.astype(np.float64) @ step  # w stays float64: exact sums of many small steps
            b += float(step.sum())
            n_updates += len(hits)
    return b, n_updates


def reference_pass(x: np.ndarray, y: np.ndarray, w: np.ndarray, b: float, lr: float) -> tuple[float, int]:
    """The textbook loop, one sample at a time (slow; kept as the definition `fast_pass` is tested against)."""
    n_updates = 0
    for xi, yi in zip(x, y, strict=True):
        if predict(xi, w, b) != yi:
            w += lr * yi * xi
            b += lr * yi
            n_updates += 1
    return b, n_updates


def train(x: np.ndarray, y: np.ndarray, max_iter: int = 1000, tol: float = 1e-3, lr: float = 1.0,
          seed: int = 0, block: int = BLOCK) -> Trace:
    """Run the brief's loop and keep both the last and the best (pocket) weights.

    x (N, D) float, y (N,) in {-1, +1}. Stops when the training error after an iteration is <= tol, or after
    max_iter iterations. The pocket is checked after every iteration (a full error evaluation per update would
    cost O(N D) per update, far more than the pass itself). Scores are float32 products (`to_signed` gives
    float32 already; the pass is bound by memory traffic), while w and b accumulate in float64."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.shape != (len(x),):
        raise ValueError(f"x must be (N, D) and y (N,), got {x.shape} and {y.shape}")
    if not np.all(np.abs(y) == 1):
        raise ValueError("labels must be -1 or +1")
    w, b = init_weights(x.shape[1], seed)
    # One BLAS thread: a second one buys nothing on these small matrix-vector products (benchmarks/perceptron.py)
    # and waking it costs a lot on a busy machine.
    with threadpool_limits(1):
        return _loop(x, y, w, b, max_iter, tol, lr, block)


def _loop(x: np.ndarray, y: np.ndarray, w: np.ndarray, b: float, max_iter: int, tol: float, lr: float,
          block: int) -> Trace:
    grams = block_grams(x, block)
    error = _error32(x, y, w, b)
    t = Trace(w=w, b=b, best_w=w.copy(), best_b=b, best_error=error)
    iteration = 1
    while iteration <= max_iter and error > tol:
        b, n = fast_pass(x, y, w, b, lr, grams, block)
        error = _error32(x, y, w, b)
        t.errors.append(error)
        t.updates += n
        if error < t.best_error:
            t.best_w, t.best_b, t.best_error, t.best_iter = w.copy(), b, error, iteration
        iteration += 1
    t.w, t.b = w, b
    return t


def optimize(x: np.ndarray, y: np.ndarray, max_iter: int = 1000, seed: int = 0,
             lr: float = 1.0) -> tuple[np.ndarray, float, list[float]]:
    """The brief's `optimize`: train on x (N, D) in [-1, 1] with labels y (N,) in {-1, +1} (first digit -1).

    Returns (w (D,), b, errors) where errors[t] is the training error rate after iteration t + 1 (one iteration
    = one pass over the data in its given order). This is the textbook rule, one sample at a time, as a reader
    checks it against the brief; the study runs `train`, the same rule with the blockwise speed-up (module
    docstring), and a test checks that both return the same weights and errors."""
    x = np.asarray(x, dtype=np.float32)  # the inputs `train` sees; w and b accumulate in float64
    y = np.asarray(y, dtype=np.float64)
    w, b = init_weights(x.shape[1], seed)  # small random start, N(0, INIT_SCALE^2), seeded
    error = error_rate(x, y, w, b)
    errors: list[float] = []
    iteration = 1
    while iteration <= max_iter and error > 1e-3:
        for xi, yi in zip(x, y, strict=True):
            if predict(xi, w, b) != yi:  # misclassified: move the plane towards xi
                w += lr * yi * xi  # the perceptron rule: w <- w + lr * y_i * x_i
                b += lr * yi  # and b <- b + lr * y_i (the bias is a weight on a constant input 1)
        error = error_rate(x, y, w, b)  # training error after this pass
        errors.append(error)
        iteration += 1
    return w, b, errors


class Perceptron:
    """scikit-learn-style wrapper: settings in __init__, `fit` returns self, learned attributes end in `_`.

    Any two class labels are accepted: classes_[0] is coded -1 and classes_[1] +1 (sorted, as scikit-learn does).
    With pocket=True, coef_/intercept_ are the weights with the lowest training error seen after any iteration
    (Gallant's pocket algorithm, checked once per pass); otherwise the last weights, as `optimize` returns them.
    Attributes: coef_ (D,), intercept_ float, errors_ list (per iteration), n_iter_, best_iter_, classes_ (2,)."""

    def __init__(self, max_iter: int = 1000, tol: float = 1e-3, lr: float = 1.0, random_state: int = 0,
                 pocket: bool = False) -> None:
        self.max_iter, self.tol, self.lr = max_iter, tol, lr
        self.random_state, self.pocket = random_state, pocket

    def fit(self, x: np.ndarray, y: np.ndarray) -> Perceptron:
        """x (N, D), y (N,) with exactly two distinct labels."""
        self.classes_ = np.unique(y)
        if len(self.classes_) != 2:
            raise ValueError(f"need exactly two classes, got {len(self.classes_)}")
        signed = np.where(np.asarray(y) == self.classes_[0], -1.0, 1.0)
        t = train(x, signed, self.max_iter, self.tol, self.lr, self.random_state)
        self.trace_ = t
        self.coef_, self.intercept_ = (t.best_w, t.best_b) if self.pocket else (t.w, t.b)
        self.errors_, self.n_iter_, self.best_iter_ = t.errors, len(t.errors), t.best_iter
        return self

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        """x (N, D) -> (N,) scores x.w + b."""
        return np.asarray(x) @ self.coef_ + self.intercept_

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, D) -> (N,) labels from classes_ (a score of exactly 0 gives classes_[1], as sign(0) = +1)."""
        return self.classes_[(predict(x, self.coef_, self.intercept_) > 0).astype(int)]

    def score(self, x: np.ndarray, y: np.ndarray) -> float:
        """Mean accuracy on x (N, D), y (N,)."""
        return float(np.mean(self.predict(x) == np.asarray(y)))
