"""The package's import graph has no cycle, lazy imports included.

Every module of ``python/samarl`` is parsed (not imported), and every ``import`` statement at any
depth (module level, inside functions, under ``if TYPE_CHECKING:``) becomes an edge to the module
it names: ``import a.b`` and ``from a.b import c`` to ``a.b``, or to ``a.b.c`` when ``c`` is a module;
relative imports are resolved against the importing module's package. A package's ``__init__``
importing its own children is an edge like any other; a module's implicit import of the packages
above it (Python runs ``a/__init__.py`` before ``a/b.py``) is not one, but naming one of them
(``from a import x`` in ``a/b.py``) is. Imports by computed name
(``importlib.import_module(f"samarl.cli.{name}")``) are not seen.

A cycle is a design fault even when Python tolerates it (a lazy import, a name looked up late): the
modules in it cannot be read, tested or changed one at a time.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

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


def import_names(name: str, path: Path) -> Iterator[tuple[str, str | None]]:
    """Every import of the module ``name`` (at ``path``): ``(module, attribute)``, absolute, with
    ``attribute`` the name taken ``from`` it (``None`` for ``import module``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                yield source, alias.name


def imported(name: str, path: Path, known: set[str]) -> Iterator[str]:
    """The package's modules that ``name`` (the module at ``path``) imports explicitly."""
    for source, attribute in import_names(name, path):
        child = f"{source}.{attribute}"
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
    # Extension modules (``_core``) have a stub, no source: nodes without edges.
    stubs = {module_name(p) for p in PACKAGE.rglob("*.pyi")} - set(mods)
    known = set(mods) | stubs
    graph: dict[str, set[str]] = {name: set() for name in stubs}
    for name, path in mods.items():
        # Only explicit imports: Python runs a module's packages before it, but that implicit
        # import is no edge (a package importing its own children is no cycle).
        graph[name] = set(imported(name, path, known)) - {name}
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
    assert "samarl._core" in graph["samarl.errors"]  # the extension: a node with no source
    assert graph["samarl._core"] == set()
    # A module's packages are edges only when it names them.
    assert "samarl.execution" not in graph["samarl.execution.dual"]
    assert "samarl.cli" in graph["samarl.cli.experiment"]  # from samarl.cli import ArgumentParser


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


def test_the_command_line_lives_in_cli() -> None:
    """argparse and :mod:`samarl.cli` are imported by ``samarl.cli`` (and ``python -m samarl``)
    only: the library (experiments included) takes typed settings, never a parsed command line."""
    found = []
    for name, path in modules().items():
        if name == "samarl.__main__" or name == "samarl.cli" or name.startswith("samarl.cli."):
            continue
        for source, attribute in import_names(name, path):
            full = source if attribute is None else f"{source}.{attribute}"
            if source == "argparse" or full == "samarl.cli" or full.startswith("samarl.cli."):
                found.append(f"{name} imports {full}")
    assert not found, "\n".join(found)


def test_the_architecture_doc_names_every_module() -> None:
    """docs/architecture.md's package map links every module (a package's ``__init__`` but the
    top one aside): a new module gets its line there."""
    doc = (PACKAGE.parents[1] / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = []
    for path in sorted([*PACKAGE.rglob("*.py"), *PACKAGE.rglob("*.pyi")]):
        rel = path.relative_to(PACKAGE).as_posix()
        if path.name == "__init__.py" and rel != "__init__.py":
            continue
        if f"python/samarl/{rel})" not in doc:
            missing.append(rel)
    assert not missing, f"docs/architecture.md does not name: {', '.join(missing)}"


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    (component,) = cycles(graph)
    assert component == ["a", "b", "c"]
    assert a_cycle(graph, component) == ["a", "b", "c", "a"]


# ------------------------------------------------------------------ the reference is the tests'

#: The parts of the package that may import the NumPy/SciPy reference (the tests' oracle): the
#: reference itself and the kernel benchmarks, which time the engine against it.
REFERENCE_USERS = ("samarl.reference", "samarl.benchmarks")
_REFERENCE_STRING = re.compile(r"samarl\.reference(\.\w+)*")


def named_in_strings(source: str) -> set[str]:
    """Modules of the reference named by a whole string constant: the lazy-import tables and
    ``importlib.import_module`` calls the import statements do not show."""
    return {
        node.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and _REFERENCE_STRING.fullmatch(node.value)
    }


def reference_imports() -> dict[str, set[str]]:
    """Every module outside :data:`REFERENCE_USERS` that imports the reference, and what."""
    graph, found = import_graph(), {}
    for name, path in modules().items():
        if name.startswith(REFERENCE_USERS):
            continue
        used = {m for m in graph[name] if m.startswith("samarl.reference")}
        used |= named_in_strings(path.read_text(encoding="utf-8"))
        if used:
            found[name] = used
    return found


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("importlib.import_module('samarl.reference.rng')", {"samarl.reference.rng"}),
        ("_LAZY = {'x': 'samarl.reference.env'}", {"samarl.reference.env"}),
        ('"""See :mod:`samarl.reference.rng`."""', set()),
        ("x = 'samarl.referenced'", set()),
    ],
)
def test_strings_that_name_a_reference_module_are_seen(source: str, expected: set[str]) -> None:
    assert named_in_strings(source) == expected


def test_production_code_does_not_import_the_reference() -> None:
    """The engine owns every random stream, mixing round and env step; the reference checks it."""
    offenders = reference_imports()
    assert not offenders, (
        "production modules import the NumPy reference (the tests' oracle; use the engine: "
        "samarl.rng, samarl.comms, samarl.envs): "
        + "; ".join(f"{m} imports {', '.join(sorted(v))}" for m, v in sorted(offenders.items()))
    )


#: Longest module outside the reference (lines): a module that outgrows it holds two jobs.
MAX_MODULE_LINES = 600


def test_no_module_outside_the_reference_is_longer_than_600_lines() -> None:
    long = {
        name: n
        for name, path in modules().items()
        if not name.startswith("samarl.reference")
        and (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"split these by job (lines): {long}"
