"""The fluid optimum: the least waiting cost any schedule can reach under the capacity (a limit).

With perfect foresight of every household's arrivals ``d[t, n]`` (kWh), choose the energy served
``e[t, n]`` in ``[0, pmax_dt[n]]`` (continuous: the fluid relaxation of the engine's step), with
backlog ``q[t+1] = q[t] + d[t] - e[t] >= 0`` and total power ``sum_n e[t, n] / dt <= C[t]`` at every
step, to minimise the waiting cost ``sum_{t, n} cl[n] q[t+1, n] + cq[n] q[t+1, n]**2``. No schedule
that meets the capacity at every step can do better on the same arrivals: it is the physical limit
every run is compared with (:func:`solve_for_run`, :func:`optimum_gaps`).

How it is solved (:func:`fluid_optimum`; the pieces are :mod:`samarl.execution.optimum_windows`),
with SciPy's HiGHS (LP only), exactly up to the tangents:

1. **The quadratic, by tangents** (:func:`tangent_grid`). ``f(q) = cl q + cq q**2`` is replaced by
   the maximum of its tangents at ``0 = p_0 < p_1 < ...``, a convex piecewise-linear ``f_tan <= f``
   written as segment variables with increasing slopes (bounds only). The points are spaced so that
   ``f - f_tan <= tangent_tol * f`` at every backlog that can occur (per agent-step; the gap peaks
   where two tangents cross, ``cq w**2`` for points ``2 w`` apart). The tangent problem's optimum
   ``cost_lower_bound`` is a lower bound on the true optimum, and the exact cost ``cost`` of its plan
   is an upper bound, within ``1 / (1 - tangent_tol)`` of it.
2. **Serve everything while it fits.** From a state ``q``, serving ``min(pmax_dt, q + d)`` at every
   step ("greedy") gives every agent the least backlog any schedule can have at every later step (by
   induction: the next backlog is non-decreasing in the current one). So while greedy's total power
   fits under the capacity it is optimal, and continuing optimally from its state is optimal: any
   schedule from a larger backlog gives one from a smaller backlog with pointwise smaller backlogs
   and no more power (serve ``min(e, q' + d)``), and the costs are non-decreasing in ``q``.
3. **LP windows, cut in time.** At the first step greedy does not fit, an LP solves a window
   ``[t0, b)`` from greedy's state (``b - t0``: the steps a proportional heuristic takes to catch up
   with greedy, scaled by how much sooner the last window's LP did, plus two). It is accepted when
   every agent's final backlog equals the least any schedule can have at ``b`` (greedy from ``t0``
   ignoring the capacity; zero at night, when every backlog can be empty): then the optimum
   restricted to the window is feasible for it (so the window's optimum is no dearer) and the rest
   continues from a state no larger than the optimum's (so it is no dearer either). Otherwise the window is extended towards the next ``cut_step`` (``merged``) and solved
   again. Greedy resumes at ``b``.
4. **LP windows, cut by agent.** Most agents are never held back (those dearest to keep waiting).
   The LP holds only a set ``B`` of agents (those a priority heuristic holds back, and the last
   window's); the others are fixed to greedy and their power is taken off the capacity. The result
   is optimal for all agents when greedy is optimal for every agent outside ``B`` at the LP's
   capacity prices ``mu``: no deferral from step ``t`` to ``s`` pays,
   ``mu_t / dt <= sum_{t <= r < s} f_tan'(q_{r+1}+) + mu_s / dt`` (``mu_s = 0`` for "never"; these
   are the only residual cycles of a greedy plan), then the plan and ``mu`` satisfy the whole
   window's LP optimality conditions. Agents that fail join ``B`` and the LP is solved again.

The capacity duals ``mu[t] >= 0`` (cost per kW at step ``t``: the units of the agents' multiplier
``mult``, whose Lagrangian reward is ``r - mult * (g - C / N)``) are the LP's, 0 where greedy fits
(complementary slackness); they are the tangent problem's duals. They are duals of the whole
horizon too: a deferral out of a window into the next stretch costs no less than deferring to the
window's end, and no plan can move energy the other way across ``b``, as the window ends at the
least backlog.

Measured (``python -m samarl.execution.optimum``: the ``default`` preset, 1,000 agents, 30 days of
seed 0, ``tangent_tol = 1e-3``, on the shared 2-core VM): 142 s of CPU (218 s wall with other jobs
running; HiGHS runs serially), 30 windows of 26 to 33 steps (908 of the 2,880 steps), 31 HiGHS
calls, at most 504 agents in one LP; cost 55,649.58, lower bound 55,615.37 (gap 0.061%), served
0.999917, peak load / capacity 1.000000. Capacity prices are positive from 17:30 to 23:45 only
(block prices 0.61, 1.13, 0.93, 0.71, 0.48, 0.25, 0.05 for 17:00 to 23:00). One LP of all 1,000
agents over one 26-step window takes about 50 s, the same window cut to its 430-odd held-back
agents about 5 s; the whole horizon as one LP would not fit in minutes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from samarl._validate import MAX_SEED, as_f64, check_shape, flag, positive_int, real
from samarl._validate import seed as seed_
from samarl.errors import InvalidValueError
from samarl.execution.optimum_windows import (
    END_TOL,
    Grid,
    Tally,
    greedy,
    priority,
    proportional_catch_up,
    solve_window,
    tangent_grid,
)

if TYPE_CHECKING:
    from samarl.scenario import ScenarioConfig, ScenarioData

__all__ = [
    "FluidOptimum",
    "fluid_optimum",
    "main",
    "optimum_gaps",
    "realised_arrivals",
    "solve_for_run",
    "tangent_grid",
]

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class FluidOptimum:
    """The fluid optimum of one horizon (:func:`fluid_optimum`)."""

    cost: float
    """Exact waiting cost ``sum_{t, n} cl q + cq q**2`` of the returned plan (an upper bound on
    the optimum, within ``1 / (1 - tangent_tol)`` of the lower bound)."""
    cost_lower_bound: float
    """Optimum of the tangent problem (the LP objective, ``f_tan`` summed over the plan's
    backlogs): a lower bound on the optimum, ``<= cost``."""
    served: float
    """Energy served over energy arrived, ``sum e / sum d`` (the final backlog is unserved)."""
    total_load: F64
    """``[T]`` total power drawn, ``sum_n e[t, n] / dt`` (kW)."""
    backlog_total: F64
    """``[T]`` total backlog after each step, ``sum_n q[t+1, n]`` (kWh)."""
    step_price: F64
    """``[T]`` capacity duals ``mu[t] >= 0``: cost saved per extra kW of capacity at step ``t``."""
    block_price: F64
    """``[m]`` mean of ``mu`` over days and the steps of each block of the day."""
    windows: int
    """LP windows solved (after merging; 0 when greedy fits everywhere)."""
    merged: int
    """Times a window was extended because its final backlog was above the least possible."""
    lp_solves: int
    """HiGHS calls (a window is solved again when an agent outside its LP must join it)."""
    lp_steps: int
    """Steps covered by LP windows (greedy serves the others)."""
    lp_agents_max: int
    """Most agents held in one window's LP (the others were served greedily)."""
    solve_s: float
    """Wall time of :func:`fluid_optimum` (s)."""
    dt_hours: float
    """Step length (hours)."""
    steps_per_day: int
    """``S``, steps per day (blocks are ``h(t) = floor((t mod S) * m / S)``)."""
    step_cost: F64
    """``[T]`` exact waiting cost of each step, ``sum_n cl q[t+1] + cq q[t+1]**2`` (sums to
    ``cost``)."""
    arrived_total: F64
    """``[T]`` total arrivals of each step, ``sum_n d[t, n]`` (kWh)."""
    energy: F64
    """``[T, N]`` the plan: energy served per step and agent (kWh)."""

    @property
    def gap(self) -> float:
        """Certified relative gap ``(cost - cost_lower_bound) / cost`` (0 when the cost is 0)."""
        return (self.cost - self.cost_lower_bound) / self.cost if self.cost > 0 else 0.0


# --------------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------------


#: Largest input value: HiGHS treats magnitudes near 1e20 as infinite and loses precision well
#: before (kWh and kW per household are many orders of magnitude below).
MAX_VALUE = 1e12


def _array(name: str, x: npt.ArrayLike, shape: tuple[int | None, ...]) -> F64:
    """``x`` as a float64 array of ``shape``, finite, ``>= 0`` and at most :data:`MAX_VALUE`
    (errors name the argument)."""
    arr = as_f64(name, x, shape=shape, nonnegative=True)
    if arr.size and arr.max() > MAX_VALUE:
        raise InvalidValueError(f"{name}: values must be <= {MAX_VALUE:g}, found {arr.max():g}")
    return arr


# --------------------------------------------------------------------------------------------------
# The horizon
# --------------------------------------------------------------------------------------------------


def fluid_optimum(
    arrivals: npt.ArrayLike,
    capacity: npt.ArrayLike,
    max_energy: npt.ArrayLike,
    cost_linear: npt.ArrayLike,
    cost_quadratic: npt.ArrayLike,
    *,
    dt_hours: float,
    steps_per_day: int,
    num_blocks: int = 24,
    initial_backlog: npt.ArrayLike | None = None,
    tangent_tol: float = 1e-3,
    cut_step: int | None = None,
    decompose: bool = True,
) -> FluidOptimum:
    """The least waiting cost of serving ``arrivals`` under ``capacity`` (see the module doc).

    Parameters
    ----------
    arrivals
        ``[T, N]`` energy arriving per step and agent (kWh), known in advance.
    capacity
        ``[T]`` total capacity of every step (kW; tile a daily profile over the days).
    max_energy
        ``[N]`` most energy an agent can be served in one step, ``max_power * dt`` (kWh).
    cost_linear, cost_quadratic
        ``[N]`` waiting cost per step ``cl q + cq q**2`` of a backlog ``q`` (kWh) after the step.
    dt_hours
        Step length (hours), > 0.
    steps_per_day
        ``S``: steps of one day (for the cut steps and the block prices).
    num_blocks
        ``m``: blocks of the day, ``h(t) = floor((t mod S) * m / S)``, in ``[1, S]``.
    initial_backlog
        ``[N]`` backlog before the first step (kWh); zeros when omitted.
    tangent_tol
        Relative gap of the tangent approximation per agent-step, in ``(0, 0.5]``: the optimum lies
        in ``[cost_lower_bound, cost]`` and ``cost <= cost_lower_bound / (1 - tangent_tol)``.
    cut_step
        Step of the day a window is extended towards (two hours at a time) when its first end does
        not hold: a night step, where capacity is slack and backlogs are empty; ``S // 6`` (04:00)
        when omitted.
    decompose
        ``False`` solves the whole horizon as one LP with every agent (a check for small
        instances: slow).

    Returns
    -------
    FluidOptimum

    Raises
    ------
    samarl.errors.ShapeError, samarl.errors.InvalidValueError
        On a bad shape, a negative or non-finite value, naming the argument.
    RuntimeError
        If HiGHS fails on a window.
    """
    started = time.perf_counter()
    d = _array("arrivals", arrivals, (None, None))
    steps, n = d.shape
    if steps == 0 or n == 0:
        raise InvalidValueError(
            f"arrivals: needs at least one step and one agent, got {[steps, n]}"
        )
    cap = _array("capacity", capacity, (steps,))
    pmax = _array("max_energy", max_energy, (n,))
    cl = _array("cost_linear", cost_linear, (n,))
    cq = _array("cost_quadratic", cost_quadratic, (n,))
    q0 = (
        np.zeros(n) if initial_backlog is None else _array("initial_backlog", initial_backlog, (n,))
    )
    dt = real("dt_hours", dt_hours, low=24 / 86_400, high=24.0)  # one second to one day
    s_day = positive_int("steps_per_day", steps_per_day, maximum=86_400)
    m = positive_int("num_blocks", num_blocks, maximum=s_day)
    cut = positive_int(
        "cut_step", s_day // 6 if cut_step is None else cut_step, minimum=0, maximum=s_day - 1
    )
    tol = real("tangent_tol", tangent_tol, low=0.0, high=0.5, low_open=True)
    decompose = flag("decompose", decompose)

    grid = Grid(*tangent_grid(cl, cq, q0 + d.sum(axis=0), tol))
    energy, backlog, price = np.zeros((steps, n)), np.zeros((steps, n)), np.zeros(steps)
    tally = Tally()
    members = np.zeros(n, dtype=bool)  # agents held in the last window's LP: the next one's guess
    speedup = 1.0  # the last window's LP catch-up over its proportional heuristic's
    q = q0.copy()
    t = 0
    while t < steps:
        if not decompose:
            members[:] = True
            end = steps
        else:
            e = np.minimum(pmax, q + d[t])
            if e.sum() <= cap[t] * dt * (1 + 1e-12):
                q = q + d[t] - e
                energy[t], backlog[t] = e, q
                t += 1
                continue
            # First length: the heuristic's catch-up, scaled by how much sooner the last LP caught
            # up than its heuristic did, plus two steps (the end check below decides).
            heuristic = proportional_catch_up(d[t:], q, cap[t:], pmax, dt)
            end = min(steps - t, int(np.ceil(heuristic * speedup)) + 2)
            _, held = priority(d[t : t + end], q, cap[t : t + end], pmax, cl, dt)
            members |= held  # first LP agents: those a priority heuristic holds back
        while True:
            plan, after, mu = solve_window(
                d[t : t + end], q, cap[t : t + end], pmax, cl, grid, dt, members, tally
            )
            behind = (after - greedy(d[t : t + end], q, pmax)[1]).max(axis=1) > END_TOL
            if t + end == steps or not behind[-1]:
                break
            to_cut = 1 + (cut - (t + end)) % s_day  # steps to the next cut step
            end = min(steps - t, end + min(to_cut, max(1, s_day // 12)))
            tally.merged += 1
        if decompose:
            caught = int(np.flatnonzero(behind)[-1]) + 1 if behind.any() else 1
            speedup = min(1.0, max(0.5, caught / heuristic))
        energy[t : t + end], backlog[t : t + end], price[t : t + end] = plan, after, mu
        tally.windows += 1
        tally.steps += end
        q = after[-1].copy()
        t += end

    step_cost = (cl * backlog + cq * backlog * backlog).sum(axis=1)
    cost = float(step_cost.sum())
    block = (np.arange(steps) % s_day) * m // s_day
    counts = np.bincount(block, minlength=m)
    block_price = np.bincount(block, weights=price, minlength=m) / np.maximum(counts, 1)
    arrived = float(d.sum())
    return FluidOptimum(
        cost=cost,
        cost_lower_bound=min(grid.cost(backlog), cost),
        served=float(energy.sum()) / arrived if arrived > 0 else 1.0,
        total_load=energy.sum(axis=1) / dt,
        backlog_total=backlog.sum(axis=1),
        step_price=price,
        block_price=block_price,
        windows=tally.windows,
        merged=tally.merged,
        lp_solves=tally.solves,
        lp_steps=tally.steps,
        lp_agents_max=tally.agents_max,
        solve_s=time.perf_counter() - started,
        dt_hours=dt,
        steps_per_day=s_day,
        step_cost=step_cost,
        arrived_total=d.sum(axis=1),
        energy=energy,
    )


# --------------------------------------------------------------------------------------------------
# Scenarios and runs
# --------------------------------------------------------------------------------------------------


def realised_arrivals(
    scenario: ScenarioConfig, data: ScenarioData | None, seed: int, steps: int
) -> F64:
    """The arrivals ``[steps, N]`` (kWh) a run of ``scenario`` with ``seed`` sees, exactly.

    Arrivals do not depend on actions (a counter-based RNG keyed by seed, agent and step), so the
    dynamics are stepped with zero actions from ``reset(seed)`` (as the executor's env resets) and
    ``arrived`` is recorded (float32 values, returned as float64).
    """
    from samarl.envs import Dynamics

    count = positive_int("steps", steps, minimum=0)
    dyn = Dynamics.from_scenario(scenario, data)
    dyn.reset(seed)
    zeros = np.zeros(dyn.num_agents, dtype=np.float32)
    out = np.empty((count, dyn.num_agents))
    for t in range(count):
        out[t] = dyn.step(zeros).arrived
    return out


def solve_for_run(
    scenario: ScenarioConfig,
    data: ScenarioData | None = None,
    *,
    seed: int,
    days: int,
    tangent_tol: float = 1e-3,
) -> FluidOptimum:
    """The fluid optimum of a run of ``days`` days of ``scenario`` with arrival seed ``seed``.

    Same agents (``data``, built when omitted), same realised arrivals, the daily capacity tiled
    over the days, empty backlogs at the start, blocks as in ``data.block_of_step``.
    """
    seed = seed_(seed, maximum=MAX_SEED)  # a run's seed, as the executor takes it
    data = data or scenario.build()
    s = scenario.steps_per_day
    steps = positive_int("days", days) * s
    dt = scenario.dt_hours
    return fluid_optimum(
        realised_arrivals(scenario, data, seed, steps),
        np.tile(np.asarray(data.capacity, dtype=np.float64), days),
        np.asarray(data.max_power, dtype=np.float64) * dt,
        data.cost_linear,
        data.cost_quadratic,
        dt_hours=dt,
        steps_per_day=s,
        num_blocks=int(np.max(data.block_of_step)) + 1,
        tangent_tol=tangent_tol,
    )


def optimum_gaps(
    optimum: FluidOptimum,
    metrics: dict[str, Any],
    mult_daily: npt.ArrayLike,
    start_step: int,
    mult_max: float,
) -> dict[str, Any]:
    """A run's distance to the optimum over its metrics window (steps ``start_step`` on).

    Parameters
    ----------
    optimum
        The optimum of the run's arrivals (:func:`solve_for_run`, same seed and days).
    metrics
        The run's :meth:`Metrics.summary` (``demand/waiting_cost``, ``demand/served`` over the
        window).
    mult_daily
        ``[D, m]`` the agents' mean multiplier of each block on each window day.
    start_step
        First step of the window (the warm-up's length in steps).
    mult_max
        Upper end of the multipliers' range (scales the price distance).

    Returns
    -------
    dict
        The keys of docs/metrics.md: ``optimum/waiting_cost`` and ``optimum/served`` (the
        optimum's, over the window); ``optimum/gap_cost``: the run's waiting cost / the optimum's
        (>= 1 up to the tangent gap for a run that meets the capacity at every step);
        ``optimum/gap_served``: the optimum's served fraction minus the run's;
        ``optimum/block_price``: ``[m]`` the optimum's capacity price of each block, the mean of
        ``mu`` over the window's steps in it; ``optimum/price_distance``: the mean over blocks of
        ``|mean_d mult_daily[d, h] - block_price[h]| / mult_max``. ``None`` where undefined.
    """
    steps = optimum.step_cost.size
    start = positive_int("start_step", start_step, minimum=0, maximum=steps - 1)
    s_day, m = optimum.steps_per_day, optimum.block_price.size
    cost = float(optimum.step_cost[start:].sum())
    served_energy = float(optimum.total_load[start:].sum()) * optimum.dt_hours
    before = float(optimum.backlog_total[start - 1]) if start > 0 else 0.0
    due = before + float(optimum.arrived_total[start:].sum())
    served = served_energy / due if due > 0 else 1.0
    block = (np.arange(start, steps) % s_day) * m // s_day
    counts = np.bincount(block, minlength=m)
    sums = np.bincount(block, weights=optimum.step_price[start:], minlength=m)
    price = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    mult = np.asarray(mult_daily, dtype=np.float64)
    check_shape("mult_daily", mult, (None, m))
    distance = None
    if mult.size and mult_max > 0 and np.isfinite(price).all():
        distance = float(np.abs(mult.mean(axis=0) - price).mean() / mult_max)
    run_cost, run_served = metrics.get("demand/waiting_cost"), metrics.get("demand/served")
    return {
        "optimum/waiting_cost": cost,
        "optimum/served": served,
        "optimum/gap_cost": None if run_cost is None or cost <= 0 else run_cost / cost,
        "optimum/gap_served": None if run_served is None else served - float(run_served),
        "optimum/block_price": [None if np.isnan(p) else float(p) for p in price],
        "optimum/price_distance": distance,
    }


# --------------------------------------------------------------------------------------------------
# Measurement
# --------------------------------------------------------------------------------------------------


def main(preset: str = "default", days: int = 30, seed: int = 0) -> FluidOptimum:
    """Solves a preset's optimum over ``days`` days of seed ``seed`` and prints what it found."""
    from samarl.scenario import load_scenario

    scenario = load_scenario(preset)
    data = scenario.build()
    start, cpu = time.perf_counter(), time.process_time()
    opt = solve_for_run(scenario, data, seed=seed, days=days)
    total, cpu = time.perf_counter() - start, time.process_time() - cpu
    capacity = np.tile(np.asarray(data.capacity, dtype=np.float64), days)
    print(f"preset {preset!r}: {data.num_agents} agents, {days} days, seed {seed}")
    print(f"solve_s          {opt.solve_s:.1f} (with the arrivals: {total:.1f}; CPU {cpu:.1f})")
    print(f"cost             {opt.cost:.4f}")
    print(f"cost_lower_bound {opt.cost_lower_bound:.4f} (gap {opt.gap:.3%})")
    print(f"served           {opt.served:.6f}")
    print(
        f"windows          {opt.windows} (merged {opt.merged}, LP solves {opt.lp_solves}, "
        f"{opt.lp_steps} LP steps, at most {opt.lp_agents_max} agents in one LP)"
    )
    print(f"peak load / cap  {float(np.max(opt.total_load / capacity)):.6f}")
    print("block prices     " + " ".join(f"{p:.4f}" for p in opt.block_price))
    return opt


if __name__ == "__main__":
    main()
