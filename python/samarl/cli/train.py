"""``samarl train``: train state-augmented policies (PPO on the Lagrangian) into a run folder."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from samarl.cli.common import (
    add_out_options,
    add_ray_option,
    add_scenario_options,
    prepare_out,
    scenario_from_args,
)
from samarl.cli.options import add_config_options, config_values
from samarl.errors import ConfigError
from samarl.scenario import read_mapping
from samarl.training import TrainConfig, train

HELP = "train state-augmented policies (PPO on the Lagrangian)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The scenario, the run folder, and every :class:`TrainConfig` field (``--learning-rate``, ...)."""
    add_scenario_options(parser, config=True)
    add_out_options(parser, help="run folder", resume=True)
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in DIR from its last checkpoint (DIR/checkpoints/latest.pt; "
        "exactly where it stopped, even if it was killed), or start it if DIR has none",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--no-eval", action="store_true", help="skip the flat-multiplier sweep")
    parser.add_argument(
        "--shards",
        type=int,
        metavar="S",
        help="per-agent weights only: train S disjoint ranges of the agents as Ray tasks "
        "(with --ray); the same policy.pt as the serial run, no checkpoints",
    )
    add_ray_option(parser, "with --shards: the shards' cluster")
    add_config_options(
        parser, TrainConfig, title="training settings (TrainConfig)", skip={"progress"}
    )


def _train_table(args: argparse.Namespace) -> dict[str, Any]:
    """The ``[train]`` table of an experiment file given as ``--config`` (empty otherwise)."""
    if not args.config:
        return {}
    table = read_mapping(Path(args.config), what="config").get("train", {})
    if not isinstance(table, dict):
        raise ConfigError(f"config: [train] in {args.config} must be a table")
    return dict(table)


def run(args: argparse.Namespace) -> int:
    """Runs ``samarl train``."""
    table = _train_table(args)  # first: an unreadable --config is named as such
    scenario = scenario_from_args(args)
    values = table | config_values(args, TrainConfig)
    values["progress"] = not args.no_progress
    config = TrainConfig.from_dict(values)
    if args.shards is None and args.ray is not None:
        raise ConfigError("--ray: samarl train distributes its agents with --shards S")
    if args.shards is not None:
        from samarl.distributed.shards import check_shards

        n = scenario.num_agents if scenario is not None else 0
        check_shards(args.shards, n, config, resume=args.resume)
        if args.ray is None:
            raise ConfigError(
                "--shards: needs --ray [ADDRESS] (no ADDRESS: a local cluster on this machine)"
            )
    out = prepare_out(args)
    if args.shards is not None:
        res = _train_sharded(args, scenario, config, out)
    else:
        res = train(scenario, config, out, resume=args.resume, evaluate=not args.no_eval)
    print(
        f"trained {res.iterations} iterations in {res.wall_time_s:.1f} s; run folder {res.out_dir}"
    )
    if res.response is not None:
        r = res.response
        print(
            f"flat-mult response (binding blocks {r['window']['blocks']}): load "
            f"{r['total_load'][0]:,.1f} kW at mult=0 -> {r['total_load'][-1]:,.1f} kW at "
            f"mult={r['mult'][-1]:g} (capacity {r['capacity']:,.1f} kW); served at mult=0: "
            f"{r['served_at_zero']:.4f}; monotone: {r['monotone']}"
        )
    return 0


def _train_sharded(args: argparse.Namespace, scenario: Any, config: TrainConfig, out: Path) -> Any:
    """The run on ``--shards`` Ray tasks."""
    from samarl.distributed import session
    from samarl.distributed.shards import train_shards

    with session(args.ray) as ray:
        return train_shards(
            ray, scenario, config, out, shards=args.shards, evaluate=not args.no_eval
        )
