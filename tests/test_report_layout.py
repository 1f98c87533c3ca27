"""The report's layout checks (issue 17): page fill, floats inside their own section after their first mention,
and figure text of at least 7 pt at print size. Unit tests on synthetic pages, positions and SVGs, then the
checks on the shared smoke run's report."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from mnistlab.deliverables import layout

H = 842  # A4 height in pt; 1 px = 1 pt in the synthetic renders


def _page(ink_rows: list[tuple[float, float]]) -> bytes:
    """A white A4 page (1 px per pt) with black bands between the given fractions of the text area."""
    from PIL import Image

    img = np.full((H, 595), 255, np.uint8)
    top, bottom = int(layout.MARGIN_PT[0]), int(H - layout.MARGIN_PT[1])
    for a, b in ink_rows:
        img[top + int(a * (bottom - top)):top + int(b * (bottom - top)), 60:530] = 0
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


def _text(a: float, b: float) -> list[tuple[float, float]]:
    """Lines of text from a to b: 1 % ink, 1 % gap, as paragraphs look at low resolution."""
    return [(x, x + 0.01) for x in np.arange(a, b, 0.02)]


def test_full_page_passes_and_half_page_fails() -> None:
    assert layout.page_fill(_page(_text(0, 1))) > 0.95
    assert layout.page_fill(_page(_text(0, 0.5))) == pytest.approx(0.5, abs=0.03)
    problems = layout.fill_problems([_page(_text(0, 0.5)), _page(_text(0, 0.3))])  # the last page may be short
    assert len(problems) == 1 and problems[0].startswith("page 1 is only")


def test_a_hole_between_two_floats_counts_as_empty() -> None:
    # Issue 17's pages: a figure at the top, one at the bottom, nothing between.
    fill = layout.page_fill(_page([(0, 0.3), (0.7, 1.0)]))
    assert fill == pytest.approx(0.6, abs=0.03) and fill < layout.FILL_MIN


def _info(floats: dict[str, tuple[int, float]], refs: dict[str, tuple[int, float]]) -> dict:
    at = lambda p, y: {"page": p, "y": y}  # noqa: E731
    heads = [("1 PCA", 1, 100.0), ("2 Perceptron", 2, 400.0), ("3 MLP", 3, 300.0)]
    anchors = {"fig:a": (1, 500.0), "fig:b": (2, 500.0)}
    return {
        "headings": [{"title": t, "at": at(p, y)} for t, p, y in heads],
        "figures": [{"label": k, "kind": "image", "n": i, "at": at(*anchors[k])} for i, k in enumerate(anchors, 1)],
        "floats": [{"kind": "image", "n": i, "at": at(*floats[k])} for i, k in enumerate(anchors, 1) if k in floats],
        "refs": [{"target": k, "at": at(*v)} for k, v in refs.items()],
    }


def test_floats_stay_in_their_section_after_their_mention() -> None:
    refs = {"fig:a": (1, 450.0), "fig:b": (2, 480.0)}
    assert layout.float_problems(_info({"fig:a": (2, 300.0), "fig:b": (2, 800.0)}, refs)) == []
    # Issue 17: Fig 8 under the CNN heading; a figure before the page that introduces it; one never cited.
    bad = layout.float_problems(_info({"fig:a": (2, 790.0), "fig:b": (2, 200.0)}, {"fig:a": (3, 100.0)}))
    assert any("Figure 1 (fig:a) is placed in the next section" in p for p in bad)
    assert any("Figure 1 (fig:a) is on page 2, before its first mention on page 3" in p for p in bad)
    assert any("Figure 2 (fig:b) is placed above its section's heading" in p for p in bad)
    assert any("Figure 2 (fig:b) is never mentioned" in p for p in bad)


def _svg(width_pt: float, sizes: list[float]) -> str:
    texts = "".join(f'<text style="font-size: {s}px; font-family: \'Arimo\'">x</text>' for s in sizes)
    return f'<svg width="{width_pt}pt" height="100pt" viewBox="0 0 {width_pt} 100">{texts}</svg>'


def test_figure_text_is_judged_at_print_size(tmp_path: Path) -> None:
    (tmp_path / "a.svg").write_text(_svg(500, [9, 8]))
    (tmp_path / "b.svg").write_text(_svg(720, [9, 6.3]))  # superscripts of log-axis labels: 6.3 px
    info = {"images": [{"path": "/a.svg", "width": 470.0}, {"path": "/b.svg", "width": 470.0},
                       {"path": "/b.png", "width": 470.0}]}  # a PNG is judged by its SVG sibling, once
    problems = layout.font_problems(info, tmp_path)
    assert problems == ["/b.svg: smallest text 4.1 pt at print size (needs 7 pt)"]
    assert layout.svg_min_font(_svg(500, [])) is None


def test_smoke_report_passes_the_layout_checks(smoke) -> None:  # smoke: conftest's SmokeRun
    """The built report of the shared smoke run: the checks ran, found the floats and images, and the figure
    text is legible (text sizes do not depend on the numbers of a run)."""
    from mnistlab.deliverables import typst_doc

    run = smoke.path
    words = json.loads((run / "report" / "words.json").read_text())
    assert "layout" in words
    comp = typst_doc.compiler(run / "report" / "report.typ", run)
    typst_doc.compile_checked(comp, "png", ppi=12)
    info = layout.probe(comp)
    assert len(info["headings"]) >= 8 and len(info["floats"]) >= 12 and len(info["images"]) >= 12
    assert layout.font_problems(info, run) == []
    assert not [p for p in words["layout"] if "pt at print size" in p]
