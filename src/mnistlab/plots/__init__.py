"""Pure plotting helpers shared by every study's figures: results in, figure files out.

Figures use the Arimo font (Arial's metrics, the report's face) when the fontpkg-arimo package is present, and
are saved as PNG (for the notebook) and SVG (for the report), each written atomically."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from mnistlab.runs import atomic_path

DPI = 150
_styled = False


def arimo_dir() -> Path | None:
    """Folder holding the Arimo TTF files from the fontpkg-arimo wheel, if installed."""
    try:
        import fontpkg_arimo  # type: ignore[import-not-found]
    except ImportError:
        return None
    root = Path(fontpkg_arimo.__file__).parent
    hits = sorted(root.rglob("*.ttf"))
    return hits[0].parent if hits else None


def style() -> None:
    """Register Arimo with matplotlib (no font-cache rebuild needed) and set a small, clean default style."""
    global _styled
    if _styled:
        return
    from matplotlib import font_manager

    folder = arimo_dir()
    if folder is not None:
        for ttf in folder.glob("*.ttf"):
            font_manager.fontManager.addfont(str(ttf))
        plt.rcParams["font.family"] = "Arimo"
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": DPI, "axes.spines.top": False,
                         "axes.spines.right": False, "font.size": 9, "axes.titlesize": 10,
                         "svg.fonttype": "none", "svg.hashsalt": "mnistlab"})
    _styled = True


def figure(*args: object, **kwargs: object) -> tuple[Figure, object]:
    """plt.subplots with the project style applied."""
    style()
    return plt.subplots(*args, **kwargs)  # type: ignore[arg-type]


def save_figure(fig: Figure, stem: str | Path) -> list[Path]:
    """Write `stem`.png and `stem`.svg atomically, close the figure, return both paths."""
    stem = Path(stem)
    paths = []
    for ext in ("png", "svg"):
        path = stem.with_suffix(f".{ext}")
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=ext, bbox_inches="tight", metadata={"Date": None} if ext == "svg" else None)
        paths.append(path)
    plt.close(fig)
    return paths
