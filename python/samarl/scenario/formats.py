"""The one reader and writer of TOML, YAML and JSON tables in samarl, and the shipped presets.

- :func:`read_mapping` reads the top-level table of any ``.toml`` / ``.yaml`` / ``.yml`` / ``.json``
  file (scenario files, experiment files with ``[scenario]`` and ``[train]`` tables), and
  :func:`parse_mapping` parses such a file's text;
- :func:`scenario_table` is the scenario a parsed file holds, as a table of fields, and
  :func:`preset_table` that of a shipped preset (:func:`preset_names`);
- :func:`toml_dumps` writes a scenario's flat table as TOML.

This module knows tables, not scenarios: :mod:`samarl.scenario.config` turns a table into a
:class:`~samarl.scenario.ScenarioConfig` (``ScenarioConfig.from_dict``, ``ScenarioConfig.preset``)
and :mod:`samarl.scenario.files` reads and writes scenario files, both on top of it.

Named presets ship as files in ``samarl/scenario/presets/``: ``small`` (16 agents, for tests),
``default`` (1,000 agents, the demo), ``large`` (100,000 agents, benchmarks) and ``measured`` (the
``default`` population driven by the example measured profiles of ``measured_example.csv``).

TOML is read with ``tomllib`` (Python >= 3.11) or its backport ``tomli`` (a dependency on 3.10);
YAML needs PyYAML (the ``yaml`` extra).
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from samarl._userfiles import read_user_file, show_line
from samarl.errors import ConfigError

__all__ = [
    "MAX_CONFIG_BYTES",
    "SUFFIXES",
    "parse_mapping",
    "preset_names",
    "preset_table",
    "read_mapping",
    "scenario_table",
    "toml_dumps",
]

#: File suffixes :func:`read_mapping` understands.
SUFFIXES = (".toml", ".yaml", ".yml", ".json")


def preset_names() -> list[str]:
    """Names of the scenarios shipped in ``samarl/scenario/presets/`` (``small``, ``default``, ...)."""
    folder = resources.files("samarl.scenario") / "presets"
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def preset_table(name: str) -> dict[str, Any]:
    """The fields of the preset ``name`` (:func:`preset_names`), as :func:`scenario_table` reads
    them (a ConfigError for an unknown name)."""
    names = preset_names()
    if not isinstance(name, str) or name not in names:
        raise ConfigError(f"preset: unknown preset {name!r}; choose from {names}")
    resource = resources.files("samarl.scenario") / "presets" / f"{name}.toml"
    path = Path(str(resource))
    return scenario_table(parse_mapping(resource.read_text(encoding="utf-8"), ".toml", path), path)


def scenario_table(data: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """The scenario fields of a file's parsed table ``data``: its ``[scenario]`` table when it has
    one, with a relative ``profile_csv`` resolved against the folder of the file ``path``."""
    if "scenario" in data and isinstance(data["scenario"], Mapping):
        data = data["scenario"]
    if isinstance(data.get("profile_csv"), str):
        csv_path = Path(data["profile_csv"]).expanduser()
        if not csv_path.is_absolute():
            data = {**data, "profile_csv": os.fspath(path.parent / csv_path)}
    return dict(data)


def read_mapping(path: str | os.PathLike[str], *, what: str = "config") -> dict[str, Any]:
    """The top-level table of a TOML / YAML / JSON file.

    ``what`` names the argument in errors. Raises :class:`ConfigError` for a missing, binary,
    too large (over :data:`MAX_CONFIG_BYTES`) or malformed file, an unknown suffix, or a file whose
    top level is not a table, and :class:`FileError` for a file that is there but cannot be read
    (permissions, I/O). See :func:`parse_mapping` for what each format may hold.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise ConfigError(f"{what}: expected a file path, got {path!r}")
    path = Path(path)
    raw = read_user_file(path, what=what, limit=MAX_CONFIG_BYTES, error=ConfigError)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise ConfigError(
            f"{what}: {os.fspath(path)!r} is not a UTF-8 text file (line {line})"
        ) from None
    return parse_mapping(text, path.suffix.lower(), path, what=what)


def parse_mapping(text: str, suffix: str, path: Path, *, what: str = "scenario") -> dict[str, Any]:
    """Parses ``text`` as the file type of ``suffix``; see :func:`read_mapping`.

    A leading byte-order mark is skipped. Errors are one line naming the line of the file (and
    for TOML the key). YAML is read safely and more strictly than PyYAML's ``safe_load``: no
    aliases (``*name``, which can expand a small file beyond any memory), no repeated keys, keys
    that are strings (as in TOML and JSON), and numbers as YAML 1.2 writes them (``010`` is ten, ``1:30`` and ``0x1F`` are strings, ``1e3``
    is a float); JSON objects may not repeat a key either.
    """
    text = text.removeprefix("\ufeff")
    data: Any
    try:
        if suffix == ".toml":
            toml = _toml_module(what)
            try:
                data = toml.loads(text)
            except toml.TOMLDecodeError as e:
                raise ConfigError(
                    f"{what}: cannot parse {path}: {_toml_problem(e, text)}"
                ) from None
        elif suffix in (".yaml", ".yml"):
            data = _yaml_load(text, path, what)
        elif suffix == ".json":
            data = json.loads(text, object_pairs_hook=_json_object)
        else:
            raise ConfigError(
                f"{what}: unknown file type {suffix!r} of {path.name} (use .toml, .yaml or .json)"
            )
    except ConfigError:
        raise
    except Exception as e:  # each parser has its own error class; all mean "malformed file"
        raise ConfigError(f"{what}: cannot parse {path}: {_one_line(str(e))}") from None
    if not isinstance(data, Mapping):
        raise ConfigError(f"{what}: {path} must hold a table of fields, got {type(data).__name__}")
    return dict(data)


#: Largest scenario or experiment file read: a table of settings (measured profiles belong in a
#: ``profile_csv``).
MAX_CONFIG_BYTES = 16 * 2**20

_TOML_AT = re.compile(r"\s*\(at line (\d+), column (\d+)\)")


def _toml_problem(error: Exception, text: str) -> str:
    """A TOML parse error as ``line L: ...`` quoting the line, and naming a key that holds a
    character a bare key cannot (``tomllib`` says only "Expected '='")."""
    message = str(error)
    if message.endswith(" (at end of document)"):
        return f"at the end of the file: {message.removesuffix(' (at end of document)')}"
    at = _TOML_AT.search(message)
    if at is None:
        return _one_line(message)
    lineno, column = int(at[1]), int(at[2])
    reason = message[: at.start()]
    lines = text.split("\n")
    line = lines[lineno - 1] if lineno <= len(lines) else ""
    head = line.split("=", 1)[0] if "=" in line else line
    key = head.strip().strip("[]").strip()
    bad = next((c for c in key if not (c.isascii() and (c.isalnum() or c in "_-. "))), None)
    if bad is not None and not key.startswith(("'", '"')) and not bad.isascii():
        return (
            f"line {lineno}: the key {key!r} holds {bad!r}, which a bare TOML key cannot (only "
            "A-Z a-z 0-9 _ -): spell it in ASCII, or quote it"
        )
    return f"line {lineno}, column {column}: {reason}: {show_line(line)}"


def _one_line(message: str) -> str:
    return " ".join(message.split())


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object that names each key once (``json`` keeps the last of repeated ones)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the key {key!r} appears twice in one object")
        out[key] = value
    return out


def _yaml_load(text: str, path: Path, what: str) -> Any:
    """``text`` parsed with :func:`_yaml_loader`; a YAML error as ``line L, column C: ...``."""
    try:
        import yaml
    except ModuleNotFoundError:
        raise ConfigError(
            f"{what}: reading {path.name} needs PyYAML (pip install 'samarl[yaml]'); "
            "or write the file as TOML"
        ) from None
    try:
        return yaml.load(text, Loader=_yaml_loader())  # a SafeLoader subclass: safe
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = "; ".join(p for p in (e.context, e.problem) if p)
        raise ConfigError(f"{what}: cannot parse {path}: {where}{_one_line(problem)}") from None


@functools.cache
def _yaml_loader() -> Any:
    """A PyYAML ``SafeLoader`` that refuses aliases, repeated keys and keys that are not strings,
    and reads numbers as YAML 1.2 does (see :func:`parse_mapping`)."""
    import yaml

    int_tag, float_tag = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"

    class Loader(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    "aliases (*name) are not read: write the value out in full",
                    self.peek_event().start_mark,
                )
            return super().compose_node(parent, index)

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=deep)
                if not isinstance(key, str):  # as in TOML and JSON, where keys are names
                    raise yaml.constructor.ConstructorError(
                        None, None, f"the key {key!r} is not a string", key_node.start_mark
                    )
                repeated = key in seen
                seen.add(key)
                if repeated:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"the key {key!r} appears twice", key_node.start_mark
                    )
            return super().construct_mapping(node, deep=deep)

    # YAML 1.1 (PyYAML's) reads 010 as 8, 1:30 as 90 and 1_000 as 1000, but not 1e3 as a float.
    Loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag not in (int_tag, float_tag)]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    Loader.add_implicit_resolver(int_tag, re.compile(r"^[-+]?[0-9]+$"), list("-+0123456789"))
    Loader.add_implicit_resolver(
        float_tag,
        re.compile(
            r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
            r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
        ),
        list("-+0123456789."),
    )
    Loader.add_constructor(int_tag, lambda loader, node: int(loader.construct_scalar(node)))
    Loader.add_constructor(float_tag, _yaml_float)
    return Loader


def _yaml_float(loader: Any, node: Any) -> float:
    value = str(loader.construct_scalar(node)).lower()
    if value in (".inf", "+.inf", "-.inf", ".nan"):
        return float(value.replace(".", ""))
    return float(value)


def _toml_module(what: str) -> Any:
    """``tomllib`` (Python >= 3.11) or its backport ``tomli``."""
    for name in ("tomllib", "tomli"):
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError:
            continue
    raise ConfigError(f"{what}: reading TOML on Python 3.10 needs tomli (pip install tomli)")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # finite (validated): repr round-trips exactly and is valid TOML
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def toml_dumps(data: Mapping[str, Any]) -> str:
    """TOML for the flat tables :meth:`ScenarioConfig.to_dict` produces (inline sub-tables)."""
    lines = ["# samarl scenario (written by samarl.scenario.dump_scenario)"]
    lines += [f"{key} = {_toml_value(value)}" for key, value in data.items()]
    return "\n".join(lines) + "\n"
