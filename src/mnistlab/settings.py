"""Settings: dataclass fields that carry their doc and bounds, and what reads them (mnistlab.config declares
the fields with them).

`setting(default, doc, low=..., choices=...)` is a `dataclasses.field` whose metadata holds the doc and the rules.
A config is a dataclass whose fields are settings or dataclasses of settings (one level, `study.field`); for it
`set_value` sets a dotted key from its `--set` text (a list field from comma-separated elements), `validate`
checks every field against its rules (one-line ConfigError naming the key, the rule and the value), and
`describe` lists every key with its type, value, rule and doc (`mnistlab run --list-settings`).
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from collections.abc import Callable, Iterator
from dataclasses import field
from typing import Any, NamedTuple

from mnistlab.errors import ConfigError

POSITIVE: dict[str, Any] = {"low": 0, "low_open": True}  # the bounds of a count or a rate that must be > 0
AT_LEAST_0: dict[str, Any] = {"low": 0}


def setting(default: Any, doc: str, *, low: float | None = None, high: float | None = None, low_open: bool = False,
            high_open: bool = False, choices: tuple[Any, ...] | None = None, min_len: int = 0,
            check: Callable[[Any], object] | None = None) -> Any:
    """A dataclass field with its doc and bounds in its metadata. A tuple default declares a list field (each
    instance gets its own list). Bounds, `choices` and `check` (a parser that raises ValueError with the reason)
    apply to the value, or to each element of a list; `min_len` to a list."""
    meta = {"doc": doc, "low": low, "high": high, "low_open": low_open, "high_open": high_open,
            "choices": choices, "min_len": min_len, "check": check}
    if isinstance(default, tuple):  # a fresh list per instance: profiles edit their own copy
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


_NO_RULES = {"doc": "", "low": None, "high": None, "low_open": False, "high_open": False, "choices": None,
             "min_len": 0, "check": None}  # a plain field's: tests/test_config.py fails it for the missing doc


def _rules(f: dataclasses.Field[Any]) -> dict[str, Any]:
    return {**_NO_RULES, **f.metadata}


def _leaves(cfg: Any) -> Iterator[tuple[str, Any, dataclasses.Field[Any]]]:
    """(dotted key, the dataclass holding it, its field) for every settable field, in declaration order."""
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            yield from ((f"{f.name}.{g.name}", value, g) for g in dataclasses.fields(value))
        else:
            yield f.name, cfg, f


def known_keys(cfg: Any) -> list[str]:
    return [key for key, _, _ in _leaves(cfg)]


def _kind(owner: Any, name: str) -> Any:
    return typing.get_type_hints(type(owner))[name]  # resolves the string annotations of `from __future__`


def set_value(cfg: Any, key: str, raw: str) -> None:
    """Set a dotted key ('mlp.epochs' or 'seed') from its string form, cast to the field's declared type; a list
    field takes comma-separated elements, each cast to the element type ('' = an empty list)."""
    leaves = {k: (owner, f) for k, owner, f in _leaves(cfg)}
    if key not in leaves:
        near = difflib.get_close_matches(key, list(leaves), n=3)
        hint = f" (did you mean {' or '.join(near)}?)" if near else ""
        raise ConfigError(f"unknown config key {key!r}{hint}; `mnistlab run --list-settings` lists all "
                          f"{len(leaves)} keys with their docs")
    owner, f = leaves[key]
    setattr(owner, f.name, _cast(raw, _kind(owner, f.name), key))


_NOUNS = {int: "whole numbers", float: "numbers", str: "names"}


def _cast(raw: str, kind: Any, key: str) -> Any:
    if typing.get_origin(kind) is list:
        (item,) = typing.get_args(kind)
        parts = [p.strip() for p in raw.split(",")] if raw.strip() else []
        try:
            return [_scalar(p, item) for p in parts]
        except ValueError:
            raise ConfigError(f"{key} expects comma-separated {_NOUNS.get(item, item.__name__)}, got {raw!r}") from None
    try:
        return _scalar(raw, kind)
    except ValueError:
        raise ConfigError(f"{key} expects {kind.__name__}, got {raw!r}") from None


def _scalar(raw: str, kind: Any) -> Any:
    if kind is bool:
        low = raw.lower()
        if low not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
            raise ValueError(raw)
        return low in ("1", "true", "yes", "on")
    return kind(raw)


def validate(cfg: Any) -> None:
    """Check every field against its metadata; the first violation is a one-line ConfigError naming the key."""
    for key, owner, f in _leaves(cfg):
        value, meta = getattr(owner, f.name), _rules(f)
        if isinstance(value, list):
            if len(value) < meta["min_len"]:
                example = format_value(getattr(type(owner)(), f.name))  # the declared default
                raise ConfigError(f"{key} is empty; give at least {meta['min_len']} value, e.g. {key}={example}")
            for item in value:
                _check_one(key, item, meta)
        else:
            _check_one(key, value, meta)


def _check_one(key: str, value: Any, meta: Any) -> None:
    choices, bound, check = meta["choices"], bounds_text(meta), meta["check"]
    if choices is not None and value not in choices:
        raise ConfigError(f"{key} must be {_either(choices)}, got {value!r}")
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if numeric and bound and not _within(value, meta):
        raise ConfigError(f"{key} must {bound}, got {value}")
    if check is not None:
        try:
            check(value)
        except ValueError as err:
            raise ConfigError(f"{key}: {value!r} is {err}") from None


def _within(value: float, meta: Any) -> bool:
    low, high = meta["low"], meta["high"]
    above = low is None or (value > low if meta["low_open"] else value >= low)
    below = high is None or (value < high if meta["high_open"] else value <= high)
    return above and below


def bounds_text(meta: Any) -> str:
    """'be > 0', 'lie in [0, 1)', ... or '' when the field has no numeric bounds."""
    low, high = meta["low"], meta["high"]
    if low is not None and high is not None:
        return f"lie in {'(' if meta['low_open'] else '['}{low:g}, {high:g}{')' if meta['high_open'] else ']'}"
    if low is not None:
        return f"be {'>' if meta['low_open'] else '>='} {low:g}"
    if high is not None:
        return f"be {'<' if meta['high_open'] else '<='} {high:g}"
    return ""


def _either(choices: tuple[Any, ...]) -> str:
    words = [str(c) for c in choices]
    return f"{', '.join(words[:-1])} or {words[-1]}" if len(words) > 1 else words[0]


def format_value(value: Any) -> str:
    """A value as --set takes it: lists comma-separated, booleans lower case."""
    if isinstance(value, list):
        return ",".join(format_value(v) for v in value)
    if isinstance(value, float) and float(f"{value:g}") == value:
        return f"{value:g}"  # 0.001, not 1e-03 or 0.0010000; exact values only (':g' keeps 6 digits)
    return str(value).lower() if isinstance(value, bool) else str(value)


class Setting(NamedTuple):
    key: str
    kind: str  # 'int', 'list[float]', ...
    value: str  # as --set takes it
    rule: str  # bounds and choices in words, '' if none
    doc: str


def describe(cfg: Any) -> list[Setting]:
    """Every settable key of `cfg` with its type, value, rule and doc, read from the dataclasses."""
    rows = []
    for key, owner, f in _leaves(cfg):
        kind, meta = _kind(owner, f.name), _rules(f)
        name = kind.__name__ if isinstance(kind, type) and typing.get_origin(kind) is None else str(kind)
        each = "each " if typing.get_origin(kind) is list else ""
        rule = [f"{each}must {bounds_text(meta)}"] if bounds_text(meta) else []
        rule += [f"{each}one of {', '.join(map(str, meta['choices']))}"] if meta["choices"] else []
        rule += [f"at least {meta['min_len']} value"] if meta["min_len"] else []
        rows.append(Setting(key, name, format_value(getattr(owner, f.name)), "; ".join(rule), meta["doc"]))
    return rows
