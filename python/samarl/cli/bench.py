"""``samarl bench kernels|soak|partitions``: measured ratios of the Rust engine against its
NumPy/SciPy references, a month-long execution's memory per simulated day, and partitioned
execution on Ray against one process."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from samarl._io import atomic_write
from samarl._validate import positive_int
from samarl.cli.common import make_folder

HELP = "benchmarks that print measured ratios"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``samarl bench``."""
    parser.add_argument(
        "what",
        choices=["kernels", "soak", "partitions"],
        help="kernels: engine vs references; soak: RSS per day of a long run with consensus; "
        "partitions: P = 1, 2, 4 Ray actors vs one process (halo latency, bytes, time per day)",
    )
    parser.add_argument("--agents", type=int, default=1_000_000, help="number of agents N")
    parser.add_argument("--rounds", type=int, default=10, help="consensus rounds K (kernels)")
    parser.add_argument("--repeats", type=int, default=7, help="timed repetitions (kernels)")
    parser.add_argument("--no-scaling", action="store_true", help="skip the N = 1e3..N sweep")
    parser.add_argument(
        "--days", type=int, default=None, help="simulated days (soak: 30, partitions: 1)"
    )
    parser.add_argument(
        "--steps", type=int, default=None, help="partitions: time this many steps, not --days"
    )
    parser.add_argument(
        "--parts", type=int, nargs="+", default=[1, 2, 4], help="partitions: numbers of actors P"
    )
    parser.add_argument(
        "--policy",
        metavar="DIR",
        help="a trained run folder (soak, partitions; default: untrained weights)",
    )
    parser.add_argument(
        "--json", metavar="FILE", help="also write the results as JSON (replaces FILE)"
    )


def run(args: argparse.Namespace) -> int:
    """Runs the chosen benchmark."""
    positive_int("agents", args.agents, minimum=1000)
    result: dict[str, Any]
    if args.what == "soak":
        from samarl.benchmarks.soak import report, soak

        days = positive_int("days", 30 if args.days is None else args.days, minimum=2)
        result = soak(args.agents, days, policy_dir=args.policy)
        print(report(result))
    elif args.what == "partitions":
        from samarl.benchmarks import partitions

        days = positive_int("days", 1 if args.days is None else args.days)
        steps = None if args.steps is None else positive_int("steps", args.steps)
        result = partitions.bench_partitions(
            args.agents,
            days=days,
            steps=steps,
            parts=tuple(positive_int("parts", p) for p in args.parts),
            rounds=positive_int("rounds", args.rounds),
            policy_dir=args.policy,
        )
        print(partitions.report(result))
    else:
        from samarl.benchmarks.kernels import run_kernel_benchmarks

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
