"""Train state-augmented policies with PPO on the Lagrangian, all N agents in one batch.

For a multiplier vector ``mult`` (one entry per capacity block) the Lagrangian separates into N
independent problems (docs/method.md), so every agent ``n`` learns ``pi^n(a | s^n, mult^n)`` alone on

    r^n_t - mult^n_{h(t)} * (g^n_t - C_t / N)

with ``mult^n`` drawn per episode and per agent from the training price prior
(:mod:`samarl.training.prior`) on ``[0, mult_max]``. Agents never see each other: the cost of an
iteration is linear in N (one batched env step and one batched forward per time step, a PPO update
over ``num_steps * N`` samples).

The algorithm only, in Stable-Baselines3's shape: :meth:`Trainer.collect_rollouts` fills a
:class:`~samarl.training.buffer.RolloutBuffer`, :meth:`Trainer.update` runs the PPO update
(:mod:`samarl.training.ppo`) on it, :meth:`Trainer.state` / :meth:`Trainer.load_state` capture
everything needed to continue exactly. The run around it (the folder, checkpoints on a schedule,
logging, the progress bar, evaluation) is :func:`samarl.training.run.train`; the settings are
:class:`~samarl.training.config.TrainConfig`.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from samarl._validate import MAX_AGENTS
from samarl.envs import AutoReset
from samarl.envs.copies import population_copies
from samarl.envs.demand_response import lagrangian_reward
from samarl.envs.wrappers import EpisodeStarts
from samarl.errors import ConfigError, FileError, SamarlError
from samarl.rng import STREAM_ACTION_NOISE, normal_f64
from samarl.scenario import ScenarioData, resolve_scenario
from samarl.training.buffer import RolloutBuffer
from samarl.training.config import TrainConfig
from samarl.training.features import PARAM_NAMES, population_tables
from samarl.training.policies import StateAugmentedPolicy, torch_device
from samarl.training.ppo import TrainingDivergedError, ppo_update
from samarl.training.prices import PricedRows, PriceSchedule, TrainingPrior
from samarl.training.prior import default_mult_max
from samarl.training.run_folder import (
    CHECKPOINT_FILE,
    policy_record,
    read_checkpoint,
    write_checkpoint,
)

__all__ = [
    "Trainer",
    "TrainingDivergedError",
    "agent_slice",
    "mult_max_for",
    "policy_for",
]


def mult_max_for(data: Any, scenario: Any, config: TrainConfig) -> float:
    """The top of the price range: ``config.mult_max``, else the default of
    :func:`~samarl.training.prior.default_mult_max` for the agents of ``data``."""
    if config.mult_max is not None:
        return float(config.mult_max)
    return float(
        default_mult_max(
            data.mean_arrival,
            data.cost_linear,
            data.cost_quadratic,
            dt_hours=scenario.dt_hours,
            steps_per_day=scenario.steps_per_day,
            gamma=config.gamma,
        )
    )


def policy_for(
    data: Any, scenario: Any, config: TrainConfig, mult_max: float, *, first_agent: int = 0
) -> StateAugmentedPolicy:
    """A freshly initialised policy for the agents of ``data`` (a built scenario); with per-agent
    weights, ``data`` may hold the agents ``first_agent..`` of a larger population (see
    :func:`agent_slice`): they start from the weights they have in the whole population's policy."""
    static, prof = population_tables(data, scenario.dt_hours)
    return StateAugmentedPolicy(
        static,
        prof,
        data.block_of_step,
        first_agent=first_agent,
        mult_max=mult_max,
        parameterisation=config.parameterisation,
        hidden_sizes=config.hidden_sizes,
        init_log_std=config.init_log_std,
        seed=config.seed,
    )


def agent_slice(data: ScenarioData, agents: tuple[int, int]) -> ScenarioData:
    """``data`` with the per-agent arrays of the agents ``a..b`` only (the population's profiles,
    capacity and expected demand kept)."""
    a, b = agents
    rows = slice(a, b)
    return dataclasses.replace(data, **{k: getattr(data, k)[rows] for k in PARAM_NAMES})


def _adam(policy: torch.nn.Module, learning_rate: float, *, per_agent: bool) -> torch.optim.Adam:
    """Adam (CleanRL's eps). Shared weights: fused into one pass over the parameters where torch
    supports it. Per-agent weights: torch's multi-tensor Adam, whose every element is rounded the
    same way wherever it sits in its tensor; the fused kernel rounds the last ``numel % 8``
    elements of a tensor (a scalar tail) differently from the others, so an agent's weights would
    depend on how many agents share its tensors (a shard would drift from the full run)."""
    if per_agent:
        return torch.optim.Adam(policy.parameters(), lr=learning_rate, eps=1e-5, foreach=True)
    try:
        return torch.optim.Adam(policy.parameters(), lr=learning_rate, eps=1e-5, fused=True)
    except (RuntimeError, TypeError, ValueError):  # older torch: no fused Adam on this device
        return torch.optim.Adam(policy.parameters(), lr=learning_rate, eps=1e-5)


class Trainer:
    """State-augmented PPO for all agents of one scenario.

    ``collect_rollouts()`` steps the batched dynamics ``num_steps`` times (one batched forward per
    step, adding each step to the :attr:`buffer`, preallocated ``[num_steps, copies * N, ...]``);
    ``update()`` runs PPO on it; ``state()`` / ``load_state()`` capture everything needed to
    continue exactly.

    Training steps the batched env (:class:`~samarl.envs.DemandResponseEnv`) with ``agent_copies``
    copies of the scenario's agents (every copy with its own multipliers, arrivals and backlog;
    :func:`~samarl.envs.copies.population_copies`) under :class:`~samarl.envs.AutoReset`, which
    starts every episode from :class:`~samarl.envs.wrappers.EpisodeStarts` (an arrival seed and
    random initial backlogs, drawn from the trainer's generator); the trainer reacts to the step
    that started one by taking its multipliers from its price schedule (``prices``, a
    :class:`~samarl.training.prices.PriceSchedule`: by default the training price prior).

    With per-agent weights every random draw of an agent comes from streams keyed by its global
    id (:mod:`samarl.rng`: initial weights, action noise, multipliers, initial backlogs;
    arrivals are the engine's, keyed the same way), the minibatches split time only and every
    statistic is per agent, so ``agents=(a, b)`` trains the agents ``a..b`` of the scenario alone
    and ends with exactly their weights in the run over all N (one torch thread; tested): a shard
    of :mod:`samarl.distributed.shards`. Only the episodes' arrival seeds and the minibatches'
    time steps are drawn for all agents at once, the same in every shard.
    """

    def __init__(
        self,
        scenario: Any,
        config: TrainConfig,
        out_dir: str | os.PathLike[str],
        *,
        agents: tuple[int, int] | None = None,
        prices: PriceSchedule | None = None,
    ) -> None:
        self.scenario = scenario = resolve_scenario(scenario)
        self.config = cfg = config
        self.out_dir = Path(out_dir)
        self.device = dev = torch_device(cfg.device)
        if torch.get_num_threads() != cfg.num_threads:
            torch.set_num_threads(cfg.num_threads)

        # One seed fans out: torch (weights, action noise, minibatches), numpy (multipliers, initial
        # backlogs, the arrival seed of every episode, hence the Rust env's randomness). With
        # per-agent weights, per-agent streams replace every draw made per agent.
        torch.manual_seed(cfg.seed)
        self.np_rng = np.random.default_rng(cfg.seed)
        self.torch_gen = torch.Generator().manual_seed(cfg.seed + 1)
        self.per_agent_streams = cfg.parameterisation == "per_agent"

        self.population = scenario.build()
        total = self.population.num_agents
        first, end = (0, total) if agents is None else agents
        if not 0 <= first < end <= total:
            raise ConfigError(f"agents: expected 0 <= a < b <= {total}, got {agents!r}")
        if (first, end) != (0, total) and not self.per_agent_streams:
            raise ConfigError(
                "agents: only per-agent weights train a subset of the agents on its own "
                f"(parameterisation is {cfg.parameterisation!r})"
            )
        self.agents = (first, end)
        """The agents trained here: ``a..b`` of the scenario's N (all of them by default)."""
        self.data = data = agent_slice(self.population, self.agents)
        self.num_agents = n = end - first
        # Sized by the whole population, so that a shard simulates the copies the full run does.
        self.copies = cfg.agent_copies or max(1, math.ceil(_MIN_SIMULATED / total))
        if self.copies * total > MAX_AGENTS:
            raise ConfigError(
                f"agent_copies: {self.copies} copies of {total} agents exceed the engine's "
                f"{MAX_AGENTS} rows"
            )
        self.rows = rows = self.copies * n
        # Global id of every row (copy r of agent a + j is r * N + a + j): the engine's arrivals,
        # and the per-agent streams, are keyed by it.
        self.row_ids = (
            np.arange(self.copies, dtype=np.uint64)[:, None] * np.uint64(total)
            + np.arange(first, end, dtype=np.uint64)[None]
        ).reshape(-1)
        self.steps_per_day = scenario.steps_per_day
        self.num_blocks = scenario.num_blocks
        self.block_of_step = np.asarray(data.block_of_step, dtype=np.int64)
        days = scenario.episode_days if cfg.episode_days is None else cfg.episode_days
        self.episode_steps = max(1, round(days * self.steps_per_day))
        mu = np.tile(np.asarray(data.mean_arrival, dtype=np.float64), self.copies)
        self._mu = np.maximum(mu, 1e-6)
        # Each episode's arrival seed and random initial backlogs, drawn by the env layer from
        # the trainer's generator (per-agent weights: the backlogs from per-row streams).
        self.starts = EpisodeStarts(
            self.np_rng,
            self._mu,
            backlog_days=cfg.initial_backlog_days,
            steps_per_day=self.steps_per_day,
            streams=(cfg.seed, self.row_ids) if self.per_agent_streams else None,
        )
        env = population_copies(
            scenario,
            data,
            copies=self.copies,
            agents=self.agents,
            num_agents=total,
            episode_steps=self.episode_steps,
        )
        self.env = AutoReset(env, self.starts)
        self.mult_max = mult_max_for(self.population, scenario, cfg)
        if prices is not None and not isinstance(prices, PriceSchedule):
            raise ConfigError(f"prices: expected a PriceSchedule (or None), got {prices!r}")
        self.prices = prices or TrainingPrior(
            cfg, self.np_rng, (cfg.seed, self.row_ids) if self.per_agent_streams else None
        )
        """The price schedule: how the multipliers of every episode are chosen (the training
        prior by default; the baselines pass theirs)."""
        self.prices.setup(
            PricedRows(
                n,
                self.copies,
                self.num_blocks,
                self.mult_max,
                self.block_of_step,
                np.asarray(data.capacity, dtype=np.float64),
            )
        )
        self.policy = self._make_policy().to(dev)
        self.optimizer = _adam(self.policy, cfg.learning_rate, per_agent=self.per_agent_streams)

        t, d = cfg.num_steps, self.policy.input_dim
        _check_rollout_size(cfg, rows, d, self.copies if self.per_agent_streams else None)
        self.buffer = RolloutBuffer(t, rows, d, dev)
        self.cap_per_agent = torch.as_tensor(
            np.asarray(data.capacity, dtype=np.float32) / total, device=dev
        )
        self._cost = np.tile(
            np.asarray(data.cost_linear, dtype=np.float64)
            + np.asarray(data.cost_quadratic, dtype=np.float64) * np.asarray(data.mean_arrival),
            self.copies,
        )

        # Per-row reward scaling: a factor per episode, then the running std of the discounted return.
        self.episode_scale = torch.ones(rows, device=dev)
        self.ret = torch.zeros(rows, dtype=torch.float64, device=dev)
        self.ret_mean = torch.zeros(rows, dtype=torch.float64, device=dev)
        self.ret_var = torch.ones(rows, dtype=torch.float64, device=dev)
        self.ret_count = 1e-4

        self.iteration = 0
        self.episodes = 0
        self.steps_done = 0
        self.mult = torch.zeros((rows, self.num_blocks), device=dev)
        self.obs = torch.zeros((rows, self.env.env.obs_dim), device=dev)
        self.obs.copy_(torch.from_numpy(self.env.reset()))
        self._new_prices()

    # ---------------------------------------------------------------- hooks (baselines)

    # The baselines of :mod:`samarl.baselines` pass their price schedule (``prices``) and may
    # override these two methods: the rollouts, the PPO update and the bookkeeping stay here.

    def _make_policy(self) -> Any:
        """The policy trained (called once, in ``__init__``): a state-augmented policy."""
        return policy_for(
            self.data, self.scenario, self.config, self.mult_max, first_agent=self.agents[0]
        )

    def _shape_reward(
        self, step_of_day: int, reward: torch.Tensor, use: torch.Tensor, default: torch.Tensor
    ) -> torch.Tensor:
        """The reward agents are trained on at one step, before scaling (``[rows]``), from the env
        reward and resource use; ``default`` is the Lagrangian reward this trainer optimises."""
        return default

    # ---------------------------------------------------------------- episodes

    @property
    def step_of_day(self) -> int:
        """Step of the day of the coming step (episodes start at midnight)."""
        return self.env.step_of_day

    def _new_prices(self) -> None:
        """Takes the new episode's multipliers from the price schedule (after the env started
        it) and restarts the per-row reward scaling."""
        mult = self.prices.episode(self.starts.started - 1)
        self.mult.copy_(torch.from_numpy(mult))
        self.ret.zero_()
        size = self._mu * (self._cost + mult.mean(axis=1) / self.scenario.dt_hours)
        self.episode_scale.copy_(
            torch.from_numpy((1.0 / np.maximum(size, 1e-12)).astype(np.float32))
        )

    def _scale_rewards(self, r: torch.Tensor) -> torch.Tensor:
        """Reward scaling (``reward_norm``), O(rows): see :attr:`TrainConfig.reward_norm`."""
        if not self.config.reward_norm:
            return r
        r = r * self.episode_scale
        self.ret.mul_(self.config.gamma).add_(r.double())
        self.ret_count += 1.0
        delta = self.ret - self.ret_mean
        self.ret_mean.add_(delta / self.ret_count)
        self.ret_var.add_((delta * (self.ret - self.ret_mean) - self.ret_var) / self.ret_count)
        return (r.double() / torch.sqrt(self.ret_var + 1e-8)).float()

    # ---------------------------------------------------------------- rollouts

    @torch.no_grad()
    def collect_rollouts(self) -> dict[str, float]:
        """Steps every row ``num_steps`` times, filling the rollout storage; returns statistics."""
        cfg, policy, dev = self.config, self.policy, self.device
        s = self.steps_per_day
        self.buffer.reset()
        sums = dict.fromkeys(("reward", "lagrangian", "load", "capacity", "served", "arrived"), 0.0)
        mult_sum = 0.0
        for _ in range(cfg.num_steps):
            tod = self.step_of_day
            x = policy.features(self.obs, self.mult, tod, update_stats=True)
            if self.per_agent_streams:
                z = normal_f64(cfg.seed, STREAM_ACTION_NOISE, self.row_ids, self.steps_done)
                noise = torch.from_numpy(z.astype(np.float32))
                action, raw, logp, v_norm = policy.sample(x, self.torch_gen, noise=noise)
            else:  # (the shared-weights baselines' policies take no noise)
                action, raw, logp, v_norm = policy.sample(x, self.torch_gen)
            self.steps_done += 1
            value = policy.denormalize_values(v_norm)
            actions = action.cpu().numpy()
            if not np.isfinite(actions).all():
                raise TrainingDivergedError("the policy's actions are not finite")
            out = self.env.step(actions)
            reward = torch.from_numpy(out.reward).to(dev)
            use = torch.from_numpy(out.resource_use).to(dev)
            self.prices.record(tod, use)
            mult_h = self.mult[:, int(self.block_of_step[tod])]
            cap = self.cap_per_agent[tod]
            lagrangian = lagrangian_reward(reward, use, mult_h, cap)
            trained = (
                lagrangian if cfg.capacity_term else lagrangian_reward(reward, use, mult_h, 0.0)
            )
            scaled = self._scale_rewards(self._shape_reward(tod, reward, use, trained))
            sums["reward"] += float(reward.sum())
            sums["lagrangian"] += float(lagrangian.sum())
            sums["load"] += float(use.sum())
            sums["capacity"] += float(self.cap_per_agent[tod]) * self.rows
            sums["served"] += float(out.served.sum(dtype=np.float64))
            sums["arrived"] += float(out.arrived.sum(dtype=np.float64))
            mult_sum += float(mult_h.mean())
            done = out.final_obs is not None
            if done:
                # Time limit: bootstrap from the final state's value. The env has already started
                # the next episode (every row reset), which gets new prices.
                final_obs = torch.from_numpy(out.final_obs).to(dev)
                final = policy.value(final_obs, self.mult, (tod + 1) % s)  # scaled reward units
                scaled = scaled + cfg.gamma * final
                self.episodes += 1
                self._new_prices()
            self.buffer.add(x, raw, logp, value, scaled, done)
            self.obs.copy_(torch.from_numpy(out.obs))
        agent_steps = cfg.num_steps * self.rows
        return {
            "rollout/reward": sums["reward"] / agent_steps,
            "rollout/lagrangian_reward": sums["lagrangian"] / agent_steps,
            "rollout/episodes": float(self.episodes),
            "dual/mult_mean": mult_sum / cfg.num_steps,
            "dual/mult_max": self.mult_max,
            "constraint/load_over_capacity": sums["load"] / max(sums["capacity"], 1e-12),
            "constraint/served_over_arrived": sums["served"] / max(sums["arrived"], 1e-12),
        }

    # ---------------------------------------------------------------- update

    def update(self) -> dict[str, float]:
        """One PPO update on the stored rollouts."""
        cfg = self.config
        with torch.no_grad():
            next_value = self.policy.value(self.obs, self.mult, self.step_of_day)
        self.buffer.compute_returns_and_advantage(
            next_value, gamma=cfg.gamma, gae_lambda=cfg.gae_lambda
        )
        batch = self.buffer.batch()
        stats = ppo_update(self.policy, self.optimizer, batch, cfg, generator=self.torch_gen)
        return {f"train/{k}": v for k, v in stats.items()}

    def iterate(self) -> dict[str, float]:
        """One iteration: anneal the learning rate, collect, update. Returns the logged values."""
        cfg = self.config
        lr = cfg.learning_rate * (1.0 - self.iteration / cfg.iterations if cfg.anneal_lr else 1.0)
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        t0 = time.perf_counter()
        try:
            stats = self.collect_rollouts()
            t1 = time.perf_counter()
            stats |= self.update()
            self._check_finite(stats)
        except TrainingDivergedError as e:
            raise TrainingDivergedError(
                f"training diverged at iteration {self.iteration + 1}: {e}; try a smaller "
                "learning_rate or max_grad_norm (nothing from this iteration was saved)"
            ) from None
        t2 = time.perf_counter()
        self.iteration += 1
        stats["train/learning_rate"] = lr
        stats["time/rollout_s"] = t1 - t0
        stats["time/update_s"] = t2 - t1
        stats["time/iteration_s"] = t2 - t0
        stats["time/agent_steps_per_s"] = cfg.num_steps * self.rows / (t2 - t0)
        mult = self.prices.update()  # e.g. a dual step on this iteration's use
        if mult is not None:
            self.mult.copy_(torch.from_numpy(mult))
        return stats

    def _check_finite(self, stats: dict[str, float]) -> None:
        """Raises :class:`TrainingDivergedError` when the update left a non-finite loss statistic,
        weight or normaliser statistic: nothing after it could be trusted, and stopping here keeps
        the bad state out of every checkpoint."""
        for key in ("train/policy_loss", "train/value_loss", "train/entropy"):
            if key in stats and not math.isfinite(stats[key]):
                raise TrainingDivergedError(f"{key} is {stats[key]}")
        for name, tensor in itertools.chain(
            self.policy.named_parameters(), self.policy.named_buffers()
        ):
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                raise TrainingDivergedError(f"the policy's {name} is not finite")

    def facts(self) -> dict[str, Any]:
        """What the run folder's config records besides the settings (``derived``)."""
        return {
            "mult_max": self.mult_max,
            "episode_steps": self.episode_steps,
            "num_agents": self.population.num_agents,
            "agent_copies": self.copies,
            "num_blocks": self.num_blocks,
            "input_dim": self.policy.input_dim,
            "torch_threads": torch.get_num_threads(),
            "device": str(self.device),
        }

    # ---------------------------------------------------------------- checkpoints

    def state(self) -> dict[str, Any]:
        """Everything needed to continue this run exactly."""
        state = {
            "iteration": self.iteration,
            "episodes": self.episodes,
            "episodes_started": self.starts.started,
            "steps_done": self.steps_done,
            "agents": self.agents,
            "policy": policy_record(self.policy, self.scenario),
            "optimizer": self.optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "torch_gen": self.torch_gen.get_state(),
            "np_rng": self.np_rng.bit_generator.state,
            "env": self.env.env.get_state(),
            "obs": self.obs.cpu(),
            "mult": self.mult.cpu(),
            "reward_norm": {
                "episode_scale": self.episode_scale.cpu(),
                "ret": self.ret.cpu(),
                "mean": self.ret_mean.cpu(),
                "var": self.ret_var.cpu(),
                "count": self.ret_count,
            },
            "mult_max": self.mult_max,
            "copies": self.copies,
            "config": self.config.to_dict(),
        }
        prices = self.prices.state()
        if prices:  # a schedule with a state of its own (dual ascent)
            state["prices"] = prices
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        """Restores :meth:`state`'s output (from the same scenario and config)."""
        if state["copies"] != self.copies or state["mult_max"] != self.mult_max:
            raise ConfigError(
                "resume: the checkpoint was written with another scenario or config "
                f"(copies {state['copies']} vs {self.copies}, mult_max {state['mult_max']} vs "
                f"{self.mult_max})"
            )
        if tuple(state.get("agents", self.agents)) != self.agents:
            raise ConfigError(
                f"resume: the checkpoint trained agents {tuple(state['agents'])}, not {self.agents}"
            )
        dev = self.device
        self.iteration = int(state["iteration"])
        self.episodes = int(state["episodes"])
        # Checkpoints from before per-agent streams: what those counters would be.
        self.starts.started = int(state.get("episodes_started", self.episodes + 1))
        self.steps_done = int(state.get("steps_done", self.iteration * self.config.num_steps))
        self.policy.load_state_dict(state["policy"]["state_dict"])
        self.optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        self.torch_gen.set_state(state["torch_gen"])
        self.np_rng.bit_generator.state = state["np_rng"]
        self.env.env.set_state(state["env"])
        self.obs.copy_(state["obs"].to(dev))
        self.mult.copy_(state["mult"].to(dev))
        rn = state["reward_norm"]
        self.episode_scale.copy_(rn["episode_scale"].to(dev))
        self.ret.copy_(rn["ret"].to(dev))
        self.ret_mean.copy_(rn["mean"].to(dev))
        self.ret_var.copy_(rn["var"].to(dev))
        self.ret_count = float(rn["count"])
        self.prices.load_state(state.get("prices", {}))

    def save_checkpoint(self, path: Path | None = None) -> Path:
        """Writes :meth:`state` to ``checkpoints/latest.safetensors`` (or ``path``) atomically: a
        run killed while it writes keeps the previous checkpoint whole."""
        return write_checkpoint(path or self.out_dir / CHECKPOINT_FILE, self.state())

    def load_checkpoint(self, path: Path | None = None) -> None:
        """Continues from a checkpoint written by :meth:`save_checkpoint`."""
        path = path or self.out_dir / CHECKPOINT_FILE
        state = read_checkpoint(path, self.scenario)
        try:
            self.load_state(state)
        except RuntimeError as e:  # torch: the saved weights have other shapes
            reason = " ".join(str(e).split())
            reason = reason if len(reason) <= 160 else reason[:157] + "..."
            raise ConfigError(
                f"resume: {os.fspath(path)!r} was written with another scenario or config "
                f"({reason})"
            ) from None
        except SamarlError:
            raise
        except Exception as e:  # whatever a damaged state makes the restores raise
            reason = " ".join(str(e).split())[:120] or type(e).__name__
            raise FileError(
                f"resume: {os.fspath(path)!r} is not a checkpoint of this trainer ({reason})"
            ) from None


#: Most float32 values the rollout buffers may hold (2**34: 64 GiB).
MAX_ROLLOUT_VALUES = 2**34


def _check_rollout_size(
    cfg: TrainConfig, rows: int, input_dim: int, per_agent_copies: int | None
) -> None:
    """Refuses, naming the setting, rollouts that cannot be buffered (``num_steps`` x ``rows``
    inputs) and minibatches too small for advantage normalisation (its std needs 2 samples).
    ``per_agent_copies``: the copies of each agent with per-agent weights, else None."""
    values = cfg.num_steps * rows * (input_dim + RolloutBuffer.PER_SAMPLE)
    if values > MAX_ROLLOUT_VALUES:
        raise ConfigError(
            f"num_steps: {cfg.num_steps} steps of {rows} simulated agents need {values:.3g} "
            f"buffered values (at most {MAX_ROLLOUT_VALUES:.3g})"
        )
    # Per-agent weights split each agent's num_steps x copies samples (every agent in every
    # minibatch); shared weights split all num_steps x rows samples.
    per_pass = rows if per_agent_copies is None else per_agent_copies
    samples = cfg.num_steps * per_pass
    if cfg.norm_adv and samples // cfg.num_minibatches < 2:
        raise ConfigError(
            f"num_minibatches: {cfg.num_minibatches} minibatches of {samples} samples leave "
            "fewer than 2 in each, too few to normalise advantages (lower it or raise num_steps)"
        )


#: With fewer agents than this, training steps copies of them (see ``TrainConfig.agent_copies``).
_MIN_SIMULATED = 256
