"""Metrics: the incremental module equals a direct NumPy computation on recorded trajectories."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from samarl import plots
from samarl.envs import DemandResponseEnv
from samarl.errors import InvalidValueError, ShapeError
from samarl.execution import metrics as metrics_module
from samarl.execution.metrics import Metrics
from samarl.scenario import ScenarioConfig


def record_run(
    scenario: ScenarioConfig, actions: np.ndarray, seed: int = 0, **metric_kwargs: Any
) -> tuple[Metrics, dict[str, np.ndarray], DemandResponseEnv]:
    """Runs an episode, feeding Metrics and keeping the full history for the direct computation."""
    env = DemandResponseEnv(scenario)
    metrics = Metrics.for_env(env, **metric_kwargs)
    env.reset(seed=seed)
    history: dict[str, list[np.ndarray]] = {
        k: [] for k in ("resource_use", "served", "arrived", "reward", "backlog")
    }
    for a in actions:
        out = env.step(a)
        metrics.record_step(out)
        for key in ("resource_use", "served", "arrived", "reward"):
            history[key].append(getattr(out, key).copy())
        history["backlog"].append(out.obs[:, 0].copy())
    return metrics, {k: np.array(v, dtype=np.float64) for k, v in history.items()}, env


def direct_metrics(
    h: dict[str, np.ndarray],
    capacity: np.ndarray,
    blocks: np.ndarray,
    mean_arrival: np.ndarray,
    total_steps: int,
    warmup: int,
    initial_backlog: np.ndarray,
) -> dict[str, Any]:
    """docs/metrics.md, written directly on the [T, N] history."""
    s = capacity.size
    steps, _ = h["resource_use"].shape
    tod = np.arange(steps) % s
    cap = capacity[tod].astype(np.float64)
    total = h["resource_use"].sum(axis=1)
    w = slice(warmup, steps)
    per_block = []
    for b in range(blocks.max() + 1):
        mask = blocks[tod[w]] == b
        if mask.any():
            per_block.append(max(0.0, (total[w][mask] - cap[w][mask]).sum()) / cap[w][mask].sum())
    start = initial_backlog.sum() if warmup == 0 else h["backlog"][warmup - 1].sum()
    # Daily excess: every (day, block) whose steps all lie in the window.
    t = np.arange(steps)
    day_excess = []
    for d in range(steps // s):
        for b in range(blocks.max() + 1):
            mask = (t // s == d) & (blocks[tod] == b)
            if mask.any() and (t[mask] >= warmup).all():
                day_excess.append(max(0.0, (total[mask] - cap[mask]).sum()) / cap[mask].sum())
    served_w = h["served"][w].sum()
    # Postponing: daily means over the later half of the complete days, least-squares slope.
    days = total_steps // s
    first = days // 2
    mu = mean_arrival.astype(np.float64)
    growing = h["backlog"][-1] > s * mu
    complete = min(days, steps // s)
    if complete - first >= 2:
        daily = h["backlog"][: complete * s].reshape(complete, s, -1).mean(axis=1)[first:]
        slope = np.polyfit(np.arange(daily.shape[0]), daily, 1)[0] / s
        growing |= slope > 0.05 * mu
    return {
        "constraint/violation_avg_max": max(per_block),
        "constraint/violation_avg_mean": float(np.mean(per_block)),
        "constraint/excess_p95": float(np.percentile(day_excess, 95)) if day_excess else None,
        "constraint/excess_max": max(day_excess) if day_excess else None,
        "constraint/peak_ratio": float((total[w] / cap[w]).max()),
        "demand/delay_h": 0.25 * h["backlog"][w].sum() / served_w,
        "demand/waiting_cost": -h["reward"][w].sum(),
        "constraint/overshoot": np.maximum(total[w] - cap[w], 0).sum() / cap[w].sum(),
        "constraint/slack": (cap[w] - total[w]).sum() / cap[w].sum(),
        "demand/served": h["served"][w].sum() / (start + h["arrived"][w].sum()),
        "demand/postponing": int(growing.sum()),
        "demand/final_backlog": h["backlog"][-1].sum(),
        "reward/total": h["reward"][w].sum(),
        "reward/mean": h["reward"][w].mean(),
        "reward/per_agent": h["reward"][w].sum(axis=0),
    }


def assert_matches(summary: dict[str, Any], want: dict[str, Any]) -> None:
    for key, value in want.items():
        if value is None:
            assert summary[key] is None, key
            continue
        np.testing.assert_allclose(summary[key], value, rtol=1e-9, atol=1e-12, err_msg=key)


@pytest.mark.parametrize("throttle", [0.15, 0.35, 1.0])
def test_metrics_equal_the_direct_computation(throttle: float) -> None:
    # Random actions scaled by `throttle`: 0.15 postpones, 1.0 overshoots the evening capacity.
    scenario = ScenarioConfig.preset("small", num_agents=64, episode_days=4.0)
    n, steps = 64, scenario.episode_steps
    actions = (np.random.default_rng(1).uniform(0, 1, (steps, n)) * throttle).astype(np.float32)
    metrics, history, env = record_run(scenario, actions)
    summary = metrics.summary(per_agent=True)
    want = direct_metrics(
        history,
        env.capacity,
        env.block_of_step,
        env.data.mean_arrival,
        steps,
        96,
        np.zeros(n),
    )
    assert_matches(summary, want)
    assert summary["window/steps"] == steps - 96
    assert summary["time/steps"] == steps
    assert summary["demand/postponing_frac"] == summary["demand/postponing"] / n
    np.testing.assert_allclose(metrics.total_use, history["resource_use"].sum(axis=1))
    json.dumps(summary, allow_nan=False)  # plain JSON


def test_the_scenarios_exercise_every_regime() -> None:
    # Guards the test above against passing vacuously: its runs violate, postpone, or neither.
    scenario = ScenarioConfig.preset("small", num_agents=64, episode_days=4.0)
    results = {}
    for throttle in (0.15, 1.0):
        actions = np.full((scenario.episode_steps, 64), throttle, np.float32)
        results[throttle] = record_run(scenario, actions)[0].summary()
    assert results[1.0]["constraint/violation_avg_max"] > 0.05
    assert results[1.0]["constraint/excess_p95"] > 0.05
    assert results[1.0]["constraint/peak_ratio"] > 1.2
    assert results[1.0]["demand/postponing"] == 0
    assert results[0.15]["demand/postponing"] > 10
    assert results[0.15]["demand/served"] < 0.9


@given(
    warmup=st.integers(0, 150),
    steps=st.integers(151, 300),
    initial=st.floats(0.0, 3.0),
    seed=st.integers(0, 2**32),
)
def test_warmup_window_and_partial_runs(warmup: int, steps: int, initial: float, seed: int) -> None:
    # The summary of a run stopped before total_steps, with any warm-up, still matches.
    scenario = ScenarioConfig.preset("small", num_agents=8, episode_days=4.0)
    actions = np.random.default_rng(seed).uniform(0, 0.5, (steps, 8)).astype(np.float32)
    env = DemandResponseEnv(scenario)
    q0 = np.full(8, initial, np.float32)
    metrics = Metrics.for_env(env, warmup_steps=warmup, initial_backlog=q0)
    env.reset(seed=seed, initial_backlog=q0)
    hist: dict[str, list[np.ndarray]] = {
        k: [] for k in ("resource_use", "served", "arrived", "reward", "backlog")
    }
    for a in actions:
        out = env.step(a)
        metrics.record_step(out)
        for key in ("resource_use", "served", "arrived", "reward"):
            hist[key].append(getattr(out, key).copy())
        hist["backlog"].append(out.obs[:, 0].copy())
    history = {k: np.array(v, dtype=np.float64) for k, v in hist.items()}
    want = direct_metrics(
        history,
        env.capacity,
        env.block_of_step,
        env.data.mean_arrival,
        scenario.episode_steps,
        warmup,
        q0.astype(np.float64),
    )
    assert_matches(metrics.summary(per_agent=True), want)


@given(
    amplitude=st.floats(0.0, 20.0),
    phase=st.integers(0, 95),
    days=st.integers(2, 10),
    trend=st.floats(0.0, 0.2),
)
def test_postponing_reads_trends_not_the_daily_cycle(
    amplitude: float, phase: int, days: int, trend: float
) -> None:
    # Agent 0's backlog follows any daily cycle (no trend); agent 1's grows by `trend` x its mean
    # arrivals per step on top of the same cycle. Only agent 1 may be flagged, and exactly when
    # the trend is above the 5% threshold (with a margin for the fit's discreteness).
    s = 96
    total = days * s
    mu = np.array([0.1, 0.1])
    metrics = Metrics(
        capacity=np.ones(s),
        block_of_step=np.arange(s) // 4,
        mean_arrival=mu,
        total_steps=total,
        warmup_steps=0,
    )
    zeros = np.zeros(2, np.float32)
    t = np.arange(total)
    cycle = amplitude * mu[0] * (1 + np.sin(2 * np.pi * (t + phase) / s))
    for k in range(total):
        backlog = np.array([cycle[k], cycle[k] + trend * mu[1] * k], np.float32)
        metrics.record(zeros, zeros, zeros, zeros, backlog)
    flagged = metrics.postponing_agents()
    final_too_big = backlog > s * mu
    assert flagged[0] == final_too_big[0]
    if not final_too_big[1] and abs(trend - 0.05) > 0.005 and days >= 4:
        assert flagged[1] == (trend > 0.05)


def test_consensus_metrics() -> None:
    s, n, m = 96, 50, 24
    metrics = Metrics(
        capacity=np.ones(s),
        block_of_step=np.arange(s) // 4,
        mean_arrival=np.full(n, 0.1),
        total_steps=3 * s,
    )
    assert metrics.summary()["consensus/error_max"] is None
    rng = np.random.default_rng(0)
    zeros = np.zeros(n, np.float32)
    recorded = []
    for t in range(3 * s):
        metrics.record(zeros, zeros, zeros, zeros, zeros)
        if (t + 1) % s == 0:
            mult = rng.uniform(0, 2, (n, m))
            metrics.record_consensus(mult)
            recorded.append(mult)
    summary = metrics.summary()
    # Every epoch is in the window: the first is recorded as the warm-up day ends, and its copies
    # are the ones in use during day 2.
    dev = [np.abs(x - x.mean(axis=0)) for x in recorded]
    assert summary["consensus/epochs"] == 3
    np.testing.assert_allclose(summary["consensus/error_max"], np.mean([d.max() for d in dev]))
    np.testing.assert_allclose(summary["consensus/error_mean"], np.mean([d.mean() for d in dev]))
    np.testing.assert_allclose(summary["consensus/error_max_worst"], max(d.max() for d in dev))
    np.testing.assert_allclose(summary["mult/mean_per_epoch"], [x.mean(axis=0) for x in recorded])
    np.testing.assert_allclose(summary["mult/min_per_epoch"], [x.min(axis=0) for x in recorded])
    np.testing.assert_allclose(summary["mult/max_per_epoch"], [x.max(axis=0) for x in recorded])
    assert summary["consensus/step_per_epoch"] == [96, 192, 288]
    # Identical copies: zero error.
    metrics.record_consensus(np.full((n, m), 0.7))
    assert metrics.summary()["consensus/error_max_per_epoch"][-1] == pytest.approx(0.0, abs=1e-12)
    json.dumps(metrics.summary(), allow_nan=False)


def test_consensus_metrics_in_several_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics_module, "_ROWS_PER_PASS", 7)
    n, m = 50, 3
    metrics = Metrics(
        capacity=np.ones(4),
        block_of_step=[0, 0, 1, 1],
        mean_arrival=np.ones(n),
        total_steps=4,
        warmup_steps=0,
    )
    mult = np.random.default_rng(1).uniform(0, 2, (n, m)).astype(np.float32)
    for _ in range(4):
        metrics.record(*(np.zeros(n, np.float32),) * 5)
    metrics.record_consensus(mult)
    dev = np.abs(mult.astype(np.float64) - mult.mean(axis=0, dtype=np.float64))
    summary = metrics.summary()
    np.testing.assert_allclose(summary["consensus/error_mean"], dev.mean(), rtol=1e-12)
    np.testing.assert_allclose(summary["consensus/error_max"], dev.max(), rtol=1e-12)


def test_empty_window_and_timing() -> None:
    metrics = Metrics(
        capacity=np.ones(4), block_of_step=[0, 0, 1, 1], mean_arrival=np.ones(3), total_steps=8
    )
    summary = metrics.summary()
    assert summary["constraint/violation_avg_max"] is None
    assert summary["time/agent_steps_per_s"] is None
    for _ in range(8):
        metrics.record(*(np.ones(3, np.float32),) * 5)
    summary = metrics.summary()
    assert summary["time/wall_s"] > 0
    assert summary["time/agent_steps_per_s"] == pytest.approx(24 / summary["time/wall_s"])
    # Total use 3 kW vs capacity 1 kW in both blocks: 200% over.
    assert summary["constraint/violation_avg_max"] == pytest.approx(2.0)
    assert summary["constraint/slack"] == pytest.approx(-2.0)


def test_bad_arguments() -> None:
    kwargs: dict[str, Any] = {
        "capacity": np.ones(96),
        "block_of_step": np.arange(96) // 4,
        "mean_arrival": np.ones(4),
        "total_steps": 192,
    }
    with pytest.raises(InvalidValueError, match=r"warmup_steps: .* no evaluation window"):
        Metrics(**{**kwargs, "total_steps": 96})
    with pytest.raises(InvalidValueError, match="capacity"):
        Metrics(**{**kwargs, "capacity": np.zeros(96)})
    with pytest.raises(ShapeError, match="block_of_step"):
        Metrics(**{**kwargs, "block_of_step": np.zeros(95, np.int64)})
    with pytest.raises(InvalidValueError, match="postpone_slope"):
        Metrics(**kwargs, postpone_slope=float("nan"))
    metrics = Metrics(**kwargs)
    with pytest.raises(ShapeError, match="backlog"):
        metrics.record(*(np.zeros(4, np.float32),) * 4, np.zeros(5, np.float32))
    with pytest.raises(ShapeError, match="mult"):
        metrics.record_consensus(np.zeros((5, 24)))
    with pytest.raises(InvalidValueError, match="mult"):
        metrics.record_consensus(np.full((4, 24), np.nan))
    with pytest.raises(InvalidValueError, match="groups"):
        _ = metrics.backlog_by_group


def test_group_trace_and_plots(tmp_path: Path) -> None:
    scenario = ScenarioConfig.preset("small", num_agents=40)
    env = DemandResponseEnv(scenario)
    groups, labels = plots.demand_groups(env.data.daily_demand, num_groups=3)
    assert sorted(np.bincount(groups).tolist()) in ([13, 13, 14], [13, 14, 13], [14, 13, 13])
    actions = np.full((scenario.episode_steps, 40), 0.3, np.float32)
    metrics, history, env = record_run(scenario, actions, groups=groups)
    trace = metrics.backlog_by_group
    assert trace.shape == (scenario.episode_steps, 3)
    for g in range(3):
        np.testing.assert_allclose(trace[:, g], history["backlog"][:, groups == g].mean(axis=1))
    load = plots.plot_load_vs_capacity(
        metrics.total_use,
        env.capacity,
        env.dt_hours,
        tmp_path / "figs" / "load.png",
        expected_demand=env.expected_total_demand,
        skip_days=1,
    )
    backlog = plots.plot_backlog_by_group(
        trace, env.dt_hours, tmp_path / "backlog.png", labels=labels
    )
    for path in (load, backlog):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Shorter than a day still plots; mismatched inputs are named.
    plots.plot_load_vs_capacity(np.ones(10), env.capacity, 0.25, tmp_path / "short.png")
    with pytest.raises(ShapeError, match="labels"):
        plots.plot_backlog_by_group(trace, 0.25, tmp_path / "x.png", labels=["a"])
    with pytest.raises(ShapeError, match="expected_demand"):
        plots.plot_load_vs_capacity(
            np.ones(96), env.capacity, 0.25, tmp_path / "x.png", expected_demand=np.ones(3)
        )


def test_settling_is_the_mean_day_to_day_price_change_over_the_window() -> None:
    m = Metrics(
        capacity=np.ones(4),
        block_of_step=np.array([0, 0, 1, 1]),
        mean_arrival=np.ones(3),
        total_steps=5 * 4,
        warmup_steps=2 * 4,
        mult_max=2.0,
    )
    prices = [[0.0, 2.0], [2.0, 0.0], [1.0, 1.0], [1.2, 0.8], [1.2, 0.8]]
    for day, p in enumerate(prices):
        for _ in range(4):
            m.record(*(np.zeros(3, np.float32),) * 5)
        m.record_daily_prices(day, p)
    # Window days 2, 3, 4: changes |0.2|, |0.2| then 0, 0 -> mean 0.1, / mult_max 2.
    assert m.summary()["dual/settling"] == pytest.approx(0.05)
    with pytest.raises(ShapeError, match="mean_price"):
        m.record_daily_prices(5, [1.0])
