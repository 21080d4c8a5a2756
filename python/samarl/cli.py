"""The ``samarl`` command line.

    samarl demo        [--out DIR]                       the main job (see README)
    samarl bench kernels [--agents N] [--json FILE]      Rust engine vs NumPy/SciPy references
    samarl train       ...                               train state-augmented policies
    samarl run         ...                               execute trained policies with consensus
    samarl experiment NAME ...                           the paper's experiments

Every subcommand prints progress, writes its results under ``--out`` and exits non-zero with a
one-line message on bad input.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from samarl.errors import SamarlError

#: Subcommands implemented in other modules: name -> (module, help). Each module provides
#: ``add_cli_arguments(parser)`` and ``run_from_args(args) -> int``.
_DELEGATED = {
    "demo": ("samarl.demo", "the main job: train agents, run them with consensus, save results"),
    "train": ("samarl.trainer", "train state-augmented policies (PPO on the Lagrangian)"),
    "run": ("samarl.executor", "run trained policies with dual dynamics and consensus"),
    "experiment": ("samarl.experiments", "the paper's experiments: a Markdown report with figures"),
}


def _bench(args: argparse.Namespace) -> int:
    from samarl import benchmarks
    from samarl._validate import positive_int

    positive_int("agents", args.agents, minimum=1000)
    positive_int("rounds", args.rounds, minimum=1)
    positive_int("repeats", args.repeats)
    if args.what != "kernels":
        raise SamarlError(f"bench: unknown benchmark {args.what!r}; choose 'kernels'")
    result = benchmarks.run_kernel_benchmarks(
        args.agents, rounds=args.rounds, repeats=args.repeats, scaling=not args.no_scaling
    )
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {path}")
    return 0


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of the ``samarl`` command.

    Delegated subcommands import their module (and torch) only when ``command`` names them, so
    ``samarl bench`` and ``samarl --help`` stay fast.
    """
    from samarl import __version__

    parser = argparse.ArgumentParser(prog="samarl", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"samarl {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    bench = sub.add_parser("bench", help="benchmarks that print measured ratios")
    bench.add_argument("what", choices=["kernels"], help="which benchmark")
    bench.add_argument("--agents", type=int, default=1_000_000, help="number of agents N")
    bench.add_argument("--rounds", type=int, default=10, help="consensus rounds K")
    bench.add_argument("--repeats", type=int, default=7, help="timed repetitions (median)")
    bench.add_argument("--no-scaling", action="store_true", help="skip the N = 1e3..N sweep")
    bench.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    bench.set_defaults(handler=_bench)

    for name, (module, help_text) in _DELEGATED.items():
        if name != command:
            sub.add_parser(name, help=help_text, add_help=False)
            continue
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:  # an optional dependency (e.g. torch) is missing
            if e.name and e.name.startswith("samarl"):
                raise
            missing = e.name
            p = sub.add_parser(name, help=f"{help_text} (unavailable: {missing} not installed)")
            p.set_defaults(handler=lambda _a, m=missing: _missing(m))
            continue
        p = sub.add_parser(name, help=help_text, description=(mod.__doc__ or "").split("\n\n")[0])
        mod.add_cli_arguments(p)
        p.set_defaults(handler=mod.run_from_args)
    return parser


def _missing(module: str | None) -> int:
    print(f"samarl: this command needs {module}; install it with pip", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``samarl`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(command).parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except SamarlError as e:
        print(f"samarl {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"samarl {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
