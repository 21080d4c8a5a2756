"""Baselines: the centralised critic sees all N agents, and the three baselines train
through the shared trainer and PPO core. Tiny sizes: the whole file takes a few seconds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from samarl.baselines import (
    CentralCriticPolicy,
    IndependentLagrangianConfig,
    IndependentLagrangianTrainer,
    IPPOPenaltyConfig,
    IPPOPenaltyTrainer,
    MAPPOLagrangianConfig,
    MAPPOLagrangianTrainer,
)
from samarl.baselines.dual_ascent import DualAscent
from samarl.envs.dynamics import OBS_FIELDS
from samarl.errors import ConfigError
from samarl.training import Trainer
from samarl.training.prices import PricedRows
from samarl.training.prior import sample_mults
from tiny import TINY, tiny_config, tiny_scenario

OBS_DIM = len(OBS_FIELDS)


@pytest.mark.parametrize("n", [3, 5])
def test_central_critic_input_is_all_agents_observations(tmp_path: Path, n: int) -> None:
    trainer = MAPPOLagrangianTrainer(tiny_scenario(n), tiny_config(iterations=2), tmp_path)
    policy = trainer.policy
    assert isinstance(policy, CentralCriticPolicy)
    assert policy.global_dim == n * OBS_DIM
    assert policy.critic_input_dim == n * OBS_DIM + policy.actor_dim
    assert trainer.buffer.x.shape == (TINY["num_steps"], 2 * n, policy.actor_dim + n * OBS_DIM)
    # Every agent's row carries the observations of all N agents of its copy, and the critic
    # depends on each of them: changing agent 0's observation changes every agent's value.
    obs = trainer.obs.clone()
    mult = trainer.mult.clone()
    x = policy.features(obs, mult, 0)
    assert torch.equal(x[0, policy.actor_dim :], x[n - 1, policy.actor_dim :])
    assert not torch.equal(x[0, policy.actor_dim :], x[n, policy.actor_dim :])  # other copy
    v0 = policy.value(obs, mult, 0)
    obs[0, 0] += 5.0
    v1 = policy.value(obs, mult, 0)
    assert (v0[:n] != v1[:n]).all()
    assert torch.equal(v0[n:], v1[n:])


def test_mappo_lagrangian_trains_and_ascends_the_dual(tmp_path: Path) -> None:
    base = MAPPOLagrangianConfig(dual_lr=0.5, mult_init=0.5)
    trainer = MAPPOLagrangianTrainer(tiny_scenario(), tiny_config(iterations=2), tmp_path, base)
    assert trainer.central_mult is not None
    start = trainer.central_mult.copy()
    for _ in range(2):
        stats = trainer.iterate()
    assert np.isfinite(stats["train/policy_loss"])
    assert np.isfinite(stats["train/value_loss"])
    moved = trainer.central_mult - start
    assert np.abs(moved).max() > 0  # the ascent acted (from mid-range, it can go either way)
    assert ((trainer.central_mult >= 0) & (trainer.central_mult <= trainer.mult_max)).all()
    # Every agent sees the one central multiplier.
    assert torch.equal(trainer.mult, trainer.mult[:1].expand_as(trainer.mult))
    a = trainer.act_fn()(np.zeros((4, OBS_DIM), np.float32), None, 0)
    assert a.shape == (4,)
    assert ((a >= 0) & (a <= 1)).all()


@pytest.mark.parametrize("cls", [IPPOPenaltyTrainer, IndependentLagrangianTrainer])
def test_independent_baselines_train(tmp_path: Path, cls: Any) -> None:
    trainer = cls(tiny_scenario(), tiny_config(iterations=2), tmp_path)
    for _ in range(2):
        stats = trainer.iterate()
    assert np.isfinite(stats["train/policy_loss"])
    if cls is IPPOPenaltyTrainer:
        assert float(trainer.mult.abs().max()) == 0.0
        assert stats["constraint/train_overshoot_kw"] >= 0
    else:
        local = trainer.local_mult
        assert local is not None
        assert local.shape == (4, trainer.num_blocks)
        assert torch.equal(trainer.mult[:4], trainer.mult[4:])  # copies share their agent's mult
        assert ((local >= 0) & (local <= trainer.mult_max)).all()


def test_the_default_schedule_trains_on_the_prior_and_the_lagrangian_reward(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given no price schedule, the trainer trains our method: the episode's prices are the
    training prior's draws and the rewards trained on are the Lagrangian ``r - mult_h g``, both
    recomputed here from the seed and the env's outputs, not from the trainer's schedule."""
    cfg = tiny_config(iterations=2, reward_norm=False)
    trainer = Trainer(tiny_scenario(), cfg, tmp_path)
    rng = np.random.default_rng(cfg.seed)
    rng.integers(2**62)  # the first episode's start: its arrival seed, then the backlogs
    rng.random(trainer.rows)
    prior = sample_mults(rng, trainer.rows, trainer.num_blocks, trainer.mult_max, cfg)
    assert prior.mean() > 0
    np.testing.assert_array_equal(trainer.mult.numpy(), prior)

    env = trainer.env.env
    outputs: list[tuple[np.ndarray, np.ndarray]] = []
    step = env.step

    def recording(actions: Any) -> Any:
        out = step(actions)
        outputs.append((out.reward.copy(), out.resource_use.copy()))
        return out

    monkeypatch.setattr(env, "step", recording)
    trainer.collect_rollouts()
    assert len(outputs) == cfg.num_steps < trainer.episode_steps  # one episode, one price table
    for t, (reward, use) in enumerate(outputs):
        mult_h = torch.from_numpy(prior[:, trainer.block_of_step[t]])
        expected = torch.from_numpy(reward) - mult_h * torch.from_numpy(use)
        torch.testing.assert_close(trainer.buffer.rewards[t], expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("independent", [[6.0, 5.0], [7.0, 5.0]]), ("centralized", [[6.5, 5.0]])],
)
def test_dual_ascent_steps_each_block_on_the_use_its_rollouts_saw(
    mode: Any, expected: list[list[float]]
) -> None:
    """``clip(mult + dual_lr * mult_max * (estimate - C_h) / C_h, 0, mult_max)`` per block seen,
    with use and capacity averaged over the steps seen (2 agents x 2 copies, 2 blocks)."""
    rows = PricedRows(
        num_agents=2,
        copies=2,
        num_blocks=2,
        mult_max=10.0,
        block_of_step=np.array([0, 0, 1, 1]),
        capacity=np.array([4.0, 2.0, 3.0, 3.0]),
    )
    prices = DualAscent(mode, dual_lr=0.1, mult_init=0.5)  # eta = 1, mult starts at 5
    prices.setup(rows)
    np.testing.assert_array_equal(prices.episode(0), np.full((4, 2), 5.0, np.float32))
    use = torch.tensor([1.0, 2.0, 3.0, 4.0])  # rows: copy 0 agents 0, 1; copy 1 agents 0, 1
    prices.record(0, use)
    prices.record(1, 2 * use)
    # Block 0, capacity 3 per step. Independent: agent 0 used 3, agent 1 4.5 per step (mean over
    # copies): N * use = 6, 9, excess 1, 2. Centralized: 7.5 in all, excess 1.5. Block 1 unseen.
    new = prices.update()
    np.testing.assert_allclose(prices.mult, expected, rtol=1e-6)
    rows_mult = np.tile(expected, (2, 1)) if mode == "independent" else np.tile(expected, (4, 1))
    np.testing.assert_allclose(new, rows_mult, rtol=1e-6)
    prices.record(2, 1e6 * use)  # far over: the price stops at mult_max
    prices.update()
    assert (prices.mult[:, 1] == 10.0).all()
    assert prices.state()["updates"].tolist() == [1, 1]


def test_mappo_requires_shared_actor(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="shared"):
        MAPPOLagrangianTrainer(
            tiny_scenario(), tiny_config(iterations=2, parameterisation="per_agent"), tmp_path
        )
    with pytest.raises(ConfigError, match="dual_lr"):
        MAPPOLagrangianConfig(dual_lr=0.0)


def test_ctde_experiment_writes_the_contract(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sweep at toy sizes, measured in this process (no subprocesses): results.json keys."""
    from samarl.experiments import ctde

    def fake_spawn(method: str, n: int, settings: Any, train: bool) -> dict[str, Any]:
        row: dict[str, Any] = {
            "method": method,
            "N": n,
            "iteration_s": 1e-3 * (n**2 if method == "ctde" else n),
            "peak_rss_mib": 100.0,
        }
        if train:
            row |= {"violation": 0.0, "peak_ratio": 1.0, "served": 1.0, "feasible": True}
        return row

    monkeypatch.setattr(ctde, "_spawn", fake_spawn)
    settings = ctde.CTDESettings(**(ctde.QUICK | {"max_iteration_s": 0.5, "ours_max_agents": 64}))
    returned = ctde.run(settings, tmp_path)
    res = json.loads((tmp_path / "results.json").read_text())
    assert res == json.loads(json.dumps(returned))
    assert res["slope"]["ctde"] == pytest.approx(2.0)
    assert res["slope"]["ours"] == pytest.approx(1.0)
    assert res["ctde_stopped"]["N"] == 32
    assert res["ctde_stopped"]["reason"] == "time"
    assert [r["N"] for r in res["rows"]["ours"]] == [4, 8, 16, 32, 64]
    assert "violation" in res["rows"]["ours"][0]
    assert "served" in res["rows"]["ctde"][0]
    assert (tmp_path / "report.md").read_text().startswith("# CTDE")
    assert (tmp_path / "ctde_scaling.png").exists()


def test_measure_runs_both_methods_at_tiny_size() -> None:
    from samarl.experiments.ctde import CTDESettings, measure

    s = CTDESettings(scenario="small", repeats=1, num_steps=8, train_iterations=1, eval_days=1)
    for method in ("ctde", "ours"):
        row = measure(method, 4, s, train=False)
        assert row["iteration_s"] > 0
        assert row["peak_rss_mib"] > 0


@pytest.mark.parametrize("cls", [MAPPOLagrangianTrainer, IndependentLagrangianTrainer])
def test_a_resumed_baseline_continues_its_multipliers_exactly(tmp_path: Path, cls: Any) -> None:
    """Two iterations, a checkpoint, a fresh trainer that loads it and two more iterations equal
    four uninterrupted iterations: the baseline's own multipliers are part of its state."""
    config = tiny_config(iterations=4)
    straight = cls(tiny_scenario(), config, tmp_path / "straight")
    for _ in range(4):
        straight.iterate()
    first = cls(tiny_scenario(), config, tmp_path / "resumed")
    for _ in range(2):
        first.iterate()
    path = first.save_checkpoint()
    resumed = cls(tiny_scenario(), config, tmp_path / "resumed")
    resumed.load_checkpoint(path)
    for _ in range(2):
        resumed.iterate()
    name = "central_mult" if cls is MAPPOLagrangianTrainer else "local_mult"
    assert not np.array_equal(getattr(first, name), getattr(straight, name))  # they moved
    np.testing.assert_array_equal(getattr(resumed, name), getattr(straight, name))
    assert torch.equal(resumed.mult, straight.mult)
    for a, b in zip(resumed.policy.parameters(), straight.policy.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize(
    ("cls", "field", "value", "match"),
    [
        (
            IndependentLagrangianConfig,
            "dual_lr",
            "0.1",
            "dual_lr: expected a real number, got '0.1'",
        ),
        (IndependentLagrangianConfig, "mult_init", None, "mult_init: expected a real number"),
        (IndependentLagrangianConfig, "mult_init", 2.0, r"mult_init: must be in \[0, 1\]"),
        (IPPOPenaltyConfig, "penalty_coef", "1", "penalty_coef: expected a real number"),
        (IPPOPenaltyConfig, "penalty_coef", float("nan"), "penalty_coef: must be finite"),
        (MAPPOLagrangianConfig, "dual_lr", None, "dual_lr: expected a real number, got None"),
        (MAPPOLagrangianConfig, "mult_init", True, "mult_init: expected a real number"),
        (MAPPOLagrangianConfig, "critic_hidden_sizes", "64", "critic_hidden_sizes: must be"),
        (MAPPOLagrangianConfig, "critic_hidden_sizes", None, "critic_hidden_sizes: must be"),
    ],
)
def test_baseline_configs_name_a_field_given_a_string_or_none(
    cls: Any, field: str, value: Any, match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        cls(**{field: value})


def test_baseline_trainers_name_a_wrong_config_or_baseline(tmp_path: Path) -> None:
    assert MAPPOLagrangianConfig(critic_hidden_sizes=[8, 8]).critic_hidden_sizes == (8, 8)
    for cls in (IndependentLagrangianTrainer, IPPOPenaltyTrainer, MAPPOLagrangianTrainer):
        with pytest.raises(ConfigError, match="config: expected a TrainConfig, got 'fast'"):
            cls(tiny_scenario(), "fast", tmp_path)
        with pytest.raises(ConfigError, match=r"baseline: expected a .*Config"):
            cls(tiny_scenario(), tiny_config(), tmp_path, baseline="x")
