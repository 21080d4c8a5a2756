"""The demand-response env: native batched API, PettingZoo adapter, Gymnasium view, checker."""

from __future__ import annotations

import dataclasses
from typing import Any

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from hypothesis import given
from hypothesis import strategies as st
from pettingzoo.test import parallel_api_test

import samarl
from samarl.envs import (
    GYM_ENV_ID,
    OBS_FIELDS,
    AutoReset,
    DemandResponseEnv,
    DemandResponseParallelEnv,
    EnvCheckError,
    HouseholdEnv,
    check_batched_env,
    lagrangian_reward,
    parallel_env,
)
from samarl.envs.demand_response import CapacityConstraint
from samarl.errors import ConfigError, InvalidValueError, MemoryLimitError, ShapeError
from samarl.reference.env import DemandResponseRef
from samarl.scenario import ScenarioConfig

SMALL = ScenarioConfig.preset("small")


def one_day(**changes: Any) -> ScenarioConfig:
    return SMALL.replace(episode_days=1.0, **changes)


def random_actions(steps: int, n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.0, 1.0, (steps, n)).astype(np.float32)


# -- native batched API ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "scenario",
    [
        SMALL,
        ScenarioConfig.preset("measured", num_agents=40, episode_days=1.0),
        one_day(num_blocks=1, dt_hours=1.0),
        one_day(noise=0.0, capacity_kw=(3.0, 5.0)),
    ],
    ids=["small", "measured", "hourly-one-block", "no-noise"],
)
def test_batched_env_passes_our_checker(scenario: ScenarioConfig) -> None:
    check_batched_env(DemandResponseEnv(scenario))


@given(
    num_agents=st.integers(1, 40),
    noise=st.floats(0.0, 1.0),
    dt_hours=st.sampled_from([0.25, 0.5, 1.0]),
    population_seed=st.integers(0, 2**32),
    seed=st.integers(0, 2**63 - 1),
)
def test_checker_passes_on_any_small_scenario(
    num_agents: int, noise: float, dt_hours: float, population_seed: int, seed: int
) -> None:
    scenario = one_day(
        num_agents=num_agents, noise=noise, dt_hours=dt_hours, population_seed=population_seed
    )
    check_batched_env(DemandResponseEnv(scenario), seed=seed, max_steps=48)


class _Leaky(DemandResponseEnv):
    def step(self, actions: Any) -> Any:
        out = super().step(actions)
        out.served[0] *= 0.5  # half of agent 0's served energy vanishes
        out.resource_use[0] *= 0.5
        return out


class _Copying(DemandResponseEnv):
    def step(self, actions: Any) -> Any:
        out = super().step(actions)
        return dataclasses.replace(out, obs=out.obs.copy())


class _NeverTruncating(DemandResponseEnv):
    def step(self, actions: Any) -> Any:
        return dataclasses.replace(super().step(actions), truncated=False)


@pytest.mark.parametrize(
    ("broken", "match"),
    [
        (_Leaky, "energy balance"),
        (_Copying, "obs must be the env's buffer"),
        (_NeverTruncating, "truncated must be True exactly"),
    ],
)
def test_checker_catches_broken_envs(broken: type[DemandResponseEnv], match: str) -> None:
    with pytest.raises(EnvCheckError, match=match):
        check_batched_env(broken(SMALL))


def test_checker_refuses_an_object_that_is_no_env() -> None:
    with pytest.raises(
        InvalidValueError, match=r"env: expected a batched env .* has no num_agents"
    ):
        check_batched_env(object())
    with pytest.raises(InvalidValueError, match="max_steps"):
        check_batched_env(DemandResponseEnv(SMALL), max_steps=0)


def test_auto_reset_refuses_what_cannot_reset_it() -> None:
    env = DemandResponseEnv(SMALL)
    with pytest.raises(InvalidValueError, match="reset_fn: expected a function"):
        AutoReset(env, None)  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError, match="env: expected a batched env"):
        AutoReset("small", lambda: (0, None))  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError, match=r"reset_fn: must return \(arrival_seed"):
        AutoReset(env, lambda: 7).reset()  # type: ignore[arg-type, return-value]
    assert AutoReset(env, lambda: (7, None)).reset().shape == (16, env.obs_dim)


def test_lagrangian_reward_names_the_argument_that_does_not_broadcast() -> None:
    four = np.zeros(4, np.float32)
    with pytest.raises(ShapeError, match=r"^mult: shape \[3\] does not broadcast with the shape"):
        lagrangian_reward(four, four, np.zeros(3), 0.0)
    with pytest.raises(ShapeError, match=r"^capacity_per_agent: shape \[2\]"):
        lagrangian_reward(four, four, 1.0, np.zeros(2))
    with pytest.raises(
        ShapeError, match=r"^out: shape \[3\] cannot hold the result, of shape \[4\]"
    ):
        lagrangian_reward(four, four, 1.0, 0.0, out=np.zeros(3, np.float32))


def test_env_matches_the_numpy_reference_on_the_scenario_arrays() -> None:
    env = DemandResponseEnv(SMALL)
    ref = DemandResponseRef(**SMALL.dynamics_params(env.data))
    np.testing.assert_array_equal(env.reset(seed=11), ref.reset(11))
    for a in random_actions(env.episode_steps, env.num_agents):
        out, want = env.step(a), ref.step(a)
        for name in ("obs", "reward", "resource_use", "served", "arrived"):
            np.testing.assert_array_equal(getattr(out, name), want[name], err_msg=name)


def test_attributes_and_layout() -> None:
    env = DemandResponseEnv.from_preset("small")
    assert env.num_agents == 16
    assert env.obs_dim == len(OBS_FIELDS) == 7
    assert (env.steps_per_day, env.episode_steps, env.num_blocks) == (96, 192, 24)
    assert env.capacity.dtype == np.float32
    assert env.capacity.shape == (96,)
    np.testing.assert_allclose(env.capacity_per_agent, env.capacity / 16, rtol=1e-6)
    (constraint,) = env.constraints
    assert constraint.units == "kW"
    assert constraint.excess(float(env.capacity[3]) + 2.0, 3) == pytest.approx(2.0)
    obs = env.reset(seed=0)
    assert obs.shape == (16, 7)
    assert obs.flags.c_contiguous
    assert (env.t, env.step_of_day, env.block) == (0, 0, 0)
    for _ in range(5):
        env.step(np.zeros(16, np.float32))
    assert (env.t, env.step_of_day, env.block) == (5, 5, 1)
    assert "small" in repr(env)


def test_outputs_are_buffers_written_in_place() -> None:
    env = DemandResponseEnv(SMALL)
    obs = env.reset(seed=0)
    first = env.step(np.ones(16, np.float32))
    second = env.step(np.ones(16, np.float32))
    assert second.obs is obs
    for name in ("reward", "resource_use", "served", "arrived"):
        assert getattr(first, name) is getattr(second, name)


def test_seeding() -> None:
    env = DemandResponseEnv(SMALL)
    a = np.full(16, 0.5, np.float32)
    env.reset(seed=5)
    arrived_5 = env.step(a).arrived.copy()
    env.reset()
    assert env.arrival_seed == 6
    arrived_6 = env.step(a).arrived.copy()
    fresh = DemandResponseEnv(SMALL)
    fresh.reset(seed=6)
    np.testing.assert_array_equal(fresh.step(a).arrived, arrived_6)
    assert not np.array_equal(arrived_5, arrived_6)
    # Without any seed, episodes follow scenario.seed, scenario.seed + 1, ...
    env = DemandResponseEnv(SMALL.replace(seed=40))
    env.reset()
    assert (env.arrival_seed, env.episode) == (40, 0)
    env.reset()
    assert (env.arrival_seed, env.episode) == (41, 1)
    with pytest.raises(InvalidValueError, match="seed"):
        env.reset(seed=-1)
    with pytest.raises(InvalidValueError, match="seed"):
        env.reset(seed=1.5)  # type: ignore[arg-type]


def test_episode_boundaries() -> None:
    env = DemandResponseEnv(one_day())
    with pytest.raises(RuntimeError, match=r"reset\(\) first"):
        env.step(np.zeros(16, np.float32))
    env.reset(seed=0)
    truncated = [env.step(np.zeros(16, np.float32)).truncated for _ in range(96)]
    assert truncated == [False] * 95 + [True]
    with pytest.raises(RuntimeError, match="episode ended after 96 steps"):
        env.step(np.zeros(16, np.float32))


def test_initial_backlog_and_checkpoints() -> None:
    env = DemandResponseEnv(SMALL)
    obs = env.reset(seed=3, initial_backlog=np.full(16, 2.0))
    np.testing.assert_array_equal(obs[:, 0], 2.0)
    actions = random_actions(20, 16)
    for a in actions[:10]:
        env.step(a)
    state = env.get_state()
    later = [env.step(a).obs.copy() for a in actions[10:]]
    env.reset(seed=99)
    env.set_state(state)
    assert env.t == 10
    assert env.arrival_seed == 3
    for a, want in zip(actions[10:], later, strict=True):
        np.testing.assert_array_equal(env.step(a).obs, want)


def test_set_state_refuses_what_get_state_does_not_give_and_changes_nothing() -> None:
    env = DemandResponseEnv(SMALL)
    env.reset(seed=3)
    env.step(random_actions(1, 16)[0])
    good = env.get_state()
    for bad, match in (
        (None, "state: expected get_state"),
        ({"foo": 1}, r"got \['foo'\]"),
        (good | {"base_seed": -1}, r"state\['base_seed'\]"),
        (good | {"episode": 1.5}, r"state\['episode'\]"),
        (good | {"arrival_seed": "x"}, r"state\['arrival_seed'\]"),
        (good | {"dynamics": None}, "state: expected get_state"),
    ):
        with pytest.raises(InvalidValueError, match=match):
            env.set_state(bad)  # type: ignore[arg-type]
        assert env.t == 1
        assert env.arrival_seed == 3


def test_capacity_constraint_refuses_what_is_no_capacity() -> None:
    blocks = np.zeros(4, np.int64)
    for capacity, match in (
        (np.full(4, np.nan), "capacity: must be finite"),
        ([1.0, np.inf, 1.0, 1.0], "capacity: must be finite"),
        (np.zeros(4), "all > 0"),
    ):
        with pytest.raises(InvalidValueError, match=match):
            CapacityConstraint(capacity, blocks, 1)
    with pytest.raises(ShapeError, match="block_of_step: expected shape"):
        CapacityConstraint(np.ones(3), blocks, 1)
    with pytest.raises(InvalidValueError, match="num_blocks = 1"):
        CapacityConstraint(np.ones(4), np.array([0, 0, 1, 1]), 1)
    c = CapacityConstraint([1.0, 2.0], [0, 1], 2)
    assert c.capacity.dtype == np.float32
    assert c.excess(3.0, 1) == 1.0


def test_env_refuses_data_built_for_another_scenario() -> None:
    sixteen = SMALL
    five = SMALL.replace(num_agents=5)
    with pytest.raises(ConfigError, match="data: built for a scenario with num_agents = 5, but"):
        DemandResponseEnv(sixteen, data=five.build())
    with pytest.raises(ConfigError, match="data: built for a scenario with num_blocks = 4"):
        DemandResponseEnv(SMALL, data=SMALL.replace(num_blocks=4).build())
    with pytest.raises(ConfigError, match=r"dt_hours = 1.0"):
        DemandResponseEnv(SMALL, data=SMALL.replace(dt_hours=1.0).build())
    with pytest.raises(ConfigError, match="population_seed"):
        DemandResponseEnv(SMALL, data=SMALL.replace(population_seed=7).build())
    with pytest.raises(InvalidValueError, match="data: expected the scenario's ScenarioData"):
        DemandResponseEnv(SMALL, data={"mean_arrival": [1.0]})  # type: ignore[arg-type]
    # Arrays without their scenario (built by hand) are checked by their shapes.
    orphan = dataclasses.replace(SMALL.replace(num_agents=20).build(), built_for=None)
    with pytest.raises(ConfigError, match="data: holds 20 agents, but the scenario has"):
        DemandResponseEnv(sixteen, data=orphan)
    hourly = dataclasses.replace(SMALL.replace(dt_hours=1.0).build(), built_for=None)
    with pytest.raises(ConfigError, match="data: profiles has 24 steps a day, but the scenario"):
        DemandResponseEnv(sixteen, data=hourly)
    # What the build does not read may differ, and some of the scenario's agents are a partition.
    data = SMALL.build()
    DemandResponseEnv(SMALL.replace(name="other", seed=5, noise=0.1), data=data)
    rows = ("mean_arrival", "max_power", "cost_linear", "cost_quadratic", "profile_id")
    part = dataclasses.replace(data, **{k: getattr(data, k)[4:8] for k in rows})
    assert DemandResponseEnv(SMALL, data=part, first_agent=4).num_agents == 4


def test_env_sizes_are_checked_against_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAMARL_MEMORY_LIMIT", "1M")
    with pytest.raises(MemoryLimitError, match=r"copies: 16,000,000 rows .* need ~1\.5 GB"):
        DemandResponseEnv(SMALL, copies=1_000_000)
    with pytest.raises(MemoryLimitError, match=r"num_agents: 1,000,000 agents need ~\d+ MB"):
        DemandResponseEnv(SMALL, num_agents=1_000_000)


def test_bad_scenarios_and_overrides() -> None:
    with pytest.raises(ConfigError, match="num_agents"):
        DemandResponseEnv("small", num_agents=0)
    with pytest.raises(ConfigError, match="neither a preset"):
        DemandResponseEnv("no-such-preset")
    assert DemandResponseEnv(SMALL, num_agents=3).num_agents == 3


def test_observation_bounds_hold_in_the_worst_case() -> None:
    # Never serving anything makes backlogs as large as they get.
    env = DemandResponseEnv(SMALL.replace(noise=1.0))
    low, high = env.observation_bounds()
    env.reset(seed=0)
    for _ in range(env.episode_steps):
        obs = env.step(np.zeros(16, np.float32)).obs
        assert (obs >= low).all()
        assert (obs <= high).all()
    assert obs[:, 0].max() > high[0] / 10  # finite, and not loose by orders of magnitude


# -- PettingZoo adapter ----------------------------------------------------------------------------
def test_parallel_api_test_passes() -> None:
    env = parallel_env(preset="small")
    parallel_api_test(env, num_cycles=env.env.episode_steps + 5)


def test_parallel_env_names() -> None:
    env = parallel_env(preset="small")
    assert isinstance(env, DemandResponseParallelEnv)
    assert env.possible_agents[:2] == ["household_0", "household_1"]
    assert env.metadata["name"] == "samarl_demand_response_v0"
    assert parallel_env(preset="small", scenario=SMALL.replace(num_agents=3)).max_num_agents == 3
    assert parallel_env(preset="small", num_agents=5).max_num_agents == 5
    assert env.observation_space("household_3") is env.observation_space("household_0")
    assert env.observation_spaces["household_3"] is env.observation_space("household_3")
    with pytest.raises(InvalidValueError, match="unknown agent"):
        env.action_space("nobody")


def test_adapter_and_batched_api_give_the_same_trajectory() -> None:
    scenario = one_day()
    native, adapter = DemandResponseEnv(scenario), DemandResponseParallelEnv(scenario)
    names = adapter.possible_agents
    obs_native = native.reset(seed=21).copy()
    obs_dict, infos = adapter.reset(seed=21)
    np.testing.assert_array_equal(np.stack([obs_dict[a] for a in names]), obs_native)
    # the step's info keys, zeros (so wrappers that build specs from reset keep them)
    assert infos == {a: {"resource_use": 0.0, "served": 0.0, "arrived": 0.0} for a in names}
    for a in random_actions(native.episode_steps, native.num_agents, seed=4):
        out = native.step(a)
        obs_dict, rewards, terms, truncs, infos = adapter.step(
            {name: a[i : i + 1] for i, name in enumerate(names)}
        )
        np.testing.assert_array_equal(np.stack([obs_dict[n] for n in names]), out.obs)
        np.testing.assert_array_equal(np.array([rewards[n] for n in names], np.float32), out.reward)
        for key in ("resource_use", "served", "arrived"):
            got = np.array([infos[n][key] for n in names], np.float32)
            np.testing.assert_array_equal(got, getattr(out, key))
        assert set(terms.values()) == {False}
        assert set(truncs.values()) == {out.truncated}
        np.testing.assert_array_equal(adapter.state(), out.obs.ravel())
    assert adapter.agents == []
    with pytest.raises(RuntimeError, match="no live agents"):
        adapter.step({})


def test_adapter_returns_fresh_observations() -> None:
    env = DemandResponseParallelEnv(SMALL)
    first, _ = env.reset(seed=0)
    kept = first["household_0"].copy()
    env.step(dict.fromkeys(env.agents, 1.0))
    np.testing.assert_array_equal(first["household_0"], kept)


def test_adapter_lagrangian_reward() -> None:
    mult = np.linspace(0.0, 2.3, 24).astype(np.float32)
    native = DemandResponseEnv(SMALL)
    adapter = DemandResponseParallelEnv(SMALL, mult=mult)
    native.reset(seed=2)
    adapter.reset(seed=2)
    names = adapter.possible_agents
    for t, a in enumerate(random_actions(40, 16)):
        out = native.step(a)
        _, rewards, *_ = adapter.step(dict(zip(names, a.tolist(), strict=True)))
        h, share = t // 4, native.capacity_per_agent[t]
        want = out.reward - mult[h] * (out.resource_use - share)
        np.testing.assert_allclose([rewards[n] for n in names], want, rtol=1e-6, atol=1e-6)


def test_adapter_rejects_bad_actions_and_mult() -> None:
    env = DemandResponseParallelEnv(SMALL)
    env.reset(seed=0)
    actions = dict.fromkeys(env.agents, 0.5)
    with pytest.raises(InvalidValueError, match="expected 16 actions, got 15"):
        env.step({a: v for a, v in actions.items() if a != "household_7"})
    with pytest.raises(InvalidValueError, match="no action for 'household_7'"):
        env.step({**{a: v for a, v in actions.items() if a != "household_7"}, "x": 0.5})
    with pytest.raises(ShapeError, match="actions"):
        env.step(dict.fromkeys(env.agents, np.zeros(2, np.float32)))
    with pytest.raises(InvalidValueError, match="actions"):
        env.step({**actions, "household_0": float("nan")})
    assert env.env.t == 0
    with pytest.raises(ShapeError, match="mult"):
        DemandResponseParallelEnv(SMALL, mult=np.zeros(5))
    with pytest.raises(InvalidValueError, match="mult"):
        DemandResponseParallelEnv(SMALL, mult=-1.0)


# -- Gymnasium view --------------------------------------------------------------------------------
def test_registered_on_import_and_check_env_passes() -> None:
    assert samarl.envs.GYM_ENV_ID == GYM_ENV_ID == "samarl/DemandResponse-v0"
    assert GYM_ENV_ID in gymnasium.registry
    env = gymnasium.make(GYM_ENV_ID, scenario="small")
    assert isinstance(env.unwrapped, HouseholdEnv)
    check_env(env.unwrapped)
    env.close()


def test_check_env_passes_with_fixed_agent_and_mult() -> None:
    check_env(gymnasium.make(GYM_ENV_ID, scenario=one_day(), agent=3, mult=1.0).unwrapped)


def test_household_observation_and_lagrangian_reward() -> None:
    env = HouseholdEnv(SMALL, mult_max=3.0)
    obs, info = env.reset(seed=7)
    mult = info["mult"]
    assert obs.shape == (7 + 24,)
    assert obs.dtype == np.float32
    assert mult.min() >= 0.0
    assert mult.max() <= 3.0
    np.testing.assert_array_equal(obs[7:], mult)  # block 0 first at midnight
    share = env.data.capacity / env.data.num_agents
    for t in range(env.episode_steps):
        obs, reward, terminated, truncated, info = env.step(np.array([0.4], np.float32))
        h = (t % 96) // 4
        assert info["block"] == h
        want = info["reward_env"] - mult[h] * (info["resource_use"] - share[t % 96])
        assert reward == pytest.approx(want, rel=1e-6, abs=1e-9)
        h_next = ((t + 1) % 96) // 4
        np.testing.assert_array_equal(obs[7:], np.roll(mult, -h_next))
        assert obs in env.observation_space
        assert terminated is False
        assert truncated is (t + 1 == env.episode_steps)
    with pytest.raises(RuntimeError, match="episode ended"):
        env.step(np.array([0.4], np.float32))


def test_household_is_the_scenario_agent() -> None:
    scenario = one_day(noise=0.0)
    batched = DemandResponseEnv(scenario)
    batched.reset(seed=0)
    k = 5
    single = HouseholdEnv(scenario, agent=k, mult=0.0)
    obs, info = single.reset(seed=0)
    assert info["agent"] == k
    np.testing.assert_array_equal(obs[:7], batched.dynamics.reset(0)[k])
    for a in random_actions(96, 16, seed=1):
        out = batched.step(a)
        obs, reward, *_, info = single.step(a[k : k + 1])
        np.testing.assert_array_equal(obs[:7], out.obs[k])
        assert reward == pytest.approx(float(out.reward[k]))
        assert info["resource_use"] == float(out.resource_use[k])


def test_household_draws_agents_and_prices_per_episode() -> None:
    env = HouseholdEnv(SMALL)
    draws = {env.reset(seed=s)[1]["agent"] for s in range(40)}
    assert len(draws) > 8
    _, info_a = env.reset(seed=1)
    _, info_b = env.reset(seed=1, options={"mult": np.full(24, 0.5)})
    assert info_a["agent"] == info_b["agent"]
    np.testing.assert_array_equal(info_b["mult"], 0.5)


def test_household_rejects_bad_arguments() -> None:
    with pytest.raises(InvalidValueError, match="agent"):
        HouseholdEnv(SMALL, agent=16)
    with pytest.raises(InvalidValueError, match="mult_max"):
        HouseholdEnv(SMALL, mult_max=0.0)
    with pytest.raises(InvalidValueError, match="mult"):
        HouseholdEnv(SMALL, mult=6.0, mult_max=5.0)
    with pytest.raises(ShapeError, match="mult"):
        HouseholdEnv(SMALL, mult=np.zeros(3))
    with pytest.raises(InvalidValueError, match="render_mode"):
        HouseholdEnv(SMALL, render_mode="human")
    env = HouseholdEnv(SMALL)
    with pytest.raises(RuntimeError, match=r"reset\(\) first"):
        env.step(np.zeros(1, np.float32))
    env.reset(seed=0)
    with pytest.raises(ShapeError, match="action"):
        env.step(np.zeros(2, np.float32))
    with pytest.raises(InvalidValueError, match="actions"):
        env.step(np.array([np.nan], np.float32))
