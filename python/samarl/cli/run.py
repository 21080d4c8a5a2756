"""``samarl run``: trained policies with dual dynamics and consensus; writes a run folder.

The policy comes from a ``samarl train`` run folder; it runs on its own training scenario, or on
``--scenario`` / ``--agents`` (a shared policy trained on 1,000 agents runs on 10^6). Every dual
setting of :class:`~samarl.execution.DualConfig` is an option (``--mode``, ``--consensus-rounds``,
``--dual-step-size``, ``--graph FAMILY|FILE``, ...).

``--partitions P`` splits the agents into P Ray actors (``--ray [ADDRESS]``: the cluster; a local
one by default) that exchange only halo values (:mod:`samarl.distributed.partitions`). It writes
the same files as one process where sums allow (metrics, ``trajectories.npz``, the figures but the
per-agent backlog one) and adds ``partitions`` (edge cut, halo size, round time) to
``metrics.json``. Lossy links (``--drop-prob``) fail as they do in one process; the tracking mode
and per-agent-weights policies stop with a one-line error.
"""

from __future__ import annotations

import argparse
from typing import Any

from samarl.cli.common import (
    add_out_options,
    add_ray_option,
    add_scenario_options,
    prepare_out,
    scenario_from_args,
)
from samarl.cli.options import add_config_options, config_values
from samarl.distributed.cluster import LOCAL
from samarl.errors import ConfigError
from samarl.execution import DualConfig, ExecutionResult, execute, save_run, torch_act_fn
from samarl.training import load_run

HELP = "run trained policies with dual dynamics and consensus"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``samarl run``."""
    parser.add_argument("--policy", required=True, metavar="DIR", help="training run folder")
    add_out_options(parser)
    add_scenario_options(parser, default=None)
    parser.add_argument("--days", type=int, default=20, help="simulated days (default: 20)")
    parser.add_argument(
        "--warmup-days", type=int, default=None, help="days left out of the metrics (default: half)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the arrivals (default: 0)")
    parser.add_argument("--device", default="cpu", help="torch device of the policy")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument(
        "--partitions",
        type=int,
        default=None,
        metavar="P",
        help="split the agents into P Ray actors exchanging only halo values (see --ray)",
    )
    add_ray_option(parser, "with --partitions: the actors' cluster")
    add_config_options(parser, DualConfig, title="dual dynamics (DualConfig)")


def run(args: argparse.Namespace) -> int:
    """Loads the trained policy and its scenario, executes, writes the results."""
    scenario = scenario_from_args(args)
    trained = load_run(
        args.policy,
        scenario=scenario,
        num_agents=args.agents if scenario is None else None,
        device=args.device,
    )
    dual = DualConfig(**config_values(args, DualConfig))
    if args.partitions is None and args.ray is not None:
        raise ConfigError("--ray: samarl run distributes its agents with --partitions P")
    n = trained.scenario.num_agents
    if args.partitions is not None and not 1 <= args.partitions <= n:
        raise ConfigError(f"--partitions: must be in [1, {n}] (the agents), got {args.partitions}")
    out = prepare_out(args)
    cut = ""
    if args.partitions is not None:
        result = _run_partitioned(args, trained, dual)
        part = result.metrics["partitions"]
        cut = f", {part['parts']} partitions cutting {part['edge_cut']} edges"
    else:
        result = execute(
            trained.scenario,
            torch_act_fn(trained.policy, args.device),
            dual,
            mult_max=trained.mult_max,
            days=args.days,
            seed=args.seed,
            warmup_days=args.warmup_days,
            progress=not args.no_progress,
        )
    save_run(result, trained.scenario, out)
    m = result.metrics
    print(
        f"{dual.mode}: violation {m['constraint/excess_p95']:.4f} (p95 daily excess), peak "
        f"{m['constraint/peak_ratio']:.3f}x capacity, settling {m['dual/settling'] or 0:.4f}, overshoot "
        f"{m['constraint/overshoot']:.4f}, served {m['demand/served']:.4f}, postponing "
        f"{m['demand/postponing']} agents{cut}; results in {out}"
    )
    return 0


def _run_partitioned(args: argparse.Namespace, trained: Any, dual: DualConfig) -> ExecutionResult:
    """The run on ``--partitions`` Ray actors."""
    from samarl.distributed import session
    from samarl.distributed.partitions import PartitionedRun

    if args.device != "cpu":
        raise ConfigError("--device: partitioned runs put the policy on each actor's CPU")
    if isinstance(args.days, bool) or args.days < 1:
        raise ConfigError(f"--days: must be >= 1, got {args.days}")
    with session(args.ray or LOCAL) as ray:
        run = PartitionedRun(
            ray,
            trained.scenario,
            trained.policy,
            dual,
            mult_max=trained.mult_max,
            partitions=args.partitions,
            days=args.days,
            seed=args.seed,
            warmup_days=args.warmup_days,
        )
        try:
            run.advance()
            return run.execution_result()
        finally:
            run.close()
