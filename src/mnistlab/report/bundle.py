"""`mnistlab bundle --run DIR --name NAME`: the submission zip, `DIR/NAME.zip`, with exactly three parts:

  NAME.ipynb   the executed (pre-run) notebook
  NAME.pdf     the report
  NAME.code/   the package source (`mnistlab/**/*.py`, templates), pyproject.toml, requirements, README, Makefile

Nothing else: no data, checkpoints, runs or caches. Every member name is checked to be a safe relative path
(no absolute path, no `..`, no backslash), and entries get a fixed timestamp so the same inputs give the same zip.
A missing notebook or report is built first."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path, PurePosixPath

from mnistlab.errors import UserError
from mnistlab.runs import atomic_path

PACKAGE = Path(__file__).resolve().parents[1]  # .../mnistlab
REPO_FILES = ("pyproject.toml", "requirements.txt", "requirements-dev.txt", "README.md", "Makefile")
CODE_SUFFIXES = {".py", ".typ", ".yml", ".md", ".txt"}  # source and text only: no .pyc, .pt, .npy, .gz
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,100}$")
_STAMP = (2020, 1, 1, 0, 0, 0)  # fixed entry time: reproducible archives


def repo_root() -> Path | None:
    """The checkout holding this package (src layout), or None for an installed, non-editable package."""
    root = PACKAGE.parents[1]
    return root if (root / "pyproject.toml").is_file() and (root / "src" / "mnistlab").is_dir() else None


def code_files() -> dict[str, Path]:
    """{path inside NAME.code/: file on disk}: the package under src/mnistlab/, the repo's top-level files."""
    files: dict[str, Path] = {}
    for path in sorted(PACKAGE.rglob("*")):
        rel = path.relative_to(PACKAGE)
        if path.is_file() and path.suffix in CODE_SUFFIXES and "__pycache__" not in rel.parts:
            files[f"src/mnistlab/{rel.as_posix()}"] = path
    root = repo_root()
    if root is not None:
        for name in REPO_FILES:
            if (root / name).is_file():
                files[name] = root / name
    return files


def safe_member(name: str) -> str:
    """Refuse any zip member name that could escape the folder it is extracted into."""
    p = PurePosixPath(name)
    if not name or "\\" in name or p.is_absolute() or ".." in p.parts or name.startswith(("/", "~")) \
            or ":" in p.parts[0]:
        raise ValueError(f"unsafe path in bundle: {name!r}")
    return name


def _ensure(run_dir: Path) -> tuple[Path, Path]:
    """The run's notebook and report, building whichever is missing."""
    from mnistlab.report import build as report
    from mnistlab.report import notebook

    nb = run_dir / notebook.OUTPUT
    pdf = run_dir / report.OUTPUT
    if not nb.is_file():
        notebook.execute(run_dir)
    if not pdf.is_file():
        report.build(run_dir)
    return nb, pdf


def build(run_dir: Path, name: str | None = None) -> Path:
    """Write `run_dir/<name>.zip` (atomically) and return its path."""
    name = name or "Assignment2_Group_N"
    if not _NAME.match(name):
        raise UserError(f"bundle name {name!r} must be letters, digits, '_', '-' or '.', e.g. Assignment2_Group_7")
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise UserError(f"{run_dir} is not a run folder (no config.json)")
    nb, pdf = _ensure(run_dir)
    members: dict[str, Path] = {f"{name}.ipynb": nb, f"{name}.pdf": pdf}
    members.update({f"{name}.code/{rel}": path for rel, path in code_files().items()})
    out = run_dir / f"{name}.zip"
    with atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for arc, path in members.items():
            info = zipfile.ZipInfo(safe_member(arc), _STAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, path.read_bytes())
    return out


def top_level(zip_path: Path) -> set[str]:
    """The distinct first path components of a zip's members, e.g. {'X.ipynb', 'X.pdf', 'X.code'}."""
    with zipfile.ZipFile(zip_path) as zf:
        return {n.split("/", 1)[0] for n in zf.namelist()}
