"""The metrics every run reports (docs/environment.md), computed incrementally: O(N) per step.

:class:`Metrics` is fed one env step at a time (:meth:`Metrics.record`) and, by the executor, the
agents' multiplier copies at each dual epoch (:meth:`Metrics.record_consensus`). It keeps running
sums only, never the agents' history: per-block sums of total use and capacity, per-agent reward
sums, and the least-squares sums of each agent's daily-mean backlog over the run's second half.
Scalar per-step traces (total use, optionally the mean backlog of a few agent groups) are kept for
plots.

With ``G_t = sum_n g^n_t`` the total use and ``C_t`` the capacity, over the evaluation window (the
steps after a warm-up, by default the first simulated day):

What a grid operator reads first, per day:

- ``constraint/excess_p95``, ``constraint/excess_max``: the daily excess of every (day, block) of
  the window, ``max(0, sum over the block's steps that day of (G_t - C_t)) / sum of C_t over them``
  (a day-block counts when all its steps are in the window); its 95th percentile and maximum.
  ``constraint/excess_per_day_block`` lists them, ``[days][m]``.
- ``constraint/peak_ratio``: ``max_t G_t / C_t`` over the window's steps.
- ``dual/settling``: the mean over consecutive window days and blocks of ``|mean price of block h on
  day d+1 - on day d| / mult_max`` (prices from :meth:`Metrics.record_daily_prices`): near 0 once
  the prices have converged, large when they cycle.
- ``demand/delay_h``: mean waiting time of served energy (hours), by Little's law
  ``dt * sum_t Q_t / sum_t E_t`` (total backlog after each step over energy served).
- ``demand/waiting_cost``: ``sum_t sum_n (cl_n q + cq_n q^2)`` over the window (minus the env
  reward), and ``demand/waiting_cost_per_agent_day``.

The long-run form the theory bounds (a day over capacity can cancel a day under it: not what an
operator judges):

- ``constraint/violation_avg_max``, ``constraint/violation_avg_mean``: for each block ``h``,
  ``max(0, sum_{t in h} (G_t - C_t)) / sum_{t in h} C_t`` over all window days; the max and mean over
  blocks (blocks with no step in the window are left out). ``constraint/violation_avg_per_block``
  lists them.

And:

- ``constraint/overshoot``: ``sum_t max(0, G_t - C_t) / sum_t C_t``.
- ``constraint/slack``: ``sum_t (C_t - G_t) / sum_t C_t`` (negative when over).
- ``demand/served``: energy served / (backlog at the window's start + energy arrived in it), so
  what still waits at the end counts as unserved (by energy balance, ``1 - final backlog / that``).
- ``demand/postponing``: agents whose backlog keeps growing: the least-squares slope of their
  backlog over the second half of the run above ``postpone_slope`` x their mean arrivals per step,
  or a final backlog above ``postpone_days`` days of their mean demand (``demand/postponing_frac``:
  the share). The slope is fitted to *daily means* of the backlog over the later ``ceil(D / 2)`` of
  the run's ``D`` complete days (and divided by ``S`` to be per step): backlogs rise every evening
  and fall every night, and a fit to the raw steps of a window that is not a whole number of days
  (or even one that is) reads that cycle as a trend, flagging households that keep up. Daily means
  remove the cycle exactly. With fewer than two such days only the final-backlog test applies.
- ``consensus/error_max``, ``consensus/error_mean``: ``max_n |mult^n - mean(mult)|`` and the mean of
  ``|mult^n - mean(mult)|`` (over agents and blocks) per dual epoch in the window, averaged over
  epochs; per-epoch values and the multiplier trajectory (mean, min, max per block) are listed too.
- ``reward/total`` (sum over agents and window steps), ``reward/mean`` (per agent-step),
  ``reward/per_agent`` (window sum per agent; with ``summary(per_agent=True)``).
- ``time/wall_s`` (from construction or :meth:`Metrics.start` to the last record) and
  ``time/agent_steps_per_s`` (all recorded steps, warm-up included).

:meth:`Metrics.summary` returns a plain, JSON-serialisable dict (floats, ints, lists, ``None`` for a
quantity with nothing to measure yet).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import numpy.typing as npt

from samarl._validate import as_f32, as_f64, as_index, as_real, check_shape, positive_int, real
from samarl.errors import InvalidValueError

#: Default thresholds of ``demand/postponing``: a backlog slope above this fraction of the agent's
#: mean arrivals per step, or a final backlog above this many days of its mean demand.
POSTPONE_SLOPE = 0.05
POSTPONE_DAYS = 1.0
#: Rows per pass of the per-epoch consensus statistics (bounds their float64 temporaries).
_ROWS_PER_PASS = 65_536

__all__ = ["AgentMetrics", "Metrics", "abs_deviation"]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]


class Metrics:
    """Incremental run metrics (see the module docstring for the definitions).

    Parameters
    ----------
    capacity
        ``[S]`` total capacity ``C_t`` (kW) for every step of the day.
    block_of_step
        ``[S]`` block ``h(t)`` of every step of the day, in ``[0, num_blocks)``.
    mean_arrival
        ``[N]`` each agent's mean arrivals per step (kWh), the scale of the postponing tests.
    total_steps
        Planned length of the run in steps (backlog slopes are fitted over its second half).
    warmup_steps
        Steps excluded from the evaluation window; default one day (``S``).
    initial_backlog
        ``[N]`` backlog at the start of the run (kWh), default zeros (counts when ``warmup_steps``
        is 0).
    postpone_slope
        Backlog slope threshold, as a fraction of the agent's mean arrivals per step.
    postpone_days
        Final-backlog threshold, in days of the agent's mean demand.
    groups
        Optional ``[N]`` group label per agent (``0 .. G-1``): the mean backlog of each group is
        traced every step (for :func:`samarl.plots.plot_backlog_by_group`).
    mult_max
        Top of the multiplier range, the scale of ``dual/settling`` (default 1).
    dt_hours
        Step length (hours), the unit of ``demand/delay_h`` (default 0.25).
    agents
        Keep the per-agent metrics (:class:`AgentMetrics`) here (default). ``False``: the run's
        agents keep them in their own parts, :meth:`record_totals` is fed the sums, and
        :meth:`summary` is given the parts' :meth:`AgentMetrics.sums`.

    Call :meth:`record` once per env step, starting right after a reset at midnight.
    """

    def __init__(
        self,
        *,
        capacity: npt.ArrayLike,
        block_of_step: npt.ArrayLike,
        mean_arrival: npt.ArrayLike,
        total_steps: int,
        warmup_steps: int | None = None,
        initial_backlog: npt.ArrayLike | None = None,
        postpone_slope: float = POSTPONE_SLOPE,
        postpone_days: float = POSTPONE_DAYS,
        groups: npt.ArrayLike | None = None,
        mult_max: float = 1.0,
        dt_hours: float = 0.25,
        agents: bool = True,
    ) -> None:
        self.capacity = as_f32("capacity", capacity, shape=(None,)).astype(np.float64)
        s = self.capacity.size
        if s == 0 or (self.capacity <= 0).any():
            raise InvalidValueError("capacity: must be a non-empty [S] array, all > 0")
        self.block_of_step = as_index("block_of_step", block_of_step, shape=(s,))
        self.num_blocks = int(self.block_of_step.max()) + 1
        self.mean_arrival = as_f32("mean_arrival", mean_arrival, shape=(None,), nonnegative=True)
        self.num_agents = n = self.mean_arrival.size
        if n == 0:
            raise InvalidValueError("mean_arrival: needs one entry per agent (N > 0)")
        self.steps_per_day = s
        self.total_steps = positive_int("total_steps", total_steps)
        self.warmup_steps = (
            s if warmup_steps is None else positive_int("warmup_steps", warmup_steps, minimum=0)
        )
        if self.warmup_steps >= self.total_steps:
            raise InvalidValueError(
                f"warmup_steps: a warm-up of {self.warmup_steps} steps leaves no evaluation window "
                f"in a run of {self.total_steps} steps (pass a smaller warmup_steps, e.g. 0)"
            )
        self.postpone_slope = real("postpone_slope", postpone_slope, low=0.0)
        self.postpone_days = real("postpone_days", postpone_days, low=0.0)
        self.mult_max = real("mult_max", mult_max, low=0.0, low_open=True)
        self.dt_hours = real("dt_hours", dt_hours, low=0.0, low_open=True)
        q0 = (
            np.zeros(n, np.float32)
            if initial_backlog is None
            else as_f32("initial_backlog", initial_backlog, shape=(n,), nonnegative=True)
        )

        if groups is None:
            self._groups: npt.NDArray[np.int64] | None = None
            self._group_count: F64 | None = None
        else:
            self._groups = as_index("groups", groups, shape=(n,))
            self._group_count = np.bincount(self._groups).astype(np.float64)
        self._group_trace: list[F64] = []

        # Running sums over the evaluation window.
        m = self.num_blocks
        self._t = 0
        self._block_excess = np.zeros(m)  # sum (G_t - C_t) per block
        self._block_capacity = np.zeros(m)  # sum C_t per block
        self._overshoot = 0.0  # sum max(0, G_t - C_t)
        self._excess = 0.0  # sum (G_t - C_t)
        self._capacity_sum = 0.0  # sum C_t
        self._served = 0.0
        self._arrived = 0.0
        self._window_start_backlog = float(q0.sum(dtype=np.float64))
        self._backlog_total = self._window_start_backlog  # after the last step recorded
        # Per (day, block): the current day's sums, and each finished day's excess ratios.
        self._block_len = np.bincount(self.block_of_step, minlength=m)
        self._day_excess = np.zeros(m)
        self._day_capacity = np.zeros(m)
        self._day_count = np.zeros(m, dtype=np.int64)
        self._daily_excess: list[F64] = []
        self._peak_ratio = 0.0
        self._backlog_sum = 0.0  # sum_t Q_t over the window (kWh)
        self._daily_prices: list[tuple[int, F64]] = []  # (day, mean price per block)
        self._total_use: list[float] = []
        #: The per-agent part (rewards, postponing): here, or (``agents=False``) in the parts of
        #: a split run, whose sums :meth:`summary` then takes.
        self.agents = (
            AgentMetrics(
                self.mean_arrival,
                steps_per_day=s,
                total_steps=self.total_steps,
                warmup_steps=self.warmup_steps,
                initial_backlog=q0,
                postpone_slope=self.postpone_slope,
                postpone_days=self.postpone_days,
            )
            if agents
            else None
        )
        # Consensus, per dual epoch.
        self._epochs: list[dict[str, Any]] = []
        self._clock_start = time.perf_counter()
        self._clock_last = self._clock_start

    @classmethod
    def for_env(
        cls,
        env: Any,
        *,
        total_steps: int | None = None,
        warmup_steps: int | None = None,
        **kwargs: Any,
    ) -> Metrics:
        """Metrics for a :class:`~samarl.envs.DemandResponseEnv` run (default: one episode)."""
        return cls(
            capacity=env.capacity,
            block_of_step=env.block_of_step,
            mean_arrival=env.data.mean_arrival,
            total_steps=env.episode_steps if total_steps is None else total_steps,
            warmup_steps=warmup_steps,
            **({"dt_hours": env.dt_hours} | kwargs),
        )

    def start(self) -> None:
        """Restarts the wall clock (e.g. after compiling or warming up the policy)."""
        self._clock_start = self._clock_last = time.perf_counter()

    # -- per step ----------------------------------------------------------------------------------
    def record(
        self,
        resource_use: F32,
        served: F32,
        arrived: F32,
        reward: F32,
        backlog: F32,
    ) -> None:
        """Adds one step: each ``[N]``, the agents' power drawn (kW), energy served and arrived
        (kWh), reward, and backlog after the step (kWh). O(N); keeps nothing per agent per step."""
        n = self.num_agents
        resource_use, served, arrived, reward, backlog = (
            as_f32(name, arr, shape=(n,))
            for name, arr in (
                ("resource_use", resource_use),
                ("served", served),
                ("arrived", arrived),
                ("reward", reward),
                ("backlog", backlog),
            )
        )
        if self._groups is not None and self._group_count is not None:
            sums = np.bincount(self._groups, weights=backlog, minlength=self._group_count.size)
            self._group_trace.append(sums / np.maximum(self._group_count, 1.0))
        if self.agents is None:
            raise InvalidValueError("record: these metrics keep no per-agent part (agents=False)")
        self.agents.record(reward, backlog)
        self.record_totals(
            float(np.sum(resource_use, dtype=np.float64)),
            float(np.sum(served, dtype=np.float64)),
            float(np.sum(arrived, dtype=np.float64)),
            float(np.sum(backlog, dtype=np.float64)),
        )

    def record_totals(
        self, total_use: float, served: float, arrived: float, backlog: float
    ) -> None:
        """Adds one step from its sums over the agents only: power drawn (kW), energy served and
        arrived (kWh), backlog after the step (kWh). :meth:`record` calls it; a partitioned run's
        driver, which sees only sums, calls it alone (the per-agent keys, ``reward/``,
        ``demand/waiting_cost*`` and ``demand/postponing*``, then come from the parts)."""
        t = self._t
        tod = t % self.steps_per_day
        self._total_use.append(total_use)
        if t >= self.warmup_steps:
            cap = float(self.capacity[tod])
            excess = total_use - cap
            h = self.block_of_step[tod]
            self._block_excess[h] += excess
            self._block_capacity[h] += cap
            self._day_excess[h] += excess
            self._day_capacity[h] += cap
            self._day_count[h] += 1
            self._peak_ratio = max(self._peak_ratio, total_use / cap)
            self._backlog_sum += backlog
            self._excess += excess
            self._overshoot += max(excess, 0.0)
            self._capacity_sum += cap
            self._served += served
            self._arrived += arrived
        if tod == self.steps_per_day - 1:
            full = self._day_count == self._block_len
            if full.any():
                ratio = np.maximum(self._day_excess, 0.0) / np.maximum(self._day_capacity, 1e-300)
                self._daily_excess.append(np.where(full, ratio, np.nan))
            self._day_excess[:] = 0.0
            self._day_capacity[:] = 0.0
            self._day_count[:] = 0
        self._backlog_total = backlog
        if t + 1 == self.warmup_steps:
            self._window_start_backlog = backlog
        self._t = t + 1
        self._clock_last = time.perf_counter()

    def record_step(self, out: Any) -> None:
        """:meth:`record` from a :class:`~samarl.envs.EnvStep` (backlog from ``out.obs[:, 0]``)."""
        self.record(out.resource_use, out.served, out.arrived, out.reward, out.obs[:, 0])

    def record_consensus(self, mult: npt.ArrayLike) -> None:
        """Adds one dual epoch: every agent's multiplier copy, ``[N, m]`` (or ``[N]`` for m = 1)."""
        x = np.asarray(mult)
        if x.dtype not in (np.float32, np.float64):
            x = as_real("mult", x, np.float64)
        if x.ndim == 1:
            x = x[:, None]
        check_shape("mult", x, (self.num_agents, None))
        # Column statistics without [N, m] float64 temporaries (hundreds of MiB at 10^6 agents):
        # min and max carry any NaN or inf, and the largest deviation sits at one of them.
        lo, hi = x.min(axis=0).astype(np.float64), x.max(axis=0).astype(np.float64)
        if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
            raise InvalidValueError("mult: must be finite")
        mean = x.mean(axis=0, dtype=np.float64)
        self.record_consensus_stats(mean, lo, hi, abs_deviation(x, mean))

    def record_consensus_stats(self, mean: F64, lo: F64, hi: F64, abs_dev: float) -> None:
        """Adds one dual epoch from its statistics: per block the mean, min and max over the
        agents' copies (``[m]``) and ``sum |mult - mean|`` over agents and blocks (what a
        partitioned run gathers instead of the copies)."""
        self._epochs.append(
            {
                "step": self._t,
                "error_max": float(np.maximum(hi - mean, mean - lo).max()),
                "error_mean": abs_dev / (self.num_agents * mean.size),
                "mean": mean.tolist(),
                "min": lo.tolist(),
                "max": hi.tolist(),
            }
        )

    def record_daily_prices(self, day: int, mean_price: npt.ArrayLike) -> None:
        """Adds the mean over agents of every block's multiplier on day ``day`` (``[m]``, the price
        in force while each block ran): the series ``dual/settling`` is computed from."""
        x = as_f64("mean_price", mean_price).reshape(-1)
        check_shape("mean_price", x, (self.num_blocks,))
        self._daily_prices.append((positive_int("day", day, minimum=0), x.copy()))

    # -- results -----------------------------------------------------------------------------------
    @property
    def steps(self) -> int:
        """Steps recorded so far."""
        return self._t

    @property
    def total_use(self) -> F64:
        """``[steps]`` total use ``G_t`` (kW) of every recorded step."""
        return np.asarray(self._total_use, dtype=np.float64)

    @property
    def backlog_by_group(self) -> F64:
        """``[steps, G]`` mean backlog (kWh) of each agent group per step (needs ``groups``)."""
        if self._group_count is None:
            raise InvalidValueError("backlog_by_group: pass groups= to Metrics to trace them")
        return np.asarray(self._group_trace, dtype=np.float64).reshape(-1, self._group_count.size)

    @property
    def per_agent_reward(self) -> F64:
        """``[N]`` each agent's reward summed over the evaluation window (a copy)."""
        return self._agent_part("per_agent_reward").per_agent_reward

    def postponing_agents(self) -> npt.NDArray[np.bool_]:
        """``[N]`` whether each agent is postponing (see the module docstring)."""
        return self._agent_part("postponing_agents").postponing_agents()

    def _agent_part(self, what: str) -> AgentMetrics:
        if self.agents is None:
            raise InvalidValueError(f"{what}: these metrics keep no per-agent part (agents=False)")
        return self.agents

    def summary(
        self, *, per_agent: bool = False, agent_sums: list[dict[str, float]] | None = None
    ) -> dict[str, Any]:
        """All metrics so far as a JSON-serialisable dict (``None`` where nothing was measured).

        ``agent_sums``: the :meth:`AgentMetrics.sums` of the parts that hold the per-agent
        metrics (``agents=False``), in part order.
        """
        n = self.num_agents
        window = max(self._t - self.warmup_steps, 0)
        if agent_sums is None:
            agent_sums = [self._agent_part("summary").sums()]
        reward = sum(part["reward"] for part in agent_sums)
        postponing_count = sum(part["postponing"] for part in agent_sums)
        out: dict[str, Any] = {"time/steps": self._t, "window/start": self.warmup_steps}
        out["window/steps"] = window
        has = self._block_capacity > 0
        if window:
            per_block = np.maximum(self._block_excess, 0.0) / np.where(
                has, self._block_capacity, 1.0
            )
            out["constraint/violation_avg_max"] = float(per_block[has].max())
            out["constraint/violation_avg_mean"] = float(per_block[has].mean())
            out["constraint/violation_avg_per_block"] = [
                float(v) if h else None for v, h in zip(per_block, has, strict=True)
            ]
            out["constraint/peak_ratio"] = self._peak_ratio
            served_sum = self._served
            out["demand/delay_h"] = (
                self.dt_hours * self._backlog_sum / served_sum if served_sum > 0 else None
            )
            out["demand/waiting_cost"] = -reward
            days = window / self.steps_per_day
            out["demand/waiting_cost_per_agent_day"] = -reward / (n * days)
            out["constraint/overshoot"] = self._overshoot / self._capacity_sum
            out["constraint/slack"] = -self._excess / self._capacity_sum
            due = self._window_start_backlog + self._arrived
            out["demand/served"] = self._served / due if due > 0 else 1.0
            out["reward/total"] = reward
            out["reward/mean"] = reward / (n * window)
        else:
            for key in (
                "constraint/violation_avg_max",
                "constraint/violation_avg_mean",
                "constraint/violation_avg_per_block",
                "constraint/peak_ratio",
                "demand/delay_h",
                "demand/waiting_cost",
                "demand/waiting_cost_per_agent_day",
                "constraint/overshoot",
                "constraint/slack",
                "demand/served",
                "reward/total",
                "reward/mean",
            ):
                out[key] = None
        out |= self._daily_summary()
        out["demand/postponing"] = postponing_count
        out["demand/postponing_frac"] = postponing_count / n
        out["demand/final_backlog"] = self._backlog_total
        if per_agent:
            out["reward/per_agent"] = self.per_agent_reward.tolist()

        epochs = [e for e in self._epochs if e["step"] >= self.warmup_steps]
        out["consensus/epochs"] = len(self._epochs)
        out["consensus/error_max"] = (
            float(np.mean([e["error_max"] for e in epochs])) if epochs else None
        )
        out["consensus/error_mean"] = (
            float(np.mean([e["error_mean"] for e in epochs])) if epochs else None
        )
        out["consensus/error_max_worst"] = (
            float(max(e["error_max"] for e in epochs)) if epochs else None
        )
        out["consensus/step_per_epoch"] = [e["step"] for e in self._epochs]
        out["consensus/error_max_per_epoch"] = [e["error_max"] for e in self._epochs]
        out["consensus/error_mean_per_epoch"] = [e["error_mean"] for e in self._epochs]
        out["mult/mean_per_epoch"] = [e["mean"] for e in self._epochs]
        out["mult/min_per_epoch"] = [e["min"] for e in self._epochs]
        out["mult/max_per_epoch"] = [e["max"] for e in self._epochs]

        wall = self._clock_last - self._clock_start
        out["time/wall_s"] = wall
        out["time/agent_steps_per_s"] = n * self._t / wall if wall > 0 and self._t else None
        return out

    def _daily_summary(self) -> dict[str, Any]:
        """The per-day keys: daily excess percentiles and price settling (``None`` when nothing
        was measured)."""
        out: dict[str, Any] = {}
        if self._daily_excess:
            table = np.asarray(self._daily_excess)
            values = table[np.isfinite(table)]
            out["constraint/excess_p95"] = float(np.percentile(values, 95))
            out["constraint/excess_max"] = float(values.max())
            out["constraint/excess_per_day_block"] = [
                [None if not np.isfinite(v) else float(v) for v in row] for row in table
            ]
        else:
            out["constraint/excess_p95"] = out["constraint/excess_max"] = None
            out["constraint/excess_per_day_block"] = []
        first_day = -(-self.warmup_steps // self.steps_per_day)
        prices = {d: p for d, p in self._daily_prices if d >= first_day}
        pairs = [(prices[d], prices[d + 1]) for d in sorted(prices) if d + 1 in prices]
        out["dual/settling"] = (
            float(np.mean([np.abs(b - a).mean() for a, b in pairs])) / self.mult_max
            if pairs
            else None
        )
        return out


class AgentMetrics:
    """The per-agent part of :class:`Metrics` for some agents (all of a run's, or a part's):
    each agent's reward over the evaluation window and the least-squares sums behind
    ``demand/postponing`` (see the module docstring). O(rows) per step; :meth:`sums` is what a
    run's :meth:`Metrics.summary` takes from each part."""

    def __init__(
        self,
        mean_arrival: F32,
        *,
        steps_per_day: int,
        total_steps: int,
        warmup_steps: int,
        initial_backlog: F32,
        postpone_slope: float,
        postpone_days: float,
    ) -> None:
        n = mean_arrival.size
        self.mean_arrival = mean_arrival
        self.steps_per_day = steps_per_day
        self.total_steps = total_steps
        self.warmup_steps = warmup_steps
        self.postpone_slope = postpone_slope
        self.postpone_days = postpone_days
        self._t = 0
        self._reward = np.zeros(n)  # per agent, window
        # Least-squares sums of the daily-mean backlog against the day index, over the days
        # d >= D // 2 of the D complete days of the run (the later half, rounded up).
        self._slope_first_day = (total_steps // steps_per_day) // 2
        self._day_backlog = np.zeros(n)  # sum of the current day's backlog
        self._ls_n = 0
        self._ls_sx = 0.0
        self._ls_sxx = 0.0
        self._ls_sy = np.zeros(n)
        self._ls_sxy = np.zeros(n)
        self._backlog = np.array(initial_backlog, dtype=np.float32)

    def record(self, reward: F32, backlog: F32) -> None:
        """Adds one step: each row's reward and backlog after the step (kWh)."""
        t, s = self._t, self.steps_per_day
        tod = t % s
        if t >= self.warmup_steps:
            self._reward += reward
        day = t // s
        if day >= self._slope_first_day and (day + 1) * s <= self.total_steps:
            self._day_backlog += backlog
            if tod == s - 1:
                x = float(day - self._slope_first_day)
                self._day_backlog /= s
                self._ls_n += 1
                self._ls_sx += x
                self._ls_sxx += x * x
                self._ls_sy += self._day_backlog
                self._ls_sxy += x * self._day_backlog
                self._day_backlog[:] = 0.0
        np.copyto(self._backlog, backlog)
        self._t = t + 1

    @property
    def per_agent_reward(self) -> F64:
        """``[rows]`` each agent's reward summed over the evaluation window (a copy)."""
        return self._reward.copy()

    def postponing_agents(self) -> npt.NDArray[np.bool_]:
        """``[rows]`` whether each agent is postponing (see the module docstring)."""
        if self._t == 0:
            return np.zeros(self._reward.size, dtype=bool)
        mu = self.mean_arrival.astype(np.float64)
        too_much = self._backlog > self.postpone_days * self.steps_per_day * mu
        k = self._ls_n
        denom = k * self._ls_sxx - self._ls_sx**2
        if k < 2 or denom <= 0:
            return too_much
        slope_per_day = (k * self._ls_sxy - self._ls_sx * self._ls_sy) / denom
        slope = slope_per_day / self.steps_per_day
        return too_much | (slope > self.postpone_slope * mu)

    def sums(self) -> dict[str, float]:
        """The window's reward summed over these agents, and how many of them postpone."""
        return {
            "reward": float(self._reward.sum()),
            "postponing": int(self.postponing_agents().sum()),
        }


def abs_deviation(x: npt.NDArray[np.floating[Any]], mean: F64) -> float:
    """``sum |x - mean|`` over ``x``'s ``[N, m]`` entries, in passes of bounded memory."""
    return sum(
        float(np.abs(x[a : a + _ROWS_PER_PASS] - mean).sum())
        for a in range(0, x.shape[0], _ROWS_PER_PASS)
    )
