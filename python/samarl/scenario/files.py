"""Scenario files: the one reader and writer of TOML, YAML and JSON in samarl, and the presets.

- :func:`read_mapping` reads the top-level table of any ``.toml`` / ``.yaml`` / ``.yml`` / ``.json``
  file (scenario files, experiment files with ``[scenario]`` and ``[train]`` tables);
- :func:`load_scenario` turns a preset name or a file into a :class:`ScenarioConfig`, and
  :func:`resolve_scenario` accepts a ready config as well (every command and API that takes "a
  scenario" goes through it);
- :func:`dump_scenario` writes one back (TOML or JSON) next to every run's results.

Named presets ship as files in ``samarl/scenario/presets/`` (:func:`preset_names`): ``small`` (16
agents, for tests), ``default`` (1,000 agents, the demo), ``large`` (100,000 agents, benchmarks) and
``measured`` (the ``default`` population driven by the example measured profiles of
``measured_example.csv``).

TOML is read with ``tomllib`` (Python >= 3.11) or its backport ``tomli`` (a dependency on 3.10);
YAML needs PyYAML (the ``yaml`` extra).
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from samarl.errors import ConfigError, FileError
from samarl.scenario.config import ScenarioConfig

__all__ = [
    "dump_scenario",
    "load_preset",
    "load_scenario",
    "parse_mapping",
    "preset_names",
    "read_mapping",
    "resolve_scenario",
]

#: File suffixes :func:`read_mapping` understands.
SUFFIXES = (".toml", ".yaml", ".yml", ".json")


def preset_names() -> list[str]:
    """Names of the scenarios shipped in ``samarl/scenario/presets/`` (``small``, ``default``, ...)."""
    folder = resources.files("samarl.scenario") / "presets"
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_preset(name: str, /, **overrides: Any) -> ScenarioConfig:
    """The preset ``name`` (:func:`preset_names`), with optional field overrides."""
    names = preset_names()
    if not isinstance(name, str) or name not in names:
        raise ConfigError(f"preset: unknown preset {name!r}; choose from {names}")
    resource = resources.files("samarl.scenario") / "presets" / f"{name}.toml"
    path = Path(str(resource))
    scenario = _scenario_from(
        parse_mapping(resource.read_text(encoding="utf-8"), ".toml", path), path
    )
    return scenario.replace(**overrides) if overrides else scenario


def load_scenario(source: str | os.PathLike[str], /, **overrides: Any) -> ScenarioConfig:
    """A scenario from a preset name or a ``.toml`` / ``.yaml`` / ``.yml`` / ``.json`` file.

    The file holds the fields of :class:`ScenarioConfig` at top level (or under a ``[scenario]``
    table, so a scenario can live in a larger experiment file). ``overrides`` replace fields.

    Raises
    ------
    ConfigError
        For an unknown preset, an unreadable or malformed file, or an invalid field.
    """
    if isinstance(source, str) and source in preset_names():
        return load_preset(source, **overrides)
    if not isinstance(source, (str, os.PathLike)):
        raise ConfigError(
            f"scenario: expected a ScenarioConfig, a preset name or a file path, got {source!r}"
        )
    path = Path(source)
    if not path.is_file():
        raise ConfigError(
            f"scenario: {os.fspath(source)!r} is neither a preset ({preset_names()}) nor a file"
        )
    scenario = _scenario_from(read_mapping(path, what="scenario"), path)
    return scenario.replace(**overrides) if overrides else scenario


def resolve_scenario(
    source: ScenarioConfig | str | os.PathLike[str], /, **overrides: Any
) -> ScenarioConfig:
    """``source`` itself when it is a :class:`ScenarioConfig`, else :func:`load_scenario` of it;
    ``overrides`` (e.g. ``num_agents``) replace fields."""
    if isinstance(source, ScenarioConfig):
        return source.replace(**overrides) if overrides else source
    return load_scenario(source, **overrides)


def read_mapping(path: str | os.PathLike[str], *, what: str = "config") -> dict[str, Any]:
    """The top-level table of a TOML / YAML / JSON file.

    ``what`` names the argument in errors. Raises :class:`ConfigError` for a missing, binary or
    malformed file, an unknown suffix, or a file whose top level is not a table, and
    :class:`FileError` for a file that is there but cannot be read (permissions, I/O).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise ConfigError(f"{what}: expected a file path, got {path!r}")
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{what}: {os.fspath(path)!r} is not a text file") from None
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, ValueError) as e:
        # a wrong argument (ValueError: a path with a NUL byte)
        reason = getattr(e, "strerror", None) or str(e)
        raise ConfigError(f"{what}: cannot read {os.fspath(path)!r}: {reason}") from None
    except OSError as e:  # the file is there but the disk or its permissions fail: a failure
        raise FileError(f"{what}: cannot read {os.fspath(path)!r}: {e.strerror or e}") from None
    data = parse_mapping(text, path.suffix.lower(), path, what=what)
    return data


def parse_mapping(text: str, suffix: str, path: Path, *, what: str = "scenario") -> dict[str, Any]:
    """Parses ``text`` as the file type of ``suffix``; see :func:`read_mapping`."""
    data: Any
    try:
        if suffix == ".toml":
            data = _toml_module(what).loads(text)
        elif suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ModuleNotFoundError:
                raise ConfigError(
                    f"{what}: reading {path.name} needs PyYAML (pip install 'samarl[yaml]'); "
                    "or write the file as TOML"
                ) from None
            data = yaml.safe_load(text)
        elif suffix == ".json":
            data = json.loads(text)
        else:
            raise ConfigError(
                f"{what}: unknown file type {suffix!r} of {path.name} (use .toml, .yaml or .json)"
            )
    except ConfigError:
        raise
    except Exception as e:  # each parser has its own error class; all mean "malformed file"
        raise ConfigError(f"{what}: cannot parse {path}: {e}") from None
    if not isinstance(data, Mapping):
        raise ConfigError(f"{what}: {path} must hold a table of fields, got {type(data).__name__}")
    return dict(data)


def _scenario_from(data: Mapping[str, Any], path: Path) -> ScenarioConfig:
    """The scenario of a parsed file: its ``[scenario]`` table when it has one, with a relative
    ``profile_csv`` resolved against the file's folder."""
    if "scenario" in data and isinstance(data["scenario"], Mapping):
        data = data["scenario"]
    if isinstance(data.get("profile_csv"), str):
        csv_path = Path(data["profile_csv"]).expanduser()
        if not csv_path.is_absolute():
            data = {**data, "profile_csv": os.fspath(path.parent / csv_path)}
    return ScenarioConfig.from_dict(data)


def dump_scenario(scenario: ScenarioConfig, path: str | os.PathLike[str]) -> Path:
    """Writes ``scenario`` as TOML (``.toml``) or JSON (``.json``); returns the path.

    Loading the file back with :func:`load_scenario` gives an equal scenario.
    """
    if not isinstance(scenario, ScenarioConfig):
        raise ConfigError(f"scenario: expected a ScenarioConfig, got {type(scenario).__name__}")
    if not isinstance(path, (str, os.PathLike)):
        raise ConfigError(f"path: expected a file path, got {path!r}")
    path = Path(path)
    data = scenario.to_dict()
    if path.suffix.lower() == ".toml":
        text = _toml_dumps(data)
    elif path.suffix.lower() == ".json":
        text = json.dumps(data, indent=2) + "\n"
    else:
        raise ConfigError(f"scenario: cannot write {path.suffix!r} files (use .toml or .json)")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


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


def _toml_dumps(data: Mapping[str, Any]) -> str:
    """TOML for the flat tables :meth:`ScenarioConfig.to_dict` produces (inline sub-tables)."""
    lines = ["# samarl scenario (written by samarl.scenario.dump_scenario)"]
    lines += [f"{key} = {_toml_value(value)}" for key, value in data.items()]
    return "\n".join(lines) + "\n"
