"""Independent Lagrangian learners: each agent with a local multiplier from its own use.

The setting the paper says fails (docs/method.md, "independent"): agent ``n`` keeps its own
multiplier vector ``mult^n [m]`` (one entry per capacity block) and, after every iteration, takes a
projected dual ascent step on its *own* estimate of the total, ``N * ghat^n_h`` (its use over block h
times N), against the block's capacity:

    mult^n_h <- clip(mult^n_h + dual_lr * mult_max * (N * ghat^n_h - C_h) / C_h, 0, mult_max)

with no communication. Its state-augmented actor (shared weights, own features) sees ``mult^n`` and
learns the Lagrangian reward ``r^n - mult^n_h g^n``. Agents whose demand exceeds their share C_h / N
in every block drive their prices to ``mult_max`` and stop being served.

Reads top to bottom: :class:`IndependentLagrangianConfig` -> :class:`IndependentLagrangianTrainer`
(hooks of the shared trainer, the local dual update) -> execution (the executor's ``independent``
mode runs the same local dual dynamics at run time, from ``mult_init``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor

from samarl._validate import config_real
from samarl.baselines._checks import check_trainer_args
from samarl.execution.executor import torch_act_fn
from samarl.training import TrainConfig, Trainer

__all__ = ["IndependentLagrangianConfig", "IndependentLagrangianTrainer"]


@dataclass(frozen=True, slots=True)
class IndependentLagrangianConfig:
    """Settings of independent Lagrangian learners beyond PPO's."""

    dual_lr: float = 0.1
    """Local dual step per iteration, a fraction of ``mult_max`` per unit of relative excess."""
    mult_init: float = 0.0
    """Initial multiplier of every agent and block, as a fraction of ``mult_max``."""

    def __post_init__(self) -> None:
        dual_lr = config_real("dual_lr", self.dual_lr, low=0.0, low_open=True)
        object.__setattr__(self, "dual_lr", dual_lr)
        object.__setattr__(
            self, "mult_init", config_real("mult_init", self.mult_init, low=0, high=1)
        )


class IndependentLagrangianTrainer(Trainer):
    """The shared PPO trainer with one local multiplier vector per agent (``local_mult [N, m]``)."""

    local_mult: npt.NDArray[np.float64] | None = None

    def __init__(
        self,
        scenario: Any,
        config: TrainConfig,
        out_dir: str | os.PathLike[str],
        baseline: IndependentLagrangianConfig | None = None,
    ) -> None:
        check_trainer_args(config, baseline, IndependentLagrangianConfig)
        self.baseline = baseline or IndependentLagrangianConfig()
        super().__init__(scenario, config, out_dir)
        self._use = np.zeros((self.num_agents, self.num_blocks))
        self._block_cap = np.zeros(self.num_blocks)
        self._cap = np.asarray(self.data.capacity, dtype=np.float64)

    def _episode_mults(self) -> npt.NDArray[np.float32]:
        if self.local_mult is None:
            init = self.baseline.mult_init * self.mult_max
            self.local_mult = np.full((self.num_agents, self.num_blocks), init)
        return np.tile(self.local_mult, (self.copies, 1)).astype(np.float32)

    def _shape_reward(
        self, step_of_day: int, reward: Tensor, use: Tensor, default: Tensor
    ) -> Tensor:
        h = int(self.block_of_step[step_of_day])
        own = use.view(self.copies, self.num_agents).double().mean(0)  # each agent, over copies
        self._use[:, h] += own.numpy()
        self._block_cap[h] += self._cap[step_of_day]
        return default  # r^n - mult^n_h g^n with the agent's own multiplier

    def iterate(self) -> dict[str, float]:
        """One PPO iteration, then every agent's local dual step on its own use."""
        stats = super().iterate()
        assert self.local_mult is not None
        seen = self._block_cap > 0
        cap = self._block_cap[seen]
        excess = (self.num_agents * self._use[:, seen] - cap) / cap
        self.local_mult[:, seen] = np.clip(
            self.local_mult[:, seen] + self.baseline.dual_lr * self.mult_max * excess,
            0.0,
            self.mult_max,
        )
        self.mult.copy_(torch.from_numpy(self._episode_mults()))
        self._use[:] = 0.0
        self._block_cap[:] = 0.0
        stats["dual/local_mult_mean"] = float(self.local_mult.mean())
        stats["dual/local_mult_at_max_frac"] = float((self.local_mult >= self.mult_max).mean())
        return stats

    def state(self) -> dict[str, Any]:
        """The trainer's state and every agent's own multipliers (a resumed run continues them)."""
        assert self.local_mult is not None
        return super().state() | {"local_mult": self.local_mult.copy()}

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self.local_mult = np.array(state["local_mult"], dtype=np.float64)

    def act_fn(self) -> Any:
        """An executor :data:`~samarl.execution.executor.ActFn` (run it in ``independent`` mode)."""
        return torch_act_fn(self.policy.eval())
