"""Helpers shared by the per-study extraction modules. Every comparison of two accuracies goes through
`compare`, which applies the report's one noise rule (mnistlab.deliverables.claims)."""

from __future__ import annotations

from typing import Any

from mnistlab.deliverables import claims
from mnistlab.deliverables.results import MissingResult, Results

TEST_IMAGES = 10_000  # the official test split of MNIST and of Fashion-MNIST


def figures(r: Results, study: str, *stems: str) -> dict[str, str | None]:
    return {stem: r.figure(study, stem) for stem in stems}


def label(name: str) -> str:
    """'3_2_depth4' -> '3.2 depth4', '4_2_wide' -> '4.2 wide', '3_1' -> '3.1'."""
    return name.replace("_", ".", 1).replace("_", " ")


def need(path: str | None, what: str) -> str:
    if path is None:
        raise MissingResult(what)
    return path


def and_list(items: list[str]) -> str:
    """['a', 'b', 'c'] -> 'a, b and c'."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def n_test(r: Results, study: str) -> int:
    """Test images a network study scored on: the whole test split, or subset // 5 in a smoke run."""
    subset = int(r.config.get(study, {}).get("subset", 0) or 0)
    return subset // 5 if subset else TEST_IMAGES


def accuracy(r: Results, key: str, n: int) -> claims.Accuracy:
    """A metrics key as the noise rule sees it: the value, n test images and, with several seeds, their spread."""
    seeds = int(r.metrics.get(f"{key}.n", r.seeds)) if r.seeds > 1 else 1
    return claims.Accuracy(r.value(key), n, r.std(key), seeds)


def compare(r: Results, a: str, b: str, n: int) -> str:
    """'better' | 'worse' | 'tie' for metric a against metric b, both measured on n test images."""
    return claims.verdict(accuracy(r, a, n), accuracy(r, b, n))


def compare_level(r: Results, a: str, level: float, n: int) -> str:
    """'better' | 'worse' | 'tie' for metric a (measured on n test images) against a fixed level, e.g. chance."""
    return claims.against_level(accuracy(r, a, n), level)


def gap_points(r: Results, a: str, b: str) -> str:
    """|a - b| in percentage points, two decimals, for the text beside a verdict."""
    return f"{100 * abs(r.value(a) - r.value(b)):.2f}"


def short(r: Results, key: str) -> str:
    return f"{r.value(key):.4g}" if r.has(key) else ""


def time_measure(rows: list[dict[str, Any]], kind: str = "train") -> tuple[str, str]:
    """(metrics field, unit words) of the time the study's figures plot, so that tables, captions and text give
    the same number as the figure: the plots module decides (CPU seconds when every row has them)."""
    from mnistlab.plots.mlp import time_key

    key, unit = time_key(rows, kind)
    return key, "CPU s" if unit == "CPU s" else "s"
