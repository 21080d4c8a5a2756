"""Options and checks every command shares: the scenario, the output folder."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from samarl.errors import ConfigError
from samarl.scenario import ScenarioConfig, load_scenario, preset_names

__all__ = ["add_scenario_options", "prepare_out", "scenario_from_args"]


def add_scenario_options(
    parser: argparse.ArgumentParser, *, config: bool = False, default: str | None = "default"
) -> None:
    """``--scenario FILE|PRESET`` and ``--agents N`` (with ``config``, also ``--config FILE``: an
    experiment file with ``[scenario]`` and ``[train]`` tables)."""
    src = parser.add_mutually_exclusive_group()
    shown = f" (default: {default})" if default else " (default: the policy's own scenario)"
    src.add_argument(
        "--scenario",
        metavar="FILE|PRESET",
        default=None,
        help=f"a scenario file (TOML/YAML/JSON) or a preset: {', '.join(preset_names())}{shown}",
    )
    if config:
        src.add_argument(
            "--config",
            metavar="FILE",
            help="an experiment file with [scenario] and [train] tables (TOML/YAML/JSON); "
            "options given here override its [train] table",
        )
    parser.add_argument(
        "--agents", type=int, metavar="N", help="override the scenario's number of agents"
    )
    parser.set_defaults(scenario_default=default)


def scenario_from_args(args: argparse.Namespace) -> ScenarioConfig | None:
    """The scenario of ``--scenario`` / ``--config`` with ``--agents`` applied (``None`` when
    neither is given and the command has no default scenario)."""
    source = getattr(args, "config", None) or args.scenario or args.scenario_default
    if source is None:
        return None  # the command's own scenario (e.g. the policy's); it applies --agents
    overrides = {} if args.agents is None else {"num_agents": args.agents}
    return load_scenario(source, **overrides)


def prepare_out(out: str | os.PathLike[str]) -> Path:
    """The output folder, created (a one-line error when it cannot be)."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"out: {os.fspath(path)!r} exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"out: cannot create {os.fspath(path)!r}: {e.strerror}") from None
    return path
