"""The one execution loop: D simulated days of N agents with dual dynamics, in one process or split.

:class:`Execution` walks the scenario's :class:`~samarl.execution.calendar.BlockCalendar` step by
step. Each step every group of agents (:class:`~samarl.execution.agents.AgentGroup`) acts and steps
its dynamics and returns sums; the loop records the totals (:class:`~samarl.execution.metrics.Metrics`
fed sums only), the price in force when a block starts, and, when a block's dual epoch ends, runs
the one dual update (:class:`~samarl.execution.dual.DualUpdate`) and records the agreement of the
copies. At the end it builds the run's result keys and :class:`ExecutionResult`.

Everything that differs between one process and a run split over Ray actors is in two objects the
loop is given: ``groups``, which calls a method on every group and returns their answers in group
order (:class:`InProcess` for groups in this process), and the ``mixer`` of the consensus rounds
(:mod:`samarl.execution.mixing`). :func:`samarl.execution.execute` and
:class:`samarl.distributed.partitions.PartitionedRun` both run this loop.

Reductions over groups add the groups' float64 sums in group order, and every quantity a group
reduces is reduced exactly as one process reduces all its agents, so one group gives the same bits
as the single-process executor always has.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from tqdm.auto import tqdm

from samarl.errors import ConfigError
from samarl.execution.calendar import BlockCalendar
from samarl.execution.dual import DualStep, DualUpdate
from samarl.execution.metrics import Metrics
from samarl.scenario import ScenarioData

__all__ = ["Execution", "ExecutionResult", "InProcess"]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass
class ExecutionResult:
    """What a run measured: the metrics of docs/metrics.md and the trajectories behind them."""

    metrics: dict[str, Any]
    """Violation, overshoot, slack, served, postponing, consensus error, final mult, wall time."""
    total_load: F64
    """``[T]`` total power drawn at every step (kW)."""
    capacity: F64
    """``[T]`` capacity at every step (kW)."""
    mult_band: F64
    """``[E, 3]`` min, mean and max over the participating agents of the multiplier of the block
    just updated."""
    mult_epochs: I64
    """``[E]`` step at which each entry of ``mult_band`` was recorded."""
    consensus_error: F64
    """``[E]`` max over agents of ``|mult^n_h - mean(mult_h)|`` after each update."""
    top_backlog: F64
    """``[T, k]`` backlog of the k agents with the largest final backlog."""
    final_mult: F32
    """``[N, m]`` every agent's multipliers at the end."""
    mult_daily: F64 = field(default_factory=lambda: np.zeros((0, 0)))
    """``[days, m]`` mean over the participating agents of block ``h``'s multiplier on day ``d``,
    as it stood while the block ran."""
    mix_log: F64 = field(default_factory=lambda: np.zeros((0, 5)))
    """``[U, 5]`` per update of agent-held copies: step, block, 2-norm spread of the participants'
    copies before mixing, max deviation from their mean after it, 2-norm spread of the local steps
    (see :mod:`samarl.execution.dual`)."""


class InProcess:
    """Groups of agents in this process, called directly: ``groups("dual.price", h)`` calls
    ``group.dual.price(h)`` on every group and returns the answers in group order."""

    def __init__(self, groups: list[Any]) -> None:
        self.groups = groups

    def __call__(self, method: str, *args: Any) -> list[Any]:
        return [_resolve(g, method)(*args) for g in self.groups]


def _resolve(obj: Any, path: str) -> Any:
    for name in path.split("."):
        obj = getattr(obj, name)
    return obj


class Execution:
    """``days`` simulated days of the agents of ``data`` in ``groups`` (see the module doc).

    ``removal`` (:class:`~samarl.execution.executor.AgentRemoval`) takes agents out of the dual
    dynamics at the start of its day; ``mixer`` is None when the mode runs no consensus rounds.
    Call :meth:`advance` (all at once, or a few steps at a time), then :meth:`result`.
    """

    def __init__(
        self,
        groups: Any,
        mixer: Any,
        rule: DualStep,
        data: ScenarioData,
        *,
        days: int,
        warmup_days: int,
        dt_hours: float,
        removal: Any = None,
        progress: bool = False,
    ) -> None:
        calendar = BlockCalendar.of(data)
        capacity, mean_arrival = data.capacity, data.mean_arrival
        s, m = calendar.steps_per_day, calendar.num_blocks
        self.groups = groups
        self.mixer = mixer
        self.rule = rule
        self.calendar = calendar
        self.capacity = capacity
        self.num_agents = n = int(mean_arrival.size)
        self.days = days
        self.warmup_days = warmup_days
        self.total_steps = days * s
        self.removal = removal
        self.removed_at = None if removal is None else removal.day * s
        self.num_active = n
        self.metrics = Metrics(
            capacity=capacity,
            block_of_step=calendar.block_of_step,
            mean_arrival=mean_arrival,
            total_steps=self.total_steps,
            warmup_steps=warmup_days * s,
            mult_max=rule.mult_max,
            dt_hours=dt_hours,
            agents=False,
        )
        self.update = DualUpdate(rule, lambda name, *a: groups(f"dual.{name}", *a), mixer)
        try:
            self.total_load = np.zeros(self.total_steps)
            self.mult_daily = np.zeros((days, m))
        except (MemoryError, ValueError):  # ValueError: NumPy's "array is too big"
            raise ConfigError(f"days: not enough memory to record {days} days") from None
        self.t = 0
        self.wall_s = 0.0
        self._epoch_days = np.zeros(m, dtype=np.int64)
        self._band: list[tuple[float, float, float]] = []
        self._epochs: list[int] = []
        self._consensus_error: list[float] = []
        self._mix_steps: list[int] = []
        self._bar = tqdm(
            total=self.total_steps,
            desc=f"run {rule.config.mode}",
            unit="step",
            disable=not progress,
        )

    def reset(self, seed: int) -> None:
        """Starts every group's arrivals from ``seed``."""
        self.groups("reset", seed)
        self.metrics.start()

    def advance(self, steps: int | None = None) -> None:
        """Runs ``steps`` more steps (default: to the end)."""
        cal, config = self.calendar, self.rule.config
        s = cal.steps_per_day
        end = self.total_steps if steps is None else min(self.total_steps, self.t + steps)
        start = time.perf_counter()
        while self.t < end:
            t, tod = self.t, self.t % s
            if t == self.removed_at:
                self._remove()
            starting = int(cal.starts_at[tod])
            sums = self.groups("step", tod, starting)
            load, served, arrived, backlog, price, count = (
                sum(x[i] for x in sums) for i in range(6)
            )
            self.total_load[t] = load
            self.metrics.record_totals(load, served, arrived, backlog)
            if starting >= 0:
                self.mult_daily[t // s, starting] = price / count
            ending = int(cal.ends_at[tod])
            if ending >= 0:
                self._epoch_days[ending] += 1
                if self._epoch_days[ending] % config.dual_epoch_len == 0:
                    logged = len(self.update.mix_log)
                    self.update(ending, "begin_from_use", int(cal.block_len[ending]))
                    self._mix_steps.extend([t] * (len(self.update.mix_log) - logged))
                    self._record_epoch(ending, t)
            if tod == s - 1:
                self.metrics.record_daily_prices(t // s, self.mult_daily[t // s])
                day = self.total_load[t - s + 1 : t + 1]
                self._bar.set_postfix(day=t // s + 1, load_max=f"{day.max():.0f}")
            self._bar.update()
            self.t += 1
        self.wall_s += time.perf_counter() - start
        if self.t == self.total_steps:
            self._bar.close()

    def _remove(self) -> None:
        """The agents of ``removal`` stop taking part: their copies freeze, and the survivors mix
        on their induced subgraph."""
        n = self.num_agents
        gone = np.unique(self.removal.agents(n))
        keep = np.setdiff1d(np.arange(n), gone, assume_unique=True)
        if keep.size == 0:
            raise ConfigError("agents: removing them would leave no agent participating")
        self.groups("remove", gone)
        self.num_active = int(keep.size)
        if self.mixer is not None:
            self.mixer.remove(keep)

    def _record_epoch(self, h: int, t: int) -> None:
        """The price band and consensus error of block ``h`` after its update, and the
        agreement statistics of every block (``Metrics.record_consensus_stats``): over the
        participating agents, a removed agent counting as one more copy at their mean."""
        stats = self.groups("dual.stats")
        count = sum(x[1] for x in stats)
        mean = sum(x[0] for x in stats) / count
        lo = np.min([x[2] for x in stats], axis=0)
        hi = np.max([x[3] for x in stats], axis=0)
        col_sum, col_count = (sum(x[i] for x in self.groups("dual.price", h)) for i in (0, 1))
        col_mean = col_sum / col_count
        fill = mean.astype(np.float32)
        epoch = self.groups("dual.epoch", h, col_mean, fill)
        mean_all = sum(x[1] for x in epoch) / self.num_agents
        abs_dev = sum(self.groups("dual.abs_deviation", mean_all, fill))
        self._band.append((float(lo[h]), col_mean, float(hi[h])))
        self._epochs.append(t)
        self._consensus_error.append(max(x[0] for x in epoch))
        self.metrics.record_consensus_stats(mean_all, lo, hi, abs_dev)

    def result(
        self,
        *,
        top_k: int = 5,
        optimum: Any = None,
        graph: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        """The run's :class:`ExecutionResult` (its metrics, the keys of docs/metrics.md, then
        ``final_mult``, the optimum's gaps, the settings, ``graph`` and ``removal``)."""
        from samarl.execution.optimum import optimum_gaps

        s, config = self.calendar.steps_per_day, self.rule.config
        parts = self.groups("finish", top_k)
        result = self.metrics.summary(agent_sums=[p["metric_sums"] for p in parts])
        result["time/execution_wall_s"] = self.wall_s
        mult = np.empty((self.num_agents, self.calendar.num_blocks), dtype=np.float32)
        for p in parts:
            mult[p["agents"]] = p["mult"]
        result["final_mult"] = {
            "min": float(mult.min()),
            "mean": float(mult.mean()),
            "max": float(mult.max()),
            "per_block_mean": mult.mean(axis=0).round(6).tolist(),
        }
        warm = self.warmup_days
        if optimum is not None:
            result |= optimum_gaps(
                optimum, result, self.mult_daily[warm:], warm * s, self.rule.mult_max
            )
        result["mode"] = config.mode
        result["dual"] = asdict(config) | {
            "rounds_run": config.rounds,
            "step_size": self.rule.step_size,
            "mult_max": self.rule.mult_max,
        }
        result["days"] = self.days
        result["warmup_days"] = warm
        result["num_agents"] = self.num_agents
        if graph is not None:
            result["graph"] = graph
        elif self.mixer is not None:
            result["graph"] = self.mixer.graph_facts()
        if self.removal is not None:
            result["removal"] = asdict(self.removal) | {"participating": self.num_active}
        log = np.asarray(self.update.mix_log, dtype=np.float64).reshape(-1, 4)
        return ExecutionResult(
            metrics=result,
            total_load=self.total_load[: self.t].copy(),
            capacity=np.tile(self.capacity.astype(np.float64), self.days)[: self.t],
            mult_band=np.asarray(self._band, dtype=np.float64).reshape(-1, 3),
            mult_epochs=np.asarray(self._epochs, dtype=np.int64),
            consensus_error=np.asarray(self._consensus_error, dtype=np.float64),
            top_backlog=_top_backlog(parts, top_k),
            final_mult=mult,
            mult_daily=self.mult_daily,
            mix_log=np.column_stack([np.asarray(self._mix_steps, dtype=np.float64), log])
            if log.size
            else np.zeros((0, 5)),
        )


def _top_backlog(parts: list[dict[str, Any]], top_k: int) -> F64:
    """``[T, k]`` the backlog over the run of the ``top_k`` agents with the largest final backlog,
    from each group's own top ``top_k`` (largest first; ties keep the groups' order)."""
    if any(p["top_backlog"] is None for p in parts):
        return np.zeros((0, 0))
    finals = np.concatenate([p["top_final"] for p in parts])
    columns = np.concatenate([p["top_backlog"] for p in parts], axis=1)
    order = np.argsort(-finals, kind="stable")[:top_k]
    return columns[:, order].astype(np.float64)
