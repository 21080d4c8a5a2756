"""The paper's experiments: ``samarl experiment NAME [--quick] [--policy DIR] --out DIR``.

Each writes ``OUT/results.json``, PNG figures and ``OUT/report.md`` (a table and the figures):

- ``feasibility``: consensus vs independent vs centralized vs unconstrained (a few seeds);
- ``consensus``: consensus error and violation vs rounds K and vs graph family, beside the bound;
- ``scaling``: wall time of training per iteration and of execution per day vs N (log-log);
- ``faults``: lossy links (drop probability p) and agents removed mid-run;
- ``ctde``: the centralised-critic baseline (``samarl.experiments.ctde``, issue 6).

An experiment trains the policies it needs once (into ``OUT/policy``) and every mode reuses them;
``--policy DIR`` takes a ``samarl train`` run instead. ``--quick`` sizes run in a few minutes on 2
cores (CI checks them); the default sizes of all four together take under an hour there.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util

__all__ = ["EXPERIMENTS", "add_cli_arguments", "run_from_args"]

#: name -> (module, help). Each module provides ``add_arguments(parser)`` and ``run(args) -> int``.
EXPERIMENTS = {
    "feasibility": ("samarl.experiments.feasibility", "consensus vs independent vs centralized"),
    "consensus": ("samarl.experiments.consensus", "error and violation vs K and graph family"),
    "scaling": ("samarl.experiments.scaling", "wall time vs N for training and execution"),
    "faults": ("samarl.experiments.faults", "lossy links and agents removed mid-run"),
    "ctde": ("samarl.experiments.ctde", "the centralised-critic (CTDE) baseline"),
}
#: Experiments whose arguments their own module defines entirely (parsed lazily at run time).
_EXTERNAL = {"ctde"}


def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    """``samarl experiment NAME ...``: one sub-parser per experiment."""
    from samarl.experiments.report import add_common_arguments

    sub = parser.add_subparsers(dest="experiment", required=True, metavar="NAME")
    for name, (module, help_text) in EXPERIMENTS.items():
        if name in _EXTERNAL:
            # Its module (another package's dependencies) is imported only when it is chosen: the
            # sub-parser takes every remaining argument ("+" prefix so "--x" is not an option here).
            p = sub.add_parser(name, help=help_text, add_help=False, prefix_chars="+")
            p.add_argument("rest", nargs=argparse.REMAINDER)
            continue
        p = sub.add_parser(name, help=help_text)
        add_common_arguments(p)
        importlib.import_module(module).add_arguments(p)


def run_from_args(args: argparse.Namespace) -> int:
    """Runs the chosen experiment."""
    name = args.experiment
    module = EXPERIMENTS[name][0]
    if name in _EXTERNAL:
        if importlib.util.find_spec(module) is None:
            print(
                f"samarl experiment {name}: unavailable ({module} is not installed in this build)"
            )
            return 2
        mod = importlib.import_module(module)
        parser = argparse.ArgumentParser(prog=f"samarl experiment {name}")
        mod.add_arguments(parser)
        return int(mod.run(parser.parse_args(args.rest)) or 0)
    return int(importlib.import_module(module).run(args) or 0)
