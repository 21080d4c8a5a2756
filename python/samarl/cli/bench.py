"""``samarl bench kernels|soak|envs|partitions``: measured ratios of the Rust engine against its
NumPy/SciPy references, a month-long execution's memory per simulated day, agent-steps/s through
every env front (engine, PettingZoo, TorchRL), and partitioned execution on Ray against one
process."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
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
        choices=["kernels", "soak", "envs", "partitions"],
        help="kernels: engine vs references; soak: RSS per day of a long run with consensus; "
        "envs: agent-steps/s of the engine, PettingZoo and TorchRL fronts (needs samarl[torchrl]); "
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
        "--sizes",
        type=int,
        nargs="+",
        default=[16, 256, 4_096, 65_536],
        help="numbers of agents N (envs)",
    )
    parser.add_argument(
        "--max-wrapper-n",
        type=int,
        default=256,
        help="largest N timed through TorchRL's PettingZooWrapper (envs; slow above)",
    )
    parser.add_argument(
        "--num-envs",
        type=int,
        default=1,
        help="envs: populations of N per call (engine copies, TorchRL num_envs)",
    )
    parser.add_argument(
        "--json", metavar="FILE", help="also write the results as JSON (replaces FILE)"
    )


def run(args: argparse.Namespace) -> int:
    """Runs the chosen benchmark."""
    result: dict[str, Any]
    if args.what == "envs":
        if importlib.util.find_spec("torchrl") is None:
            print(
                "samarl bench envs: needs torchrl: pip install 'samarl[torchrl]'", file=sys.stderr
            )
            return 2
        from samarl.benchmarks.torchrl_envs import report as envs_report
        from samarl.benchmarks.torchrl_envs import run_env_benchmarks

        sizes = tuple(positive_int("sizes", n) for n in args.sizes)
        result = run_env_benchmarks(
            sizes,
            repeats=positive_int("repeats", args.repeats),
            max_wrapper_n=positive_int("max-wrapper-n", args.max_wrapper_n, minimum=0),
            num_envs=positive_int("num-envs", args.num_envs),
        )
        print(envs_report(result))
    elif args.what == "soak":
        positive_int("agents", args.agents, minimum=1000)
        from samarl.benchmarks.soak import report, soak

        days = positive_int("days", 30 if args.days is None else args.days, minimum=2)
        result = soak(args.agents, days, policy_dir=args.policy)
        print(report(result))
    elif args.what == "partitions":
        positive_int("agents", args.agents, minimum=2)
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
        positive_int("agents", args.agents, minimum=1000)
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
