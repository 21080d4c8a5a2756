"""``samarl run``: trained policies with dual dynamics and consensus; writes a run folder.

The policy comes from a ``samarl train`` run folder; it runs on its own training scenario, or on
``--scenario`` / ``--agents`` (a shared policy trained on 1,000 agents runs on 10^6). Every dual
setting of :class:`~samarl.execution.DualConfig` is an option (``--mode``, ``--consensus-rounds``,
``--dual-step-size``, ``--graph FAMILY|FILE``, ...).
"""

from __future__ import annotations

import argparse

from samarl.cli.common import (
    add_out_options,
    add_scenario_options,
    prepare_out,
    scenario_from_args,
)
from samarl.cli.options import add_config_options, config_values
from samarl.execution import DualConfig, execute, save_run, torch_act_fn
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
    out = prepare_out(args)
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
        f"{m['demand/postponing']} agents; results in {out}"
    )
    return 0
