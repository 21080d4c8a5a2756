"""IPPO with the capacity overshoot shared as a penalty (the simplest independent baseline).

Independent PPO (de Witt et al. 2020): every agent learns from its own observation with its own
(shared-weight) actor and local critic, on its env reward minus a share of the team's overshoot:

    r^n_t - penalty_coef * mult_max * max(0, G_t - C_t) / N

(``G_t`` the total use of the agent's copy of the population, ``C_t`` the capacity; the sum over
agents of the penalties is the team's cost of the overshoot, priced at ``penalty_coef * mult_max``
per kW). There is no multiplier: the actor's multiplier input is held at 0. Each agent's own kW
moves its penalty by at most ``penalty_coef * mult_max / N``, buried in the noise of the other
agents' use: the credit-assignment problem that makes shared penalties fade as N grows.

Reads top to bottom: :class:`IPPOPenaltyConfig` -> :class:`IPPOPenaltyTrainer` (hooks of the shared
trainer; networks and loss are the shared ones) -> execution (``unconstrained`` mode, mult = 0).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from samarl._validate import config_real
from samarl.baselines._checks import check_trainer_args
from samarl.execution.executor import torch_act_fn
from samarl.training import TrainConfig, Trainer
from samarl.training.prices import FixedPrices

__all__ = ["IPPOPenaltyConfig", "IPPOPenaltyTrainer"]


@dataclass(frozen=True, slots=True)
class IPPOPenaltyConfig:
    """Settings of IPPO with a shared penalty beyond PPO's."""

    penalty_coef: float = 1.0
    """Price of one kW of overshoot, as a fraction of ``mult_max`` (shared equally by the N agents)."""

    def __post_init__(self) -> None:
        penalty = config_real("penalty_coef", self.penalty_coef, low=0.0)
        object.__setattr__(self, "penalty_coef", penalty)


class IPPOPenaltyTrainer(Trainer):
    """The shared PPO trainer with multipliers fixed at 0 (its price schedule) and a shared
    overshoot penalty (its reward)."""

    def __init__(
        self,
        scenario: Any,
        config: TrainConfig,
        out_dir: str | os.PathLike[str],
        baseline: IPPOPenaltyConfig | None = None,
    ) -> None:
        check_trainer_args(config, baseline, IPPOPenaltyConfig)
        self.baseline = baseline or IPPOPenaltyConfig()
        super().__init__(scenario, config, out_dir, prices=FixedPrices(0.0))
        self._cap_t = torch.tensor(np.array(self.data.capacity, dtype=np.float32))
        self._overshoot = 0.0

    def _shape_reward(
        self, step_of_day: int, reward: Tensor, use: Tensor, default: Tensor
    ) -> Tensor:
        total = use.view(self.copies, self.num_agents).sum(1)  # [copies]
        over = (total - self._cap_t[step_of_day]).clamp_min(0.0)
        self._overshoot += float(over.mean())
        price = self.baseline.penalty_coef * self.mult_max / self.num_agents
        return reward - price * over.repeat_interleave(self.num_agents)

    def iterate(self) -> dict[str, float]:
        stats = super().iterate()
        stats["constraint/train_overshoot_kw"] = self._overshoot / self.config.num_steps
        self._overshoot = 0.0
        return stats

    def act_fn(self) -> Any:
        """An executor :data:`~samarl.execution.executor.ActFn` (run it in ``unconstrained`` mode)."""
        return torch_act_fn(self.policy.eval())
