"""Helpers shared by the per-study extraction modules."""

from __future__ import annotations

from mnistlab.report.results import MissingResult, Results


def figures(r: Results, study: str, *stems: str) -> dict[str, str | None]:
    return {stem: r.figure(study, stem) for stem in stems}


def need(path: str | None, what: str) -> str:
    if path is None:
        raise MissingResult(what)
    return path


def and_list(items: list[str]) -> str:
    """['a', 'b', 'c'] -> 'a, b and c'."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


TIE_POINTS = 0.25  # with one seed, accuracy differences below this many percentage points are called ties


def compare(r: Results, a: str, b: str) -> str:
    """'better' | 'worse' | 'tie' for metric a against metric b. With several seeds a difference counts when it
    exceeds the larger of the two standard deviations; with one seed, when it exceeds TIE_POINTS."""
    diff = r.value(a) - r.value(b)
    noise = max(r.std(a) or 0.0, r.std(b) or 0.0) if r.seeds > 1 else TIE_POINTS / 100
    return "tie" if abs(diff) <= noise else ("better" if diff > 0 else "worse")


def short(r: Results, key: str) -> str:
    return f"{r.value(key):.4g}" if r.has(key) else ""
