"""The pieces of the fluid optimum (:func:`samarl.execution.optimum.fluid_optimum`): the tangent
approximation of the waiting cost, the plans that need no LP, and the LP windows HiGHS solves.

Why each piece is exact (greedy while it fits, windows cut in time at the least backlog, windows cut
by agent at the LP's capacity prices) is the doc of :mod:`samarl.execution.optimum`; this module is
the arithmetic. Arrays are ``[steps, agents]`` (kWh per step) and ``[agents]``, float64, checked by
the caller.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.optimize import linprog

__all__ = [
    "END_TOL",
    "Grid",
    "Tally",
    "clean",
    "deferral_margin",
    "greedy",
    "make_room",
    "priority",
    "proportional_catch_up",
    "solve_lp",
    "solve_window",
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


# --------------------------------------------------------------------------------------------------
# The tangent approximation
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grid:
    """Per-agent segments of ``f_tan`` (:func:`tangent_grid`), rows = agents."""

    start: F64
    width: F64
    slope: F64

    def rows(self, agents: Mask) -> Grid:
        """The segments of a subset of agents."""
        return Grid(self.start[agents], self.width[agents], self.slope[agents])

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


def greedy(d: F64, q: F64, pmax_dt: F64) -> tuple[F64, F64]:
    """Serve ``min(pmax_dt, q + d)`` every step, ignoring the capacity: ``(energy, backlog)``."""
    energy, after = np.empty_like(d), np.empty_like(d)
    for s in range(d.shape[0]):
        energy[s] = np.minimum(pmax_dt, q + d[s])
        q = q + d[s] - energy[s]
        after[s] = q
    return energy, after


def priority(
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


def clean(energy: F64, d: F64, q: F64, pmax_dt: F64) -> tuple[F64, F64]:
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


def solve_lp(
    d: F64, q_start: F64, capacity: F64, pmax_dt: F64, grid: Grid, dt: float
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


def deferral_margin(energy: F64, backlog: F64, pmax_dt: F64, mu: F64, grid: Grid, dt: float) -> F64:
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


def make_room(members: Mask, energy: F64, capacity: F64, cost_linear: F64, dt: float) -> None:
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
class Tally:
    """Counters of the LP work done."""

    windows: int = 0
    merged: int = 0
    solves: int = 0
    steps: int = 0
    agents_max: int = 0


def solve_window(
    d: F64,
    q: F64,
    capacity: F64,
    pmax_dt: F64,
    cost_linear: F64,
    grid: Grid,
    dt: float,
    members: Mask,
    tally: Tally,
) -> tuple[F64, F64, F64]:
    """The optimal plan of a window with only ``members`` (grown as needed) in the LP.

    Returns ``(energy, backlog after each step, mu)``; ``members`` is updated in place.
    """
    energy, backlog = greedy(d, q, pmax_dt)
    while True:
        make_room(members, energy, capacity, cost_linear, dt)
        room = np.maximum(capacity - energy[:, ~members].sum(axis=1) / dt, 0.0)
        lp_energy, mu = solve_lp(
            d[:, members], q[members], room, pmax_dt[members], grid.rows(members), dt
        )
        tally.solves += 1
        tally.agents_max = max(tally.agents_max, int(members.sum()))
        out = np.flatnonzero(~members)
        margin = deferral_margin(
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
    plan, after = clean(plan, d, q, pmax_dt)
    # The next window's guess: the agents this one held back, and those close to it.
    held = np.abs(plan - energy).max(axis=0) > END_TOL
    near = deferral_margin(energy, backlog, pmax_dt, mu, grid, dt) < _NEAR * np.median(cost_linear)
    members[:] = held | near
    return plan, after, mu


def proportional_catch_up(d: F64, q: F64, capacity: F64, pmax_dt: F64, dt: float) -> int:
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
