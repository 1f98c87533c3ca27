"""The group's details, given by the user: `--group N` and `--member "NAME | STUDENT ID | CONTRIBUTION"`
(repeatable) on `mnistlab run`, `notebook`, `report` and `bundle`. They are kept in `<run>/group.json` so a later
rebuild keeps them, and fill the bundle's name, the notebook's first cell, the report's title block and its
contribution table. Without them the deliverables keep visible placeholders and the build says so once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mnistlab.errors import UserError
from mnistlab.runs import atomic_write_json, read_json

FILE = "group.json"
DEFAULT_NAME = "Assignment2_Group_N"


def parse_member(text: str) -> dict[str, str]:
    """'Ada Lovelace | 1234567 | PCA and perceptron code, sections 1-2' -> {name, id, contribution}."""
    parts = [p.strip() for p in text.split("|")]
    if not parts[0] or len(parts) > 3:
        raise UserError(f"--member expects 'NAME | STUDENT ID | CONTRIBUTION' (id and contribution optional), "
                        f"got {text!r}")
    parts += [""] * (3 - len(parts))
    return {"name": parts[0], "id": parts[1], "contribution": parts[2]}


def save(run_dir: Path, number: int | None, members: list[str]) -> None:
    """Merge the flags given into `<run>/group.json`: a flag not given keeps what an earlier command stored."""
    if number is None and not members:
        return
    if number is not None and number < 0:
        raise UserError(f"--group must be a group number >= 0, got {number}")
    current = read_json(Path(run_dir) / FILE, {}) or {}
    if number is not None:
        current["number"] = number
    if members:
        current["members"] = [parse_member(m) for m in members]
    atomic_write_json(Path(run_dir) / FILE, current)


def load(run_dir: Path) -> dict[str, Any]:
    return read_json(Path(run_dir) / FILE, {}) or {}


def bundle_name(run_dir: Path) -> str:
    number = load(run_dir).get("number")
    return f"Assignment2_Group_{number}" if number is not None else DEFAULT_NAME


def placeholders(run_dir: Path) -> list[str]:
    """What the deliverables will show as a placeholder: [] when the group number and every member's name, id and
    contribution are known."""
    g = load(run_dir)
    missing = [] if g.get("number") is not None else ["group number"]
    members = g.get("members") or []
    if not members:
        return [*missing, "members"]
    for field in ("id", "contribution"):
        if any(not m.get(field) for m in members):
            missing.append(f"members' {'student ids' if field == 'id' else 'contributions'}")
    return missing
