"""The package's import graph has no cycle, lazy imports included.

Every module of ``python/samarl`` is parsed (not imported), and every ``import`` statement at any
depth (module level, inside functions, under ``if TYPE_CHECKING:``) becomes an edge to the module
it names: ``import a.b`` and ``from a.b import c`` to ``a.b``, or to ``a.b.c`` when ``c`` is a module;
relative imports are resolved against the importing module's package. A package's ``__init__``
importing its own children is an edge like any other; a module's implicit import of the packages
above it (Python runs ``a/__init__.py`` before ``a/b.py``) is not one. Imports by computed name
(``importlib.import_module(f"samarl.cli.{name}")``) are not seen.

A cycle is a design fault even when Python tolerates it (a lazy import, a name looked up late): the
modules in it cannot be read, tested or changed one at a time.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "python" / "samarl"

#: Cycles (as the set of their modules) that are known and owned by work in progress elsewhere.
#: Each entry names its owner; the lead empties this list. An entry whose cycle is gone fails the
#: test too, so the list only shrinks.
ALLOWED_CYCLES: dict[frozenset[str], str] = {}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported(name: str, path: Path, known: set[str]) -> Iterator[str]:
    """The package's modules that ``name`` (the module at ``path``) imports explicitly."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _known_prefix(alias.name, known)
                if target is not None:
                    yield target
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                child = f"{source}.{alias.name}"
                target = child if child in known else _known_prefix(source, known)
                if target is not None:
                    yield target


def _known_prefix(dotted: str, known: set[str]) -> str | None:
    """The longest prefix of ``dotted`` that is one of the package's modules."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in known:
            return candidate
    return None


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        # A module's own packages are imported implicitly before it runs: no edge to them.
        parents = {name.rsplit(".", k)[0] for k in range(1, name.count(".") + 1)}
        graph[name] = set(imported(name, path, known)) - parents - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            child = next(edges, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def a_cycle(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """One shortest cycle through the component's first module, as a path back to it."""
    start, members = component[0], set(component)
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph[node] & members):
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError(f"no cycle through {start}")  # unreachable for a component


def test_the_walk_sees_every_kind_of_import() -> None:
    graph = import_graph()
    assert len(graph) > 50
    # Module level, relative and attribute forms resolve to the module they name.
    assert "samarl.errors" in graph["samarl._validate"]
    assert "samarl.scenario.config" in graph["samarl.scenario"]
    assert "samarl._core" not in graph  # the extension has no source to read
    # The parents of a module are not edges of it.
    assert "samarl.execution" not in graph["samarl.execution.dual"]


def test_no_import_cycle_in_the_package() -> None:
    graph = import_graph()
    problems = []
    found = {frozenset(c): c for c in cycles(graph)}
    for members, component in found.items():
        if members in ALLOWED_CYCLES:
            continue
        problems.append(
            f"import cycle: {' -> '.join(a_cycle(graph, component))} "
            f"(modules in it: {', '.join(component)})"
        )
    for members, owner in ALLOWED_CYCLES.items():
        if members not in found:
            problems.append(
                f"allowed cycle {sorted(members)} ({owner}) is gone: remove it from the list"
            )
    assert not problems, "\n".join(problems)


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    (component,) = cycles(graph)
    assert component == ["a", "b", "c"]
    assert a_cycle(graph, component) == ["a", "b", "c", "a"]
