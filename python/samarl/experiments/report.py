"""Shared parts of the experiments: policies trained once, runs, tables, ``results.json``, ``report.md``.

Every experiment follows the same shape: obtain the learnt policies once (train them into
``OUT/policy`` or take ``--policy DIR``), run the executor under several dual configurations (every
mode sees the same policies), then write ``OUT/results.json``, PNG figures and ``OUT/report.md``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from samarl.config import ScenarioConfig
from samarl.dual import DualConfig
from samarl.errors import ConfigError
from samarl.executor import AgentRemoval, ExecutionResult, execute, torch_act_fn

__all__ = [
    "Policy",
    "add_common_arguments",
    "markdown_table",
    "mean_spread",
    "obtain_policy",
    "run_dual",
    "write_outputs",
]


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """``--quick``, ``--policy``, ``--out``, ``--seeds``, ``--days``, ``--no-progress``."""
    parser.add_argument("--quick", action="store_true", help="CI size: runs in a few minutes")
    parser.add_argument(
        "--policy", metavar="DIR", help="use this training run instead of training one"
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=None, help="arrival seeds (default: 0 1 2)"
    )
    parser.add_argument("--days", type=int, default=None, help="simulated days per run")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


@dataclass
class Policy:
    """A learnt policy and where it came from."""

    run_dir: Path
    scenario: ScenarioConfig
    module: Any
    """The :class:`~samarl.policies.StateAugmentedPolicy` (eval mode, CPU)."""
    trained_here: bool
    train_wall_s: float | None

    @property
    def mult_max(self) -> float:
        return float(self.module.mult_max)


def obtain_policy(
    args: argparse.Namespace,
    out: Path,
    scenario: ScenarioConfig,
    *,
    iterations: int,
) -> Policy:
    """The policy every run of an experiment shares: ``--policy DIR`` or trained once here."""
    from samarl.trainer import TrainConfig, load_policy, train

    if args.policy:
        run = Path(args.policy)
        cfg = run / "config.json"
        if not cfg.exists():
            raise ConfigError(f"policy: {run} has no config.json (not a `samarl train` run folder)")
        sc = ScenarioConfig.from_dict(json.loads(cfg.read_text())["scenario"])
        return Policy(run, sc, load_policy(run), False, None)
    run = out / "policy"
    start = time.perf_counter()
    train(
        scenario,
        TrainConfig(iterations=iterations, progress=not args.no_progress),
        run,
        evaluate=True,
    )
    wall = time.perf_counter() - start
    return Policy(run, scenario, load_policy(run), True, wall)


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
    )


def run_sizes(args: argparse.Namespace, *, quick_days: int, days: int) -> dict[str, Any]:
    """Scenario, training iterations and simulated days of an experiment: ``--quick`` (64 agents
    of the ``small`` preset, 40 iterations) or default (the ``default`` preset, 150 iterations);
    ``--days`` overrides the days."""
    if args.quick:
        scenario = ScenarioConfig.preset("small").replace(num_agents=64)
        size: dict[str, Any] = {"scenario": scenario, "iterations": 40, "days": quick_days}
    else:
        size = {"scenario": ScenarioConfig.preset("default"), "iterations": 150, "days": days}
    if args.days is not None:
        size["days"] = args.days
    return size


def mean_spread(values: Sequence[float | None]) -> dict[str, Any]:
    """``{mean, std, min, max, per_seed}`` of per-seed values (``None`` entries are skipped)."""
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return {"mean": None, "std": None, "min": None, "max": None, "per_seed": list(values)}
    return {
        "mean": statistics.fmean(vals),
        "std": statistics.pstdev(vals) if len(vals) > 1 else 0.0,
        "min": min(vals),
        "max": max(vals),
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
    """``mean ± std`` of a :func:`mean_spread` entry."""
    if stats["mean"] is None:
        return "n/a"
    if len(stats["per_seed"]) < 2:
        return fmt(stats["mean"], digits)
    return f"{fmt(stats['mean'], digits)} ± {fmt(stats['std'], digits)}"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table."""
    cells = [[c if isinstance(c, str) else fmt(c) for c in row] for row in rows]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


def environment() -> dict[str, Any]:
    """Where the experiment ran (recorded beside its results)."""
    import os

    import torch

    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }


def write_outputs(out: Path, results: dict[str, Any], report: str) -> None:
    """Writes ``results.json`` and ``report.md`` and says where they are."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2, default=_jsonable) + "\n")
    (out / "report.md").write_text(report.rstrip() + "\n")
    print(f"wrote {out / 'results.json'} and {out / 'report.md'}")


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
