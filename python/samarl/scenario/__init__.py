"""Scenarios: what defines a demand-response problem, as plain validated data.

- :mod:`~samarl.scenario.config`: :class:`ScenarioConfig` (the fields) and :class:`ScenarioData`
  (the population built from it);
- :mod:`~samarl.scenario.distributions`: per-agent parameter distributions;
- :mod:`~samarl.scenario.profiles`: built-in and measured daily arrival profiles;
- :mod:`~samarl.scenario.files`: scenarios from presets and files, and back to files;
- :mod:`~samarl.scenario.formats`: the one reader and writer of TOML/YAML/JSON tables, and the
  shipped presets.
"""

from __future__ import annotations

from samarl.scenario.config import MAX_SEED, ScenarioConfig, ScenarioData
from samarl.scenario.distributions import Constant, Distribution, LogNormal, Uniform
from samarl.scenario.files import (
    dump_scenario,
    load_preset,
    load_scenario,
    preset_names,
    read_mapping,
    resolve_scenario,
)
from samarl.scenario.profiles import BUILTIN_PROFILES, builtin_profile, read_profile_csv

__all__ = [
    "BUILTIN_PROFILES",
    "MAX_SEED",
    "Constant",
    "Distribution",
    "LogNormal",
    "ScenarioConfig",
    "ScenarioData",
    "Uniform",
    "builtin_profile",
    "dump_scenario",
    "load_preset",
    "load_scenario",
    "preset_names",
    "read_mapping",
    "read_profile_csv",
    "resolve_scenario",
]
