"""The Rust dynamics against the NumPy reference, and the env's invariants."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import samarl
from samarl import _core
from samarl.benchmarks.kernels import heterogeneous_agents
from samarl.envs import Dynamics
from samarl.errors import ArgumentTypeError, InvalidValueError, ShapeError
from samarl.reference.env import DemandResponseRef

FIELDS = ("obs", "reward", "resource_use", "served", "arrived")
PER_AGENT = ("mean_arrival", "max_power", "cost_linear", "cost_quadratic", "profile_id")


def random_agents(n: int, seed: int, profiles: int = 3, steps: int = 24) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "mean_arrival": rng.uniform(0.0, 2.0, n).astype(np.float32),
        "max_power": rng.uniform(0.0, 10.0, n).astype(np.float32),
        "cost_linear": rng.uniform(0.0, 2.0, n).astype(np.float32),
        "cost_quadratic": rng.uniform(0.0, 1.0, n).astype(np.float32),
        "profile_id": rng.integers(0, profiles, n),
        "profiles": rng.uniform(0.0, 2.0, (profiles, steps)).astype(np.float32),
        "dt_hours": float(rng.choice([0.25, 0.5, 1.0])),
        "noise": float(rng.uniform(0.0, 1.0)),
    }


@given(
    n=st.integers(1, 300),
    seed=st.integers(0, 2**32),
    env_seed=st.integers(0, 2**64 - 1),
    steps=st.integers(1, 30),
)
def test_rust_matches_reference(n: int, seed: int, env_seed: int, steps: int) -> None:
    params = random_agents(n, seed)
    rust, ref = Dynamics(**params), DemandResponseRef(**params)
    backlog0 = np.random.default_rng(seed).uniform(0, 3, n).astype(np.float32)
    np.testing.assert_array_equal(rust.reset(env_seed, backlog0), ref.reset(env_seed, backlog0))
    actions_rng = np.random.default_rng(seed + 1)
    for _ in range(steps):
        a = actions_rng.uniform(-0.5, 1.5, n).astype(np.float32)  # out of range: clipped
        got, want = rust.step(a), ref.step(a)
        for f in FIELDS:
            np.testing.assert_allclose(getattr(got, f), want[f], rtol=1e-6, atol=1e-6, err_msg=f)
        np.testing.assert_allclose(rust.backlog, ref.backlog, rtol=1e-6, atol=1e-6)


@given(
    n=st.integers(1, 200),
    cut=st.tuples(st.floats(0, 1), st.floats(0, 1)),
    seed=st.integers(0, 2**32),
    env_seed=st.integers(0, 2**64 - 1),
    offset=st.sampled_from([0, 2**63]),
)
def test_a_slice_with_first_agent_reproduces_the_full_envs_rows(
    n: int, cut: tuple[float, float], seed: int, env_seed: int, offset: int
) -> None:
    """Agents a..b as their own env with first_agent = a (+ offset on both) are rows a..b of the
    full env, bit for bit: the engine against itself and the NumPy reference against the engine."""
    lo, hi = sorted(round(c * n) for c in cut)
    a = min(lo, n - 1)
    b = max(hi, a + 1)
    params = random_agents(n, seed)
    part = {k: (v[a:b] if k in PER_AGENT else v) for k, v in params.items()}
    full = Dynamics(**params, first_agent=offset)
    sub = Dynamics(**part, first_agent=offset + a)
    ref = DemandResponseRef(**part, first_agent=offset + a)
    np.testing.assert_array_equal(sub.reset(env_seed), full.reset(env_seed)[a:b])
    ref.reset(env_seed)
    rng = np.random.default_rng(seed)
    for _ in range(4):
        acts = rng.uniform(-0.5, 1.5, n).astype(np.float32)
        whole, got, want = full.step(acts), sub.step(acts[a:b]), ref.step(acts[a:b])
        for f in FIELDS:
            np.testing.assert_array_equal(getattr(got, f), getattr(whole, f)[a:b], err_msg=f)
            np.testing.assert_array_equal(want[f], getattr(got, f), err_msg=f)


@given(
    n=st.integers(1, 200),
    data=st.data(),
    seed=st.integers(0, 2**32),
    env_seed=st.integers(0, 2**64 - 1),
    offset=st.sampled_from([0, 2**40, 2**64 - 201]),
)
def test_any_set_of_agent_ids_reproduces_those_rows_of_the_full_env(
    n: int, data: st.DataObject, seed: int, env_seed: int, offset: int
) -> None:
    """Agents ``rows`` (scattered, in any order, repeats allowed) as their own env with
    ``agent_ids`` = their global ids are those rows of the full env, bit for bit, and the NumPy
    reference keyed by the same ids agrees."""
    rows = np.array(data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=2 * n)))
    params = random_agents(n, seed)
    part = {k: (v[rows] if k in PER_AGENT else v) for k, v in params.items()}
    ids = rows.astype(np.uint64) + np.uint64(offset)
    full = Dynamics(**params, first_agent=offset)
    sub = Dynamics(**part, agent_ids=ids)
    ref = DemandResponseRef(**part, agent_ids=ids)
    q0 = np.random.default_rng(seed).uniform(0.0, 3.0, n).astype(np.float32)
    np.testing.assert_array_equal(sub.reset(env_seed, q0[rows]), full.reset(env_seed, q0)[rows])
    ref.reset(env_seed, q0[rows])
    rng = np.random.default_rng(seed + 1)
    for _ in range(4):
        acts = rng.uniform(-0.5, 1.5, n).astype(np.float32)
        whole, got, want = full.step(acts), sub.step(acts[rows]), ref.step(acts[rows])
        for f in FIELDS:
            np.testing.assert_array_equal(getattr(got, f), getattr(whole, f)[rows], err_msg=f)
            np.testing.assert_array_equal(want[f], getattr(got, f), err_msg=f)
    np.testing.assert_array_equal(sub._core.agent_ids(), ids)
    assert sub.first_agent == int(ids[0])
    assert sub._core.first_agent is None


def test_scattered_agent_ids_in_parallel_chunks() -> None:
    """Enough rows for the engine's parallel chunks: a shuffled half of the agents."""
    chunk, threshold = _core.parallel_layout()
    n = 2 * threshold + chunk // 2
    params = heterogeneous_agents(n, seed=5)
    rows = np.random.default_rng(6).permutation(n)[: threshold + 7]
    part = {k: (v[rows] if k in PER_AGENT else v) for k, v in params.items()}
    full = Dynamics(**params)
    sub = Dynamics(**part, agent_ids=rows)
    full.reset(3)
    sub.reset(3)
    for t in range(3):
        acts = np.full(n, 0.2 + 0.2 * t, dtype=np.float32)
        whole, got = full.step(acts), sub.step(acts[rows])
        for f in FIELDS:
            np.testing.assert_array_equal(getattr(got, f), getattr(whole, f)[rows], err_msg=f)


def test_agent_ids_are_validated() -> None:
    params = random_agents(4, 0)
    with pytest.raises(ShapeError, match="agent_ids"):
        Dynamics(**params, agent_ids=[0, 1, 2])
    with pytest.raises(InvalidValueError, match="agent_ids"):
        Dynamics(**params, agent_ids=[0, 1, -2, 3])
    with pytest.raises(ArgumentTypeError, match="agent_ids"):
        Dynamics(**params, agent_ids=[0.0, 1.0, 2.0, 3.0])
    with pytest.raises(InvalidValueError, match="first_agent"):
        Dynamics(**params, first_agent=1, agent_ids=[0, 1, 2, 3])
    ids = np.array([2**64 - 1, 0, 5, 5], dtype=np.uint64)
    assert Dynamics(**params, agent_ids=ids).first_agent == 2**64 - 1


def test_first_agent_is_validated() -> None:
    params = random_agents(4, 0)
    assert Dynamics(**params, first_agent=2**64 - 5).first_agent == 2**64 - 5
    for bad in (-1, 2**64 - 4):
        with pytest.raises(InvalidValueError, match="first_agent"):
            Dynamics(**params, first_agent=bad)
    with pytest.raises(ArgumentTypeError, match="first_agent"):
        Dynamics(**params, first_agent=1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="first_agent"):
        DemandResponseRef(**params, first_agent=2**64 - 4)


@given(seed=st.integers(0, 2**32), n=st.integers(1, 200))
def test_energy_balances_and_backlog_stays_nonnegative(seed: int, n: int) -> None:
    dyn = Dynamics(**random_agents(n, seed))
    dyn.reset(seed)
    rng = np.random.default_rng(seed)
    q = dyn.backlog
    for _ in range(48):
        res = dyn.step(rng.random(n, dtype=np.float32))
        q_new = dyn.backlog
        assert (q_new >= 0).all()
        np.testing.assert_allclose(res.arrived, res.served + (q_new - q), atol=1e-4, rtol=1e-5)
        np.testing.assert_allclose(res.resource_use * dyn.dt_hours, res.served, rtol=1e-6)
        q = q_new


def test_same_seed_same_trajectory_for_one_and_two_threads() -> None:
    chunk, threshold = _core.parallel_layout()
    n = threshold + chunk + 123  # large enough to go parallel, with a ragged last chunk
    params = heterogeneous_agents(n, seed=4)
    runs = []
    for threads in (1, 2):
        samarl.set_num_threads(threads)
        try:
            dyn = Dynamics(**params)
            dyn.reset(99)
            traj = [
                dyn.step(np.full(n, 0.3 + 0.1 * t, dtype=np.float32)).obs.copy() for t in range(5)
            ]
            runs.append(np.stack(traj))
        finally:
            samarl.set_num_threads(0)
    np.testing.assert_array_equal(runs[0], runs[1])


def test_seed_changes_arrivals_and_reset_restarts() -> None:
    dyn = Dynamics(**heterogeneous_agents(500))
    dyn.reset(1)
    first = dyn.step(np.zeros(500, np.float32)).arrived.copy()
    dyn.reset(2)
    assert not np.array_equal(first, dyn.step(np.zeros(500, np.float32)).arrived)
    dyn.reset(1)
    np.testing.assert_array_equal(first, dyn.step(np.zeros(500, np.float32)).arrived)


def test_state_round_trip_continues_exactly() -> None:
    params = heterogeneous_agents(64)
    dyn = Dynamics(**params)
    dyn.reset(5)
    for _ in range(10):
        dyn.step(np.full(64, 0.2, np.float32))
    state = dyn.get_state()
    cont = [dyn.step(np.full(64, 0.7, np.float32)).obs.copy() for _ in range(3)]
    other = Dynamics(**params)
    other.set_state(state)
    again = [other.step(np.full(64, 0.7, np.float32)).obs.copy() for _ in range(3)]
    np.testing.assert_array_equal(np.stack(cont), np.stack(again))


def test_nan_action_is_rejected_and_changes_nothing() -> None:
    dyn = Dynamics(**heterogeneous_agents(10))
    dyn.reset(0)
    before = dyn.get_state()
    a = np.full(10, 0.5, np.float32)
    a[7] = np.nan
    with pytest.raises(InvalidValueError, match=r"actions: must be finite.*index 7"):
        dyn.step(a)
    after = dyn.get_state()
    assert before["step_count"] == after["step_count"]
    np.testing.assert_array_equal(before["backlog"], after["backlog"])


def test_bad_inputs_raise_clear_errors() -> None:
    params = heterogeneous_agents(10)
    dyn = Dynamics(**params)
    dyn.reset(0)
    with pytest.raises(ShapeError, match=r"actions: expected shape \[10\], got \[9\]"):
        dyn.step(np.zeros(9, np.float32))
    with pytest.raises(InvalidValueError, match="max_power"):
        Dynamics(**(params | {"max_power": -params["max_power"]}))
    with pytest.raises(InvalidValueError, match="mean_arrival"):
        Dynamics(**(params | {"mean_arrival": np.full(10, np.inf, np.float32)}))
    with pytest.raises(InvalidValueError, match="profile_id"):
        Dynamics(**(params | {"profile_id": np.full(10, 5)}))
    with pytest.raises(InvalidValueError, match=r"num_agents|mean_arrival"):
        Dynamics(
            **(
                params
                | {
                    k: np.zeros(0, np.float32)
                    for k in ("mean_arrival", "max_power", "cost_linear", "cost_quadratic")
                }
                | {"profile_id": np.zeros(0, np.int64)}
            )
        )
    with pytest.raises(InvalidValueError, match="dt_hours"):
        Dynamics(**(params | {"dt_hours": 0.0}))
    with pytest.raises(InvalidValueError, match="noise"):
        Dynamics(**(params | {"noise": 1.5}))
    with pytest.raises(InvalidValueError, match="initial_backlog"):
        dyn.reset(0, initial_backlog=np.full(10, -1.0))


def test_outputs_are_zero_copy_views_reused_every_step() -> None:
    dyn = Dynamics(**heterogeneous_agents(8))
    dyn.reset(0)
    a = dyn.step(np.ones(8, np.float32))
    b = dyn.step(np.ones(8, np.float32))
    assert a.obs is b.obs
    assert a.reward is b.reward
    assert a.obs.dtype == np.float32
    assert a.obs.flags.c_contiguous


def test_parameters_that_would_overflow_float32_are_refused() -> None:
    base = {"max_power": 1.0, "cost_linear": 1.0, "profiles": np.ones((1, 4)), "noise": 0.3}
    with pytest.raises(InvalidValueError, match=r"mean_arrival: agent 1's backlog would exceed"):
        Dynamics(mean_arrival=[1.0, 3e38], **base)
    # A backlog that waits long enough overflows too, well before one step's arrivals do.
    with pytest.raises(InvalidValueError, match="mean_arrival: agent 0's backlog"):
        Dynamics(mean_arrival=1e33, **base)
    with pytest.raises(InvalidValueError, match="cost_quadratic: agent 0's quadratic waiting"):
        Dynamics(mean_arrival=1e14, **base | {"cost_quadratic": 1.0})
    with pytest.raises(InvalidValueError, match="max_power"):
        Dynamics(mean_arrival=1.0, **base | {"max_power": 3e38, "dt_hours": 24.0})
    # Large but sensible units still run, and stay finite.
    dyn = Dynamics(mean_arrival=1e6, **base | {"cost_quadratic": 1e-6})
    dyn.reset(0)
    for _ in range(8):
        out = dyn.step(np.zeros(1, np.float32))
    assert np.isfinite(out.obs).all()
    assert np.isfinite(out.reward).all()


def test_from_scenario_takes_a_preset_name() -> None:
    from samarl.errors import ConfigError

    assert Dynamics.from_scenario("small").num_agents == 16
    assert Dynamics.from_scenario("small", copies=2).num_agents == 32
    with pytest.raises(ConfigError, match="neither a preset"):
        Dynamics.from_scenario("no-such-preset")


def test_from_scenario_refuses_data_of_another_scenario() -> None:
    from samarl.errors import ConfigError
    from samarl.scenario import ScenarioConfig

    other = ScenarioConfig.preset("small", num_agents=5).build()
    with pytest.raises(ConfigError, match="data: built for a scenario with num_agents = 5"):
        Dynamics.from_scenario("small", other)
    with pytest.raises(ArgumentTypeError, match="data: expected the scenario's ScenarioData"):
        Dynamics.from_scenario("small", {"mean_arrival": [1.0]})  # type: ignore[arg-type]


def test_sizes_are_checked_against_memory_before_allocating(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from samarl.errors import MemoryLimitError
    from samarl.scenario import ScenarioConfig

    monkeypatch.setenv("SAMARL_MEMORY_LIMIT", "50k")
    with pytest.raises(MemoryLimitError, match=r"^mean_arrival: 1,000 agents need ~96 kB \(this"):
        Dynamics(mean_arrival=np.ones(1000), max_power=1.0, cost_linear=1.0, profiles=np.ones(4))
    with pytest.raises(MemoryLimitError, match=r"^copies: 16,000 rows \(agents x copies\)"):
        Dynamics.from_scenario(ScenarioConfig.preset("small"), copies=1000)
    # The engine checks its own buffers too (here the Python check is below the limit).
    monkeypatch.setenv("SAMARL_MEMORY_LIMIT", "2k")
    with pytest.raises(MemoryLimitError, match="need ~"):
        _core.DemandResponseCore(
            mean_arrival=np.ones(1000, np.float32),
            max_power=np.ones(1000, np.float32),
            cost_linear=np.ones(1000, np.float32),
            cost_quadratic=np.ones(1000, np.float32),
            profile_id=np.zeros(1000, np.int64),
            profiles=np.ones((1, 4), np.float32),
        )
