"""The package's layout rules, read from the source: the NumPy/SciPy reference
(:mod:`samarl.reference`, the tests' oracle) is imported by tests and benchmarks only, never by
production code. Every module of ``python/samarl`` outside ``reference/`` and ``benchmarks/`` is
parsed and every import in it is checked, those inside functions included."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "python" / "samarl"
#: Folders of the package that may import the reference: the reference itself and the kernel
#: benchmarks (which time the engine against it).
EXEMPT = ("reference", "benchmarks")
REFERENCE = "samarl.reference"

#: Known offenders, to be emptied: (module, reference module it imports). partitions.py mixes
#: halo rows with SciPy and steps scattered agent ids with the NumPy env; the engine now has both
#: (samarl.comms.halo, samarl.envs.Dynamics(agent_ids=...)), and partitions.py is being rewritten
#: into the one execution loop. Remove each entry when its import goes; the last test fails on
#: entries that no longer occur, so this list can only shrink.
ALLOWED = {
    ("samarl/distributed/partitions.py", "samarl.reference.consensus"),
    ("samarl/distributed/partitions.py", "samarl.reference.env"),
    ("samarl/distributed/partitions.py", "samarl.reference.rng"),
}

_MODULE_PATH = re.compile(r"samarl\.reference(\.\w+)*")


def module_name(path: Path) -> str:
    """``samarl.x.y`` of a file below :data:`PACKAGE` (``__init__.py`` is its package)."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    """Whether ``name`` is a module or package of samarl's source."""
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imported_modules(source: str, module: str, *, is_package: bool = False) -> set[str]:
    """Every module the source of ``module`` imports, wherever the import sits: ``import a.b``,
    ``from a import b`` (``a.b`` when that is a module, else ``a``), relative imports resolved, and ``importlib.import_module`` / ``__import__`` calls or dotted strings naming a
    module of the reference (lazy-import tables)."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:  # `from a import b`: module a.b if there is one, else a
                full = f"{base}.{alias.name}"
                found.add(full if is_module(full) else base)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if _MODULE_PATH.fullmatch(node.value):
                found.add(node.value)
    return found


def reference_imports(path: Path) -> set[str]:
    """The modules of :mod:`samarl.reference` that the file at ``path`` imports."""
    modules = imported_modules(
        path.read_text(encoding="utf-8"), module_name(path), is_package=path.name == "__init__.py"
    )
    return {m for m in modules if m == REFERENCE or m.startswith(REFERENCE + ".")}


def production_modules() -> list[Path]:
    files = sorted(PACKAGE.rglob("*.py"))
    return [p for p in files if p.relative_to(PACKAGE).parts[0] not in EXEMPT]


def offenders() -> set[tuple[str, str]]:
    found = set()
    for path in production_modules():
        for module in reference_imports(path):
            found.add((path.relative_to(PACKAGE.parent).as_posix(), module))
    return found


def test_the_walk_sees_the_whole_package() -> None:
    modules = {p.relative_to(PACKAGE).as_posix() for p in production_modules()}
    assert {"training/trainer.py", "rng.py", "distributed/partitions.py"} <= modules
    assert not any(m.startswith(EXEMPT) for m in modules)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import samarl.reference.rng", {"samarl.reference.rng"}),
        ("import samarl.reference as ref", {"samarl.reference"}),
        ("from samarl.reference.env import DemandResponseRef", {"samarl.reference.env"}),
        ("from samarl import reference", {"samarl.reference"}),
        ("def f():\n    from samarl.reference import rng\n", {"samarl.reference.rng"}),
        ("class C:\n    def m(self):\n        import samarl.reference.graph\n", None),
        ("from ..reference import consensus", {"samarl.reference.consensus"}),
        ("from ..reference.rng import bits", {"samarl.reference.rng"}),
        ("importlib.import_module('samarl.reference.rng')", {"samarl.reference.rng"}),
        ("_LAZY = {'x': 'samarl.reference.env'}", {"samarl.reference.env"}),
        ('"""See :mod:`samarl.reference.rng`."""', set()),
        ("from samarl.rng import normal_f64\nimport samarl.referenced", set()),
    ],
)
def test_every_form_of_import_is_seen(source: str, expected: set[str] | None) -> None:
    """The walker on snippets of a module ``samarl.training.x``."""
    modules = imported_modules(source, "samarl.training.x")
    got = {m for m in modules if m == REFERENCE or m.startswith(REFERENCE + ".")}
    assert got == (expected if expected is not None else {"samarl.reference.graph"})


def test_production_code_does_not_import_the_reference() -> None:
    unexpected = sorted(offenders() - ALLOWED)
    assert not unexpected, (
        "production modules import the NumPy reference (tests' oracle only; use the engine: "
        "samarl.rng, samarl.comms, samarl.envs): "
        + ", ".join(f"{path} imports {module}" for path, module in unexpected)
    )


def test_the_allow_list_names_only_imports_that_remain() -> None:
    stale = sorted(ALLOWED - offenders())
    assert not stale, f"remove from ALLOWED (the import is gone): {stale}"
