"""Typst plumbing: compile with the Arimo font and no system fonts, turn every Typst warning into an error, and
count the report's body words exactly from the compiled document.

Body text is marked in the template with the label `<body>` (see `lib.typ`'s `#body[...]`); `typst.query` returns
those elements as JSON trees, and `count_words` walks them, keeping plain text and dropping equations,
citations and cross-references. Headings, captions, tables and the reference list are never labelled, so they
are never counted."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from mnistlab.errors import UserError
from mnistlab.log import log
from mnistlab.plots import arimo_dir

# Element kinds whose content is not prose: inline maths, citations ("[3]") and references ("Figure 2").
_SKIP = {"equation", "cite", "ref", "footnote", "label"}
# Elements that separate words: a space, a line break, a paragraph break.
_SPACE = {"space", "linebreak", "parbreak", "h"}
_WORD = re.compile(r"[0-9A-Za-zÀ-ÿ]")
_TAG_BUGS = ("parent group", "tags weren't properly closed")  # internal errors of Typst's PDF tag tree


def compiler(main: Path, root: Path) -> Any:
    """A Typst compiler for `main` that sees only the Arimo font and only files under `root`."""
    import typst

    fonts = arimo_dir()
    if fonts is None:
        raise UserError("the Arimo font is missing: install fontpkg-arimo (pip install -r requirements.txt)")
    return typst.Compiler(str(main), root=str(root), font_paths=[str(fonts)], ignore_system_fonts=True)


def compile_checked(comp: Any, fmt: str = "pdf", ppi: float | None = None) -> Any:
    """Compile to `fmt` (pdf: bytes; png: a list of page images); any Typst warning is an error, because a missing
    font or a broken reference is only a warning in Typst and would otherwise ship silently."""
    import typst

    try:
        out, warnings = comp.compile_with_warnings(format=fmt, ppi=ppi, timestamp=0)
    except typst.TypstError as err:
        if fmt != "pdf" or not any(m in err.message for m in _TAG_BUGS):
            raise RuntimeError(f"Typst failed: {err.message}\n{err.diagnostic}") from None
        # Typst's PDF tagging fails on some float positions (typst/typst#8487, #8776): the same document
        # without accessibility tags is identical on paper.
        log(f"[report] Typst's PDF tagging failed ({err.message.strip()}); writing the PDF without tags")
        out, warnings = comp.compile_with_warnings(format=fmt, ppi=ppi, timestamp=0, pdf_tags=False)
    if warnings:
        lines = "\n".join(f"  {w.message} {w.diagnostic}".rstrip() for w in warnings)
        raise RuntimeError(f"Typst warned ({len(warnings)}), treated as an error:\n{lines}")
    return out


def body_text(comp: Any, label: str = "body") -> list[str]:
    """The plain text of every element labelled `<label>`, one string per element (paragraph)."""
    elements = json.loads(comp.query(f"<{label}>", format="json"))
    return [_plain(e).strip() for e in elements]


def section_words(comp: Any) -> dict[str, int]:
    """Body words per level-1 section, in document order ({'Introduction': 215, ...})."""
    elements = json.loads(comp.query("selector(heading.where(level: 1)).or(<body>)", format="json"))
    counts: dict[str, int] = {}
    current = "(before the first heading)"
    for e in elements:
        if e.get("func") == "heading":
            current = _plain(e.get("body")).strip()
            continue
        counts[current] = counts.get(current, 0) + count_words([_plain(e)])
    return counts


def count_words(texts: list[str]) -> int:
    """Words = whitespace-separated tokens holding at least one letter or digit ("98.5%" is a word, "-" is not)."""
    return sum(1 for t in texts for tok in t.split() if _WORD.search(tok))


def _plain(node: Any) -> str:
    """Flatten one queried element (a JSON tree of Typst content) to text."""
    if isinstance(node, list):
        return "".join(_plain(n) for n in node)
    if not isinstance(node, dict):
        return ""
    func = node.get("func")
    if func in _SKIP:
        return ""
    if func in _SPACE:
        return " "
    if func == "smartquote":
        return "'"
    if func in ("text", "symbol") and isinstance(node.get("text"), str):
        return node["text"]
    parts = [_plain(node[k]) for k in ("body", "children", "text") if k in node and not isinstance(node[k], str)]
    return "".join(parts)
