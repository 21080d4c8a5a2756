"""Tests of the NumPy/SciPy reference implementations themselves (no Rust extension needed)."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from samarl.benchmarks import fused_env
from samarl.reference import consensus as rc
from samarl.reference import env as re
from samarl.reference import graph as rg
from samarl.reference import rng as rr

U64 = st.integers(min_value=0, max_value=2**64 - 1)
EPS32 = float(np.finfo(np.float32).eps)
SETTINGS = settings(max_examples=40, deadline=None)


# --------------------------------------------------------------------------------------------------
# rng
# --------------------------------------------------------------------------------------------------


def test_mix64_known_value() -> None:
    assert int(rr.mix64(0x9E3779B97F4A7C15)) == 0xE220A8397B1DCDAF
    assert rr.mix64_int(0x9E3779B97F4A7C15) == 0xE220A8397B1DCDAF
    out = rr.mix64(np.array([rr.GOLDEN, 2 * rr.GOLDEN % 2**64], dtype=np.uint64))
    assert out.dtype == np.uint64
    assert int(out[0]) == 0xE220A8397B1DCDAF


@SETTINGS
@given(seed=U64, stream=U64, agent=U64, step=U64)
def test_bits_equal_pure_python(seed: int, stream: int, agent: int, step: int) -> None:
    assert int(rr.bits(seed, stream, agent, step)) == rr.bits_int(seed, stream, agent, step)
    u = rr.uniform_f32(seed, stream, agent, step)
    assert u.dtype == np.float32
    assert float(u) == (rr.bits_int(seed, stream, agent, step) >> 40) / 2**24


@SETTINGS
@given(seed=U64, step=st.integers(0, 2**40))
def test_bits_vectorised_over_agents_and_steps(seed: int, step: int) -> None:
    agents = np.arange(50, dtype=np.uint64)
    steps = np.full(50, step, dtype=np.uint64) + np.arange(50, dtype=np.uint64) % 3
    got = rr.bits(seed, rr.STREAM_ARRIVALS, agents, steps)
    want = [
        rr.bits_int(seed, rr.STREAM_ARRIVALS, int(a), int(t))
        for a, t in zip(agents, steps, strict=True)
    ]
    assert got.tolist() == want


def test_uniform_in_unit_interval_and_roughly_uniform() -> None:
    u = rr.uniform_f32(7, rr.STREAM_ARRIVALS, np.arange(100_000), 3)
    assert u.dtype == np.float32
    assert float(u.min()) >= 0.0
    assert float(u.max()) < 1.0
    assert abs(float(u.mean(dtype=np.float64)) - 0.5) < 0.005
    counts = np.bincount((u * 10).astype(np.int64), minlength=10)
    assert counts.min() > 9_500


def test_counters_are_independent_keys() -> None:
    a = int(rr.bits(1, 1, 2, 3))
    assert a != int(rr.bits(1, 1, 3, 2))
    assert a != int(rr.bits(2, 1, 2, 3))
    assert a != int(rr.bits(1, 2, 2, 3))
    assert a == int(rr.bits(1, 1, 2, 3))


def test_rng_rejects_negative_and_non_integer_counters() -> None:
    with pytest.raises(ValueError, match="agent"):
        rr.bits(0, 1, np.array([-1, 2]), 0)
    with pytest.raises(ValueError, match="seed"):
        rr.bits(-1, 1, 0, 0)
    with pytest.raises(ValueError, match="step"):
        rr.bits(0, 1, 0, np.array([0.5]))


# --------------------------------------------------------------------------------------------------
# env
# --------------------------------------------------------------------------------------------------


def _env_params(n: int, num_profiles: int, steps: int, seed: int) -> dict[str, npt.NDArray]:
    gen = np.random.default_rng(seed)
    return {
        "mean_arrival": gen.lognormal(0.0, 0.5, n).astype(np.float32),
        "max_power": gen.uniform(0.0, 8.0, n).astype(np.float32),
        "cost_linear": gen.uniform(0.0, 1.0, n).astype(np.float32),
        "cost_quadratic": gen.uniform(0.0, 0.2, n).astype(np.float32),
        "profile_id": gen.integers(0, num_profiles, n),
        "profiles": gen.uniform(0.0, 2.0, (num_profiles, steps)).astype(np.float32),
    }


ENV_CASES = st.fixed_dictionaries(
    {
        "n": st.integers(1, 40),
        "num_profiles": st.integers(1, 3),
        "steps": st.integers(1, 7),
        "param_seed": st.integers(0, 2**32 - 1),
        "seed": U64,
        "noise": st.sampled_from([0.0, 0.3, 1.0]),
        "dt_hours": st.sampled_from([0.25, 1.0, 0.1]),
    }
)


def _make_env(case: dict[str, int | float]) -> re.DemandResponseRef:
    params = _env_params(
        int(case["n"]), int(case["num_profiles"]), int(case["steps"]), int(case["param_seed"])
    )
    profiles = params.pop("profiles")
    return re.DemandResponseRef(
        **params, profiles=profiles, dt_hours=float(case["dt_hours"]), noise=float(case["noise"])
    )


@SETTINGS
@given(case=ENV_CASES)
def test_env_energy_balance_and_bounds(case: dict[str, int | float]) -> None:
    env = _make_env(case)
    n = env.num_agents
    gen = np.random.default_rng(int(case["param_seed"]) + 1)
    obs = env.reset(int(case["seed"]), gen.uniform(0.0, 3.0, n))
    assert obs.dtype == np.float32
    assert obs.shape == (n, re.OBS_DIM)
    assert np.all(obs[:, 1] == 0)
    assert np.all(obs[:, 2] == 0)
    assert np.all(obs[:, 3] == 1)
    dt = float(env.dt_hours)
    for t in range(2 * env.steps_per_day + 1):
        q = env.backlog.astype(np.float64)
        actions = gen.uniform(-0.5, 1.5, n).astype(np.float32)
        out = env.step(actions)
        for key in ("obs", "reward", "resource_use", "served", "arrived"):
            assert out[key].dtype == np.float32, key
        q_new = env.backlog.astype(np.float64)
        d = out["arrived"].astype(np.float64)
        e = out["served"].astype(np.float64)
        assert np.all(q_new >= 0)
        assert np.all(e >= 0)
        assert np.all(out["reward"] <= 0)
        # arrived = served + (q' - q), up to float32 rounding of q + d and of the subtraction.
        np.testing.assert_allclose(
            d, e + (q_new - q), rtol=0, atol=4 * EPS32 * float(np.max(q + d, initial=1.0))
        )
        # Arrivals within mu * phi * [1 - noise, 1 + noise].
        phi = env.profiles[env.profile_id, t % env.steps_per_day].astype(np.float64)
        mean = env.mean_arrival.astype(np.float64) * phi
        noise = float(env.noise)
        assert np.all(d >= mean * (1 - noise) * (1 - 4 * EPS32))
        assert np.all(d <= mean * (1 + noise) * (1 + 4 * EPS32))
        # Power drawn never exceeds the clipped action's share of pmax.
        a = np.clip(actions, 0, 1).astype(np.float64)
        assert np.all(out["resource_use"] <= a * env.max_power * (1 + 4 * EPS32))
        np.testing.assert_allclose(out["resource_use"] * dt, e, rtol=4 * EPS32)
        o = out["obs"]
        assert np.array_equal(o[:, 0], env.backlog)
        assert np.array_equal(o[:, 1], out["arrived"])
        assert np.array_equal(o[:, 5], env.max_power * env.dt_hours)
        assert np.array_equal(o[:, 6], env.mean_arrival)
        tod_next = (t + 1) % env.steps_per_day
        angle = 2 * math.pi * tod_next / env.steps_per_day
        np.testing.assert_allclose(o[:, 2], math.sin(angle), atol=1e-6)
        np.testing.assert_allclose(o[:, 3], math.cos(angle), atol=1e-6)
        assert env.step_count == t + 1


@SETTINGS
@given(case=ENV_CASES, block=st.sampled_from([None, 1, 3, 16, 65_536]))
def test_fused_step_equals_reference_bit_for_bit(
    case: dict[str, int | float], block: int | None
) -> None:
    env = _make_env(case)
    n = env.num_agents
    consts = fused_env.make_step_constants(
        env.mean_arrival,
        env.max_power,
        env.cost_linear,
        env.cost_quadratic,
        env.profile_id,
        profiles=env.profiles,
        dt_hours=float(case["dt_hours"]),
        noise=float(case["noise"]),
    )
    seed = int(case["seed"])
    gen = np.random.default_rng(int(case["param_seed"]))
    env.reset(seed, gen.uniform(0.0, 2.0, n))
    backlog = env.backlog
    obs = np.full((n, re.OBS_DIM), np.nan, dtype=np.float32)
    bufs = {
        k: np.full(n, np.nan, dtype=np.float32)
        for k in ("reward", "resource_use", "served", "arrived")
    }
    for t in range(env.steps_per_day + 2):
        actions = gen.uniform(-0.2, 1.2, n).astype(np.float32)
        want = env.step(actions)
        fused_env.step_arrays(
            consts, backlog, actions, seed=seed, step=t, obs=obs, block=block, **bufs
        )
        assert np.array_equal(backlog, env.backlog)
        assert np.array_equal(obs, want["obs"])
        want_arrays: dict[str, npt.NDArray[np.float32]] = dict(want)
        for key, buf in bufs.items():
            assert np.array_equal(buf, want_arrays[key]), key


def test_fused_step_can_skip_static_obs_columns() -> None:
    params = _env_params(10, 2, 5, 0)
    profiles = params.pop("profiles")
    consts = fused_env.make_step_constants(**params, profiles=profiles)
    env = re.DemandResponseRef(**params, profiles=profiles)
    obs = env.reset(3)
    backlog = env.backlog
    bufs = {
        k: np.empty(10, dtype=np.float32) for k in ("reward", "resource_use", "served", "arrived")
    }
    scratch = fused_env.StepScratch.empty(10)
    actions = np.full(10, 0.5, dtype=np.float32)
    for t in range(4):
        want = env.step(actions)
        fused_env.step_arrays(
            consts,
            backlog,
            actions,
            seed=3,
            step=t,
            obs=obs,
            scratch=scratch,
            write_static_obs=False,
            **bufs,
        )
        assert np.array_equal(obs, want["obs"])


def test_env_is_deterministic_and_set_state_restores() -> None:
    params = _env_params(25, 2, 6, 4)
    profiles = params.pop("profiles")
    a = re.DemandResponseRef(**params, profiles=profiles)
    b = re.DemandResponseRef(**params, profiles=profiles)
    a.reset(11)
    actions = np.linspace(0, 1, 25, dtype=np.float32)
    for _ in range(5):
        a.step(actions)
    b.set_state(11, a.step_count, a.backlog, a.last_arrival)
    assert np.array_equal(a.observe(), b.observe())
    for _ in range(5):
        oa, ob = a.step(actions), b.step(actions)
        assert np.array_equal(oa["obs"], ob["obs"])
        assert np.array_equal(oa["reward"], ob["reward"])
    a.reset(11)
    b.reset(12)
    assert not np.array_equal(a.step(actions)["arrived"], b.step(actions)["arrived"])


def test_env_validation_errors_name_the_argument() -> None:
    params = _env_params(4, 2, 3, 0)
    profiles = params.pop("profiles")
    bad = dict(params, max_power=np.array([1, -1, 1, 1], dtype=np.float32))
    with pytest.raises(ValueError, match="max_power"):
        re.DemandResponseRef(**bad, profiles=profiles)
    with pytest.raises(ValueError, match="profile_id"):
        re.DemandResponseRef(**dict(params, profile_id=np.array([0, 1, 2, 0])), profiles=profiles)
    with pytest.raises(ValueError, match="noise"):
        re.DemandResponseRef(**params, profiles=profiles, noise=1.5)
    with pytest.raises(ValueError, match="dt_hours"):
        re.DemandResponseRef(**params, profiles=profiles, dt_hours=0.0)
    with pytest.raises(ValueError, match="num_agents"):
        re.DemandResponseRef([], [], [], [], np.array([], dtype=np.int64), profiles=profiles)
    env = re.DemandResponseRef(**params, profiles=profiles)
    env.reset(0)
    with pytest.raises(ValueError, match="actions"):
        env.step(np.array([0.1, np.nan, 0.2, 0.3], dtype=np.float32))
    with pytest.raises(ValueError, match="actions"):
        env.step(np.zeros(3, dtype=np.float32))
    with pytest.raises(ValueError, match="initial_backlog"):
        env.reset(0, np.array([1, 1, -1, 1], dtype=np.float32))


# --------------------------------------------------------------------------------------------------
# graph
# --------------------------------------------------------------------------------------------------


def _assert_canonical(adj: sp.csr_array) -> None:
    assert adj.dtype == np.bool_
    assert adj.has_sorted_indices
    assert (adj != adj.T).nnz == 0
    assert not np.any(adj.diagonal())
    dense = adj.toarray()
    assert dense.sum() == adj.nnz  # no duplicate entries


@pytest.mark.parametrize(("n", "k"), [(3, 1), (10, 2), (11, 5), (100, 3)])
def test_ring(n: int, k: int) -> None:
    adj = rg.ring(n, k)
    _assert_canonical(adj)
    assert np.all(rg.degrees(adj) == 2 * k)
    assert rg.num_edges(adj) == n * k
    assert rg.num_components(adj) == 1


def test_ring_rejects_bad_sizes() -> None:
    for n, k in [(2, 1), (10, 0), (10, 5)]:
        with pytest.raises(ValueError, match="ring"):
            rg.ring(n, k)


@pytest.mark.parametrize(("rows", "cols"), [(1, 1), (1, 5), (4, 1), (3, 7)])
def test_grid(rows: int, cols: int) -> None:
    adj = rg.grid_2d(rows, cols)
    _assert_canonical(adj)
    assert rg.num_edges(adj) == rows * (cols - 1) + cols * (rows - 1)
    assert rg.num_components(adj) == 1
    assert rg.bandwidth(adj) == (cols if rows > 1 else min(1, cols - 1))


def test_complete_and_from_edges() -> None:
    adj = rg.complete(7)
    _assert_canonical(adj)
    assert rg.num_edges(adj) == 21
    with pytest.raises(ValueError, match="complete"):
        rg.complete(rg.MAX_COMPLETE_NODES + 1)
    e = rg.from_edges(5, [(0, 1), (1, 0), (2, 2), (4, 1), (1, 4)])
    _assert_canonical(e)
    assert rg.edge_list(e).tolist() == [[0, 1], [1, 4]]
    count, labels = rg.component_labels(e)
    assert count == 3
    assert labels.tolist() == [0, 0, 1, 2, 0]
    with pytest.raises(ValueError, match="range"):
        rg.from_edges(3, [(0, 3)])
    with pytest.raises(ValueError, match="num_nodes"):
        rg.from_edges(0, [])


def test_from_csr_checks_symmetry() -> None:
    adj = rg.from_csr(3, [0, 2, 3, 4], [1, 0, 0, 2])  # diagonal (2, 2) dropped
    assert rg.edge_list(adj).tolist() == [[0, 1]]
    with pytest.raises(ValueError, match="symmetric"):
        rg.from_csr(3, [0, 1, 1, 1], [1])


@SETTINGS
@given(
    n=st.integers(1, 60),
    radius=st.floats(0.0, 0.8),
    seed=st.integers(0, 2**32 - 1),
)
def test_geometric_matches_brute_force(n: int, radius: float, seed: int) -> None:
    gen = np.random.default_rng(seed)
    points = gen.random((n, 2), dtype=np.float32)
    if n > 2:
        points[1] = points[0] + np.float32(radius)  # a pair near the threshold
    adj = rg.geometric_from_points(points, radius)
    _assert_canonical(adj)
    p = points.astype(np.float64)
    dx = p[:, None, 0] - p[None, :, 0]
    dy = p[:, None, 1] - p[None, :, 1]
    want = (dx * dx + dy * dy <= radius * radius) & ~np.eye(n, dtype=bool)
    assert np.array_equal(adj.toarray(), want)


def test_geometric_distance_equal_to_radius_is_an_edge() -> None:
    adj = rg.geometric_from_points(np.array([[0, 0], [0.5, 0], [0.5, 0]], dtype=np.float32), 0.5)
    assert rg.edge_list(adj).tolist() == [[0, 1], [0, 2], [1, 2]]


def test_rcm_reduces_bandwidth_of_a_shuffled_grid() -> None:
    grid = rg.grid_2d(20, 30)
    shuffled = rg.permuted(grid, np.random.default_rng(0).permutation(600))
    _assert_canonical(shuffled)
    assert rg.num_edges(shuffled) == rg.num_edges(grid)
    order = rg.rcm_order(shuffled)
    assert np.array_equal(np.sort(order), np.arange(600))
    assert rg.bandwidth(rg.permuted(shuffled, order)) <= 2 * 20
    assert rg.bandwidth(shuffled) > 300


# --------------------------------------------------------------------------------------------------
# consensus
# --------------------------------------------------------------------------------------------------


@st.composite
def graphs(draw: st.DrawFn, max_nodes: int = 40) -> sp.csr_array:
    n = draw(st.integers(1, max_nodes))
    edges = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=4 * n))
    return rg.from_edges(n, np.array(edges, dtype=np.int64).reshape(-1, 2))


@SETTINGS
@given(adj=graphs())
def test_metropolis_weights_symmetric_doubly_stochastic(adj: sp.csr_array) -> None:
    w = rc.metropolis_weights(adj)
    n = adj.shape[0]
    assert w.dtype == np.float32
    assert w.has_sorted_indices
    assert (w != w.T).nnz == 0
    assert w.nnz == adj.nnz + n
    dense = w.toarray().astype(np.float64)
    np.testing.assert_allclose(dense.sum(axis=1), 1.0, atol=n * EPS32)
    np.testing.assert_allclose(dense.sum(axis=0), 1.0, atol=n * EPS32)
    assert np.all(dense >= 0)
    assert np.all(np.diag(dense) > 0)
    deg = rg.degrees(adj)
    for i, j in rg.edge_list(adj):
        assert dense[i, j] == np.float32(1.0 / (1.0 + max(deg[i], deg[j])))


def test_metropolis_diagonal_is_float64_remainder() -> None:
    adj = rg.from_edges(4, [(0, 1), (0, 2), (0, 3), (1, 2)])
    w = rc.metropolis_weights(adj)
    # deg = [3, 2, 2, 1]: row 0 has 1/4 three times; row 1 has 1/4 and 1/3.
    assert w[0, 0] == np.float32(1.0 - 0.75)
    assert w[1, 1] == np.float32(1.0 - (0.25 + 1.0 / 3.0))
    assert w[3, 3] == np.float32(0.75)


@SETTINGS
@given(adj=graphs(), rounds=st.integers(0, 12), cols=st.integers(1, 3), seed=st.integers(0, 99))
def test_mix_preserves_mean(adj: sp.csr_array, rounds: int, cols: int, seed: int) -> None:
    n = adj.shape[0]
    w = rc.metropolis_weights(adj)
    x = np.random.default_rng(seed).uniform(-1, 1, (n, cols)).astype(np.float32)
    y = rc.mix(w, x, rounds)
    assert y.dtype == np.float32
    assert y.shape == x.shape
    np.testing.assert_allclose(
        y.mean(axis=0, dtype=np.float64), x.mean(axis=0, dtype=np.float64), atol=1e-5
    )
    y1 = rc.mix(w, x[:, 0], rounds)
    assert np.array_equal(y1, y[:, 0])  # each column is mixed independently


def test_mix_accumulates_diagonal_first_in_float32() -> None:
    adj = rg.geometric_from_points(np.random.default_rng(3).random((80, 2)), 0.25)
    w = rc.metropolis_weights(adj)
    off, diag = rc.split_diagonal(w)
    x = np.random.default_rng(4).standard_normal(80).astype(np.float32)
    want = np.empty_like(x)
    for i in range(80):
        acc = diag[i] * x[i]
        for jj in range(off.indptr[i], off.indptr[i + 1]):
            acc = np.float32(acc + off.data[jj] * x[off.indices[jj]])
        want[i] = acc
    assert np.array_equal(rc.mix(w, x, 1), want)
    assert np.array_equal(rc.mix(rc.diag_first(w), x, 1), want)


def test_mix_converges_to_the_mean_on_a_connected_graph() -> None:
    w = rc.metropolis_weights(rg.grid_2d(5, 6))
    x = np.arange(30, dtype=np.float32)
    y = rc.mix(w, x, 400)
    np.testing.assert_allclose(y, x.mean(), atol=1e-3)


def test_mix_rejects_bad_input() -> None:
    w = rc.metropolis_weights(rg.ring(5))
    with pytest.raises(ValueError, match="x"):
        rc.mix(w, np.zeros(4, dtype=np.float32), 1)
    with pytest.raises(ValueError, match="finite"):
        rc.mix(w, np.array([0, 1, np.inf, 0, 0], dtype=np.float32), 1)
    with pytest.raises(ValueError, match="float32"):
        rc.mix(w.astype(np.float64), np.zeros(5, dtype=np.float32), 1)


@SETTINGS
@given(
    adj=graphs(),
    drop_prob=st.sampled_from([0.0, 0.1, 0.5, 1.0]),
    seed=U64,
    offset=st.integers(0, 2**32),
)
def test_lossy_round_weights_stay_doubly_stochastic(
    adj: sp.csr_array, drop_prob: float, seed: int, offset: int
) -> None:
    n = adj.shape[0]
    lw = rc.lossy_weights(adj, drop_prob, seed, offset)
    assert lw.dtype == np.float32
    assert (lw != lw.T).nnz == 0
    dense = lw.toarray().astype(np.float64)
    np.testing.assert_allclose(dense.sum(axis=1), 1.0, atol=n * EPS32)
    x = np.random.default_rng(0).uniform(-1, 1, n).astype(np.float32)
    y = rc.mix_lossy(adj, x, 1, drop_prob, seed, offset)
    np.testing.assert_allclose(y, (lw @ x.astype(np.float64)), atol=n * 4 * EPS32)
    np.testing.assert_allclose(y.mean(dtype=np.float64), x.mean(dtype=np.float64), atol=1e-5)
    if drop_prob == 1.0:
        assert lw.nnz == n


def test_mix_lossy_without_drops_is_mix_and_rounds_continue() -> None:
    adj = rg.grid_2d(6, 7)
    w = rc.metropolis_weights(adj)
    x = np.random.default_rng(1).standard_normal((42, 2)).astype(np.float32)
    assert np.array_equal(rc.mix_lossy(w, x, 5, 0.0, 9), rc.mix(w, x, 5))
    full = rc.mix_lossy(w, x, 5, 0.4, 9, 100)
    part = rc.mix_lossy(w, rc.mix_lossy(w, x, 2, 0.4, 9, 100), 3, 0.4, 9, 102)
    assert np.array_equal(full, part)
    assert not np.array_equal(full, rc.mix(w, x, 5))


def test_link_drop_decisions_use_upper_triangle_keys() -> None:
    adj = rg.ring(6)
    w = rc.metropolis_weights(adj)
    keys = rc.link_keys(w)
    rows = np.repeat(np.arange(6), np.diff(w.indptr))
    cols = w.indices
    for key, i, j in zip(keys.tolist(), rows, cols, strict=True):
        assert key == min(i, j) * 6 + max(i, j)
    # Round r of mix_lossy equals an explicit W_r built from uniform_f32(seed, 2, i*n+j, r).
    x = np.arange(6, dtype=np.float32)
    y = rc.mix_lossy(w, x, 1, 0.5, 5, 3)
    u01 = rr.uniform_f32(5, rr.STREAM_LINKS, 0 * 6 + 1, 3)
    lw = rc.lossy_weights(w, 0.5, 5, 3)
    assert (lw[0, 1] == 0) == bool(u01 < np.float32(0.5))
    np.testing.assert_allclose(y, lw @ x, atol=1e-6)


def test_track_adds_the_signal_increment() -> None:
    w = rc.metropolis_weights(rg.ring(8))
    gen = np.random.default_rng(2)
    y = gen.standard_normal(8).astype(np.float32)
    g_old = gen.standard_normal(8).astype(np.float32)
    g_new = gen.standard_normal(8).astype(np.float32)
    got = rc.track(w, y, g_new, g_old, 3)
    assert got.dtype == np.float32
    assert np.array_equal(got, rc.mix(w, y, 3) + (g_new - g_old))
    # The tracker's mean follows the mean of the signal.
    np.testing.assert_allclose(got.mean(), y.mean() + (g_new - g_old).mean(), atol=1e-5)


@pytest.mark.parametrize("n", [3, 4, 5, 8, 13, 50, 101])
def test_ring_sigma2_closed_form(n: int) -> None:
    w = rc.metropolis_weights(rg.ring(n))
    k = np.arange(1, n)
    want = float(np.max(np.abs((1 + 2 * np.cos(2 * np.pi * k / n)) / 3)))
    assert rc.sigma2(w) == pytest.approx(want, abs=1e-6)
    assert rc.spectral_gap(w) == pytest.approx(1 - want, abs=1e-6)


def test_complete_graph_mixes_in_one_round() -> None:
    w = rc.metropolis_weights(rg.complete(9))
    assert rc.sigma2(w) == pytest.approx(0.0, abs=1e-6)
    x = np.arange(9, dtype=np.float32)
    np.testing.assert_allclose(rc.mix(w, x, 1), 4.0, atol=1e-5)


def test_disconnected_graph_has_no_spectral_gap() -> None:
    w = rc.metropolis_weights(rg.from_edges(6, [(0, 1), (1, 2), (3, 4), (4, 5)]))
    assert rc.sigma2(w) == pytest.approx(1.0, abs=1e-6)
