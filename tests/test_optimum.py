"""The fluid optimum (samarl.execution.optimum): hand-solved cases, the decomposition, the inputs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from samarl.envs import Dynamics
from samarl.errors import InvalidValueError, ShapeError
from samarl.execution.optimum import (
    FluidOptimum,
    fluid_optimum,
    optimum_gaps,
    realised_arrivals,
    solve_for_run,
    tangent_grid,
)
from samarl.scenario import load_scenario


def _solve(d: Any, cap: Any, pmax: Any, cl: Any, cq: Any, **kw: Any) -> FluidOptimum:
    """``fluid_optimum`` with a 4-step day, 2 blocks and ``dt = 0.5`` unless told otherwise."""
    args = {"dt_hours": 0.5, "steps_per_day": 4, "num_blocks": 2} | kw
    return fluid_optimum(d, cap, pmax, cl, cq, **args)


def _evening_instance(n: int, days: int, seed: int) -> dict[str, Any]:
    """Random households with an evening peak over a 96-step day; capacity binds every evening."""
    rng = np.random.default_rng(seed)
    s, dt = 96, 0.25
    tod = np.arange(s)
    profile = 0.6 + 2.0 * np.exp(-0.5 * ((tod - 76) / 6.0) ** 2)
    mean = rng.uniform(0.05, 0.2, n)  # kWh per step
    d = np.tile(profile, days)[:, None] * mean[None, :] * rng.uniform(0.7, 1.3, (days * s, n))
    expected = profile * mean.sum() / dt  # kW
    cap = expected.mean() + 0.4 * (expected.max() - expected.mean())
    return {
        "arrivals": d,
        "capacity": np.full(days * s, cap),
        "max_energy": mean * rng.uniform(3.0, 6.0, n),
        "cost_linear": rng.uniform(0.12, 0.38, n),
        "cost_quadratic": np.full(n, 0.0125),
        "dt_hours": dt,
        "steps_per_day": s,
        "num_blocks": 24,
    }


# --------------------------------------------------------------------------------------------------
# 1. Optima known by hand
# --------------------------------------------------------------------------------------------------


def test_linear_costs_serve_the_dearer_agent_first() -> None:
    # Both agents get 1 kWh at step 0; capacity 3 kW x 0.5 h = 1.5 kWh then: agent 0 (cl = 2) is
    # served fully, agent 1 (cl = 1) half, and its 0.5 kWh waits one step (cost 0.5).
    d = np.zeros((4, 2))
    d[0] = 1.0
    opt = _solve(d, [3.0, 4.0, 4.0, 4.0], [2.0, 2.0], [2.0, 1.0], [0.0, 0.0])
    plan = np.array([[1.0, 0.5], [0.0, 0.5], [0.0, 0.0], [0.0, 0.0]])
    np.testing.assert_allclose(opt.energy, plan, atol=1e-9)
    assert opt.cost == pytest.approx(0.5, abs=1e-9)
    assert opt.cost_lower_bound == pytest.approx(0.5, abs=1e-9)  # linear: the LP is exact
    assert opt.served == pytest.approx(1.0)
    np.testing.assert_allclose(opt.total_load, [3.0, 1.0, 0.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(opt.backlog_total, [0.5, 0.0, 0.0, 0.0], atol=1e-9)
    # One more kW at step 0 serves 0.5 kWh more of agent 1, saving cl_1 * 0.5 = 0.5: mu_0 = 0.5.
    np.testing.assert_allclose(opt.step_price, [0.5, 0.0, 0.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(opt.block_price, [0.25, 0.0], atol=1e-9)
    assert opt.windows == 1


def test_quadratic_backlog_held_for_k_steps() -> None:
    # One agent, 1 kWh at step 0, no capacity for k steps: it waits k steps at q = 1.
    k, cl, cq = 3, 0.3, 0.2
    d = np.zeros((8, 1))
    d[0] = 1.0
    cap = np.array([0.0] * k + [10.0] * (8 - k))
    opt = _solve(d, cap, [1.0], [cl], [cq], steps_per_day=8, num_blocks=8, tangent_tol=1e-3)
    assert opt.cost == pytest.approx(k * (cl + cq), rel=1e-9)
    assert (1 - 1e-3) * opt.cost <= opt.cost_lower_bound <= opt.cost
    assert opt.served == pytest.approx(1.0)
    np.testing.assert_allclose(opt.backlog_total, [1, 1, 1, 0, 0, 0, 0, 0], atol=1e-9)
    # One kW more at step j < k serves 0.5 kWh, k - j steps earlier; f_tan has slope >= cl there.
    assert (opt.step_price[:k] >= (k - np.arange(k)) * cl * 0.5 - 1e-9).all()
    assert (opt.step_price[k:] == 0).all()


def test_quadratic_costs_share_the_wait() -> None:
    # Two identical agents, 1 kWh each, 1 kWh of capacity at step 0: the convex cost splits the
    # wait, 0.5 kWh each for one step: 2 * (0.3 * 0.5 + 0.2 * 0.25) = 0.4.
    d = np.zeros((4, 2))
    d[0] = 1.0
    tol = 1e-3
    opt = _solve(d, [2.0, 8.0, 8.0, 8.0], [2.0, 2.0], [0.3, 0.3], [0.2, 0.2], tangent_tol=tol)
    assert opt.cost_lower_bound <= 0.4 + 1e-9 <= opt.cost + 2e-9
    assert opt.cost <= 0.4 / (1 - tol) + 1e-9
    assert opt.gap <= tol


def test_tangent_grid_bounds_the_relative_gap() -> None:
    cl = np.array([0.1, 0.3, 0.0, 0.2])
    cq = np.array([0.0125, 0.05, 0.02, 0.0])
    tol, reach = 2e-3, 20.0
    start, width, slope = tangent_grid(cl, cq, np.full(4, reach), tol)
    q = np.linspace(0.0, reach, 4001)
    for n in range(4):
        seg = np.isfinite(start[n])
        f_tan = sum(
            slope[n, k] * np.clip(q - start[n, k], 0.0, width[n, k]) for k in np.flatnonzero(seg)
        )
        f = cl[n] * q + cq[n] * q * q
        assert (f_tan <= f + 1e-12).all()
        check = q >= (0.0 if cl[n] > 0 else reach / 100)  # cl = 0: no relative bound near 0
        assert (f_tan[check] >= (1 - tol) * f[check] - 1e-12).all()
    assert start.shape[1] < 100  # a few tens of segments at most
    assert np.isfinite(start[3]).sum() == 1  # linear cost: one segment


# --------------------------------------------------------------------------------------------------
# 2. Capacity that never binds
# --------------------------------------------------------------------------------------------------


def test_unconstrained_capacity_is_greedy_with_zero_prices() -> None:
    inst = _evening_instance(6, 2, seed=1)
    inst["capacity"] = np.full_like(inst["capacity"], 1e6)
    q0 = np.linspace(0.0, 2.0, 6)
    opt = fluid_optimum(**inst, initial_backlog=q0)
    d, pmax = inst["arrivals"], inst["max_energy"]
    cl, cq = inst["cost_linear"], inst["cost_quadratic"]
    q, cost, served = q0.copy(), 0.0, 0.0
    for t in range(d.shape[0]):
        e = np.minimum(pmax, q + d[t])
        q = q + d[t] - e
        cost += float((cl * q + cq * q * q).sum())
        served += float(e.sum())
    assert opt.cost == pytest.approx(cost, rel=1e-12)
    assert opt.served == pytest.approx(served / d.sum(), rel=1e-12)
    assert (opt.step_price == 0).all()
    assert (opt.block_price == 0).all()
    assert opt.windows == 0
    assert opt.lp_solves == 0


# --------------------------------------------------------------------------------------------------
# 3. The decomposition is exact
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "seed"), [(5, 2), (12, 3)])
def test_windows_equal_the_monolithic_lp(n: int, seed: int) -> None:
    inst = _evening_instance(n, 3, seed)
    split = fluid_optimum(**inst)
    whole = fluid_optimum(**inst, decompose=False)
    assert whole.windows == 1
    assert whole.lp_steps == 3 * 96
    assert split.windows >= 3
    assert split.lp_steps < 3 * 96 / 2
    assert split.cost_lower_bound == pytest.approx(whole.cost_lower_bound, rel=1e-6)
    assert split.cost == pytest.approx(whole.cost, rel=2e-3)  # plans may differ where ties are
    assert split.served == pytest.approx(whole.served, rel=1e-6)
    assert split.gap <= 1e-3
    assert whole.gap <= 1e-3
    assert (split.total_load <= inst["capacity"] * (1 + 1e-9)).all()
    assert (split.step_price >= 0).all()
    assert split.step_price.max() > 0
    if n == 12:
        assert split.lp_agents_max < n  # some agents were served greedily outside the LP


# --------------------------------------------------------------------------------------------------
# 4. The arrivals of a run
# --------------------------------------------------------------------------------------------------


def test_realised_arrivals_do_not_depend_on_actions() -> None:
    scenario = load_scenario("small")
    data = scenario.build()
    steps = 2 * scenario.steps_per_day
    arrivals = realised_arrivals(scenario, data, seed=7, steps=steps)
    dyn = Dynamics.from_scenario(scenario, data)
    dyn.reset(7)
    rng = np.random.default_rng(0)
    for t in range(steps):
        out = dyn.step(rng.uniform(0.0, 1.0, data.num_agents).astype(np.float32))
        np.testing.assert_array_equal(arrivals[t], out.arrived)
    other = realised_arrivals(scenario, data, seed=8, steps=4)
    assert not np.array_equal(other, arrivals[:4])


def test_solve_for_run_and_gaps() -> None:
    scenario = load_scenario("small")
    opt = solve_for_run(scenario, None, seed=0, days=2)
    cap = np.tile(scenario.build().capacity.astype(np.float64), 2)
    assert (opt.total_load <= cap * (1 + 1e-9)).all()
    assert opt.step_cost.sum() == pytest.approx(opt.cost)
    s = scenario.steps_per_day
    window = opt.step_cost[s:].sum()
    due = opt.backlog_total[s - 1] + opt.arrived_total[s:].sum()
    served = opt.total_load[s:].sum() * opt.dt_hours / due
    metrics = {"demand/waiting_cost": 1.5 * window, "demand/served": served - 0.01}
    prices = np.asarray(
        [opt.step_price[s:][opt_blocks(opt)[s:] == h].mean() for h in range(opt.block_price.size)]
    )
    # The run's daily prices: the optimum's +- 0.1 on alternate days (their mean is the optimum's).
    daily = prices[None, :] + np.array([[0.1], [-0.1]])
    gaps = optimum_gaps(opt, metrics, daily, s, mult_max=2.0)
    assert gaps["optimum/waiting_cost"] == pytest.approx(window)
    assert gaps["optimum/served"] == pytest.approx(served)
    assert gaps["optimum/gap_cost"] == pytest.approx(1.5)  # a ratio (docs/metrics.md)
    assert gaps["optimum/gap_served"] == pytest.approx(0.01)
    assert gaps["optimum/price_distance"] == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(gaps["optimum/block_price"], prices)
    shifted = optimum_gaps(opt, metrics, daily + 0.5, s, mult_max=2.0)
    assert shifted["optimum/price_distance"] == pytest.approx(0.25)


def opt_blocks(opt: FluidOptimum) -> np.ndarray:
    steps, s, m = opt.step_price.size, opt.steps_per_day, opt.block_price.size
    return (np.arange(steps) % s) * m // s


# --------------------------------------------------------------------------------------------------
# 5. Bad input
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "error", "name"),
    [
        ({"arrivals": -np.ones((4, 2))}, InvalidValueError, "arrivals"),
        ({"arrivals": np.ones(4)}, ShapeError, "arrivals"),
        ({"capacity": np.ones(5)}, ShapeError, "capacity"),
        ({"capacity": [1.0, np.nan, 1.0, 1.0]}, InvalidValueError, "capacity"),
        ({"max_energy": [1.0, -1.0]}, InvalidValueError, "max_energy"),
        ({"cost_linear": [1.0, np.inf]}, InvalidValueError, "cost_linear"),
        ({"cost_quadratic": [0.0]}, ShapeError, "cost_quadratic"),
        ({"initial_backlog": [0.0, -0.1]}, InvalidValueError, "initial_backlog"),
        ({"dt_hours": 0.0}, InvalidValueError, "dt_hours"),
        ({"num_blocks": 5}, InvalidValueError, "num_blocks"),
        ({"steps_per_day": 0}, InvalidValueError, "steps_per_day"),
        ({"tangent_tol": 0.0}, InvalidValueError, "tangent_tol"),
        ({"cut_step": 4}, InvalidValueError, "cut_step"),
    ],
)
def test_bad_input_names_the_argument(change: dict[str, Any], error: type, name: str) -> None:
    args: dict[str, Any] = {
        "arrivals": np.ones((4, 2)),
        "capacity": np.ones(4),
        "max_energy": [1.0, 1.0],
        "cost_linear": [1.0, 1.0],
        "cost_quadratic": [0.0, 0.0],
        "dt_hours": 0.5,
        "steps_per_day": 4,
        "num_blocks": 2,
    } | change
    with pytest.raises(error, match=name):
        fluid_optimum(**args)
