"""Shared parts of the experiments: policies trained once, runs, tables, ``results.json``, ``report.md``.

Every experiment follows the same shape: obtain the learnt policies once (train them into
``OUT/policy`` or take ``--policy DIR``), run the executor under several dual configurations (every
mode sees the same policies), then write ``OUT/results.json``, PNG figures and ``OUT/report.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from samarl._io import atomic_write
from samarl.execution.dual import DualConfig
from samarl.execution.executor import AgentRemoval, ExecutionResult, execute, torch_act_fn
from samarl.execution.optimum import FluidOptimum
from samarl.scenario import ScenarioConfig, load_scenario

__all__ = [
    "Policy",
    "dual_config",
    "markdown_table",
    "mean_spread",
    "obtain_policy",
    "run_dual",
    "write_failures",
    "write_outputs",
]


@dataclass
class Policy:
    """A learnt policy and where it came from."""

    run_dir: Path
    scenario: ScenarioConfig
    module: Any
    """The :class:`~samarl.training.policies.StateAugmentedPolicy` (eval mode, CPU)."""
    trained_here: bool
    train_wall_s: float | None

    @property
    def mult_max(self) -> float:
        return float(self.module.mult_max)


#: An experiment row's metrics: row key -> key of :meth:`Metrics.summary` (docs/metrics.md).
RUN_METRICS = {
    "violation": "constraint/excess_p95",
    "excess_max": "constraint/excess_max",
    "peak_ratio": "constraint/peak_ratio",
    "settling": "dual/settling",
    "violation_avg": "constraint/violation_avg_max",
    "overshoot": "constraint/overshoot",
    "served": "demand/served",
    "postponing": "demand/postponing",
    "waiting_cost": "demand/waiting_cost_per_agent_day",
    "consensus_error": "consensus/error_max",
    "consensus_error_mean": "consensus/error_mean",
}


def metric_row(metrics: dict[str, Any]) -> dict[str, Any]:
    """The :data:`RUN_METRICS` of one run's metrics, under their row keys."""
    return {key: metrics[name] for key, name in RUN_METRICS.items()}


def obtain_policy(
    args: argparse.Namespace,
    out: Path,
    scenario: ScenarioConfig,
    *,
    iterations: int,
    seed: int | None = None,
) -> Policy:
    """The policy the runs of an experiment share: ``--policy DIR`` (on ``scenario`` when the
    experiment was given ``--scenario`` or ``--agents``, else on the policy's own), or trained here
    on ``scenario`` (into ``OUT/policy``, or ``OUT/policy_seedS`` with training seed ``seed``)."""
    from samarl.training import TrainConfig, load_policy, load_run, train

    if args.policy:
        chosen = args.scenario is not None or args.agents is not None
        run = load_run(args.policy, scenario=scenario if chosen else None)
        return Policy(run.run_dir, run.scenario, run.policy, False, None)
    run_dir = out / ("policy" if seed is None else f"policy_seed{seed}")
    config = TrainConfig(iterations=iterations, progress=not args.no_progress)
    if seed is not None:
        config = TrainConfig.from_dict(config.to_dict() | {"seed": seed})
    start = time.perf_counter()
    train(scenario, config, run_dir, evaluate=True)
    wall = time.perf_counter() - start
    return Policy(run_dir, scenario, load_policy(run_dir), True, wall)


def dual_config(args: argparse.Namespace, **fields: Any) -> DualConfig:
    """The experiment's base :class:`DualConfig`: the command line's dual settings, then
    ``fields`` (what the experiment varies, e.g. the mode)."""
    from samarl.cli.options import config_values

    return DualConfig(**(config_values(args, DualConfig) | fields))


def run_dual(
    policy: Policy,
    dual: DualConfig,
    *,
    days: int,
    seed: int,
    warmup_days: int | None = None,
    progress: bool = True,
    scenario: ScenarioConfig | None = None,
    removal: AgentRemoval | None = None,
    module: Any = None,
    optimum: FluidOptimum | None = None,
) -> ExecutionResult:
    """One execution of the shared policy under ``dual`` (arrivals from ``seed``)."""
    return execute(
        scenario or policy.scenario,
        torch_act_fn(module or policy.module),
        dual,
        mult_max=policy.mult_max,
        days=days,
        seed=seed,
        warmup_days=warmup_days,
        progress=progress,
        removal=removal,
        optimum=optimum,
    )


def run_sizes(args: argparse.Namespace, *, quick_days: int, days: int) -> dict[str, Any]:
    """Scenario, training iterations and simulated days of an experiment: ``--quick`` (64 agents
    of the ``small`` preset, 40 iterations) or default (the ``default`` preset, 150 iterations);
    ``--scenario`` and ``--agents`` replace the scenario and its size, ``--days`` the days."""
    if args.quick:
        size: dict[str, Any] = {"scenario": load_scenario("small", num_agents=64), "iterations": 40}
        size["days"] = quick_days
    else:
        size = {"scenario": load_scenario("default"), "iterations": 150, "days": days}
    if args.scenario is not None:
        size["scenario"] = load_scenario(args.scenario)
    if args.agents is not None:
        size["scenario"] = size["scenario"].replace(num_agents=args.agents)
    if args.days is not None:
        size["days"] = args.days
    return size


def mean_spread(values: Sequence[float | None]) -> dict[str, Any]:
    """``{mean, ci95, std, min, max, n, per_seed}`` of per-seed values (``None`` entries skipped).

    ``ci95`` is the half-width of the 95% confidence interval of the mean, Student's t with
    ``n - 1`` degrees of freedom on the sample standard deviation (``None`` with fewer than two
    values).
    """
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return {
            "mean": None,
            "ci95": None,
            "std": None,
            "min": None,
            "max": None,
            "n": 0,
            "per_seed": list(values),
        }
    n = len(vals)
    std = statistics.stdev(vals) if n > 1 else 0.0
    ci95 = float(stats.t.ppf(0.975, n - 1)) * std / math.sqrt(n) if n > 1 else None
    return {
        "mean": statistics.fmean(vals),
        "ci95": ci95,
        "std": std,
        "min": min(vals),
        "max": max(vals),
        "n": n,
        "per_seed": list(values),
    }


def fmt(value: Any, digits: int = 4) -> str:
    """A table cell."""
    if value is None:
        return "n/a"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float):
        if value != 0 and (abs(value) < 10 ** (-digits) or abs(value) >= 1e5):
            return f"{value:.2e}"
        return f"{value:.{digits}f}"
    return str(value)


def pm(stats: dict[str, Any], digits: int = 4) -> str:
    """``mean ± ci95`` of a :func:`mean_spread` entry (the mean alone for one seed)."""
    if stats["mean"] is None:
        return "n/a"
    if stats.get("ci95") is None:
        return fmt(stats["mean"], digits)
    return f"{fmt(stats['mean'], digits)} ± {fmt(stats['ci95'], digits)}"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table."""
    cells = [[c if isinstance(c, str) else fmt(c) for c in row] for row in rows]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


def environment(*, torch_threads: int | None = None) -> dict[str, Any]:
    """Where the experiment ran (recorded beside its results). ``torch_threads``: the runs' torch
    threads when they ran elsewhere (Ray workers), default this process's."""
    import os

    import torch

    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads() if torch_threads is None else torch_threads,
    }


def write_outputs(out: Path, results: dict[str, Any], report: str) -> None:
    """Writes ``results.json`` and ``report.md`` (atomically) and says where they are."""
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "results.json", json.dumps(results, indent=2, default=_jsonable) + "\n")
    atomic_write(out / "report.md", report.rstrip() + "\n")
    print(f"wrote {out / 'results.json'} and {out / 'report.md'}")


def write_failures(out: Path, experiment: str, grid: Any, failed: Sequence[Any]) -> int:
    """An experiment whose cells (:class:`~samarl.distributed.CellGrid`) did not all succeed:
    ``results.json`` lists the failed cells with their errors and the cells that finished, the
    report says the same, and the command's exit status is 1."""
    failed_labels = {f.cell for f in failed}
    finished = [label for label in grid.labels() if label not in failed_labels]
    results = {
        "experiment": experiment,
        "failed_cells": [f.to_dict() for f in failed],
        "finished_cells": finished,
        "environment": environment(),
    }
    lines = [
        f"# {experiment}: {len(failed)} of {len(failed) + len(finished)} cells failed",
        "",
        "No tables or figures: they need every cell. The failed cells and their errors:",
        "",
        *[f"- `{f.cell}`: {f.error}" for f in failed],
    ]
    write_outputs(out, results, "\n".join(lines))
    for f in failed:
        print(f"cell {f.cell} failed: {f.error}")
    return 1


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def policy_note(policy: Policy) -> str:
    """One line on where the policy came from."""
    if policy.trained_here:
        return (
            f"Policy: trained here ({policy.run_dir}, {policy.train_wall_s:.0f} s), shared by every "
            "run below."
        )
    return f"Policy: `{policy.run_dir}` (given with --policy), shared by every run below."


def check_line(ok: bool, text: str) -> str:
    """A report line for an expectation: PASS / FAIL and what was checked."""
    return f"- **{'PASS' if ok else 'FAIL'}**: {text}"
