"""The modules of ``liteflow.core`` import one another without a cycle.

The graph has an edge for every import a module executes: at module level (in ``if``/``try`` blocks and
class bodies too) and inside functions, so that a cycle cannot be hidden by importing lazily. Imports
under ``if TYPE_CHECKING:`` are annotations only and never run: they are left out of the cycle check,
but none of the engine's modules may name the host there either (see ``test_only_assembly_imports_the_host``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import liteflow.core

CORE = Path(liteflow.core.__file__).parent
PACKAGE = "liteflow.core"


def _module_name(path: Path) -> str:
    parts = [PACKAGE, *path.relative_to(CORE).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(path): path for path in sorted(CORE.rglob("*.py"))}


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(body: list[ast.stmt], checking: bool, out: list[tuple[ast.Import | ast.ImportFrom, bool]]) -> None:
    """Every import statement in ``body``, with whether it sits under ``if TYPE_CHECKING:``."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            out.append((node, checking))
        elif isinstance(node, ast.If):
            _imports(node.body, checking or _type_checking(node.test), out)
            _imports(node.orelse, checking, out)
        else:
            for field in ("body", "orelse", "finalbody", "handlers", "cases"):
                children = getattr(node, field, None)
                if isinstance(children, list):
                    stmts = [c for c in children if isinstance(c, ast.stmt)]
                    for child in children:
                        if isinstance(child, (ast.ExceptHandler, ast.match_case)):
                            stmts.extend(child.body)
                    _imports(stmts, checking, out)


def _owner(name: str) -> str | None:
    """The core module ``name`` is, or the closest package of it that is one."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> set[str]:
    if isinstance(node, ast.Import):
        found = {_owner(alias.name) for alias in node.names}
    else:
        source = node.module or ""
        if node.level:
            package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
            base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            source = ".".join([*base, *([node.module] if node.module else [])])
        found = {
            f"{source}.{alias.name}" if f"{source}.{alias.name}" in MODULES else _owner(source) for alias in node.names
        }
    return {name for name in found if name is not None and name != module}


def import_graph(with_type_checking: bool) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        found: list[tuple[ast.Import | ast.ImportFrom, bool]] = []
        _imports(ast.parse(path.read_text(encoding="utf-8")).body, False, found)
        graph[module] = set()
        for node, checking in found:
            if with_type_checking or not checking:
                graph[module] |= _targets(module, node)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each as one cycle through it."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph[node]):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                components.append(_a_cycle(graph, set(component)))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def _a_cycle(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """One path from the component's first module back to itself (breadth first: a shortest one)."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for node in frontier:
            for succ in sorted(graph[node] & component):
                if succ == start:
                    return [*paths[node], start]
                if succ not in paths:
                    paths[succ] = [*paths[node], succ]
                    nxt.append(succ)
        frontier = nxt
    raise AssertionError(f"no cycle through {start}")  # a component always has one


def test_the_walk_sees_the_imports_it_should() -> None:
    graph = import_graph(with_type_checking=True)
    assert len(MODULES) > 50
    assert "liteflow.core.models" in graph["liteflow.core.engine.executor"]  # module level
    assert "liteflow.core.templates.trigger" in graph["liteflow.core.services.host"]  # inside a method
    assert "liteflow.core.definition" in graph["liteflow.core.step"]  # under TYPE_CHECKING
    assert "liteflow.core.definition" not in import_graph(with_type_checking=False)["liteflow.core.step"]


def test_the_cycle_finder_finds_and_lists_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}}
    assert cycles(graph) == [["a", "b", "c", "a"]]


def test_no_import_cycle_in_core() -> None:
    found = cycles(import_graph(with_type_checking=False))
    assert not found, "import cycles in liteflow.core:\n" + "\n".join(" -> ".join(cycle) for cycle in found)


def test_only_assembly_imports_the_host() -> None:
    """The engine (services, consumers, poller, executor, primitives) never names ``WorkflowHost``, even
    for annotations: it depends on what it needs (``services.runtime.Runtime``). Only the public package
    and ``configure_workflow_host`` import the host."""
    graph = import_graph(with_type_checking=True)
    importers = sorted(module for module, targets in graph.items() if "liteflow.core.services.host" in targets)
    assert importers == ["liteflow.core", "liteflow.core.services.configure"]
