"""MAPPO-Lagrangian: the CTDE baseline (docs/method.md, baselines).

Centralised training, decentralised execution, as in MAPPO (Yu et al. 2022) with a Lagrangian
constraint (Gu et al., MACPO / MAPPO-L):

- **actors**: one shared network on each agent's local observation plus its own agent features (the
  state-augmented actor of :mod:`samarl.training.policies`, fed the central multiplier, which every agent
  knows because it is broadcast during training and frozen at execution);
- **centralised critic**: for agent ``n`` at a step, an MLP on the concatenated (normalised)
  observations of **all N agents** (``N * obs_dim`` inputs) followed by agent ``n``'s own actor
  features (its identity: MAPPO's "agent-specific global state"). It is evaluated for every agent, so
  each step costs O(N^2) and the rollout storage holds ``N * obs_dim`` numbers per agent-step:
  O(num_steps * N^2) memory, as MAPPO's ``share_obs`` buffer;
- **one central multiplier per capacity block** (``mult[h]``, the same m = 24 blocks as our method,
  not a scalar: a single daily price cannot move load out of the peak), updated after every
  iteration by projected dual ascent on the violation measured in that iteration's rollouts:
  ``mult_h <- clip(mult_h + dual_lr * mult_max * (G_h - C_h) / C_h, 0, mult_max)``, where ``G_h``
  and ``C_h`` are the total use and capacity averaged over the steps of block h the rollouts saw
  (and over the simulated copies of the population): the executor's ``centralized`` rule, applied
  by the price schedule :class:`~samarl.baselines.dual_ascent.DualAscent`;
- **execution**: every actor plays with the final multiplier, no communication
  (:meth:`MAPPOLagrangianTrainer.act_fn` with the executor's ``unconstrained`` mode, whose dual
  dynamics do nothing).

Reads top to bottom: :class:`MAPPOLagrangianConfig` -> :class:`CentralCriticPolicy` (networks; the
loss is the shared :func:`samarl.training.ppo.ppo_update`) -> :class:`MAPPOLagrangianTrainer` (the
shared trainer with this policy and the central dual ascent as its price schedule) -> execution.
"""

from __future__ import annotations

import itertools
import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor, nn

from samarl._validate import config_real
from samarl.baselines._checks import check_trainer_args
from samarl.baselines.dual_ascent import DualAscent
from samarl.errors import ConfigError
from samarl.training import TrainConfig, Trainer, policy_for
from samarl.training.layers import RunningMeanStd
from samarl.training.policies import StateAugmentedPolicy

__all__ = ["CentralCriticPolicy", "MAPPOLagrangianConfig", "MAPPOLagrangianTrainer"]


# =============================================================================================== config


@dataclass(frozen=True, slots=True)
class MAPPOLagrangianConfig:
    """Settings of MAPPO-Lagrangian beyond PPO's (:class:`~samarl.training.TrainConfig`)."""

    dual_lr: float = 0.1
    """Dual ascent step per iteration, as a fraction of ``mult_max`` per unit of relative violation."""
    mult_init: float = 0.0
    """Initial central multiplier of every block, as a fraction of ``mult_max``."""
    critic_hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the centralised critic."""

    def __post_init__(self) -> None:
        dual_lr = config_real("dual_lr", self.dual_lr, low=0.0, low_open=True)
        object.__setattr__(self, "dual_lr", dual_lr)
        object.__setattr__(
            self, "mult_init", config_real("mult_init", self.mult_init, low=0, high=1)
        )
        sizes = self.critic_hidden_sizes
        if not (
            isinstance(sizes, (tuple, list))
            and sizes
            and all(isinstance(h, int) and not isinstance(h, bool) and h >= 1 for h in sizes)
        ):
            raise ConfigError(
                f"critic_hidden_sizes: must be a non-empty tuple of integers >= 1, got {sizes!r}"
            )
        object.__setattr__(self, "critic_hidden_sizes", tuple(sizes))


# ============================================================================================= networks


class CentralCriticPolicy(nn.Module):
    """Shared decentralised actor + centralised critic, with the interface the shared trainer and
    :func:`samarl.training.ppo.ppo_update` use (``features``, ``sample``, ``evaluate``, ``value``...).

    Network input ``x`` of a row (agent ``n`` of copy ``r``) is ``[actor features (D), normalised
    observations of the N agents of copy r (N * obs_dim)]``; the actor reads the first D columns only,
    the critic all of them.
    """

    parameterisation = "shared"

    def __init__(
        self,
        actor: StateAugmentedPolicy,
        obs_dim: int,
        hidden_sizes: tuple[int, ...] = (64, 64),
        seed: int = 0,
    ) -> None:
        super().__init__()
        if actor.parameterisation != "shared":
            raise ConfigError("parameterisation: MAPPO-Lagrangian uses a shared actor ('shared')")
        self.actor = actor
        self.num_agents = n = actor.num_agents
        self.obs_dim = obs_dim
        self.actor_dim = actor.input_dim
        self.global_dim = n * obs_dim
        """Inputs of the critic that are the observations of all N agents (``N * obs_dim``)."""
        self.global_rms = RunningMeanStd((n, obs_dim))
        self.value_rms = RunningMeanStd(())
        gen = torch.Generator().manual_seed(seed + 17)
        sizes = (self.global_dim + self.actor_dim, *hidden_sizes)
        layers: list[nn.Module] = []
        for a, b in itertools.pairwise(sizes):
            layers += [_linear(a, b, math.sqrt(2), gen), nn.Tanh()]
        layers.append(_linear(sizes[-1], 1, 1.0, gen))
        self.critic = nn.Sequential(*layers)

    @property
    def input_dim(self) -> int:
        """Width of a stored rollout row: actor features then all agents' observations."""
        return self.actor_dim + self.global_dim

    @property
    def critic_input_dim(self) -> int:
        """Inputs of the critic's first layer: ``N * obs_dim + actor features``."""
        first = self.critic[0]
        assert isinstance(first, nn.Linear)
        return first.in_features

    @property
    def mult_max(self) -> float:
        return self.actor.mult_max

    @property
    def log_std(self) -> Tensor:
        return self.actor.log_std

    def features(
        self,
        obs: Tensor,
        mult: Tensor,
        step_of_day: int | Tensor | None = None,
        *,
        update_stats: bool = False,
    ) -> Tensor:
        """``[rows, actor_dim + N * obs_dim]`` inputs for ``rows = copies * N`` observations."""
        ax = self.actor.features(obs, mult, step_of_day, update_stats=update_stats)
        g = obs.to(torch.float32).view(-1, self.num_agents, self.obs_dim)  # [copies, N, obs_dim]
        if update_stats:
            self.global_rms.update(g)
        g = self.global_rms.normalize(g).reshape(g.shape[0], self.global_dim)
        return torch.cat([ax, g.repeat_interleave(self.num_agents, dim=0)], dim=1)

    def evaluate(self, x: Tensor, raw_action: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Log-probability, entropy (actor, local columns) and normalised central value."""
        mean, std, _ = self.actor._heads(x[:, : self.actor_dim], value=False)
        # Unvalidated: NaN weights give a NaN loss, which the update reports as divergence.
        dist = torch.distributions.Normal(mean, std, validate_args=False)
        return dist.log_prob(raw_action), dist.entropy(), self.critic(x).squeeze(-1)

    @torch.no_grad()
    def sample(
        self, x: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(action, raw action, log-probability, normalised central value)`` per row."""
        action, raw, logp, _ = self.actor.sample(x[:, : self.actor_dim], generator)
        return action, raw, logp, self.critic(x).squeeze(-1)

    def denormalize_values(self, v: Tensor) -> Tensor:
        return self.value_rms.denormalize(v)

    @torch.no_grad()
    def value(self, obs: Tensor, mult: Tensor, step_of_day: int | Tensor | None = None) -> Tensor:
        """Central values ``[rows]`` in (scaled) reward units."""
        return self.denormalize_values(
            self.critic(self.features(obs, mult, step_of_day)).squeeze(-1)
        )

    @torch.no_grad()
    def act(
        self,
        obs: Tensor,
        mult: Tensor,
        step_of_day: int | Tensor | None = None,
        deterministic: bool = True,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Decentralised actions: each agent's actor on its own observation only."""
        return self.actor.act(obs, mult, step_of_day, deterministic, generator)

    def save_dict(self) -> dict[str, Any]:
        return {"actor": self.actor.save_dict(), "state_dict": self.state_dict()}


def _linear(in_f: int, out_f: int, gain: float, gen: torch.Generator) -> nn.Linear:
    layer = nn.Linear(in_f, out_f)
    with torch.no_grad():
        w = torch.empty(out_f, in_f)
        nn.init.orthogonal_(w, gain, generator=gen)
        layer.weight.copy_(w)
        layer.bias.zero_()
    return layer


# ============================================================================================= trainer


class MAPPOLagrangianTrainer(Trainer):
    """The shared PPO trainer with a centralised critic and a central multiplier.

    ``config.parameterisation`` must be ``"shared"``. :attr:`central_mult` ``[m]`` is the
    multiplier every agent sees; after every PPO iteration the price schedule (:attr:`prices`)
    takes one dual ascent step on it.
    """

    prices: DualAscent

    def __init__(
        self,
        scenario: Any,
        config: TrainConfig,
        out_dir: str | os.PathLike[str],
        baseline: MAPPOLagrangianConfig | None = None,
    ) -> None:
        check_trainer_args(config, baseline, MAPPOLagrangianConfig)
        if config.parameterisation != "shared":
            raise ConfigError("parameterisation: MAPPO-Lagrangian uses a shared actor ('shared')")
        self.baseline = base = baseline or MAPPOLagrangianConfig()
        prices = DualAscent("centralized", dual_lr=base.dual_lr, mult_init=base.mult_init)
        super().__init__(scenario, config, out_dir, prices=prices)

    def _make_policy(self) -> CentralCriticPolicy:
        actor = policy_for(self.data, self.scenario, self.config, self.mult_max)
        return CentralCriticPolicy(
            actor, self.env.env.obs_dim, self.baseline.critic_hidden_sizes, self.config.seed
        )

    @property
    def central_mult(self) -> npt.NDArray[np.float64]:
        """``[m]`` the central multiplier of every block (a copy)."""
        return self.prices.mult[0].astype(np.float64)

    def iterate(self) -> dict[str, float]:
        """One PPO iteration (then the dual ascent step, by the price schedule)."""
        stats = super().iterate()
        excess, mult = self.prices.excess[0], self.central_mult
        stats["dual/central_mult_mean"] = float(mult.mean())
        stats["dual/central_mult_max"] = float(mult.max())
        stats["constraint/train_violation_max"] = float(np.maximum(excess, 0.0).max())
        return stats

    # ---------------------------------------------------------------- execution

    def act_fn(self) -> Any:
        """An executor :data:`~samarl.execution.executor.ActFn`: every actor with the final central multiplier,
        whatever the executor's multipliers are (run it in ``unconstrained`` mode)."""
        actor = self.policy.actor.eval()
        n = self.num_agents
        mult = torch.from_numpy(np.tile(self.central_mult.astype(np.float32), (n, 1)))

        def act(obs: npt.NDArray[np.float32], _mult: Any, step_of_day: Any) -> Any:
            sod = step_of_day if isinstance(step_of_day, int) else torch.from_numpy(step_of_day)
            with torch.no_grad():
                a = actor.act(torch.from_numpy(obs), mult, sod, deterministic=True)
            return np.ascontiguousarray(a.numpy(), dtype=np.float32)

        return act
