"""Rollout storage: one iteration's samples of every row, and the minibatches PPO draws from them.

As Stable-Baselines3's ``RolloutBuffer``: :class:`RolloutBuffer` holds preallocated
``[num_steps, rows, ...]`` tensors that ``collect_rollouts()`` fills one step at a time
(:meth:`RolloutBuffer.add`), then computes advantages and returns in place (generalised advantage
estimation, :func:`compute_gae`). :meth:`RolloutBuffer.batch` hands them to the update as a
:class:`RolloutBatch` without a copy; :meth:`RolloutBatch.samples` lays them out for one
parameterisation (shared weights: a flat view of all ``num_steps * rows`` samples; per-agent
weights: ``[N, num_steps * copies, ...]``, agent-major and contiguous, so that every per-agent
reduction runs along one contiguous row whatever N is) and :meth:`RolloutBatch.minibatches`
shuffles them into minibatches (one random permutation per epoch, the minibatches its consecutive
slices).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

__all__ = ["Layout", "RolloutBatch", "RolloutBuffer", "compute_gae"]


@torch.no_grad()
def compute_gae(
    rewards: Tensor,
    values: Tensor,
    dones: Tensor,
    next_value: Tensor,
    *,
    gamma: float,
    gae_lambda: float,
    out: tuple[Tensor, Tensor] | None = None,
) -> tuple[Tensor, Tensor]:
    """Generalised advantage estimation over ``[T, N]`` rollouts.

    ``dones[t]`` is 1 where the episode ended with transition ``t`` (whatever value the final state
    had is already folded into ``rewards[t]``, so time-limit truncation is bootstrapped correctly);
    ``next_value`` ``[N]`` is the value of the state after the last step. Returns
    ``(advantages, returns)``, written into ``out`` when given.
    """
    num_steps = rewards.shape[0]
    advantages, returns = out if out is not None else (torch.zeros_like(rewards), None)
    last = torch.zeros_like(next_value)
    for t in reversed(range(num_steps)):
        following = next_value if t == num_steps - 1 else values[t + 1]
        nonterminal = 1.0 - dones[t]
        delta = rewards[t] + gamma * following * nonterminal - values[t]
        last = delta + gamma * gae_lambda * nonterminal * last
        advantages[t] = last
    if returns is None:
        return advantages, advantages + values
    return advantages, torch.add(advantages, values, out=returns)


#: How a :class:`RolloutBatch` holds its samples (see :attr:`RolloutBatch.layout`).
Layout = Literal["time", "flat", "agents"]


@dataclass(frozen=True, slots=True)
class RolloutBatch:
    """One iteration's rollouts of all agents, time first (``[num_steps, rows, ...]``, as
    stored) or laid out for an update by :meth:`samples`."""

    x: Tensor
    """``[T, N, D]`` network inputs (normalised features and scaled multipliers)."""
    raw_actions: Tensor
    """``[T, N]`` Gaussian samples before clipping to ``[0, 1]``."""
    logprobs: Tensor
    """``[T, N]`` their log-probabilities under the policy that collected them."""
    values: Tensor
    """``[T, N]`` values (reward units) predicted when collecting."""
    advantages: Tensor
    """``[T, N]`` GAE advantages."""
    returns: Tensor
    """``[T, N]`` value targets: ``advantages + values``."""
    layout: Layout = "time"
    """``"time"``: ``[T, rows, ...]``; ``"flat"``: ``[T * rows, ...]`` samples (shared weights);
    ``"agents"``: ``[N, T * copies, ...]``, every agent's samples (per-agent weights)."""

    def _map(self, fn: Callable[[Tensor], Tensor], layout: Layout) -> RolloutBatch:
        return RolloutBatch(
            fn(self.x),
            fn(self.raw_actions),
            fn(self.logprobs),
            fn(self.values),
            fn(self.advantages),
            fn(self.returns),
            layout,
        )

    def replace(self, **tensors: Tensor) -> RolloutBatch:
        """A copy with some tensors replaced (e.g. normalised returns)."""
        return dataclasses.replace(self, **tensors)  # type: ignore[arg-type]

    def samples(self, num_agents: int | None = None) -> RolloutBatch:
        """The ``"time"`` batch laid out for an update: ``"flat"`` views (``num_agents`` None:
        shared weights; no copy), or ``"agents"`` copies for ``num_agents = N`` per-agent weights
        (env rows are ``r * N + n``)."""
        if self.layout != "time":
            raise ValueError(f"samples: the batch is laid out already ({self.layout!r})")
        if num_agents is None:
            num_steps, rows = self.raw_actions.shape
            return self._map(lambda t: t.reshape(num_steps * rows, *t.shape[2:]), "flat")
        # Contiguous, so that every per-agent reduction runs along one contiguous row: the same
        # summation order whatever N is (an agent trained in a shard gets the same bits).
        return self._map(
            lambda t: t.reshape(-1, num_agents, *t.shape[2:]).transpose(0, 1).contiguous(),
            "agents",
        )

    @property
    def num_samples(self) -> int:
        """Samples of each agent (``"agents"``) or of all agents (``"flat"``)."""
        return int(self.raw_actions.shape[1 if self.layout == "agents" else 0])

    def minibatches(
        self, num_minibatches: int, generator: torch.Generator | None = None
    ) -> Iterator[RolloutBatch]:
        """One epoch over a laid-out batch: ``num_minibatches`` minibatches of
        ``num_samples // num_minibatches`` samples (at least 1), the consecutive slices of one
        random permutation drawn from ``generator`` (its remainder is left out); per-agent weights
        take the same samples of every agent."""
        if self.layout == "time":
            raise ValueError("minibatches: lay the batch out first (samples())")
        total = self.num_samples
        size = max(1, total // num_minibatches)
        perm = torch.randperm(total, generator=generator).to(self.x.device)
        for start in range(0, total - size + 1, size):
            idx = perm[start : start + size]
            if self.layout == "agents":
                yield self._map(lambda t: t[:, idx], "agents")  # noqa: B023 (used at once)
            else:
                yield self._map(lambda t: t[idx], "flat")  # noqa: B023 (used at once)


class RolloutBuffer:
    """Preallocated ``[num_steps, rows, ...]`` storage of one iteration's rollouts.

    :meth:`add` writes the next step (every row at once); :meth:`compute_returns_and_advantage`
    fills :attr:`advantages` and :attr:`returns` once every step is in; :meth:`batch` views it all
    as a :class:`RolloutBatch`; :meth:`reset` starts the next iteration's rollouts.
    """

    def __init__(self, num_steps: int, rows: int, input_dim: int, device: torch.device) -> None:
        t = num_steps
        self.num_steps = num_steps
        self.rows = rows
        self.x = torch.zeros((t, rows, input_dim), device=device)
        """``[T, rows, D]`` network inputs."""
        self.raw_actions = torch.zeros((t, rows), device=device)
        """``[T, rows]`` Gaussian samples before clipping."""
        self.logprobs = torch.zeros((t, rows), device=device)
        """``[T, rows]`` their log-probabilities."""
        self.values = torch.zeros((t, rows), device=device)
        """``[T, rows]`` values (reward units) predicted when collecting."""
        self.rewards = torch.zeros((t, rows), device=device)
        """``[T, rows]`` the rewards trained on (scaled; a truncated episode's bootstrap added)."""
        self.dones = torch.zeros((t, rows), device=device)
        """``[T, rows]`` 1 where the episode ended with the step."""
        self.advantages = torch.zeros((t, rows), device=device)
        """``[T, rows]`` GAE advantages (after :meth:`compute_returns_and_advantage`)."""
        self.returns = torch.zeros((t, rows), device=device)
        """``[T, rows]`` value targets (after :meth:`compute_returns_and_advantage`)."""
        self.pos = 0
        """Steps stored since :meth:`reset`."""

    #: Float32 values :class:`RolloutBuffer` stores per row and step besides the inputs.
    PER_SAMPLE = 7

    @property
    def full(self) -> bool:
        return self.pos == self.num_steps

    def reset(self) -> None:
        """Starts the next iteration's rollouts (the storage is overwritten, not cleared)."""
        self.pos = 0

    def add(
        self,
        x: Tensor,
        raw_action: Tensor,
        logprob: Tensor,
        value: Tensor,
        reward: Tensor,
        done: bool,
    ) -> None:
        """Stores one step of every row: inputs, raw actions, log-probabilities, values, the
        rewards trained on, and whether the episode ended with it."""
        t = self.pos
        if t >= self.num_steps:
            raise IndexError(f"RolloutBuffer.add: the buffer holds {self.num_steps} steps")
        self.x[t] = x
        self.raw_actions[t] = raw_action
        self.logprobs[t] = logprob
        self.values[t] = value
        self.rewards[t] = reward
        self.dones[t] = 1.0 if done else 0.0
        self.pos = t + 1

    def compute_returns_and_advantage(
        self, next_value: Tensor, *, gamma: float, gae_lambda: float
    ) -> None:
        """GAE (:func:`compute_gae`) over the stored steps, into :attr:`advantages` and
        :attr:`returns`; ``next_value`` is the value of the state after the last step."""
        compute_gae(
            self.rewards,
            self.values,
            self.dones,
            next_value,
            gamma=gamma,
            gae_lambda=gae_lambda,
            out=(self.advantages, self.returns),
        )

    def batch(self) -> RolloutBatch:
        """The stored rollouts as a :class:`RolloutBatch` (views, no copy)."""
        return RolloutBatch(
            self.x, self.raw_actions, self.logprobs, self.values, self.advantages, self.returns
        )
