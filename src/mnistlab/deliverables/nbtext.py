"""The notebook's own text and small cells: its introduction, the settings cell, the set-up cell, the `%%module`
cell magic, and the headings of the sections and modules. `notebook.build` puts them around the package code."""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import sys
from pathlib import Path
from typing import Any

from mnistlab import config as configs
from mnistlab.deliverables import inline
from mnistlab.runs import read_json
from mnistlab.settings import format_value

INTROS = {
    "shared": "Code every task uses: errors and logging, the configuration (one dataclass per task, and the "
              "profiles), the run folder (atomic writes, resume), the datasets (IDX parsing with SHA-256 checks), "
              "the device and precision choice, the training loop shared by every network, and the code that runs "
              "a task and shows its results.",
    "pca": "The 60,000 MNIST training images, flattened to 784-vectors, are projected on their first two principal "
           "components (scikit-learn's PCA); the scatter is coloured by digit. How much the digit pairs overlap in "
           "that plane is measured by the training error of a linear boundary on the 2-D points.",
    "perceptron": "A single-layer perceptron in NumPy. `predict(x, w, b)` is sign(x.w + b); `optimize(x, y)` is "
                  "the brief's while loop with the perceptron rule written out: for each misclassified sample, "
                  "w += lr y x and b += lr y. The study runs `train`, the same rule with a blockwise speed-up, "
                  "which a test checks against `optimize`; it trains the pairs 0-1, 2-3, 4-5, 6-7 and 8-9.",
    "mlp": "3.1 is the brief's [784, 1000, 1000, 10] network with ReLU, softmax cross-entropy and Adam; its batch "
           "size, learning rate and epochs are chosen on a validation slice of the training images. 3.2 trains "
           "networks of 3, 4, 5 and 7 hidden layers with about the same number of parameters.",
    "cnn": "4.1 has three 4x4 convolutions with 32, 64 and 128 filters and strides 1, 2, 2, then one dense layer of "
           "10; 4.2 varies depth and width. The study also compares the CNNs with the MLPs of Task 3.",
    "viz": "The trained CNN of 4.1 is looked at: the filters of each layer, the activations of each layer for a "
           "test '2' and a test '9', and DeepDream images of the classes 2 and 9, each scored by the CNN and by "
           "an independently trained network.",
    "mtl": "Fashion-MNIST with two tasks: the 10 items and 3 groups (shoes, gendered, uni-sex). 6.1 trains one CNN "
           "per task; 6.2 one network with a shared trunk and two heads, trained on lambda * L_items + "
           "(1 - lambda) * L_groups for five values of lambda. Adam's settings are tuned with Optuna on a "
           "validation slice of the training images.",
}

MAGIC_TEXT = """### How the code cells work

Each code cell below that starts with `%%module NAME` holds the complete source of one module of our code,
comments included. The cell magic defined here runs such a cell as the module `NAME`
and registers it, so the modules import each other exactly as they do outside the notebook. Modules come in
dependency order: each comes after the modules it imports. The guard refuses to load any `mnistlab` module that
this notebook does not define, so everything that runs is on this page."""

MAGIC = '''import linecache
import os
import sys
import types

from IPython.core.magic import register_cell_magic


class _OnlyThisNotebook:
    """An import hook that refuses any `mnistlab` module this notebook has not defined: an installed copy of the
    package can never stand in for the code on this page."""

    def find_spec(self, name, path=None, target=None):
        if name == "mnistlab" or name.startswith("mnistlab."):
            raise ModuleNotFoundError(f"{name} is not defined in this notebook (run its %%module cell first)",
                                      name=name)
        return None


def _package(name):
    """The package `name`, created empty when no cell has defined it yet; its submodules come from cells."""
    if name not in sys.modules:
        module = types.ModuleType(name)
        module.__path__, module.__package__ = [], name
        sys.modules[name] = module
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(_package(parent), child, module)
    return sys.modules[name]


@register_cell_magic
def module(line, cell):
    """`%%module NAME [package]`: run the cell as module NAME (a package's __init__ with 'package')."""
    name, *kind = line.split()
    parent, _, child = name.rpartition(".")
    if "package" in kind:
        mod = _package(name)
    else:
        mod = types.ModuleType(name)
        mod.__package__ = parent
        sys.modules[name] = mod
        setattr(_package(parent), child, mod)
    # Where the file would be if this folder held the code: code that looks for files beside itself (the data
    # module's data/ folder) then looks in this notebook's folder.
    parts = [*name.split("."), *(["__init__"] if "package" in kind else [])]
    mod.__file__ = os.path.join(os.getcwd(), "<notebook>", *parts) + ".py"
    linecache.cache[mod.__file__] = (len(cell), None, cell.splitlines(True), mod.__file__)  # for tracebacks
    exec(compile(cell, mod.__file__, "exec"), mod.__dict__)


if not any(isinstance(f, _OnlyThisNotebook) for f in sys.meta_path):
    sys.meta_path.insert(0, _OnlyThisNotebook())'''

RUNNER_TEXT = """### Running a task

`CFG` is the configuration of the profile chosen in the first code cell. Each task section ends with
`run_and_show(CFG, RUN_DIR, task)`: it runs the task unless the run folder already holds its results (then it only
reads them), first running any earlier task whose results it needs and cannot find (task 5 reads the networks of
tasks 3 and 4), and shows each network's per-epoch log line, the task's tables and its figures."""

RUNNER = """import os

from mnistlab.config import build
from mnistlab.show import run_and_show

if DATA_DIR:
    os.environ["MNISTLAB_DATA"] = DATA_DIR
CFG = build(PROFILE, OVERRIDES, seed=SEED)"""


def task_name(key: str) -> str:
    return dict(inline.SECTIONS)[key].split(":")[0]


def section_heading(key: str) -> str:
    return f'<a id="{key}"></a>\n## {dict(inline.SECTIONS)[key]}\n\n{INTROS[key]}'


def module_heading(module: inline.Module) -> str:
    doc = ast.get_docstring(ast.parse(module.source())) or ""
    first = doc.strip().split("\n\n")[0].replace("\n", " ")
    return f"### `{module.name}`{' (package)' if module.is_package else ''}\n\n{first}"


def intro(run_dir: Path, sections: list[tuple[str, list[inline.Module]]]) -> str:
    """Title, group, what the notebook is, its contents with links, how to re-run it and how long that took."""
    group = read_json(run_dir / "group.json", {}) or {}
    number = group.get("number", "N")
    members = ", ".join(m.get("name", "") for m in group.get("members", []) if m.get("name"))
    config = read_json(run_dir / "config.json", {})
    metrics = read_json(run_dir / "metrics.json", {})
    env = read_json(run_dir / "env.json", {})
    seconds = sum(v for k, v in metrics.items() if k.startswith("time.") and isinstance(v, int | float))
    n_modules = sum(len(ms) for _, ms in sections)
    contents = "\n".join(f"- [{title}](#{key})" for key, title in inline.SECTIONS)
    took = (f"The results below come from profile `{config.get('profile')}` (seed {config.get('seed')}); its six "
            f"tasks took {seconds / 60:,.1f} minutes on a machine with {env.get('cpu_count', '?')} CPU cores and "
            f"{'the GPU ' + str(env['gpu']) if env.get('gpu') else 'no GPU'}." if seconds else "")
    return f"""# Assignment 2: deep learning on MNIST and Fashion-MNIST (Group {number})

{('Group members: ' + members + '.') if members else ''}

This is our pre-run notebook. It holds all of our code: the {n_modules} modules below, each as a code cell, in
the order they depend on each other, then for each task a cell that runs it and shows its results. The report's
numbers, tables and figures are the ones shown here.

**Contents**

{contents}

**Re-running it.** Python >= 3.11 with PyTorch {torch_range()} and the packages of `requirements.txt` in the code
folder (the set-up cell installs any that are missing; it never installs PyTorch). Choose the budgets in the first
code cell (`PROFILE`: `smoke` to check that everything runs in a few minutes, its numbers mean nothing; `quick`
short budgets; `full` the protocol of the report), then Restart & Run All. Results go into the notebook's folder
(`RUN_DIR`): a task whose results are there is only shown, a missing one is trained. {took}

**Data.** MNIST and Fashion-MNIST in IDX format (`mnist/` and `fashion-mnist/` with the `.gz` files), from the
folder in `DATA_DIR`, else from a folder `data/` beside the notebook; every file's SHA-256 is checked before use
(the sums are in the code folder's README)."""


def settings(config: dict[str, Any]) -> str:
    """The first code cell: the profile, seed and overrides that reproduce `config` exactly."""
    profile, seed = config.get("profile", "quick"), config.get("seed", 0)
    base = _flat(configs.build(profile).to_dict()) if profile in configs.PROFILES else {}
    given = _flat(config)
    overrides = [f"{k}={_text(v)}" for k, v in given.items() if k not in ("profile", "seed") and base.get(k) != v]
    return f'''# Settings: the one cell to edit before "Restart & Run All".
PROFILE = "{profile}"  # smoke | quick | full | paper: the budgets (see the introduction)
SEED = {seed}
OVERRIDES = {overrides!r}  # config changes as "task.field=value", e.g. ["mlp.epochs=5"]
RUN_DIR = "."  # results go here; a task whose results are already here is shown, not retrained
DATA_DIR = ""  # folder holding mnist/ and fashion-mnist/; "" = $MNISTLAB_DATA or the default places'''


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        out |= _flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v}
    return out


def _text(v: Any) -> str:
    if isinstance(v, list):  # a list field as --set takes it: '0,0.5,1' ('' = empty)
        return format_value(v)
    return str(v).lower() if isinstance(v, bool) else str(v)


def requirements(sections: list[tuple[str, list[inline.Module]]]) -> str:
    """The set-up cell: checks PyTorch and installs any missing package the code imports, at the pinned version."""
    pins = {dist: pin for dist, pin in pinned(sections).items() if dist != "torch"}
    return f'''# Set-up: install what is missing (never PyTorch, whose build depends on the machine's GPU).
import importlib.util
import subprocess
import sys

assert sys.version_info >= (3, 11), "this code needs Python 3.11 or newer"
if importlib.util.find_spec("torch") is None:
    raise SystemExit("PyTorch {torch_range()} is needed: install the build for this machine (pytorch.org)")
NEEDED = {pins!r}  # import name -> pinned distribution
missing = [pin for name, pin in NEEDED.items() if importlib.util.find_spec(name) is None]
if missing:
    subprocess.check_call([sys.executable, "-m", "pip", "install", *missing])
import torch  # noqa: E402

print(f"Python {{sys.version.split()[0]}}, PyTorch {{torch.__version__}} (supported: {torch_range()})")'''


# Imported by a dependency rather than by name: torch.utils.tensorboard needs the tensorboard package.
INDIRECT = {"tensorboard": "tensorboard"}


def pinned(sections: list[tuple[str, list[inline.Module]]]) -> dict[str, str]:
    """{import name: 'dist==version'} for every third-party package the notebook's code imports (installed
    versions, i.e. the versions this run used)."""
    names = set(INDIRECT).union(*(m.external for _, modules in sections for m in modules))
    names -= set(sys.stdlib_module_names)
    dists = metadata.packages_distributions()
    out = {}
    for name in sorted(names):
        dist = (dists.get(name) or [INDIRECT.get(name, name)])[0]
        try:
            out[name] = f"{dist}=={metadata.version(dist)}"
        except metadata.PackageNotFoundError:
            out[name] = dist
    return out


def torch_range() -> str:
    """The PyTorch versions the code supports, e.g. '>=2.4' (hardware.TORCH_SUPPORTED; pyproject says the same)."""
    from mnistlab.hardware import TORCH_SUPPORTED

    return TORCH_SUPPORTED
