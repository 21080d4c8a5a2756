"""Execution: trained state-augmented policies run for D days with dual dynamics and consensus.

Every agent holds its own multiplier vector ``mult^n`` (one entry per capacity block of the day).
Each step all N agents act in one batched forward pass, ``a^n = pi^n(s^n, mult^n)``; the Rust engine
steps their dynamics; when a block ends the agents update and share their multipliers
(:class:`samarl.execution.dual.DualState`: a local dual step, then K consensus rounds in the engine). Python
never loops over agents or rounds. The same code path runs every mode of :data:`samarl.execution.dual.MODES`.

``samarl run --policy DIR --mode MODE --out DIR`` writes the run folder of
:mod:`samarl.execution.run_folder`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from tqdm.auto import tqdm

from samarl._validate import check_memory, config_int, config_real, config_seed
from samarl.envs import DemandResponseEnv
from samarl.envs.dynamics import ROW_BYTES
from samarl.errors import ConfigError
from samarl.execution.dual import MAX_MULT, DualConfig, DualState, dual_bytes, stagger_offsets
from samarl.execution.metrics import Metrics
from samarl.execution.optimum import FluidOptimum, optimum_gaps
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
_MAX_BACKLOG_VALUES = 50_000_000
#: Bytes per agent of a run's own arrays beyond the env's and the multipliers: the metrics' sums
#: and the per-step temporaries (actions, backlogs).
_RUN_BYTES_PER_AGENT = 64
#: Bytes per step of a run's records: total load, its capacity, the metrics' list of totals.
_RUN_BYTES_PER_STEP = 48


@dataclass
class ExecutionResult:
    """What a run measured: the metrics of docs/metrics.md and the trajectories behind them."""

    metrics: dict[str, Any]
    """Violation, overshoot, slack, served, postponing, consensus error, final mult, wall time."""
    total_load: npt.NDArray[np.float64]
    """``[T]`` total power drawn at every step (kW)."""
    capacity: npt.NDArray[np.float64]
    """``[T]`` capacity at every step (kW)."""
    mult_band: npt.NDArray[np.float64]
    """``[E, 3]`` min, mean and max over agents of the multiplier of the block just updated."""
    mult_epochs: npt.NDArray[np.int64]
    """``[E]`` step at which each entry of ``mult_band`` was recorded."""
    consensus_error: npt.NDArray[np.float64]
    """``[E]`` max over agents of ``|mult^n_h - mean(mult_h)|`` after each update."""
    top_backlog: npt.NDArray[np.float64]
    """``[T, k]`` backlog of the k agents with the largest final backlog."""
    final_mult: F32
    """``[N, m]`` every agent's multipliers at the end."""
    mult_daily: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros((0, 0)))
    """``[days, m]`` mean over the participating agents of block ``h``'s multiplier on day ``d``,
    as it stood while the block ran."""
    mix_log: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros((0, 5)))
    """``[U, 5]`` per update of agent-held copies: step, block, 2-norm spread of the participants'
    copies before mixing, max deviation from their mean after it, 2-norm spread of the local steps
    (see :mod:`samarl.execution.dual`)."""


@dataclass(frozen=True)
class AgentRemoval:
    """A fault: at the start of day ``day`` a random ``fraction`` of the agents stop participating.

    They leave the communication graph and their multipliers freeze (semantics in
    :mod:`samarl.execution.dual`, :meth:`~samarl.execution.dual.DualState.remove_agents`); their load stays on the grid.
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
        The perfect-foresight optimum of the same arrivals (:func:`samarl.execution.optimum.solve`
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
    n, s = data.num_agents, scenario.steps_per_day
    blocks = data.block_of_step
    m = int(blocks.max()) + 1
    block_len = np.bincount(blocks, minlength=m)
    cap_block = np.bincount(blocks, weights=data.capacity, minlength=m) / block_len
    last_step_of_block = np.array([np.flatnonzero(blocks == h).max() for h in range(m)])
    block_ends = np.zeros(s, dtype=bool)
    block_ends[last_step_of_block] = True
    block_starts = np.zeros(s, dtype=bool)
    block_starts[[int(np.flatnonzero(blocks == h).min()) for h in range(m)]] = True

    env = DemandResponseEnv(scenario, data=data, episode_steps=days * s)
    state = DualState(dual, cap_block, n, mult_max)
    metrics = Metrics(
        capacity=data.capacity,
        block_of_step=blocks,
        mean_arrival=data.mean_arrival,
        total_steps=days * s,
        warmup_steps=warm * s,
        mult_max=mult_max,
        dt_hours=scenario.dt_hours,
    )
    width = dual.stagger_width(s, m)
    offsets = stagger_offsets(n, width, seed) if width else None
    obs = env.reset(seed)
    epoch_days = np.zeros(m, dtype=np.int64)
    total_steps = days * s
    try:
        total_load = np.zeros(total_steps)
        mult_daily = np.zeros((days, m))
    except (MemoryError, ValueError):  # ValueError: NumPy's "array is too big"
        raise ConfigError(f"days: not enough memory to record {days} days") from None
    keep_backlogs = n * total_steps <= _MAX_BACKLOG_VALUES
    backlog_hist = np.zeros((total_steps, n), dtype=np.float32) if keep_backlogs else None
    band, epochs, cons_err = [], [], []
    mix_steps: list[int] = []
    removed_at = None if removal is None else removal.day * s
    use_by_block = np.zeros((n, m), dtype=np.float64)

    t0 = time.perf_counter()
    bar = tqdm(total=total_steps, desc=f"run {dual.mode}", unit="step", disable=not progress)
    for t in range(total_steps):
        tod = t % s
        if t == removed_at and removal is not None:
            state.remove_agents(removal.agents(n))
        if block_starts[tod]:
            h = int(blocks[tod])
            col = state.mult[:, h] if state.active is None else state.mult[state.active, h]
            mult_daily[t // s, h] = float(col.mean(dtype=np.float64))
        actions = act(obs, state.mult, tod if offsets is None else (offsets + tod) % s)
        res = env.step(actions)
        backlog = env.backlog
        metrics.record(res.resource_use, res.served, res.arrived, res.reward, backlog)
        total_load[t] = float(res.resource_use.sum(dtype=np.float64))
        if backlog_hist is not None:
            backlog_hist[t] = backlog
        h = int(blocks[tod])
        use_by_block[:, h] += res.resource_use
        if block_ends[tod]:
            epoch_days[h] += 1
            if epoch_days[h] % dual.dual_epoch_len == 0:
                ghat = state.rule.average_use(use_by_block[:, h], int(block_len[h]))
                logged = len(state.mix_log)
                state.update(h, ghat)
                mix_steps.extend([t] * (len(state.mix_log) - logged))
                use_by_block[:, h] = 0.0
                col = state.mult[:, h] if state.active is None else state.mult[state.active, h]
                band.append((float(col.min()), float(col.mean()), float(col.max())))
                epochs.append(t)
                cons_err.append(float(np.abs(col - col.mean(dtype=np.float64)).max()))
                metrics.record_consensus(state.participating_mult())
        obs = res.obs
        if tod == s - 1:
            metrics.record_daily_prices(t // s, mult_daily[t // s])
        if t % s == s - 1:
            bar.set_postfix(day=t // s + 1, load_max=f"{total_load[t - s + 1 : t + 1].max():.0f}")
        bar.update()
    bar.close()
    wall = time.perf_counter() - t0

    result = metrics.summary()
    result["time/execution_wall_s"] = wall
    result["final_mult"] = {
        "min": float(state.mult.min()),
        "mean": float(state.mult.mean()),
        "max": float(state.mult.max()),
        "per_block_mean": state.mult.mean(axis=0).round(6).tolist(),
    }
    if optimum is not None:
        result |= optimum_gaps(optimum, result, mult_daily[warm:], warm * s, mult_max)
    result["mode"] = dual.mode
    result["dual"] = asdict(dual) | {
        "rounds_run": dual.rounds,
        "step_size": state.step_size,
        "mult_max": mult_max,
    }
    result["days"] = days
    result["warmup_days"] = warm
    result["num_agents"] = n
    if state.consensus is not None:
        result["graph"] = {
            "family": dual.graph,
            "mean_degree": state.consensus.graph.mean_degree,
            "spectral_gap": state.consensus.spectral_gap(),
            "components": state.components,
        }
    if removal is not None:
        result["removal"] = asdict(removal) | {"participating": state.num_active}
    final_backlog = env.backlog
    top = np.argsort(final_backlog)[::-1][:top_k]
    top_backlog = (
        backlog_hist[:, top].astype(np.float64) if backlog_hist is not None else np.zeros((0, 0))
    )
    return ExecutionResult(
        metrics=result,
        total_load=total_load,
        capacity=np.tile(data.capacity.astype(np.float64), days),
        mult_band=np.asarray(band, dtype=np.float64).reshape(-1, 3),
        mult_epochs=np.asarray(epochs, dtype=np.int64),
        consensus_error=np.asarray(cons_err, dtype=np.float64),
        top_backlog=top_backlog,
        final_mult=state.mult.copy(),
        mult_daily=mult_daily,
        mix_log=np.column_stack(
            [np.asarray(mix_steps, dtype=np.float64), np.asarray(state.mix_log).reshape(-1, 4)]
        )
        if state.mix_log
        else np.zeros((0, 5)),
    )


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
        + 4 * min(n * steps, _MAX_BACKLOG_VALUES)
    )
    per_steps = steps * _RUN_BYTES_PER_STEP + days * m * 8
    if per_steps > per_agents:
        check_memory("days", days, "days", per_agents + per_steps)
    else:
        check_memory("num_agents", n, "agents", per_agents + per_steps)
