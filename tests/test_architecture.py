"""Dependencies point one way: cli -> pipeline -> studies -> (models, train, viz, plots) -> (data, runs, config).
Read from the source with `ast` (imports inside functions included), so a lazy import cannot hide a cycle."""

from __future__ import annotations

from mnistlab.deliverables import inline

LAYERS = {  # a module may import only modules of a lower layer or its own (packages: any module under them)
    "mnistlab.cli": 6, "mnistlab.pipeline": 5, "mnistlab.bench": 5, "mnistlab.deliverables": 4, "mnistlab.show": 3,
    "mnistlab.studies": 3, "mnistlab.models.registry": 3, "mnistlab.plots": 2, "mnistlab.viz": 2,
    "mnistlab.models": 2, "mnistlab.train": 2, "mnistlab.hardware": 1, "mnistlab.data": 1, "mnistlab.runs": 1,
    "mnistlab.config": 1, "mnistlab.log": 0, "mnistlab.errors": 0, "mnistlab": 0,
}


def layer(name: str) -> int:
    """The layer of the longest LAYERS prefix of `name`."""
    best = max((k for k in LAYERS if name == k or name.startswith(k + ".")), key=len)
    return LAYERS[best]


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_find_cycle_finds_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_inside_the_package() -> None:
    modules = inline.all_modules()
    graph = {n: set(m.imports) - {n} for n, m in modules.items()}
    assert find_cycle(graph) is None


def test_imports_point_down_the_layers() -> None:
    upward = []
    for name, module in inline.all_modules().items():
        for target in module.imports:
            own_package = target.startswith(name + ".") or name.startswith(target + ".")
            if layer(target) > layer(name) and not own_package:
                upward.append(f"{name} -> {target}")
    assert not upward, upward


def test_no_study_reaches_the_orchestrator_the_cli_or_the_deliverables() -> None:
    modules = inline.all_modules()
    for name in inline.closure(modules):
        bad = {t for t in modules[name].imports if t.startswith(("mnistlab.cli", "mnistlab.pipeline",
                                                                  "mnistlab.deliverables", "mnistlab.bench"))}
        assert not bad, (name, bad)
