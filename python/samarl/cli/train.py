"""``samarl train``: train state-augmented policies (PPO on the Lagrangian) into a run folder."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from samarl.cli.common import (
    add_out_options,
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
    out = prepare_out(args)
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
