"""Options and checks every command shares: the scenario, the output folder."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from samarl._io import LOCK_FILE, FileError, is_temporary, own_folder, remove_temporaries
from samarl.errors import ConfigError
from samarl.scenario import ScenarioConfig, load_scenario, preset_names

__all__ = [
    "add_out_options",
    "add_scenario_options",
    "make_folder",
    "prepare_out",
    "scenario_from_args",
]


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


def add_out_options(
    parser: argparse.ArgumentParser,
    *,
    default: str | None = None,
    help: str = "output folder",
    resume: bool = False,
) -> None:
    """``--out DIR`` (required unless ``default``) and ``--overwrite``: a command refuses to write
    into a folder that already holds files unless told to (``resume`` names ``--resume``, the other
    way in, in the refusal)."""
    shown = f" (default: {default})" if default else ""
    parser.add_argument(
        "--out",
        required=default is None,
        default=default,
        metavar="DIR",
        help=f"{help}{shown}; it must be empty or new unless --overwrite"
        + (" or --resume" if resume else ""),
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="write into DIR even when it holds files (files of the same name are replaced, "
        "others stay)",
    )
    parser.set_defaults(out_resumes=resume)


def prepare_out(args: argparse.Namespace) -> Path:
    """The folder of ``--out``, created and held by this command until it exits
    (:func:`samarl._io.own_folder`): a one-line error when another command holds it, when it
    already holds files (unless ``--overwrite``, or ``--resume`` where the command takes it), or
    when it cannot be created.

    Runs write their files as they go, so a second run into the same folder would silently replace
    the first one's policy and results: refusing keeps every run. The temporaries of a killed
    command and the lock file do not count as files, and the temporaries are removed.
    """
    path = make_folder(args.out, "out")
    own_folder(path, f"samarl {getattr(args, 'command', None) or 'command'}")
    allowed = getattr(args, "overwrite", False) or getattr(args, "resume", False)
    if not allowed and _holds_files(path):
        other = "--resume to continue its run, " if getattr(args, "out_resumes", False) else ""
        raise ConfigError(
            f"out: {os.fspath(path)!r} already holds files (an earlier run?); pass {other}"
            "--overwrite to write over them, or choose another --out"
        )
    remove_temporaries(path, recursive=True)
    return path


def make_folder(path: str | os.PathLike[str], what: str) -> Path:
    """The folder ``path``, created with its parents (a :class:`~samarl._io.FileError` naming
    ``what`` when the file system refuses)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{what}: {os.fspath(path)!r} exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FileError(f"{what}: cannot create {os.fspath(path)!r}: {e.strerror or e}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise FileError(f"{what}: cannot write into {os.fspath(path)!r}: Permission denied")
    return path


def _holds_files(path: Path) -> bool:
    """Whether ``path`` holds anything but the lock file and the temporaries of killed writes."""
    try:
        return any(p.name != LOCK_FILE and not is_temporary(p.name) for p in path.iterdir())
    except OSError as e:
        raise FileError(f"out: cannot read {os.fspath(path)!r}: {e.strerror or e}") from None


def add_ray_option(parser: argparse.ArgumentParser, what: str) -> None:
    """``--ray [ADDRESS]``: Ray (``pip install 'samarl[ray]'``) on a local cluster sized to the
    machine (no address), the cluster this machine belongs to (``auto``) or an address."""
    parser.add_argument(
        "--ray",
        nargs="?",
        const="local",
        default=None,
        metavar="ADDRESS",
        help=f"{what}: on a local cluster sized to this machine (no ADDRESS), 'auto' (the "
        "running cluster) or a cluster's address; needs pip install 'samarl[ray]'",
    )
