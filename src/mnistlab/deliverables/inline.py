"""Which package modules the notebook holds, and in what order: the import closure of the six studies (and of
`mnistlab.show`, which runs and shows them), read from the source with `ast`, never by importing it.

The closure follows every `import` of a `mnistlab` module, including imports inside functions, so a module the
studies only call lazily is still in the notebook. The order follows the imports that run when a module's cell runs
(module level, outside `if TYPE_CHECKING:`): every module comes after the ones it imports. Modules are grouped into
the notebook's sections by name (`section_of`); a module that would have to come before a module of a later section
is an error, so the sections never lie about what depends on what."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import mnistlab

PACKAGE = Path(mnistlab.__file__).resolve().parent
ROOTS = (*(f"mnistlab.studies.{s}" for s in ("pca", "perceptron", "mlp", "cnn", "viz", "mtl")), "mnistlab.show")
# Notebook sections in order: key, heading. A module belongs to the first task whose words its name contains.
SECTIONS = (("shared", "Shared code"), ("pca", "Task 1: PCA"), ("perceptron", "Task 2: the perceptron"),
            ("mlp", "Task 3: multi-layer perceptrons"), ("cnn", "Task 4: convolutional networks"),
            ("viz", "Task 5: visualising the CNN"), ("mtl", "Task 6: multi-task learning"))
WORDS = {"pca": ("pca",), "perceptron": ("perceptron",), "mlp": ("mlp",), "cnn": ("cnn",), "viz": ("viz",),
         "mtl": ("mtl", "multitask", "tune")}
# Reading order inside a section where the imports leave a choice: foundations first.
PREFERRED = ("mnistlab", "mnistlab.errors", "mnistlab.log", "mnistlab.settings", "mnistlab.config", "mnistlab.runs",
             "mnistlab.data", "mnistlab.hardware", "mnistlab.train", "mnistlab.models", "mnistlab.plots",
             "mnistlab.studies", "mnistlab.studies.nets", "mnistlab.show")
KINDS = ("models", "viz", "plots", "studies")  # then, inside a task: its networks, its algorithms, plots, study


@dataclass(frozen=True)
class Module:
    name: str  # dotted, e.g. 'mnistlab.studies.pca'
    path: Path
    is_package: bool  # an __init__.py
    imports: frozenset[str]  # every mnistlab module it imports, anywhere in the file
    eager: frozenset[str]  # those imported when the module itself runs
    external: frozenset[str]  # top-level names of the other packages it imports (stdlib included), e.g. 'torch'

    def source(self) -> str:
        return self.path.read_text(encoding="utf-8")


def all_modules() -> dict[str, Module]:
    """Every module of the package, parsed."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        parts = ["mnistlab", *path.relative_to(PACKAGE).with_suffix("").parts]
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts)
        found[name] = path, is_package
    names = set(found)
    return {n: _parse(n, p, pkg, names) for n, (p, pkg) in found.items()}


def _parse(name: str, path: Path, is_package: bool, names: set[str]) -> Module:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = name if is_package else name.rpartition(".")[0]
    every: set[str] = set()
    eager: set[str] = set()
    external: set[str] = set()
    for node, top in _imports(tree.body, top=True):
        if isinstance(node, ast.Import):
            external |= {a.name.split(".")[0] for a in node.names}
        elif not node.level and node.module:
            external.add(node.module.split(".")[0])
        targets = _targets(node, here, names)
        every |= targets
        if top:
            eager |= targets
    every.discard(name)
    eager.discard(name)
    external.discard("mnistlab")
    return Module(name, path, is_package, frozenset(every), frozenset(eager), frozenset(external))


def _imports(body: list[ast.stmt], top: bool) -> list[tuple[ast.Import | ast.ImportFrom, bool]]:
    """(import statement, runs at import time) for every import in `body`, nested ones included."""
    out: list[tuple[ast.Import | ast.ImportFrom, bool]] = []
    for stmt in body:
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            out.append((stmt, top))
            continue
        lazy = isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        lazy |= isinstance(stmt, ast.If) and "TYPE_CHECKING" in ast.unparse(stmt.test)
        for field in ("body", "orelse", "finalbody", "handlers"):
            inner = getattr(stmt, field, None)
            if isinstance(inner, list):
                out += _imports([s for s in inner if isinstance(s, ast.stmt | ast.excepthandler)], top and not lazy)
    return out


def _targets(node: ast.Import | ast.ImportFrom, here: str, names: set[str]) -> set[str]:
    """The package modules an import statement loads: 'from a.b import c' is a.b.c when that is a module."""
    if isinstance(node, ast.Import):
        return {a.name for a in node.names if a.name in names}
    base = node.module or ""
    if node.level:  # relative: climb from this module's package
        up = here.split(".")[: len(here.split(".")) - node.level + 1]
        base = ".".join(up + ([node.module] if node.module else []))
    out = {base} if base in names else set()
    return out | {f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in names}


def closure(modules: dict[str, Module], roots: tuple[str, ...] = ROOTS) -> set[str]:
    """The roots and every package module they import, directly or not, with the packages that hold them."""
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        parent = name.rpartition(".")[0]
        stack += [*modules[name].imports, *([parent] if parent else [])]
    return seen


def section_of(name: str) -> str:
    words = name.split(".")[1:]
    for key, kws in WORDS.items():
        if any(w in kws for w in words):
            return key
    return "shared"


def ordered(modules: dict[str, Module], names: set[str]) -> list[tuple[str, list[Module]]]:
    """[(section key, its modules in notebook order)], every module after those it imports at module level."""
    keys = [k for k, _ in SECTIONS]
    def rank(n: str) -> tuple[int, bool, str]:
        kind = n.split(".")[1] if n.count(".") else ""
        first = PREFERRED.index(n) if n in PREFERRED else len(PREFERRED) + (KINDS.index(kind) if kind in KINDS else 0)
        return first, not modules[n].is_package, n

    placed: list[str] = []
    out = []
    for key in keys:
        todo = {n for n in names if section_of(n) == key}
        seq: list[Module] = []
        while todo:
            ready = sorted((n for n in todo if modules[n].eager & names <= set(placed) | {n}), key=rank)
            if not ready:
                blocked = {n: sorted(modules[n].eager & names - set(placed)) for n in sorted(todo)}
                raise ValueError(f"section {key!r}: these modules import ones that come later: {blocked}")
            placed.append(ready[0])
            seq.append(modules[ready[0]])
            todo.discard(ready[0])
        out.append((key, seq))
    return out


def notebook_modules() -> list[tuple[str, list[Module]]]:
    modules = all_modules()
    return ordered(modules, closure(modules))
