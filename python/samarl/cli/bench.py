"""``samarl bench kernels``: the Rust engine against its NumPy/SciPy references, as measured ratios."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from samarl._io import atomic_write
from samarl._validate import positive_int
from samarl.cli.common import make_folder

HELP = "benchmarks that print measured ratios"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``samarl bench``."""
    parser.add_argument("what", choices=["kernels"], help="which benchmark")
    parser.add_argument("--agents", type=int, default=1_000_000, help="number of agents N")
    parser.add_argument("--rounds", type=int, default=10, help="consensus rounds K")
    parser.add_argument("--repeats", type=int, default=7, help="timed repetitions (median)")
    parser.add_argument("--no-scaling", action="store_true", help="skip the N = 1e3..N sweep")
    parser.add_argument(
        "--json", metavar="FILE", help="also write the results as JSON (replaces FILE)"
    )


def run(args: argparse.Namespace) -> int:
    """Runs the kernel benchmarks."""
    from samarl.benchmarks.kernels import run_kernel_benchmarks

    positive_int("agents", args.agents, minimum=1000)
    positive_int("rounds", args.rounds, minimum=1)
    positive_int("repeats", args.repeats)
    result = run_kernel_benchmarks(
        args.agents, rounds=args.rounds, repeats=args.repeats, scaling=not args.no_scaling
    )
    if args.json:
        path = Path(args.json)
        make_folder(path.parent, "json")
        atomic_write(path, json.dumps(result, indent=2) + "\n")
        print(f"wrote {path}")
    return 0
