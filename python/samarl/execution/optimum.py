"""The fluid optimum: the least waiting cost any schedule can reach under the capacity (a limit).

With perfect foresight of every household's arrivals ``d[t, n]`` (kWh), choose the energy served
``e[t, n]`` in ``[0, pmax_dt[n]]`` (continuous: the fluid relaxation of the engine's step), with
backlog ``q[t+1] = q[t] + d[t] - e[t] >= 0`` and total power ``sum_n e[t, n] / dt <= C[t]`` at every
step, to minimise the waiting cost ``sum_{t, n} cl[n] q[t+1, n] + cq[n] q[t+1, n]**2``. No schedule
that meets the capacity at every step can do better on the same arrivals: it is the physical limit
every run is compared with (:func:`solve_for_run`, :func:`optimum_gaps`).

How it is solved (:func:`fluid_optimum`), with SciPy's HiGHS (LP only), exactly up to the tangents:

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
   ignoring the capacity; zero at night, where the brief's "all backlogs empty" is the special
   case): then the optimum restricted to the window is feasible for it (so the window's optimum is
   no dearer) and the rest continues from a state no larger than the optimum's (so it is no dearer
   either). Otherwise the window is extended towards the next ``cut_step`` (``merged``) and solved
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
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.optimize import linprog

from samarl._validate import MAX_SEED, as_f64, check_shape, flag, positive_int, real
from samarl._validate import seed as seed_
from samarl.errors import InvalidValueError

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
Mask = npt.NDArray[np.bool_]

#: ``scipy.optimize.linprog``: scipy-stubs types ``A_ub``, ``A_eq`` as dense arrays, but the HiGHS
#: methods take sparse matrices (SciPy's documentation), which keeps a window's LP small.
_linprog: Callable[..., Any] = linprog

#: A window is accepted when every final backlog is within this of its least possible value (kWh).
END_TOL = 1e-6
#: The next window's LP also holds the agents whose cheapest deferral costs less than this times the
#: median ``cl`` (they may be held back on the next day).
_NEAR = 0.01
#: Energies below this are treated as zero when testing "served" / "at full power" (kWh).
_EPS = 1e-9


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
# The tangent approximation
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Grid:
    """Per-agent segments of ``f_tan`` (:func:`tangent_grid`), rows = agents."""

    start: F64
    width: F64
    slope: F64

    def rows(self, agents: Mask) -> _Grid:
        """The segments of a subset of agents."""
        return _Grid(self.start[agents], self.width[agents], self.slope[agents])

    def cost(self, q: F64) -> float:
        """``sum f_tan(q)`` over ``q`` ``[..., N]``."""
        agent = np.broadcast_to(np.arange(q.shape[-1]), q.shape)[q > 0]
        val = q[q > 0]
        total = 0.0
        for k in range(self.start.shape[1]):
            start = self.start[agent, k]
            inside = val > start
            if not inside.any():
                break
            agent, val, start = agent[inside], val[inside], start[inside]
            part = np.minimum(val - start, self.width[agent, k])
            total += float((self.slope[agent, k] * part).sum())
        return total

    def right_slope(self, q: F64) -> F64:
        """``f_tan'(q+)``, the slope of the segment holding ``q`` ``[..., N]``."""
        k = np.zeros(q.shape, dtype=np.int64)
        for j in range(1, self.start.shape[1]):
            above = self.start[:, j] <= q
            if not above.any():
                break
            k += above
        return np.take_along_axis(
            np.broadcast_to(self.slope, (*q.shape[:-1], *self.slope.shape)),
            k[..., None],
            axis=-1,
        )[..., 0]


def tangent_grid(
    cost_linear: npt.ArrayLike, cost_quadratic: npt.ArrayLike, reach: npt.ArrayLike, tol: float
) -> tuple[F64, F64, F64]:
    """Segments of the tangent approximation of ``f(q) = cl q + cq q**2``, per agent.

    Tangent points ``p_0 = 0 < p_1 < ...`` are ``2 w_k`` apart, ``w_k`` the largest half-width with
    ``cq w_k**2 <= tol * f(p_k + w_k)``: the gap ``f - f_tan`` on ``[p_k, p_{k+1}]`` is
    ``cq (q - p)**2`` to the nearer point, and ``(f - f_tan) / f`` is largest at the crossing
    ``p_k + w_k`` of the two tangents. So ``f_tan >= (1 - tol) f`` on ``[0, p_last]``, and points are
    added until ``p_last >= reach`` (the largest backlog that can occur). Where ``cl = 0`` the
    half-widths are floored at ``sqrt(tol) * reach / 100`` (a pure quadratic has no relative bound
    near 0: there the gap is at most ``cq`` times that floor squared); where ``cq = 0`` one segment
    is exact.

    Parameters
    ----------
    cost_linear, cost_quadratic, reach
        ``[N]`` cost weights and the backlog each agent's grid must cover (kWh).
    tol
        Relative gap allowed, in ``(0, 0.5]``.

    Returns
    -------
    tuple of numpy.ndarray
        ``(start, width, slope)``, each ``[N, K]``: segment ``k`` of agent ``n`` covers
        ``[start, start + width)`` of the backlog at ``slope`` per kWh (``start = inf`` and
        ``slope = 0`` pad agents with fewer segments; the last width is ``inf``).
    """
    cl = np.asarray(cost_linear, dtype=np.float64)
    cq = np.asarray(cost_quadratic, dtype=np.float64)
    reach = np.asarray(reach, dtype=np.float64)
    n = cl.size
    floor = np.where(cl > 0, 0.0, np.sqrt(tol) * np.maximum(reach, 1e-9) / 100.0)
    starts: list[F64] = [np.zeros(n)]
    slopes: list[F64] = [cl.copy()]
    p = np.zeros(n)
    active = (cq > 0) & (reach > 0)
    while active.any():
        a, b, x = cl[active], cq[active], p[active]
        g, fx = a + 2 * b * x, a * x + b * x * x
        w = (tol * g + np.sqrt((tol * g) ** 2 + 4 * b * (1 - tol) * tol * fx)) / (2 * b * (1 - tol))
        w = np.maximum(w, floor[active])
        cross = np.full(n, np.inf)
        cross[active] = x + w
        slope = np.zeros(n)
        slope[active] = a + 2 * b * (x + 2 * w)
        p[active] = x + 2 * w
        starts.append(cross)
        slopes.append(slope)
        active &= p < reach
    start = np.stack(starts, axis=1)
    width = np.full(start.shape, np.inf)
    with np.errstate(invalid="ignore"):
        width[:, :-1] = start[:, 1:] - start[:, :-1]
    width[~np.isfinite(width)] = np.inf
    return start, width, np.stack(slopes, axis=1)


# --------------------------------------------------------------------------------------------------
# Plans without an LP
# --------------------------------------------------------------------------------------------------


def _greedy(d: F64, q: F64, pmax_dt: F64) -> tuple[F64, F64]:
    """Serve ``min(pmax_dt, q + d)`` every step, ignoring the capacity: ``(energy, backlog)``."""
    energy, after = np.empty_like(d), np.empty_like(d)
    for s in range(d.shape[0]):
        energy[s] = np.minimum(pmax_dt, q + d[s])
        q = q + d[s] - energy[s]
        after[s] = q
    return energy, after


def _priority(
    d: F64, q: F64, capacity: F64, pmax_dt: F64, cost_linear: F64, dt: float
) -> tuple[F64, Mask]:
    """A feasible heuristic: serve the agents by decreasing ``cl`` until the capacity is used.

    Returns its backlog after each step and which agents it ever held back.
    """
    order = np.argsort(-cost_linear, kind="stable")
    after = np.empty_like(d)
    held = np.zeros(d.shape[1], dtype=bool)
    for s in range(d.shape[0]):
        want = np.minimum(pmax_dt, q + d[s])[order]
        before = np.cumsum(want) - want
        served = np.empty_like(want)
        served[order] = np.clip(capacity[s] * dt - before, 0.0, want)
        held[order] |= served[order] < want - _EPS
        q = q + d[s] - served
        after[s] = q
    return after, held


def _clean(energy: F64, d: F64, q: F64, pmax_dt: F64) -> tuple[F64, F64]:
    """A plan made exactly feasible: ``e`` clipped to ``[0, min(pmax_dt, q + d)]``.

    Clipping only lowers ``e`` (so the capacity still holds) and removes the solver's ~1e-9
    infeasibilities; returns the plan and the backlogs after each step.
    """
    plan, after = np.empty_like(energy), np.empty_like(energy)
    for s in range(energy.shape[0]):
        plan[s] = np.minimum(np.clip(energy[s], 0.0, pmax_dt), q + d[s])
        q = q + d[s] - plan[s]
        after[s] = q
    return plan, after


# --------------------------------------------------------------------------------------------------
# LP windows
# --------------------------------------------------------------------------------------------------


def _solve_lp(
    d: F64, q_start: F64, capacity: F64, pmax_dt: F64, grid: _Grid, dt: float
) -> tuple[F64, F64]:
    """The tangent LP of steps ``d`` ``[L, n]`` from ``q_start`` with HiGHS: ``(energy, mu)``.

    Variables per (step, agent): ``e`` in ``[0, pmax_dt]``, ``q`` (backlog after the step) in
    ``[0, U]`` with ``U = q_start + arrivals so far`` (no schedule has more), and the tangent segments
    that start below ``U`` (the others are never used: dropping them is exact). Rows (sparse):
    ``q[t] - q[t-1] + e[t] = d[t]``, ``q[t] - sum_k s[t, k] = 0`` and ``sum_n e[t] / dt <= C[t]``.
    """
    steps, n = d.shape
    pairs = steps * n
    reach = q_start + np.cumsum(d, axis=0)  # [L, n]
    t_idx, n_idx, k_idx = np.nonzero(grid.start[None, :, :] < reach[:, :, None])
    nseg = t_idx.size
    e_col = np.arange(pairs)
    q_col = pairs + e_col
    s_col = 2 * pairs + np.arange(nseg)
    later = np.arange(n, pairs)
    rows = np.concatenate([e_col, later, e_col, pairs + e_col, pairs + t_idx * n + n_idx])
    cols = np.concatenate([q_col, q_col[later - n], e_col, q_col, s_col])
    vals = np.concatenate(
        [np.ones(pairs), -np.ones(later.size), np.ones(pairs), np.ones(pairs), -np.ones(nseg)]
    )
    width = 2 * pairs + nseg
    a_eq = sp.csr_array((vals, (rows, cols)), shape=(2 * pairs, width))
    b_eq = np.concatenate([d.ravel(), np.zeros(pairs)])
    b_eq[:n] += q_start
    a_ub = sp.csr_array(
        (np.full(pairs, 1.0 / dt), (np.repeat(np.arange(steps), n), e_col)), shape=(steps, width)
    )
    cost = np.concatenate([np.zeros(2 * pairs), grid.slope[n_idx, k_idx]])
    upper = np.concatenate([np.tile(pmax_dt, steps), reach.ravel(), grid.width[n_idx, k_idx]])
    res = _linprog(
        cost,
        A_ub=a_ub,
        b_ub=capacity,
        A_eq=a_eq,
        b_eq=b_eq,
        bounds=np.stack([np.zeros(width), upper], axis=1),
        method="highs",
    )
    if res.status != 0:
        raise RuntimeError(f"HiGHS failed on a window of {steps} steps x {n} agents: {res.message}")
    mu = np.maximum(-np.asarray(res.ineqlin.marginals, dtype=np.float64), 0.0)
    return np.asarray(res.x[:pairs]).reshape(steps, n), mu


def _deferral_margin(
    energy: F64, backlog: F64, pmax_dt: F64, mu: F64, grid: _Grid, dt: float
) -> F64:
    """Per agent, the cheapest deferral of its greedy plan at capacity prices ``mu`` (see the doc).

    Greedy serves ``min(pmax_dt, q + d)``, so its only residual cycles defer energy: serve less at
    ``t`` (needs ``e_t > 0``), carry it, serve it at ``s > t`` (needs ``e_s < pmax_dt``) or never.
    Such a cycle costs ``-mu_t / dt + sum_{t <= r < s} f_tan'(q_{r+1}+) + mu_s / dt``; greedy is
    optimal for the agent's Lagrangian subproblem iff none is negative. Returns the least cycle
    cost of each agent (``inf`` when none exists).
    """
    steps = energy.shape[0]
    price = mu / dt
    carry = np.vstack([np.zeros(energy.shape[1]), np.cumsum(grid.right_slope(backlog), axis=0)])
    served_at = np.full((steps + 1, energy.shape[1]), np.inf)  # carry to s and serve there
    served_at[1:steps] = np.where(
        energy[1:] < pmax_dt - _EPS, carry[1:steps] + price[1:, None], np.inf
    )
    served_at[steps] = carry[steps]  # never served in the window
    best_after = np.minimum.accumulate(served_at[::-1], axis=0)[::-1][1:]  # min over s > t
    cycle = np.where(energy > _EPS, best_after - carry[:steps] - price[:, None], np.inf)
    return np.asarray(cycle.min(axis=0, initial=np.inf))


def _make_room(members: Mask, energy: F64, capacity: F64, cost_linear: F64, dt: float) -> None:
    """Adds agents to ``members`` (cheapest first) until the others' greedy power fits."""
    while True:
        excess = energy[:, ~members].sum(axis=1) - capacity * dt
        t = int(np.argmax(excess))
        if excess[t] <= 1e-12 * max(1.0, float(capacity[t] * dt)):
            return
        outside = np.flatnonzero(~members & (energy[t] > 0))
        order = outside[np.argsort(cost_linear[outside], kind="stable")]
        count = int(np.searchsorted(np.cumsum(energy[t, order]), excess[t])) + 1
        members[order[:count]] = True


@dataclass
class _Tally:
    """Counters of the LP work done."""

    windows: int = 0
    merged: int = 0
    solves: int = 0
    steps: int = 0
    agents_max: int = 0


def _solve_window(
    d: F64,
    q: F64,
    capacity: F64,
    pmax_dt: F64,
    cost_linear: F64,
    grid: _Grid,
    dt: float,
    members: Mask,
    tally: _Tally,
) -> tuple[F64, F64, F64]:
    """The optimal plan of a window with only ``members`` (grown as needed) in the LP.

    Returns ``(energy, backlog after each step, mu)``; ``members`` is updated in place.
    """
    energy, backlog = _greedy(d, q, pmax_dt)
    while True:
        _make_room(members, energy, capacity, cost_linear, dt)
        room = np.maximum(capacity - energy[:, ~members].sum(axis=1) / dt, 0.0)
        lp_energy, mu = _solve_lp(
            d[:, members], q[members], room, pmax_dt[members], grid.rows(members), dt
        )
        tally.solves += 1
        tally.agents_max = max(tally.agents_max, int(members.sum()))
        out = np.flatnonzero(~members)
        margin = _deferral_margin(
            energy[:, out], backlog[:, out], pmax_dt[out], mu, grid.rows(~members), dt
        )
        bad = margin < -1e-7 * (1.0 + float(mu.max(initial=0.0)) / dt)
        if not bad.any():
            break
        members[out[bad]] = True
    # HiGHS meets the rows to ~1e-7: scale the LP's power down where it is above its room, so
    # the capacity holds to rounding (this only lowers e, which keeps every other row feasible).
    lp_total = lp_energy.sum(axis=1)
    scale = np.minimum(1.0, room * dt / np.maximum(lp_total, 1e-300))
    plan = energy.copy()
    plan[:, members] = lp_energy * scale[:, None]
    plan, after = _clean(plan, d, q, pmax_dt)
    # The next window's guess: the agents this one held back, and those close to it.
    held = np.abs(plan - energy).max(axis=0) > END_TOL
    near = _deferral_margin(energy, backlog, pmax_dt, mu, grid, dt) < _NEAR * np.median(cost_linear)
    members[:] = held | near
    return plan, after, mu


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

    grid = _Grid(*tangent_grid(cl, cq, q0 + d.sum(axis=0), tol))
    energy, backlog, price = np.zeros((steps, n)), np.zeros((steps, n)), np.zeros(steps)
    tally = _Tally()
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
            heuristic = _proportional_catch_up(d[t:], q, cap[t:], pmax, dt)
            end = min(steps - t, int(np.ceil(heuristic * speedup)) + 2)
            _, held = _priority(d[t : t + end], q, cap[t : t + end], pmax, cl, dt)
            members |= held  # first LP agents: those a priority heuristic holds back
        while True:
            plan, after, mu = _solve_window(
                d[t : t + end], q, cap[t : t + end], pmax, cl, grid, dt, members, tally
            )
            behind = (after - _greedy(d[t : t + end], q, pmax)[1]).max(axis=1) > END_TOL
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


def _proportional_catch_up(d: F64, q: F64, capacity: F64, pmax_dt: F64, dt: float) -> int:
    """Steps a proportional heuristic (greedy scaled down to the capacity) takes to catch up with
    greedy-without-capacity for every agent (all of ``d``'s steps if it never does)."""
    heuristic, least = q.copy(), q.copy()
    for s in range(d.shape[0]):
        want = np.minimum(pmax_dt, heuristic + d[s])
        total = want.sum()
        if total > capacity[s] * dt:
            want *= capacity[s] * dt / total
        heuristic = np.maximum(heuristic + d[s] - want, 0.0)
        least = least + d[s] - np.minimum(pmax_dt, least + d[s])
        if float(np.max(heuristic - least)) <= END_TOL:
            return s + 1
    return int(d.shape[0])


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
