"""Settings of state-augmented PPO training: :class:`TrainConfig` (CleanRL names, validated)."""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from samarl import MAX_THREADS
from samarl._validate import MAX_SEED
from samarl.errors import ConfigError

__all__ = ["TrainConfig"]


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Settings of state-augmented PPO training (CleanRL names). Validated on construction."""

    iterations: int = 150
    """PPO iterations; each collects ``num_steps`` steps of every agent, then updates."""
    num_steps: int = 96
    """Rollout length per agent per iteration (steps; 96 = one day of 15-minute steps)."""
    learning_rate: float = 1e-3
    """Adam step size (annealed linearly to 0 when ``anneal_lr``)."""
    anneal_lr: bool = True
    """Anneal the learning rate linearly to 0 over ``iterations``."""
    gamma: float = 0.99
    """Discount factor per step."""
    gae_lambda: float = 0.95
    """GAE lambda."""
    clip_coef: float = 0.2
    """PPO surrogate clipping coefficient (also clips the value update)."""
    ent_coef: float = 0.0
    """Weight of the entropy bonus."""
    vf_coef: float = 0.5
    """Weight of the value loss."""
    max_grad_norm: float = 0.5
    """Gradient norm clip (per agent with per-agent weights)."""
    update_epochs: int = 4
    """Passes over each iteration's samples."""
    num_minibatches: int = 8
    """Minibatches per pass (per-agent weights: each agent's steps x copies split, every agent in
    every minibatch); with ``norm_adv`` each must hold at least 2 samples."""
    norm_adv: bool = True
    """Normalise advantages per minibatch (per agent with per-agent weights)."""
    clip_vloss: bool = True
    """Clip the value loss as PPO clips the policy loss."""
    target_kl: float | None = None
    """Stop an iteration's epochs early when the approximate KL exceeds this (None: never)."""
    parameterisation: Literal["shared", "per_agent"] = "shared"
    """``shared``: one network fed agent features; ``per_agent``: each agent its own weights."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the actor and of the critic (use small ones with per-agent weights)."""
    init_log_std: float = -0.7
    """Initial log standard deviation of the action noise (action range is [0, 1])."""
    agent_copies: int | None = None
    """Copies of every agent simulated side by side, each with its own multipliers, arrivals and
    backlog (more samples per iteration for small scenarios); None: ``ceil(256 / N)``."""
    episode_days: float | None = None
    """Episode length in days (truncated, with the final value bootstrapped); None: the scenario's."""
    mult_max: float | None = None
    """Top of the multiplier range (price units: reward per kW drawn); None: from the scenario."""
    mult_flat_prob: float = 0.35
    """Share of episodes whose multiplier profile is flat (every block the same value)."""
    mult_block_prob: float = 0.15
    """Share of episodes whose profile has independent uniform entries per block."""
    mult_smooth_prob: float = 0.4
    """Share of episodes with a smooth random daily profile (two random harmonics, clipped)."""
    mult_zero_prob: float = 0.1
    """Share of episodes with every entry 0 (unconstrained)."""
    mult_exponent: float = 3.0
    """Levels are ``mult_max * u**mult_exponent``, u uniform: 1 is uniform, > 1 favours low prices."""
    initial_backlog_days: float = 0.5
    """Initial backlogs are ``u**2`` times this many days of the agent's mean arrivals (u uniform)."""
    capacity_term: bool = False
    """Optimise ``r - mult (g - C_t/N)`` rather than ``r - mult g``: the same optimal policy (the
    difference does not depend on actions) but noisier value targets. Logged either way."""
    reward_norm: bool = True
    """Scale each agent's reward by its typical size under the episode's prices (the waiting cost
    plus the price of one step of its mean arrivals), then by a running std of its discounted return.
    Each (agent, price profile) pair is its own problem, and a positive factor leaves its optimal
    policy unchanged; without the first factor, low-price episodes' signal drowns in high-price ones."""
    device: str = "cpu"
    """Torch device: ``cpu`` or ``cuda`` (``cuda:K``)."""
    seed: int = 1
    """One seed for everything: weights, action noise, multipliers, backlogs, the env's arrivals
    (with per-agent weights each agent's draws come from streams keyed by the seed and its id)."""
    num_threads: int = 1
    """Torch CPU threads. 1 by default: the per-step batches are small, and a second OpenMP thread
    competing with the engine or other processes for 2 cores made each op up to 20x slower."""
    checkpoint_every: int = 25
    """Save ``checkpoints/latest.pt`` every this many iterations (and at the end)."""
    eval_every: int = 0
    """Run a 3-point flat-multiplier check every this many iterations, logged as ``constraint/sweep_*``
    (0: never during training)."""
    eval_points: int = 21
    """Flat multiplier values swept from 0 to ``mult_max`` after training."""
    eval_days: int = 2
    """Days simulated per swept value; the first is warm-up, the rest are measured."""
    progress: bool = True
    """Show a progress bar."""

    def __post_init__(self) -> None:
        def need(name: str, ok: bool, what: str) -> None:
            if not ok:
                raise ConfigError(f"{name}: {what}, got {getattr(self, name)!r}")

        def is_int(v: object) -> bool:
            return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

        def is_num(v: object) -> bool:
            if not isinstance(v, (int, float, np.integer, np.floating)) or isinstance(v, bool):
                return False
            try:
                return math.isfinite(v)
            except OverflowError:  # an int beyond float's range
                return False

        for name in ("iterations", "num_steps", "update_epochs", "num_minibatches", "eval_days"):
            need(
                name,
                is_int(getattr(self, name)) and getattr(self, name) >= 1,
                "must be an integer >= 1",
            )
        if int(self.iterations) * int(self.num_steps) >= 2**63:  # name the larger of the two
            name = "num_steps" if self.num_steps > self.iterations else "iterations"
            raise ConfigError(
                f"{name}: iterations x num_steps must be < 2**63 (the step counters are 64-bit), "
                f"got {self.iterations} x {self.num_steps}"
            )
        for name in ("checkpoint_every", "eval_every"):
            need(
                name,
                is_int(getattr(self, name)) and getattr(self, name) >= 0,
                "must be an integer >= 0",
            )
        need(
            "agent_copies",
            self.agent_copies is None or (is_int(self.agent_copies) and self.agent_copies >= 1),
            "must be None or an integer >= 1",
        )
        need(
            "eval_points",
            is_int(self.eval_points) and self.eval_points >= 2,
            "must be an integer >= 2",
        )
        need(
            "seed",
            is_int(self.seed) and 0 <= self.seed <= MAX_SEED,
            f"must be an integer in [0, {MAX_SEED}]",
        )
        need("learning_rate", is_num(self.learning_rate) and self.learning_rate > 0, "must be > 0")
        for name in ("gamma", "gae_lambda"):
            need(
                name,
                is_num(getattr(self, name)) and 0 <= getattr(self, name) <= 1,
                "must be in [0, 1]",
            )
        need("gamma", self.gamma < 1, "must be < 1")
        need("clip_coef", is_num(self.clip_coef) and self.clip_coef > 0, "must be > 0")
        for name in ("ent_coef", "vf_coef", "initial_backlog_days"):
            need(name, is_num(getattr(self, name)) and getattr(self, name) >= 0, "must be >= 0")
        need("max_grad_norm", is_num(self.max_grad_norm) and self.max_grad_norm > 0, "must be > 0")
        need(
            "target_kl",
            self.target_kl is None or (is_num(self.target_kl) and self.target_kl > 0),
            "must be None or > 0",
        )
        need(
            "parameterisation",
            isinstance(self.parameterisation, str)
            and self.parameterisation in ("shared", "per_agent"),
            "must be 'shared' or 'per_agent'",
        )
        need(
            "hidden_sizes",
            isinstance(self.hidden_sizes, tuple)
            and len(self.hidden_sizes) >= 1
            and all(is_int(h) and h >= 1 for h in self.hidden_sizes),
            "must be a non-empty tuple of integers >= 1",
        )
        need("init_log_std", is_num(self.init_log_std), "must be finite")
        need(
            "episode_days",
            self.episode_days is None or (is_num(self.episode_days) and self.episode_days > 0),
            "must be None or > 0",
        )
        need(
            "mult_max",
            self.mult_max is None or (is_num(self.mult_max) and self.mult_max > 0),
            "must be None or > 0",
        )
        probs = ("mult_flat_prob", "mult_block_prob", "mult_smooth_prob", "mult_zero_prob")
        for name in probs:
            need(
                name,
                is_num(getattr(self, name)) and 0 <= getattr(self, name) <= 1,
                "must be in [0, 1]",
            )
        total = sum(getattr(self, p) for p in probs)
        if abs(total - 1.0) > 1e-6:
            shares = ", ".join(f"{p} = {getattr(self, p):g}" for p in probs)
            raise ConfigError(
                f"mult_*_prob: the four shares must sum to 1, got {total:g} ({shares})"
            )
        need("mult_exponent", is_num(self.mult_exponent) and self.mult_exponent > 0, "must be > 0")
        need(
            "device",
            isinstance(self.device, str)
            and re.fullmatch(r"cpu|cuda(:\d+)?", self.device) is not None,
            "must be 'cpu' or 'cuda[:K]'",
        )
        need(
            "num_threads",
            is_int(self.num_threads) and 1 <= self.num_threads <= MAX_THREADS,
            f"must be an integer in [1, {MAX_THREADS}]",
        )
        for name in ("anneal_lr", "norm_adv", "clip_vloss", "capacity_term", "reward_norm"):
            need(name, isinstance(getattr(self, name), bool), "must be true or false")
        need("progress", isinstance(self.progress, bool), "must be true or false")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """A config from a mapping (e.g. a TOML ``[train]`` table); unknown keys are an error."""
        if not isinstance(data, dict):
            raise ConfigError(f"train: expected a table of settings, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(map(str, set(data) - names))
        if unknown:
            raise ConfigError(
                f"{unknown[0]}: not a training setting (known: {', '.join(sorted(names))})"
            )
        values = dict(data)
        if "hidden_sizes" in values and isinstance(values["hidden_sizes"], list):
            values["hidden_sizes"] = tuple(values["hidden_sizes"])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        d = dataclasses.asdict(self)
        d["hidden_sizes"] = list(self.hidden_sizes)
        return d
