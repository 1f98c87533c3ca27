"""The report's rules for words that make a claim: one noise rule for every comparison of two accuracies, and
one rule for calling a pair of digits linearly separable. The conditional text only ever receives the verdicts
computed here, so a sentence cannot call a difference 'better' that the rule calls noise.

Noise rule (stated once in the report, `RULE`): two accuracies differ when their difference exceeds Z = 2
standard errors of that difference. With several seeds the standard error comes from the seeds' spread, since
retraining is the larger source of variation then; with one seed it is the binomial standard error
sqrt(p(1 - p) / n) of each accuracy measured on n test images, combined as for independent samples. Using the
same test images for both models makes the true error of the difference smaller, so the rule is conservative:
it may call a real difference a tie, but not the other way round."""

from __future__ import annotations

import math
from dataclasses import dataclass

Z = 2.0  # standard errors a difference must exceed before the text calls it better or worse
BETTER, WORSE, TIE = "better", "worse", "tie"

RULE = ("we call one accuracy higher than another only when the difference exceeds two standard errors: with one "
        "seed, the binomial standard error of each accuracy p on n test images, the square root of p(1 - p)/n, "
        "combined for the two; with several seeds, the standard error of the mean over seeds. Smaller differences "
        "count as no clear difference.")


@dataclass(frozen=True)
class Accuracy:
    """One accuracy as the report knows it: the value (a fraction; the mean with several seeds), the number of
    test images it was measured on, and with several seeds their standard deviation and count."""

    value: float
    n_test: int
    sd: float | None = None
    seeds: int = 1

    def se(self) -> float:
        """Standard error of this accuracy under the noise rule."""
        if self.seeds > 1 and self.sd is not None:
            return self.sd / math.sqrt(self.seeds)
        return binomial_se(self.value, self.n_test)


def binomial_se(p: float, n: int) -> float:
    """sqrt(p(1 - p) / n); an accuracy of exactly 0 or 1 still gets the error of one image in n, so that a
    perfect score is not treated as exact."""
    if n <= 0:
        raise ValueError("an accuracy needs at least one test image")
    p = min(max(p, 1 / n), 1 - 1 / n) if n > 1 else 0.5
    return math.sqrt(p * (1 - p) / n)


def threshold(a: Accuracy, b: Accuracy) -> float:
    """The smallest difference (a fraction) that the rule calls real."""
    return Z * math.hypot(a.se(), b.se())


def verdict(a: Accuracy, b: Accuracy) -> str:
    """BETTER if a is clearly above b, WORSE if clearly below, else TIE."""
    diff = a.value - b.value
    if abs(diff) <= threshold(a, b):
        return TIE
    return BETTER if diff > 0 else WORSE


def against_level(a: Accuracy, level: float) -> str:
    """BETTER / WORSE / TIE for an accuracy against a fixed level that has no sampling error of its own (chance,
    or always answering the largest class): only a's standard error counts."""
    diff = a.value - level
    if abs(diff) <= Z * a.se():
        return TIE
    return BETTER if diff > 0 else WORSE


def separable(train_errors: int | float) -> bool:
    """A pair is linearly separable on its training images only when some plane made no training error at all:
    an error rate of 0.06% is 'almost', and almost is not separable."""
    return train_errors == 0


def errors_from_accuracy(acc: float, n: int) -> int:
    """Number of misclassified images behind an accuracy measured on n images (rounded, as accuracies are
    stored as floats)."""
    return round((1 - acc) * n)
