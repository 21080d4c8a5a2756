"""``samarl experiment NAME``: the paper's experiments, each a Markdown report with figures.

Every experiment takes the common options (``--quick``, ``--policy``, ``--out``, ``--overwrite``,
``--seeds``, ``--days``, ``--scenario``, ``--agents``, the dual settings of
:class:`~samarl.execution.DualConfig`), the fields of
:class:`~samarl.experiments.runs.ExperimentSettings`, and its own: the other fields of its settings
(:data:`samarl.experiments.EXPERIMENTS`), as options generated from them. ``ctde`` takes only its
own (:class:`~samarl.experiments.ctde.CTDESettings`). The options become the experiment's settings,
and its ``run`` does the rest.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.util
from types import ModuleType
from typing import Any

from samarl.cli.common import add_out_options, add_ray_option, add_scenario_options, prepare_out
from samarl.cli.options import add_config_options, config_values
from samarl.distributed import session
from samarl.execution import DualConfig
from samarl.experiments import EXPERIMENTS, STANDALONE
from samarl.experiments.runs import ExperimentSettings

HELP = "the paper's experiments: a Markdown report with figures"

#: The settings every experiment but the standalone ones takes (the common options).
COMMON = frozenset(f.name for f in dataclasses.fields(ExperimentSettings))


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every experiment (but ``ctde``) takes."""
    parser.add_argument("--quick", action="store_true", help="CI size: runs in a few minutes")
    parser.add_argument(
        "--policy", metavar="DIR", help="use this training run instead of training one"
    )
    add_out_options(parser)
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=None, help="arrival seeds (default: 0 1 2)"
    )
    parser.add_argument("--days", type=int, default=None, help="simulated days per run")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    add_ray_option(parser, "run the experiment's cells as Ray tasks")
    add_scenario_options(parser, default=None)
    add_config_options(parser, DualConfig, title="dual dynamics (DualConfig)", skip={"mode"})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``samarl experiment NAME ...``: one sub-parser per experiment."""
    sub = parser.add_subparsers(dest="experiment", required=True, metavar="NAME")
    for name, (module, help_text) in EXPERIMENTS.items():
        if name in STANDALONE:
            # Its module is imported only when chosen: the sub-parser takes every remaining
            # argument ("+" prefix so "--x" is not an option here), parsed in run().
            p = sub.add_parser(name, help=help_text, add_help=False, prefix_chars="+")
            p.add_argument("rest", nargs=argparse.REMAINDER)
            continue
        p = sub.add_parser(name, help=help_text)
        add_common_arguments(p)
        settings = importlib.import_module(module).SETTINGS
        add_config_options(p, settings, title=f"{name} ({settings.__name__})", skip=COMMON)


def settings_from_args(args: argparse.Namespace, cls: type[ExperimentSettings]) -> Any:
    """The experiment's settings: the common options, then its own (the dataclass supplies what
    the command line left out)."""
    own = {k: v for k, v in config_values(args, cls).items() if k not in COMMON}
    return cls(
        quick=args.quick,
        policy=args.policy,
        seeds=tuple(args.seeds) if args.seeds else None,
        days=args.days,
        scenario=args.scenario,
        agents=args.agents,
        dual=DualConfig(**config_values(args, DualConfig)),
        progress=not args.no_progress,
        **own,
    )


def run(args: argparse.Namespace) -> int:
    """Runs the chosen experiment; exit status 1 when some of its cells failed."""
    name = args.experiment
    module = EXPERIMENTS[name][0]
    if name in STANDALONE:
        if importlib.util.find_spec(module) is None:
            print(
                f"samarl experiment {name}: unavailable ({module} is not installed in this build)"
            )
            return 2
        mod = importlib.import_module(module)
        parsed = _standalone_parser(name, mod).parse_args(args.rest)
        values = dict(mod.QUICK) if parsed.quick else {}
        settings = mod.SETTINGS(**(values | config_values(parsed, mod.SETTINGS)))
        out = prepare_out(parsed)
        command = " ".join(["samarl experiment", name, *args.rest])
        with session(parsed.ray) as ray:
            results = mod.run(settings, out, ray=ray, command=command)
    else:
        mod = importlib.import_module(module)
        settings = settings_from_args(args, mod.SETTINGS)
        out = prepare_out(args)
        with session(args.ray) as ray:
            results = mod.run(settings, out, ray=ray)
    return 1 if results.get("failed_cells") else 0


def _standalone_parser(name: str, mod: ModuleType) -> argparse.ArgumentParser:
    """The options of a standalone experiment: ``--out``, ``--overwrite``, ``--quick``, ``--ray``
    and every field of its settings."""
    from samarl.cli import ArgumentParser

    parser = ArgumentParser(prog=f"samarl experiment {name}")
    add_out_options(parser)
    parser.add_argument("--quick", action="store_true", help="small budgets (~10 min on 2 cores)")
    add_ray_option(parser, "run each measurement as a Ray task holding a whole node")
    settings = mod.SETTINGS
    add_config_options(parser, settings, title=f"{name} ({settings.__name__})")
    return parser
