"""Independent Lagrangian learners: each agent with a local multiplier from its own use.

The setting the paper says fails (docs/method.md, "independent"): agent ``n`` keeps its own
multiplier vector ``mult^n [m]`` (one entry per capacity block) and, after every iteration, takes a
projected dual ascent step on its *own* estimate of the total, ``N * ghat^n_h`` (its use over block h
times N), against the block's capacity:

    mult^n_h <- clip(mult^n_h + dual_lr * mult_max * (N * ghat^n_h - C_h) / C_h, 0, mult_max)

with no communication: the executor's ``independent`` rule, applied during training by the price
schedule :class:`~samarl.baselines.dual_ascent.DualAscent`. Its state-augmented actor (shared
weights, own features) sees ``mult^n`` and learns the Lagrangian reward ``r^n - mult^n_h g^n``.
Agents whose demand exceeds their share C_h / N in every block drive their prices to ``mult_max``
and stop being served.

Reads top to bottom: :class:`IndependentLagrangianConfig` -> :class:`IndependentLagrangianTrainer`
(the shared trainer with the local dual ascent as its price schedule) -> execution (the executor's
``independent`` mode runs the same local dual dynamics at run time, from ``mult_init``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from samarl._validate import config_real
from samarl.baselines._checks import check_trainer_args
from samarl.baselines.dual_ascent import DualAscent
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
    """The shared PPO trainer with one local multiplier vector per agent (:attr:`local_mult`,
    ``[N, m]``), learnt by dual ascent on the agent's own use (:attr:`prices`)."""

    prices: DualAscent

    def __init__(
        self,
        scenario: Any,
        config: TrainConfig,
        out_dir: str | os.PathLike[str],
        baseline: IndependentLagrangianConfig | None = None,
    ) -> None:
        check_trainer_args(config, baseline, IndependentLagrangianConfig)
        self.baseline = base = baseline or IndependentLagrangianConfig()
        prices = DualAscent("independent", dual_lr=base.dual_lr, mult_init=base.mult_init)
        super().__init__(scenario, config, out_dir, prices=prices)

    @property
    def local_mult(self) -> npt.NDArray[np.float64]:
        """``[N, m]`` every agent's own multipliers (a copy)."""
        return self.prices.mult.astype(np.float64)

    def iterate(self) -> dict[str, float]:
        """One PPO iteration (then every agent's local dual step, by the price schedule)."""
        stats = super().iterate()
        stats["dual/local_mult_mean"] = float(self.local_mult.mean())
        stats["dual/local_mult_at_max_frac"] = float((self.local_mult >= self.mult_max).mean())
        return stats

    def act_fn(self) -> Any:
        """An executor :data:`~samarl.execution.executor.ActFn` (run it in ``independent`` mode)."""
        return torch_act_fn(self.policy.eval())
