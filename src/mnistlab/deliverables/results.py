"""Reading a finished run folder for the report and the notebook, and formatting its numbers.

Every number that reaches the report passes through `Results.pct` / `Results.num`, which read `metrics.json` and,
when the run trained several seeds (profile `paper`), add the spread: "98.52 ± 0.04%" with n stated by the
caller. Numbers are formatted here, in Python, because Typst's rounding drops trailing zeros."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mnistlab.config import STUDIES
from mnistlab.runs import read_json

SVG_MAX_BYTES = 1_500_000  # a scatter of thousands of points is lighter and faster as PNG


class MissingResult(KeyError):
    """A number or table the report needs is absent from the run's files."""

    def __str__(self) -> str:
        return f"missing {self.args[0]}"


@dataclass
class Results:
    """A run folder: config, metrics, env and each study's summary, with study status and number formatting."""

    path: Path
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    env: dict[str, Any] = field(default_factory=dict)
    summaries: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path) -> Results:
        path = Path(path)
        summaries = {s: read_json(path / s / "summary.json", {}) for s in STUDIES
                     if (path / s / ".done").is_file()}
        return cls(path, read_json(path / "config.json", {}), read_json(path / "metrics.json", {}),
                   read_json(path / "env.json", {}), summaries)

    # -- status
    def status(self, study: str) -> str:
        """'done', 'failed' (the runner recorded a failure) or 'missing' (never run, or still running)."""
        if study in self.summaries:
            return "done"
        return "failed" if self.metrics.get(f"status.{study}") == "failed" else "missing"

    @property
    def seeds(self) -> int:
        return int(self.config.get("seeds", 1))

    def cfg(self, study: str, key: str) -> Any:
        """A study's config value, from config.json."""
        try:
            return self.config[study][key]
        except KeyError:
            raise MissingResult(f"config {study}.{key}") from None

    def summary(self, study: str) -> dict[str, Any]:
        if study not in self.summaries:
            raise MissingResult(f"{study}/summary.json")
        return self.summaries[study]

    # -- numbers
    def value(self, key: str) -> float:
        v = self.metrics.get(key)
        if v is None or isinstance(v, str):
            raise MissingResult(f"metrics key {key}")
        return float(v)

    def has(self, key: str) -> bool:
        return isinstance(self.metrics.get(key), int | float)

    def std(self, key: str) -> float | None:
        v = self.metrics.get(f"{key}.std")
        return float(v) if isinstance(v, int | float) and self.seeds > 1 else None

    def pct(self, key: str, digits: int = 2, spread: bool = False) -> str:
        """An accuracy (a fraction) as a percentage: '98.52%', or '98.52 ± 0.04%' with several seeds (or always,
        with `spread`, for keys that are themselves means over repeats, e.g. dreams over dream seeds)."""
        sd = self.std(key)
        if spread and sd is None and isinstance(self.metrics.get(f"{key}.std"), int | float):
            sd = float(self.metrics[f"{key}.std"])
        return _with_spread(100 * self.value(key), _scale(sd, 100), digits, "%", whole=False)

    def num(self, key: str, digits: int = 2, unit: str = "", scale: float = 1.0) -> str:
        """Any other number: '12.3 s', or '12.3 ± 0.4 s' with several seeds; integers get thousands separators.
        `scale` converts units (1000: seconds to milliseconds)."""
        return _with_spread(scale * self.value(key), _scale(self.std(key), scale), digits, unit,
                            whole=scale == 1.0)

    # -- figures
    def figure(self, study: str, stem: str) -> str | None:
        """Root-relative path ('/pca/figures/scatter.svg') of a study figure for Typst, or None if absent.
        SVG keeps text sharp; a very large SVG (dense scatter) is swapped for its PNG."""
        folder = self.path / study / "figures"
        svg, png = folder / f"{stem}.svg", folder / f"{stem}.png"
        if svg.is_file() and (svg.stat().st_size <= SVG_MAX_BYTES or not png.is_file()):
            return f"/{study}/figures/{svg.name}"
        return f"/{study}/figures/{png.name}" if png.is_file() else None


def plural(n: int | str, word: str) -> str:
    """'1 epoch', '3 epochs'."""
    return f"{n} {word}" if str(n) == "1" else f"{n} {word}s"


def _scale(v: float | None, k: float) -> float | None:
    return None if v is None else v * k


def fmt(v: float, digits: int = 2, whole: bool = True) -> str:
    """A plain number: whole numbers (counts) with thousands separators, others with `digits` decimals. Pass
    whole=False for measurements, so that an accuracy of exactly 100% still reads 100.00."""
    if not math.isfinite(v):
        return "n/a"
    if whole and float(v).is_integer():
        return f"{int(v):,}"
    return f"{v:,.{digits}f}"


def _with_spread(v: float, sd: float | None, digits: int, unit: str, whole: bool = True) -> str:
    sep = "" if unit == "%" or not unit else " "
    core = fmt(v, digits, whole) if sd is None else f"{fmt(v, digits, whole)} \u00b1 {fmt(sd, digits, False)}"
    return f"{core}{sep}{unit}"
