"""Layout checks of the compiled report: the defects a reader sees on paper, found by code rather than by eye.

1. Page fill: every page but the last is at least FILL_MIN full (its text area less the blank bands taller than
   GAP_MIN, measured on a low-resolution render), so no section ends in a half-empty page and no page holds two
   floats with a hole between them.
2. Floats: each numbered figure and table lies inside its own section (after that section's heading and before
   the next one), on or after the page of its first mention, so a reader never meets Figure 8 under the next
   study's heading or before the sentence that introduces it.
3. Figure text: the smallest text of every SVG figure, scaled to the width it is printed at, is at least
   MIN_FONT_PT, the smallest size that stays legible on paper.

Positions come from the template itself: `lib.typ` drops a `<float-at>` marker inside each caption (it travels
with the float to where Typst places it) and an `<img-size>` marker with each figure's printed width, and
`report.typ` ends with a `<layout>` metadata block listing headings, figures and references with their pages
and vertical positions."""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FILL_MIN = 0.8  # share of the text area a page (but the last) must fill
GAP_MIN = 0.05  # blank bands taller than this share of the text area count as empty
MIN_FONT_PT = 7.0  # smallest figure text at print size
PAGE_PT = (595.28, 841.89)  # A4
MARGIN_PT = (62.36, 68.03)  # top 2.2 cm, bottom 2.4 cm, as in lib.typ's setup
_FONT = re.compile(r"font-size:\s*([0-9.]+)px|font:\s*(?:[a-z]+\s+)*([0-9.]+)px")


@dataclass(frozen=True)
class At:
    """A position in the document: page, then distance from the top of the page (pt)."""

    page: int
    y: float

    @classmethod
    def of(cls, d: dict[str, Any]) -> At:
        return cls(int(d["page"]), float(d["y"]))

    def __lt__(self, other: At) -> bool:
        return (self.page, self.y) < (other.page, other.y)

    def __le__(self, other: At) -> bool:
        return (self.page, self.y) <= (other.page, other.y)


def probe(comp: Any) -> dict[str, Any]:
    """The `<layout>` metadata of a compiled report (see report.typ), or {} if the template has none."""
    found = json.loads(comp.query("<layout>", field="value", format="json"))
    return found[0] if found else {}


def float_problems(info: dict[str, Any]) -> list[str]:
    """Floats outside their own section or placed before the page of their first mention."""
    heads = sorted((At.of(h["at"]), h["title"]) for h in info.get("headings", []))
    placed = {(f["kind"], f["n"]): At.of(f["at"]) for f in info.get("floats", [])}
    first_ref: dict[str, At] = {}
    for r in info.get("refs", []):
        at = At.of(r["at"])
        if r["target"] not in first_ref or at < first_ref[r["target"]]:
            first_ref[r["target"]] = at
    problems = []
    for f in info.get("figures", []):
        at = placed.get((f["kind"], f["n"]))
        if at is None or not f.get("label"):
            continue  # not a float, or nothing refers to it by name
        name = f"{'Table' if f['kind'] == 'table' else 'Figure'} {f['n']} ({f['label']})"
        anchor = At.of(f["at"])
        # A float anchored at the very end of a section shares its anchor position with the next heading.
        own = [i for i, (h, _) in enumerate(heads) if h < anchor]
        if own:
            i = own[-1]
            if at < heads[i][0]:
                problems.append(f"{name} is placed above its section's heading ({heads[i][1]}, page {at.page})")
            if i + 1 < len(heads) and heads[i + 1][0] < at:
                problems.append(f"{name} is placed in the next section ({heads[i + 1][1]}, page {at.page})")
        ref = first_ref.get(f["label"])
        if ref is None:
            problems.append(f"{name} is never mentioned in the text")
        elif at.page < ref.page:
            problems.append(f"{name} is on page {at.page}, before its first mention on page {ref.page}")
    return problems


def page_fill(png: bytes) -> float:
    """How full a rendered page's text area is: 1 minus the blank bands taller than GAP_MIN of its height (a
    section that ends early, or floats pushed to the top and bottom of an otherwise empty page, leave such bands;
    the spacing between paragraphs, figures and captions stays below it)."""
    import numpy as np
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    scale = img.shape[0] / PAGE_PT[1]
    top, bottom = int(MARGIN_PT[0] * scale), int((PAGE_PT[1] - MARGIN_PT[1]) * scale)
    inked = (img[top:bottom] < 200).any(axis=1)
    blank, run = 0, 0
    for row in [*inked, True]:  # a final inked row closes a trailing blank band
        if row:
            blank += run if run > GAP_MIN * len(inked) else 0
            run = 0
        else:
            run += 1
    return 1.0 - blank / len(inked)


def fill_problems(pages: list[bytes]) -> list[str]:
    """Pages, other than the last, that are less than FILL_MIN full."""
    out = []
    for i, png in enumerate(pages[:-1], 1):
        fill = page_fill(png)
        if fill < FILL_MIN:
            out.append(f"page {i} is only {100 * fill:.0f}% full")
    return out


def svg_min_font(svg: str) -> tuple[float, float] | None:
    """(smallest font size, width) of a matplotlib SVG, both in the SVG's points; None without text."""
    width = re.search(r'<svg[^>]*\bwidth="([0-9.]+)pt"', svg)
    sizes = [float(a or b) for a, b in _FONT.findall(svg)]
    return (min(sizes), float(width.group(1))) if width and sizes else None


def font_problems(info: dict[str, Any], root: Path) -> list[str]:
    """Figures whose smallest text, scaled to the printed width, is below MIN_FONT_PT. A PNG figure is judged by
    its SVG sibling, which holds the same text."""
    out, seen = [], set()
    for img in info.get("images", []):
        path = root / str(img["path"]).lstrip("/")
        svg = path.with_suffix(".svg")
        if svg in seen or not svg.is_file():
            continue
        seen.add(svg)
        found = svg_min_font(svg.read_text())
        if found is None:
            continue
        size = found[0] * float(img["width"]) / found[1]
        if size < MIN_FONT_PT - 0.05:
            out.append(f"{img['path']}: smallest text {size:.1f} pt at print size (needs {MIN_FONT_PT:g} pt)")
    return out


def check(comp: Any, root: Path, pages: list[bytes]) -> list[str]:
    """Every layout problem of the compiled report `comp` (rendered `pages`), as sentences; [] = none."""
    info = probe(comp)
    return fill_problems(pages) + float_problems(info) + font_problems(info, root)
