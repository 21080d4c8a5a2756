"""Training state-augmented policies: reproducibility, exact resume, a toy case with a
known optimum, both parameterisations, config validation, the policy API and ``samarl train``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from samarl.errors import ConfigError
from samarl.scenario import Constant, ScenarioConfig
from samarl.training import TrainConfig, load_policy, policies, response_sweep, train
from samarl.training.buffer import RolloutBatch, RolloutBuffer, compute_gae
from samarl.training.features import agent_tables
from samarl.training.policies import StateAugmentedPolicy
from samarl.training.ppo import ppo_update
from tiny import TINY, tiny_config, tiny_scenario


def params_of(policy: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in policy.state_dict().items()}


def assert_same_params(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs"


def untimed(rows: list[dict[str, float]]) -> list[dict[str, float]]:
    return [{k: v for k, v in r.items() if not k.startswith("time/")} for r in rows]


# ------------------------------------------------------------------------------ reproducibility


def test_seeded_run_reproduces_bit_for_bit(tmp_path: Path) -> None:
    a = train(tiny_scenario(), tiny_config(), tmp_path / "a", evaluate=False)
    b = train(tiny_scenario(), tiny_config(), tmp_path / "b", evaluate=False)
    assert_same_params(params_of(a.policy), params_of(b.policy))
    assert untimed(a.history) == untimed(b.history)
    c = train(tiny_scenario(), tiny_config(seed=2), tmp_path / "c", evaluate=False)
    assert not torch.equal(a.policy.actor.layers[0].weight, c.policy.actor.layers[0].weight)


@pytest.mark.parametrize("parameterisation", ["shared", "per_agent"])
def test_resume_from_a_checkpoint_continues_the_same_run(
    tmp_path: Path, parameterisation: str
) -> None:
    cfg = tiny_config(parameterisation=parameterisation)
    whole = train(tiny_scenario(), cfg, tmp_path / "whole", evaluate=False)
    first = train(tiny_scenario(), cfg, tmp_path / "split", stop_after=2, evaluate=False)
    assert first.iterations == 2
    assert (tmp_path / "split" / "checkpoints" / "latest.safetensors").exists()
    rest = train(tiny_scenario(), cfg, tmp_path / "split", resume=True, evaluate=False)
    assert rest.iterations == 4
    assert_same_params(params_of(whole.policy), params_of(rest.policy))
    assert untimed(rest.history) == untimed(whole.history)  # the log continues too
    lines = (tmp_path / "split" / "progress.jsonl").read_text().splitlines()
    assert [json.loads(x)["iteration"] for x in lines] == [1, 2, 3, 4]


# ------------------------------------------------------------------------------ learning


def test_toy_case_with_a_known_optimum_is_learnt(tmp_path: Path) -> None:
    """One agent, constant demand, one daily block. With no price it must serve everything as it
    arrives; at a price far above the cost of waiting it must draw (almost) nothing."""
    toy = ScenarioConfig(
        name="toy",
        num_agents=1,
        daily_demand=Constant(10.0),
        power_ratio=Constant(4.0),
        waiting_cost=Constant(1.0),
        waiting_cost_quadratic=Constant(0.05),
        profiles=("flat",),
        noise=0.0,
        episode_days=1.0,
        num_blocks=1,
    )
    # gamma = 0.9: paying 100 / dt per kWh now vs waiting at 0.25 per kWh and step is settled
    # within a few steps, so the optimum is learnt in seconds.
    cfg = TrainConfig(
        iterations=30,
        num_steps=48,
        agent_copies=64,
        num_minibatches=4,
        gamma=0.9,
        mult_max=100.0,
        progress=False,
        checkpoint_every=0,
    )
    res = train(toy, cfg, tmp_path / "toy", evaluate=False)
    sweep = response_sweep(res.policy, toy, [0.0, 100.0], days=1)
    demand = sweep["expected_demand"]
    assert sweep["served_at_zero"] >= 0.99
    assert sweep["total_load"][0] == pytest.approx(demand, rel=0.02)
    assert sweep["total_load"][1] < 0.05 * demand


@pytest.mark.parametrize("parameterisation", ["shared", "per_agent"])
def test_both_parameterisations_train(tmp_path: Path, parameterisation: str) -> None:
    scenario = tiny_scenario()
    cfg = tiny_config(parameterisation=parameterisation, iterations=3)
    res = train(scenario, cfg, tmp_path / parameterisation, evaluate=False)
    policy = res.policy
    fresh = TrainConfig(**{**TINY, "parameterisation": parameterisation})
    from samarl.training import Trainer

    init = Trainer(scenario, fresh, tmp_path / "init").policy
    changed = [
        k
        for k, v in policy.state_dict().items()
        if k.startswith(("actor", "critic")) and not torch.equal(v, init.state_dict()[k])
    ]
    assert changed, "no weight moved"
    w = policy.actor.layers[0].weight
    n = scenario.num_agents
    assert tuple(w.shape) == (
        (n, policy.input_dim, 16) if parameterisation == "per_agent" else (policy.input_dim, 16)
    )
    for row in res.history:
        assert np.isfinite(row["train/policy_loss"])
        assert np.isfinite(row["train/value_loss"])
        assert {"rollout/lagrangian_reward", "constraint/served_over_arrived"} <= row.keys()
        assert row["time/agent_steps_per_s"] > 0


def test_per_agent_updates_depend_on_the_agents_own_data_only() -> None:
    """Per-agent weights: changing agent 2's rollouts changes agent 2's update and nobody else's."""
    n, t = 3, 8
    rng = np.random.default_rng(0)
    static = rng.random((n, 4)).astype(np.float32)
    prof = rng.random((n, 4)).astype(np.float32)
    blocks = np.repeat(np.arange(4), 2)

    def updated(batch: RolloutBatch) -> StateAugmentedPolicy:
        policy = StateAugmentedPolicy(
            static, prof, blocks, mult_max=1.0, parameterisation="per_agent", hidden_sizes=(8,)
        )
        opt = torch.optim.Adam(policy.parameters(), lr=1e-2)
        ppo_update(
            policy,
            opt,
            batch,
            TrainConfig(num_minibatches=2),
            generator=torch.Generator().manual_seed(0),
        )
        return policy

    d = StateAugmentedPolicy(
        static, prof, blocks, mult_max=1.0, parameterisation="per_agent"
    ).input_dim
    g = torch.Generator().manual_seed(1)
    base = [torch.randn((t, n, d), generator=g)] + [
        torch.randn((t, n), generator=g) for _ in range(5)
    ]
    other = [x.clone() for x in base]
    for x in other:
        x[:, 2] += 1.0
    a, b = updated(RolloutBatch(*base)), updated(RolloutBatch(*other))
    for (name, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        assert torch.equal(pa[:2], pb[:2]), name
    assert not torch.equal(a.actor.layers[0].weight[2], b.actor.layers[0].weight[2])


# ------------------------------------------------------------------------------ pieces


def test_gae_matches_a_direct_computation() -> None:
    g = torch.Generator().manual_seed(0)
    t, n, gamma, lam = 7, 3, 0.9, 0.8
    rewards, values = torch.randn((t, n), generator=g), torch.randn((t, n), generator=g)
    dones = (torch.rand((t, n), generator=g) < 0.3).float()
    next_value = torch.randn(n, generator=g)
    adv, ret = compute_gae(rewards, values, dones, next_value, gamma=gamma, gae_lambda=lam)
    for j in range(n):
        for i in range(t):
            total, weight = 0.0, 1.0
            for k in range(i, t):  # A_i = sum_k (gamma lambda)^(k-i) delta_k, cut at episode ends
                following = next_value[j] if k == t - 1 else values[k + 1, j]
                nonterminal = 1.0 - float(dones[k, j])
                delta = rewards[k, j] + gamma * following * nonterminal - values[k, j]
                total += weight * float(delta)
                if nonterminal == 0.0:
                    break
                weight *= gamma * lam
            assert float(adv[i, j]) == pytest.approx(total, abs=1e-5)
    assert torch.allclose(ret, adv + values)


def test_rollout_buffer_stores_steps_and_lays_samples_out_without_copying_shared_ones() -> None:
    t, rows, d = 4, 6, 3
    buf = RolloutBuffer(t, rows, d, torch.device("cpu"))
    g = torch.Generator().manual_seed(0)
    for step in range(t):
        assert not buf.full
        x = torch.randn((rows, d), generator=g)
        buf.add(x, *(torch.randn(rows, generator=g) for _ in range(4)), done=step == 1)
        assert torch.equal(buf.x[step], x)
    assert buf.full
    with pytest.raises(IndexError, match="holds 4 steps"):
        buf.add(x, *(torch.zeros(rows) for _ in range(4)), done=False)
    assert buf.dones[:, 0].tolist() == [0.0, 1.0, 0.0, 0.0]
    next_value = torch.randn(rows, generator=g)
    buf.compute_returns_and_advantage(next_value, gamma=0.9, gae_lambda=0.8)
    adv, ret = compute_gae(
        buf.rewards, buf.values, buf.dones, next_value, gamma=0.9, gae_lambda=0.8
    )
    assert torch.equal(buf.advantages, adv)
    assert torch.equal(buf.returns, ret)
    # Shared weights: flat views of the storage; minibatches of one permutation cover it once.
    flat = buf.batch().samples()
    assert flat.layout == "flat"
    assert flat.x.data_ptr() == buf.x.data_ptr()
    assert flat.num_samples == t * rows
    seen = torch.cat([mb.raw_actions for mb in flat.minibatches(3, g)])
    assert torch.equal(seen.sort().values, buf.raw_actions.reshape(-1).sort().values)
    # Per-agent weights (3 agents, 2 copies): agent-major, each agent's samples its own rows.
    major = buf.batch().samples(3)
    assert major.x.shape == (3, t * 2, d)
    assert torch.equal(major.raw_actions[1], buf.raw_actions[:, [1, 4]].reshape(-1))
    for mb in major.minibatches(2, g):
        assert mb.x.shape == (3, t, d)
    buf.reset()
    assert buf.pos == 0


def untrained_policy(num_agents: int) -> tuple[StateAugmentedPolicy, dict[str, Any], Any]:
    """A fresh shared policy for a small-preset population, with its agent arrays and data."""
    scenario = tiny_scenario(num_agents)
    data = scenario.build()
    params = {
        k: getattr(data, k)
        for k in ("mean_arrival", "max_power", "cost_linear", "cost_quadratic", "profile_id")
    }
    static, prof = agent_tables(params, data.profiles, data.block_of_step, scenario.dt_hours)
    return StateAugmentedPolicy(static, prof, data.block_of_step, mult_max=10.0), params, data


def test_policy_sees_mult_rolled_so_the_current_block_comes_first() -> None:
    scenario = tiny_scenario(3)
    policy, params, data = untrained_policy(3)
    m = scenario.num_blocks
    mult = torch.arange(3 * m, dtype=torch.float32).reshape(3, m) % 10
    obs = torch.rand((3, 7))
    step = 4 * 5 + 2  # block 5 of 24
    x = policy.features(obs, mult, step)
    linear = x[:, policy.num_normalized : policy.num_normalized + m]
    assert torch.allclose(linear, torch.roll(mult, -5, dims=1) / 10.0)
    a = policy.act(obs, mult, step)
    assert a.shape == (3,)
    assert bool(((a >= 0) & (a <= 1)).all())
    # The step of day is recovered from the observation's clock when not given.
    from samarl.envs import Dynamics

    dyn = Dynamics(**params, profiles=data.profiles)
    dyn.reset(0)
    for _ in range(step):
        out = dyn.step(np.full(3, 0.5, np.float32))
    o = torch.from_numpy(out.obs.copy())
    assert torch.equal(policy.act(o, mult), policy.act(o, mult, step))


def test_acting_in_batches_gives_the_same_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = tiny_scenario(203)
    policy, _, _ = untrained_policy(203)
    gen = torch.Generator().manual_seed(3)
    obs = torch.rand((203, 7), generator=gen)
    mult = torch.rand((203, scenario.num_blocks), generator=gen) * 10
    per_step = torch.randint(0, 96, (203,), generator=gen)
    whole = [policy.act(obs, mult, 17), policy.act(obs, mult, per_step), policy.act(obs, mult)]
    monkeypatch.setattr(policies, "ACT_BATCH", 64)  # 4 batches, the last one partial
    batched = [policy.act(obs, mult, 17), policy.act(obs, mult, per_step), policy.act(obs, mult)]
    for w, b in zip(whole, batched, strict=True):
        torch.testing.assert_close(b, w, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="mult: expected shape"):
        policy.act(obs, mult[:, :3], 17)


def test_load_policy_round_trips_and_rebinds_to_another_population(tmp_path: Path) -> None:
    res = train(tiny_scenario(), tiny_config(iterations=1), tmp_path / "run", evaluate=False)
    policy = load_policy(tmp_path / "run")
    assert (policy.num_agents, policy.num_blocks) == (4, 24)
    assert policy.mult_max == res.policy.mult_max
    obs, mult = torch.rand((4, 7)), torch.rand((4, 24))
    assert torch.equal(policy.act(obs, mult, 3), res.policy.eval().act(obs, mult, 3))
    bigger = load_policy(tmp_path / "run", scenario=tiny_scenario(10))
    assert bigger.num_agents == 10
    # The population of the small preset is nested: its first 4 agents are the trained ones.
    a10 = bigger.act(
        torch.cat([obs, torch.rand((6, 7))]), torch.cat([mult, torch.rand((6, 24))]), 3
    )
    assert torch.allclose(a10[:4], policy.act(obs, mult, 3))


# ------------------------------------------------------------------------------ config


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("iterations", 0),
        ("num_steps", -1),
        ("learning_rate", -1e-3),
        ("gamma", 1.0),
        ("gae_lambda", 1.5),
        ("clip_coef", 0.0),
        ("max_grad_norm", float("nan")),
        ("update_epochs", 1.5),
        ("num_minibatches", 0),
        ("parameterisation", "bogus"),
        ("hidden_sizes", ()),
        ("mult_max", -1.0),
        ("mult_flat_prob", 2.0),
        ("mult_exponent", 0.0),
        ("agent_copies", 0),
        ("episode_days", 0.0),
        ("device", "tpu"),
        ("seed", -1),
        ("num_threads", 0),
        ("eval_points", 1),
        ("iterations", 2**62),  # x 96 steps overflows the 64-bit step counters
        ("num_steps", 10**23),
    ],
)
def test_bad_config_values_raise_config_error_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=rf"^{field}: "):
        TrainConfig(**{field: value})


def test_rollouts_that_cannot_be_buffered_or_split_are_named(tmp_path: Path) -> None:
    """Settings valid on their own that fail with the population: refused before any allocation."""
    from samarl.training import Trainer

    with pytest.raises(ConfigError, match=r"^num_steps: .* buffered values"):
        Trainer(tiny_scenario(), tiny_config(num_steps=2**33), tmp_path)
    # 16 steps x 8 simulated agents = 128 samples: 65 minibatches leave 1 sample in each.
    with pytest.raises(ConfigError, match=r"^num_minibatches: 65 minibatches of 128 samples"):
        Trainer(tiny_scenario(), tiny_config(num_minibatches=65), tmp_path)
    # Per-agent weights split each agent's own samples: 16 steps x 2 copies.
    per_agent = tiny_config(num_minibatches=17, parameterisation="per_agent")
    with pytest.raises(ConfigError, match=r"^num_minibatches: 17 minibatches of 32 samples"):
        Trainer(tiny_scenario(), per_agent, tmp_path)
    Trainer(tiny_scenario(), tiny_config(num_minibatches=65, norm_adv=False), tmp_path)  # no std


def test_config_shares_must_sum_to_one_and_unknown_keys_are_named() -> None:
    with pytest.raises(ConfigError, match=r"^mult_\*_prob: .*sum to 1"):
        TrainConfig(mult_zero_prob=0.5)
    with pytest.raises(ConfigError, match=r"^learnig_rate: not a training setting"):
        TrainConfig.from_dict({"learnig_rate": 1e-3})
    assert TrainConfig.from_dict(TrainConfig().to_dict()) == TrainConfig()


# ------------------------------------------------------------------------------ the command


def samarl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "samarl.cli", *args], capture_output=True, text=True, check=False
    )


def test_samarl_train_writes_the_contracted_run_folder(tmp_path: Path) -> None:
    out = tmp_path / "run"
    res = samarl(
        "train", "--scenario", "small", "--agents", "4", "--iterations", "2", "--num-steps", "8",
        "--agent-copies", "2", "--hidden-sizes", "8", "--eval-points", "3", "--eval-days", "1",
        "--no-progress", "--out", str(out),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    response = json.loads((out / "response.json").read_text())
    assert response["mult"] == sorted(response["mult"])
    assert response["mult"][0] == 0.0
    assert len(response["total_load"]) == 3
    assert response["capacity"] > 0
    assert 0 <= response["served_at_zero"] <= 1.0 + 1e-9
    assert response["window"]["blocks"]
    for name in ("config.json", "progress.csv", "progress.jsonl", "training_curves.png",
                 "response.png", "policy.safetensors", "checkpoints/latest.safetensors"):  # fmt: skip
        assert (out / name).exists(), name
    config = json.loads((out / "config.json").read_text())
    assert config["train"]["iterations"] == 2
    assert config["scenario"]["num_agents"] == 4
    assert ScenarioConfig.from_dict(config["scenario"]) == tiny_scenario()
    header = (out / "progress.csv").read_text().splitlines()[0].split(",")
    for key in ("rollout/lagrangian_reward", "train/approx_kl", "dual/mult_mean",
                "constraint/served_over_arrived", "time/agent_steps_per_s"):  # fmt: skip
        assert key in header


def test_samarl_train_rejects_a_bad_setting_with_a_one_line_message(tmp_path: Path) -> None:
    res = samarl("train", "--scenario", "small", "--learning-rate", "-1", "--out", str(tmp_path))
    assert res.returncode == 2
    assert "learning_rate: must be > 0" in res.stderr
    assert "Traceback" not in res.stderr


def test_price_prior_refuses_non_finite_and_wrong_arguments() -> None:
    from samarl.errors import ArgumentTypeError, InvalidValueError, ShapeError
    from samarl.training.prior import default_mult_max, sample_mults, sample_mults_per_agent

    kw: dict[str, Any] = {"dt_hours": 0.25, "steps_per_day": 96, "gamma": 0.99}
    assert default_mult_max([0.1, 0.2], [1.0, 1.0], 0.05, **kw) > 0
    for args, changes, match in (
        (([np.nan, 0.1], 1.0, 0.0), {}, "mean_arrival: must be finite"),
        (([0.1], [np.inf], 0.0), {}, "cost_linear: must be finite"),
        (([0.1], 1.0, [-1.0]), {}, "cost_quadratic: must be >= 0"),
        (([0.1], 1.0, 0.0), {"gamma": 1.5}, r"gamma: must be in \[0, 1\)"),
        (([0.1], 1.0, 0.0), {"gamma": 1.0}, "gamma"),
        (([0.1], 1.0, 0.0), {"dt_hours": float("nan")}, "dt_hours"),
    ):
        with pytest.raises(InvalidValueError, match=match):
            default_mult_max(*args, **kw | changes)
    with pytest.raises(ShapeError, match=r"cost_linear: shape \[3\] does not broadcast"):
        default_mult_max([0.1, 0.2], [1.0, 1.0, 1.0], 0.0, **kw)
    rng, cfg = np.random.default_rng(0), TrainConfig()
    assert sample_mults(rng, 4, 3, 2.0, cfg).shape == (4, 3)
    with pytest.raises(InvalidValueError, match="mult_max: must be finite"):
        sample_mults(rng, 4, 3, float("nan"), cfg)
    with pytest.raises(InvalidValueError, match="mult_max: must be in"):
        sample_mults(rng, 4, 3, -1.0, cfg)
    with pytest.raises(ArgumentTypeError, match=r"rng: expected a numpy.random.Generator"):
        sample_mults(0, 4, 3, 1.0, cfg)  # type: ignore[arg-type]
    with pytest.raises(ArgumentTypeError, match="config: expected a TrainConfig"):
        sample_mults(rng, 4, 3, 1.0, {"mult_flat_prob": 1})  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError, match="num_blocks"):
        sample_mults(rng, 4, 0, 1.0, cfg)
    rows = np.arange(2, dtype=np.uint64)
    with pytest.raises(InvalidValueError, match="mult_max"):
        sample_mults_per_agent(0, rows, 0, 3, float("inf"), cfg)


def test_response_sweep_checks_its_prices_first() -> None:
    from samarl.errors import InvalidValueError, ShapeError
    from samarl.training import policy_for

    scenario = tiny_scenario()
    policy = policy_for(scenario.build(), scenario, TrainConfig(), 1.0)
    for values, match in (
        ([], "mult_values: expected at least one"),
        ([-1.0], "mult_values: must be >= 0, found -1"),
        ([0.0, np.nan], "mult_values: must be finite"),
    ):
        with pytest.raises(InvalidValueError, match=match):
            response_sweep(policy, scenario, values, days=1)
    with pytest.raises(ShapeError, match="mult_values: expected shape"):
        response_sweep(policy, scenario, [[0.0, 1.0]], days=1)
    with pytest.raises(ConfigError, match="days"):
        response_sweep(policy, scenario, [0.0], days=0)
    with pytest.raises(ConfigError, match="device: unknown torch device"):
        response_sweep(policy, scenario, [0.0], days=1, device="nonsense")
    with pytest.raises(InvalidValueError, match="policy: expected a trained policy"):
        response_sweep("policy.pt", scenario, [0.0], days=1)  # type: ignore[arg-type]


def test_train_refuses_a_config_that_is_no_train_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config: expected a TrainConfig .* got 'fast'"):
        train(tiny_scenario(), "fast", tmp_path / "run")  # type: ignore[arg-type]
    assert not (tmp_path / "run").exists()
