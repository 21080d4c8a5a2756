"""Execution: trained state-augmented policies run for D days with dual dynamics and consensus.

Every agent holds its own multiplier vector ``mult^n`` (one entry per capacity block of the day).
Each step all N agents act in one batched forward pass, ``a^n = pi^n(s^n, mult^n)``; the Rust engine
steps their dynamics; when a block ends the agents update and share their multipliers (a local dual
step, then K consensus rounds in the engine). Python never loops over agents or rounds.
:func:`execute` runs the one execution loop (:class:`samarl.execution.loop.Execution`) on one group
of all N agents (:class:`samarl.execution.agents.AgentGroup`) and the engine's consensus
(:class:`samarl.execution.mixing.ConsensusMixer`); a partitioned run
(:mod:`samarl.distributed.partitions`) runs the same loop on Ray actors. Every mode of
:data:`samarl.execution.dual.MODES` takes that one path.

``samarl run --policy DIR --mode MODE --out DIR`` writes the run folder of
:mod:`samarl.execution.run_folder`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from samarl._validate import check_memory, config_int, config_real, config_seed
from samarl.envs import Dynamics
from samarl.envs.dynamics import ROW_BYTES
from samarl.errors import ConfigError
from samarl.execution.agents import MAX_BACKLOG_VALUES, AgentGroup
from samarl.execution.calendar import BlockCalendar
from samarl.execution.dual import MAX_MULT, DualConfig, DualStep, dual_bytes, stagger_offsets
from samarl.execution.loop import Execution, ExecutionResult, InProcess
from samarl.execution.mixing import ConsensusMixer, communication_graph
from samarl.execution.optimum import FluidOptimum
from samarl.scenario import ScenarioConfig, ScenarioData, resolve_scenario
from samarl.scenario.config import MAX_EPISODE_STEPS

__all__ = ["ActFn", "AgentRemoval", "ExecutionResult", "execute"]

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
#: A batched policy: ``(obs [N, obs_dim], mult [N, m], step_of_day) -> actions [N]`` in [0, 1];
#: ``step_of_day`` is the step of the price schedule each agent reads: one int, or ``[N]`` when
#: the block boundaries are staggered (:class:`~samarl.execution.DualConfig` ``stagger``).
ActFn = Callable[[F32, F32, "int | I64"], F32]
#: Backlogs of every agent at every step are recorded (for ``top_backlog``) up to this many values.
#: Bytes per agent of a run's own arrays beyond the env's and the multipliers: the metrics' sums
#: and the per-step temporaries (actions, backlogs).
_RUN_BYTES_PER_AGENT = 64
#: Bytes per step of a run's records: total load, its capacity, the metrics' list of totals.
_RUN_BYTES_PER_STEP = 48


@dataclass(frozen=True)
class AgentRemoval:
    """A fault: at the start of day ``day`` a random ``fraction`` of the agents stop participating.

    They leave the communication graph and their multipliers freeze (semantics in
    :mod:`samarl.execution.dual`, :meth:`~samarl.execution.mixing.DualState.remove_agents`); their load stays on the grid.
    """

    day: int
    """Day (0-based) at whose start the agents leave."""
    fraction: float
    """Share of the agents that leave, in (0, 1)."""
    seed: int = 0
    """Seed of the choice of agents."""

    def __post_init__(self) -> None:
        if (
            isinstance(self.day, bool)
            or not isinstance(self.day, (int, np.integer))
            or self.day < 0
        ):
            raise ConfigError(f"removal day: must be an integer >= 0, got {self.day!r}")
        if not (
            isinstance(self.fraction, (int, float, np.integer, np.floating))
            and not isinstance(self.fraction, bool)
            and 0.0 < self.fraction < 1.0
        ):
            raise ConfigError(f"removal fraction: must be in (0, 1), got {self.fraction!r}")
        config_seed("removal seed", self.seed)

    def agents(self, num_agents: int) -> I64:
        """The agents (indices among ``num_agents``) that leave, drawn from ``seed``."""
        rng = np.random.default_rng(self.seed)
        return rng.choice(num_agents, size=round(self.fraction * num_agents), replace=False)


def torch_act_fn(policy: Any, device: str = "cpu", num_threads: int | None = 1) -> ActFn:
    """Wraps a torch policy with ``act(obs, mult, step_of_day, deterministic)`` as an :data:`ActFn`.

    Observations and multipliers reach torch without a copy (``torch.from_numpy``).
    ``num_threads`` sets torch's intra-op threads (process-wide, as training's
    ``TrainConfig.num_threads`` does; None leaves them): one by default, because a forward pass
    for a few thousand agents is too small to split, and torch's OpenMP workers, which spin
    between operations, take the cores from the engine's threads stepping the environment
    between two forward passes. On a busy 2-core machine, 2 days of the default scenario ran in
    14.6 s with torch's 2 threads and 0.69 s with one.

    ``device`` is checked at once (a :class:`~samarl.errors.ConfigError` naming it for a device
    torch does not know or this machine lacks), not at the first call.
    """
    import torch

    from samarl.training.policies import torch_device

    if not callable(getattr(policy, "act", None)):
        raise ConfigError(
            f"policy: expected a policy with act(obs, mult, step_of_day, deterministic), got "
            f"{type(policy).__name__}"
        )
    dev = torch_device(str(device))
    if num_threads is not None:
        if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1:
            raise ConfigError(f"num_threads: must be None or an integer >= 1, got {num_threads!r}")
        if torch.get_num_threads() != num_threads:
            torch.set_num_threads(num_threads)

    def act(obs: F32, mult: F32, step_of_day: int | I64) -> F32:
        sod = step_of_day if isinstance(step_of_day, int) else torch.from_numpy(step_of_day)
        with torch.no_grad():
            a = policy.act(
                torch.from_numpy(obs).to(dev),
                torch.from_numpy(mult).to(dev),
                sod if isinstance(sod, int) else sod.to(dev),
                deterministic=True,
            )
        return np.ascontiguousarray(a.cpu().numpy(), dtype=np.float32)

    return act


def execute(
    scenario: ScenarioConfig,
    act: ActFn,
    dual: DualConfig,
    *,
    mult_max: float,
    days: int,
    seed: int = 0,
    warmup_days: int | None = None,
    data: ScenarioData | None = None,
    progress: bool = True,
    top_k: int = 5,
    removal: AgentRemoval | None = None,
    optimum: FluidOptimum | None = None,
) -> ExecutionResult:
    """Runs ``days`` simulated days of N agents with the dual dynamics of ``dual``.

    Parameters
    ----------
    scenario
        The agents, their arrivals and the grid's capacity.
    act
        The batched policy (:func:`torch_act_fn` wraps a trained one).
    dual
        Mode, consensus rounds, step size, graph, link failures.
    mult_max
        Top of the multiplier range (the one the policies were trained on).
    days
        Simulated days.
    seed
        Seed of the arrivals.
    warmup_days
        Days excluded from the metrics while the prices settle (default: half the run).
    removal
        Optional fault: agents that stop participating mid-run (consensus error is then measured
        over the participants).
    optimum
        The perfect-foresight optimum of the same arrivals (:func:`samarl.execution.optimum.solve_for_run`
        for this scenario, seed and number of days): adds the ``optimum/`` keys, this run's gap to
        the physical limit over the same window.
    """
    scenario = resolve_scenario(scenario)
    if not isinstance(dual, DualConfig):
        raise ConfigError(f"dual: expected a DualConfig, got {type(dual).__name__}")
    if not callable(act):
        raise ConfigError(f"act: expected a callable policy, got {type(act).__name__}")
    mult_max = config_real("mult_max", mult_max, low=0.0, high=MAX_MULT, low_open=True)
    days = config_int("days", days)
    seed = config_seed("seed", seed)
    top_k = config_int("top_k", top_k, minimum=0)
    if removal is not None and not isinstance(removal, AgentRemoval):
        raise ConfigError(f"removal: expected an AgentRemoval, got {type(removal).__name__}")
    if days * scenario.steps_per_day > MAX_EPISODE_STEPS:
        raise ConfigError(f"days: at most {MAX_EPISODE_STEPS} steps in all, got {days} days")
    warm = days // 2 if warmup_days is None else config_int("warmup_days", warmup_days, minimum=0)
    if not 0 <= warm < days:
        raise ConfigError(f"warmup_days: must be in [0, days), got {warm} for {days} days")
    if data is not None:
        if not isinstance(data, ScenarioData):
            raise ConfigError(
                f"data: expected the scenario's ScenarioData, got {type(data).__name__}"
            )
        data.check_for(scenario)
    _check_run_memory(scenario, dual, days, built=data is not None)
    data = data or scenario.build()
    n = data.num_agents
    calendar = BlockCalendar.of(data)
    rule = DualStep(dual, calendar.capacity_per_block, n, mult_max)
    width = dual.stagger_width(calendar.steps_per_day, calendar.num_blocks)
    total_steps = days * calendar.steps_per_day
    group = AgentGroup(
        Dynamics(**scenario.dynamics_params(data)),
        act,
        rule,
        agents=np.arange(n, dtype=np.int64),
        block_of_step=calendar.block_of_step,
        total_steps=total_steps,
        warmup_steps=warm * calendar.steps_per_day,
        offsets=stagger_offsets(n, width, seed) if width else None,
        keep_backlog=n * total_steps <= MAX_BACKLOG_VALUES,
    )
    mixer = None
    if dual.rounds > 0:
        mixer = ConsensusMixer(dual, group.dual, communication_graph(dual, n))
    run = Execution(
        InProcess([group]),
        mixer,
        rule,
        data,
        days=days,
        warmup_days=warm,
        dt_hours=scenario.dt_hours,
        removal=removal,
        progress=progress,
    )
    run.reset(seed)
    run.advance()
    return run.result(top_k=top_k, optimum=optimum)


def _check_run_memory(
    scenario: ScenarioConfig, dual: DualConfig, days: int, *, built: bool
) -> None:
    """Refuses, before anything is allocated, a run whose arrays would not fit in this machine's
    memory: the population (unless ``built``), the env, the dual dynamics and their graph, and
    the run's records (per agent, per step and per day). Names ``days`` when the records of the
    steps outweigh the agents, else ``num_agents``."""
    n, s, m = scenario.num_agents, scenario.steps_per_day, scenario.num_blocks
    steps = days * s
    per_agents = (
        (0 if built else scenario.build_bytes())
        + n * (ROW_BYTES + _RUN_BYTES_PER_AGENT + 8 * m)
        + dual_bytes(dual, n, m)
        + 4 * min(n * steps, MAX_BACKLOG_VALUES)
    )
    per_steps = steps * _RUN_BYTES_PER_STEP + days * m * 8
    if per_steps > per_agents:
        check_memory("days", days, "days", per_agents + per_steps)
    else:
        check_memory("num_agents", n, "agents", per_agents + per_steps)
