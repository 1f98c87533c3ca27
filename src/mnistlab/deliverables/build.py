"""`mnistlab report --run DIR`: build `DIR/report.pdf` with Typst.

Steps: copy the template (report.typ, lib.typ, the sections, refs.yml) into `DIR/report/`, draw the architecture
diagrams there, write `data.json` (every number, table and figure path, from `context.build_context`), compile
with the run folder as Typst's root (figures are read where the studies wrote them), treat any Typst warning as an
error, count the body words exactly and check them against the brief's 3,000 +/- 10%. The word count is printed,
stored in `DIR/report/words.json` and as `report.words` in metrics.json. A run with a missing or failed study still
gets a report (the section says so); its word count is then reported but not enforced, because the missing
results' discussion is absent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mnistlab.config import check_saved
from mnistlab.deliverables import diagrams, layout, typst_doc
from mnistlab.deliverables.context import build_context
from mnistlab.errors import UserError
from mnistlab.log import log
from mnistlab.runs import RunDir, atomic_write_bytes, atomic_write_json

TEMPLATE = Path(__file__).resolve().parent
OUTPUT = "report.pdf"
BUILD_DIR = "report"
WORDS_MIN, WORDS_MAX = 2700, 3300  # the brief: 3,000 words +/- 10%
LAYOUT_PPI = 24  # enough to find the lowest ink on a page, cheap to render


class ReportError(UserError):
    """The report could not be built as the brief requires (word count out of range, a Typst warning)."""


def prepare(run_dir: Path) -> tuple[Path, dict[str, Any]]:
    """Write the Typst sources, diagrams and data.json into `run_dir/report/`; return the main file and data."""
    out = run_dir / BUILD_DIR
    out.mkdir(parents=True, exist_ok=True)
    for src in sorted(TEMPLATE.glob("*.typ")) + sorted(TEMPLATE.glob("*.yml")):
        atomic_write_bytes(out / src.name, src.read_bytes())
    drawn = diagrams.write_all(out / "diagrams")
    ctx = build_context(run_dir)
    ctx["diagrams"] = {k: "/" + p.relative_to(run_dir).as_posix() for k, p in drawn.items()}
    missing = [p for p in referenced_files(ctx) if not (run_dir / p.lstrip("/")).is_file()]
    if missing:
        raise ReportError(f"the report refers to missing files: {', '.join(missing)}")
    atomic_write_json(out / "data.json", ctx)
    return out / "report.typ", ctx


def referenced_files(obj: Any) -> list[str]:
    """Every root-relative figure path ('/cnn/figures/curves.svg') anywhere in the report data."""
    if isinstance(obj, dict):
        return [p for v in obj.values() for p in referenced_files(v)]
    if isinstance(obj, list):
        return [p for v in obj for p in referenced_files(v)]
    if isinstance(obj, str) and obj.startswith("/") and obj.endswith((".svg", ".png")):
        return [obj]
    return []


def build(run_dir: Path) -> Path:
    """Build `run_dir/report.pdf`; return its path. Raises ReportError if the brief's checks fail."""
    run_dir = Path(run_dir).resolve()
    if not (run_dir / "config.json").is_file():
        raise UserError(f"{run_dir} is not a run folder (no config.json)")
    check_saved(run_dir)
    main, ctx = prepare(run_dir)
    comp = typst_doc.compiler(main, run_dir)
    try:
        pdf = typst_doc.compile_checked(comp, "pdf")
    except RuntimeError as err:
        raise ReportError(str(err)) from None
    words = typst_doc.count_words(typst_doc.body_text(comp))
    in_range = WORDS_MIN <= words <= WORDS_MAX
    problems = check_layout(comp, run_dir)
    atomic_write_json(main.parent / "words.json", {"body_words": words, "min": WORDS_MIN, "max": WORDS_MAX,
                                                   "enforced": ctx["all_done"], "figures": referenced_files(ctx),
                                                   "sections": list(typst_doc.section_words(comp).items()),
                                                   "layout": problems})
    log(f"[report] body text: {words:,} words (brief: {WORDS_MIN:,}-{WORDS_MAX:,})")
    if not in_range:
        if ctx["all_done"]:
            raise ReportError(f"the report's body text has {words:,} words, outside {WORDS_MIN:,}-{WORDS_MAX:,}")
        log("[report] word count not enforced: some studies have no results in this run")
    out = run_dir / OUTPUT
    atomic_write_bytes(out, pdf)
    RunDir(run_dir).add_metrics({"report.words": words})
    return out


def check_layout(comp: object, run_dir: Path) -> list[str]:
    """The layout checks of mnistlab.deliverables.layout, each problem logged on one line. They warn rather than fail:
    a half-empty page is a defect to fix in the template, not a reason to withhold the report."""
    pages = typst_doc.compile_checked(comp, "png", ppi=LAYOUT_PPI)
    problems = layout.check(comp, run_dir, pages if isinstance(pages, list) else [pages])
    for p in problems:
        log(f"[report] layout: {p}")
    return problems


def render_pages(run_dir: Path, folder: Path, ppi: float = 80) -> list[Path]:
    """Render the built report's pages to PNG files (for looking at them); returns the paths."""
    run_dir = Path(run_dir).resolve()
    comp = typst_doc.compiler(run_dir / BUILD_DIR / "report.typ", run_dir)
    pages = typst_doc.compile_checked(comp, "png", ppi=ppi)
    pages = pages if isinstance(pages, list) else [pages]
    paths = []
    for i, png in enumerate(pages, 1):
        paths.append(folder / f"page-{i:02d}.png")
        atomic_write_bytes(paths[-1], png)
    return paths
