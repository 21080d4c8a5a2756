"""Baselines for the comparison with state-augmented training + consensus (docs/method.md).

Each baseline is one module that reads top to bottom (config -> networks -> trainer -> execution)
and subclasses :class:`samarl.training.trainer.Trainer`: it passes the trainer its price schedule
(a :class:`~samarl.training.prices.PriceSchedule`: zero prices, or the dual ascent of
:mod:`~samarl.baselines.dual_ascent`, the executor's dual rule applied during training) and
overrides at most the policy (``_make_policy``), the reward (``_shape_reward``) and what
``iterate`` logs: the rollouts, the PPO update (:func:`samarl.training.ppo.ppo_update`), reward
scaling and logging are shared.

- :mod:`~samarl.baselines.mappo_lagrangian`: CTDE, decentralised shared-weight actors, a
  centralised critic on all N agents' observations (O(N^2) per step), one central multiplier per
  block updated by dual ascent during training, executed with the final multiplier;
- :mod:`~samarl.baselines.ippo_penalty`: IPPO with the capacity overshoot as a shared penalty;
- :mod:`~samarl.baselines.independent_lagrangian`: a local multiplier per agent from its own use.
"""

from samarl.baselines.independent_lagrangian import (
    IndependentLagrangianConfig,
    IndependentLagrangianTrainer,
)
from samarl.baselines.ippo_penalty import IPPOPenaltyConfig, IPPOPenaltyTrainer
from samarl.baselines.mappo_lagrangian import (
    CentralCriticPolicy,
    MAPPOLagrangianConfig,
    MAPPOLagrangianTrainer,
)

__all__ = [
    "CentralCriticPolicy",
    "IPPOPenaltyConfig",
    "IPPOPenaltyTrainer",
    "IndependentLagrangianConfig",
    "IndependentLagrangianTrainer",
    "MAPPOLagrangianConfig",
    "MAPPOLagrangianTrainer",
]
