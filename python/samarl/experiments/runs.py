"""What the experiments share before their tables: settings, sizes, the policy, the runs.

Every experiment but ``ctde`` takes an :class:`ExperimentSettings` (or a subclass adding its own
sweeps) and starts the same way (:func:`setup`): its scenario, training iterations and days from
``quick`` and the settings, then the learnt policy its runs share (:meth:`Setup.policy`: trained
into ``OUT/policy`` or taken from ``policy``). Each run executes that policy under one dual
configuration (:func:`run_dual`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from samarl.errors import ConfigError
from samarl.execution.dual import DualConfig
from samarl.execution.executor import AgentRemoval, ExecutionResult, execute, torch_act_fn
from samarl.execution.optimum import FluidOptimum
from samarl.scenario import ScenarioConfig, load_scenario, resolve_scenario
from samarl.training import TrainedRun

__all__ = [
    "RUN_METRICS",
    "ExperimentSettings",
    "Setup",
    "metric_row",
    "obtain_policy",
    "policy_note",
    "run_dual",
    "setup",
]


@dataclass(frozen=True)
class ExperimentSettings:
    """The settings every experiment but ``ctde`` takes (``samarl experiment NAME``'s common
    options); an experiment's own sweeps are the fields of its subclass."""

    quick: bool = False
    """CI size (64 agents of the ``small`` preset, 40 training iterations, fewer days and seeds):
    runs in a few minutes on 2 cores."""
    policy: str | None = None
    """A ``samarl train`` run folder whose policy every run uses, instead of training one."""
    seeds: tuple[int, ...] | None = None
    """Arrival seeds (default: the experiment's own)."""
    days: int | None = None
    """Simulated days per run (default: the experiment's own)."""
    scenario: ScenarioConfig | str | None = None
    """A scenario, preset or scenario file (default: the size's preset, or with ``policy`` the
    policy's own scenario)."""
    agents: int | None = None
    """Number of agents, replacing the scenario's."""
    dual: DualConfig = field(default_factory=DualConfig)
    """The dual dynamics every run starts from (each experiment sets the mode and what it
    sweeps)."""
    progress: bool = True
    """Show progress bars."""

    @property
    def first_seed(self) -> int:
        """The arrival seed of experiments that run one: the first of ``seeds`` (default 0)."""
        return self.seeds[0] if self.seeds else 0

    def __post_init__(self) -> None:
        if not isinstance(self.dual, DualConfig):
            raise ConfigError(f"dual: expected a DualConfig, got {type(self.dual).__name__}")
        if self.seeds is not None:
            object.__setattr__(self, "seeds", tuple(self.seeds))


@dataclass(frozen=True)
class Setup:
    """Where an experiment starts (:func:`setup`)."""

    settings: ExperimentSettings
    out: Path
    """The output folder."""
    scenario: ScenarioConfig
    """The scenario policies are trained on (with ``policy``: the one they are rebound to when
    ``scenario`` or ``agents`` is set)."""
    iterations: int
    """PPO iterations of a policy trained here."""
    days: int
    """Simulated days per run."""
    started: float
    """``time.perf_counter()`` at the start (for ``wall_s``)."""

    def policy(self, seed: int | None = None) -> TrainedRun:
        """The policy the runs share (:func:`obtain_policy`; ``seed``: the training seed)."""
        return obtain_policy(
            self.settings, self.out, self.scenario, iterations=self.iterations, seed=seed
        )


def setup(
    settings: ExperimentSettings, out: str | os.PathLike[str], *, quick_days: int, days: int
) -> Setup:
    """Scenario, training iterations and simulated days of an experiment: ``quick`` (64 agents
    of the ``small`` preset, 40 iterations, ``quick_days``) or default (the ``default`` preset, 150
    iterations, ``days``); ``scenario`` and ``agents`` replace the scenario and its size, the
    settings' ``days`` the days."""
    if settings.quick:
        scenario, iterations, run_days = load_scenario("small", num_agents=64), 40, quick_days
    else:
        scenario, iterations, run_days = load_scenario("default"), 150, days
    if settings.scenario is not None:
        scenario = resolve_scenario(settings.scenario)
    if settings.agents is not None:
        scenario = scenario.replace(num_agents=settings.agents)
    return Setup(
        settings,
        Path(out),
        scenario,
        iterations,
        run_days if settings.days is None else settings.days,
        time.perf_counter(),
    )


def obtain_policy(
    settings: ExperimentSettings,
    out: Path,
    scenario: ScenarioConfig,
    *,
    iterations: int,
    seed: int | None = None,
) -> TrainedRun:
    """The policy the runs of an experiment share: the settings' ``policy`` run (on ``scenario``
    when the settings name a scenario or a number of agents, else on the policy's own), or trained
    here on ``scenario`` (into ``OUT/policy``, or ``OUT/policy_seedS`` with training seed
    ``seed``)."""
    from samarl.training import TrainConfig, load_policy, load_run, train

    if settings.policy:
        chosen = settings.scenario is not None or settings.agents is not None
        return load_run(settings.policy, scenario=scenario if chosen else None)
    run_dir = out / ("policy" if seed is None else f"policy_seed{seed}")
    config = TrainConfig(iterations=iterations, progress=settings.progress)
    if seed is not None:
        config = TrainConfig.from_dict(config.to_dict() | {"seed": seed})
    start = time.perf_counter()
    train(scenario, config, run_dir, evaluate=True)
    wall = time.perf_counter() - start
    return TrainedRun(run_dir, scenario, load_policy(run_dir), train_wall_s=wall)


def run_dual(
    policy: TrainedRun,
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
    """One execution of the shared policy under ``dual`` (arrivals from ``seed``); ``module``
    replaces the policy's network (e.g. rebound to another population)."""
    return execute(
        scenario or policy.scenario,
        torch_act_fn(module or policy.policy),
        dual,
        mult_max=policy.mult_max,
        days=days,
        seed=seed,
        warmup_days=warmup_days,
        progress=progress,
        removal=removal,
        optimum=optimum,
    )


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


def policy_note(policy: TrainedRun) -> str:
    """One line on where the policy came from."""
    if policy.train_wall_s is not None:
        return (
            f"Policy: trained here ({policy.run_dir}, {policy.train_wall_s:.0f} s), shared by every "
            "run below."
        )
    return f"Policy: `{policy.run_dir}` (given with --policy), shared by every run below."
