"""``samarl demo``: the main job. Trains agents on a scenario, runs them in every mode (consensus,
independent, centralized, unconstrained), prints the metrics table and saves everything.

``--engine`` instead shows the Rust kernels alone on a large graph. ``--ray [ADDRESS]`` runs the
optimum's solve and the modes as Ray tasks (training stays in this process).
"""

from __future__ import annotations

import argparse
import json

from samarl._io import atomic_write
from samarl.cli.common import (
    add_out_options,
    add_ray_option,
    add_scenario_options,
    prepare_out,
    scenario_from_args,
)
from samarl.cli.options import add_config_options, config_values
from samarl.distributed import session
from samarl.distributed.cluster import check_address
from samarl.errors import ConfigError
from samarl.execution import DualConfig
from samarl.experiments.demo import check_engine_demo, end_to_end, engine_demo
from samarl.training import TrainConfig

HELP = "the main job: train agents, run them with consensus, save results"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``samarl demo``."""
    add_out_options(parser, default="runs/demo")
    add_scenario_options(parser)
    parser.add_argument(
        "--days", type=int, default=30, help="simulated days per mode (default: 30)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of training and of the arrivals (default: 0)"
    )
    parser.add_argument("--engine", action="store_true", help="only the Rust kernel demonstration")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    add_ray_option(parser, "run the optimum's solve and the modes as Ray tasks")
    add_config_options(
        parser, TrainConfig, title="training (TrainConfig)", skip={"progress", "seed"}
    )
    add_config_options(parser, DualConfig, title="dual dynamics (DualConfig)", skip={"mode"})


def run(args: argparse.Namespace) -> int:
    """Runs the demonstration and writes its results."""
    if args.ray is not None:
        check_address(args.ray)
        if args.engine:
            raise ConfigError("--ray: the engine demonstration (--engine) runs in one process")
    if args.engine:  # checked before the out folder is made: a refusal leaves nothing behind
        agents = check_engine_demo(100_000 if args.agents is None else args.agents)
    out = prepare_out(args)
    if args.engine:
        result = engine_demo(agents, seed=args.seed, out=out)
    else:
        scenario = scenario_from_args(args)
        assert scenario is not None  # the demo has a default scenario
        train_config = TrainConfig.from_dict(
            config_values(args, TrainConfig) | {"seed": args.seed, "progress": not args.no_progress}
        )
        dual = DualConfig(**config_values(args, DualConfig))
        with session(args.ray) as ray:
            result = end_to_end(
                scenario,
                out,
                train_config=train_config,
                dual=dual,
                days=args.days,
                seed=args.seed,
                progress=not args.no_progress,
                ray=ray,
            )
    atomic_write(out / "demo.json", json.dumps(result, indent=2) + "\n")
    print(f"wrote {out / 'demo.json'} and figures in {out}")
    for f in result.get("failed_cells", []):
        print(f"cell {f['cell']} failed: {f['error']}")
    return 1 if result.get("failed_cells") else 0
