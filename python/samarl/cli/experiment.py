"""``samarl experiment NAME``: the paper's experiments, each a Markdown report with figures.

Every experiment takes the common options (``--quick``, ``--policy``, ``--out``, ``--overwrite``,
``--seeds``, ``--days``, ``--scenario``, ``--agents``, the dual settings of
:class:`~samarl.execution.DualConfig`) and its own (:data:`samarl.experiments.EXPERIMENTS`).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util

from samarl.cli.common import add_out_options, add_ray_option, add_scenario_options, prepare_out
from samarl.cli.options import add_config_options
from samarl.execution import DualConfig
from samarl.experiments import EXPERIMENTS, STANDALONE

HELP = "the paper's experiments: a Markdown report with figures"


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
            # Its module parses its own arguments (imported only when chosen): the sub-parser
            # takes every remaining argument ("+" prefix so "--x" is not an option here).
            p = sub.add_parser(name, help=help_text, add_help=False, prefix_chars="+")
            p.add_argument("rest", nargs=argparse.REMAINDER)
            continue
        p = sub.add_parser(name, help=help_text)
        add_common_arguments(p)
        importlib.import_module(module).add_arguments(p)


def run(args: argparse.Namespace) -> int:
    """Runs the chosen experiment."""
    name = args.experiment
    module = EXPERIMENTS[name][0]
    if name in STANDALONE:
        if importlib.util.find_spec(module) is None:
            print(
                f"samarl experiment {name}: unavailable ({module} is not installed in this build)"
            )
            return 2
        mod = importlib.import_module(module)
        from samarl.cli import ArgumentParser

        parser = ArgumentParser(prog=f"samarl experiment {name}")
        mod.add_arguments(parser)
        return int(mod.run(parser.parse_args(args.rest)) or 0)
    mod = importlib.import_module(module)
    prepare_out(args)
    return int(mod.run(args) or 0)
