"""Scenario files: a :class:`ScenarioConfig` from a preset name or a file, and back to a file.

- :func:`load_scenario` turns a preset name or a file into a :class:`ScenarioConfig`, and
  :func:`resolve_scenario` accepts a ready config as well (every command and API that takes "a
  scenario" goes through it);
- :func:`dump_scenario` writes one back (TOML or JSON) next to every run's results.

The files themselves (TOML, YAML, JSON; the shipped presets, :func:`preset_names`) are read and
written by :mod:`samarl.scenario.formats`, which this module builds on.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from samarl.errors import ConfigError
from samarl.scenario.config import ScenarioConfig
from samarl.scenario.formats import (
    parse_mapping,
    preset_names,
    read_mapping,
    scenario_table,
    toml_dumps,
)

__all__ = [
    "dump_scenario",
    "load_preset",
    "load_scenario",
    "parse_mapping",
    "preset_names",
    "read_mapping",
    "resolve_scenario",
]


def load_preset(name: str, /, **overrides: Any) -> ScenarioConfig:
    """The preset ``name`` (:func:`preset_names`), with optional field overrides."""
    return ScenarioConfig.preset(name, **overrides)


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
    scenario = ScenarioConfig.from_dict(scenario_table(read_mapping(path, what="scenario"), path))
    return scenario.replace(**overrides) if overrides else scenario


def resolve_scenario(
    source: ScenarioConfig | str | os.PathLike[str], /, **overrides: Any
) -> ScenarioConfig:
    """``source`` itself when it is a :class:`ScenarioConfig`, else :func:`load_scenario` of it;
    ``overrides`` (e.g. ``num_agents``) replace fields."""
    if isinstance(source, ScenarioConfig):
        return source.replace(**overrides) if overrides else source
    return load_scenario(source, **overrides)


def dump_scenario(scenario: ScenarioConfig, path: str | os.PathLike[str]) -> Path:
    """Writes ``scenario`` as TOML (``.toml``) or JSON (``.json``); returns the path.

    Loading the file back with :func:`load_scenario`, from any working folder, gives an equal
    scenario: a ``profile_csv`` in the file's folder (or below) is written relative to it, so the
    two can move together, any other one absolute.
    """
    if not isinstance(scenario, ScenarioConfig):
        raise ConfigError(f"scenario: expected a ScenarioConfig, got {type(scenario).__name__}")
    if not isinstance(path, (str, os.PathLike)):
        raise ConfigError(f"path: expected a file path, got {path!r}")
    path = Path(path)
    data = scenario.to_dict()
    if scenario.profile_csv is not None:
        data["profile_csv"] = _path_from(Path(scenario.profile_csv), path.parent)
    if path.suffix.lower() == ".toml":
        text = toml_dumps(data)
    elif path.suffix.lower() == ".json":
        text = json.dumps(data, indent=2) + "\n"
    else:
        raise ConfigError(f"scenario: cannot write {path.suffix!r} files (use .toml or .json)")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _path_from(target: Path, folder: Path) -> str:
    """``target`` as a scenario file in ``folder`` names it: relative (with ``/``) when it lies in
    ``folder`` or below, else absolute."""
    target, folder = Path(os.path.abspath(target)), Path(os.path.abspath(folder))
    try:
        return target.relative_to(folder).as_posix()
    except ValueError:
        return os.fspath(target)
