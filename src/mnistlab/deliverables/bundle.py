"""`mnistlab bundle --run DIR [--name NAME]`: the submission zip, `DIR/NAME.zip`, with exactly three parts:

  NAME.ipynb   the executed (pre-run) notebook, which holds all of the code
  NAME.pdf     the report
  NAME.code/   what re-running the notebook needs: requirements.txt (pinned), README.md (set-up, re-run, time per
               profile, the data and its SHA-256 sums)

The brief forbids separate Python files, so the code is in the notebook only: the zip holds no `.py` file, and
the build refuses to write one that would. Every member name is checked to be a safe relative path, and entries get
a fixed timestamp so the same inputs give the same zip. A missing notebook or report is built first. The name
defaults to Assignment2_Group_<N> from the group number (`--group`), else Assignment2_Group_N."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path, PurePosixPath

from mnistlab import data
from mnistlab.config import check_saved
from mnistlab.deliverables import group, inline, nbtext
from mnistlab.errors import UserError
from mnistlab.runs import atomic_path, read_json

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,100}$")
_STAMP = (2020, 1, 1, 0, 0, 0)  # fixed entry time: reproducible archives
TIMINGS = Path(__file__).with_name("timings.json")  # measured profile times, with machine and date
RUNNER = ("jupyterlab", "ipykernel")  # to open and run the notebook; not imported by the code itself


def safe_member(name: str) -> str:
    """Refuse any zip member name that could escape the folder it is extracted into, and any Python file."""
    p = PurePosixPath(name)
    if not name or "\\" in name or p.is_absolute() or ".." in p.parts or name.startswith(("/", "~")) \
            or ":" in p.parts[0]:
        raise ValueError(f"unsafe path in bundle: {name!r}")
    if p.suffix == ".py":
        raise ValueError(f"the brief forbids .py files in the submission: {name!r}")
    return name


def requirements_txt() -> str:
    """Pinned versions of every package the notebook's code imports (the versions this run used)."""
    pins = {name: pin.split("+")[0] for name, pin in nbtext.pinned(inline.notebook_modules()).items()
            if name != "torch"}  # local build tags (+cpu) are not on the package index
    lines = ["# Packages the notebook imports, at the versions our run used. PyTorch is not listed: install the",
             f"# build for your machine (CPU or CUDA) first; the code supports torch {nbtext.torch_range()}.",
             *sorted(pins.values(), key=str.lower)]
    return "\n".join(lines) + "\n"


def readme(run_dir: Path, name: str) -> str:
    """The code folder's README: set-up, re-run, time per profile, the data with its SHA-256 sums."""
    cfg = read_json(run_dir / "config.json", {})
    metrics = read_json(run_dir / "metrics.json", {})
    env = read_json(run_dir / "env.json", {})
    seconds = sum(v for k, v in metrics.items() if k.startswith("time.") and isinstance(v, int | float))
    rows = [f"| {t['profile']} | {t['minutes']:g} min | {t['machine']} | {t['date']} |"
            for t in json.loads(TIMINGS.read_text())["timings"]]
    ours = (f"| {cfg.get('profile')} (this submission's run) | {seconds / 60:,.0f} min | {env.get('cpu_count')} "
            f"CPU cores, {env.get('gpu') or 'no GPU'} | {str(env.get('started', ''))[:10]} |")
    sums = "\n".join(f"    {digest}  {path}" for path, digest in data.SHA256.items())
    return f"""# {name}: code folder

All of our code is in `{name}.ipynb`, as code cells (the brief asks for no separate Python files); this folder
holds what re-running it needs.

## Set-up

    python3 -m venv .venv && . .venv/bin/activate   # Python >= 3.11
    pip install torch                                # PyTorch {nbtext.torch_range()}, the build for your machine
    pip install -r requirements.txt jupyterlab

## Re-running the notebook

Open `{name}.ipynb` in Jupyter, set `PROFILE` in its first code cell (`smoke`: a check that everything runs;
`quick`: short budgets; `full`: the protocol of our report), then Restart & Run All. The results go into the
notebook's folder; a task whose results are already there is shown without training it again. The study time of
each profile, measured:

| profile | study time | machine | date |
| --- | --- | --- | --- |
{ours}
{chr(10).join(rows)}

## Data

MNIST (LeCun, Cortes and Burges) and Fashion-MNIST (Xiao, Rasul and Vollgraf, 2017) in IDX format: put the
folders `mnist/` and `fashion-mnist/`, each with `train-images-idx3-ubyte.gz`, `train-labels-idx1-ubyte.gz`,
`t10k-images-idx3-ubyte.gz` and `t10k-labels-idx1-ubyte.gz`, into a folder `data/` beside the notebook, or set
`DATA_DIR` in the first code cell. Without them the code downloads the files from the datasets' public mirrors.
Every file is checked against the SHA-256 of its decompressed bytes before use:

{sums}
"""


def _ensure(run_dir: Path) -> tuple[Path, Path]:
    """The run's notebook and report, building whichever is missing."""
    from mnistlab.deliverables import build as report
    from mnistlab.deliverables import notebook

    nb = run_dir / notebook.OUTPUT
    pdf = run_dir / report.OUTPUT
    if not nb.is_file():
        notebook.execute(run_dir)
    if not pdf.is_file():
        report.build(run_dir)
    return nb, pdf


def build(run_dir: Path, name: str | None = None) -> Path:
    """Write `run_dir/<name>.zip` (atomically) and return its path."""
    run_dir = Path(run_dir)
    name = name or group.bundle_name(run_dir)
    if not _NAME.match(name):
        raise UserError(f"bundle name {name!r} must be letters, digits, '_', '-' or '.', e.g. Assignment2_Group_7")
    if not (run_dir / "config.json").is_file():
        raise UserError(f"{run_dir} is not a run folder (no config.json)")
    check_saved(run_dir)
    nb, pdf = _ensure(run_dir)
    members = {f"{name}.ipynb": nb.read_bytes(), f"{name}.pdf": pdf.read_bytes(),
               f"{name}.code/requirements.txt": requirements_txt().encode(),
               f"{name}.code/README.md": readme(run_dir, name).encode()}
    out = run_dir / f"{name}.zip"
    with atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for arc, blob in members.items():
            info = zipfile.ZipInfo(safe_member(arc), _STAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, blob)
    return out


def top_level(zip_path: Path) -> set[str]:
    """The distinct first path components of a zip's members, e.g. {'X.ipynb', 'X.pdf', 'X.code'}."""
    with zipfile.ZipFile(zip_path) as zf:
        return {n.split("/", 1)[0] for n in zf.namelist()}
