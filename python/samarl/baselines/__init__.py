"""Baselines for the comparison with state-augmented training + consensus (docs/method.md).

Each baseline is one module that reads top to bottom (config -> networks -> trainer hooks ->
execution) and subclasses :class:`samarl.training.trainer.Trainer`, overriding only its hooks
(``_make_policy``, ``_episode_mults``, ``_shape_reward``) and ``iterate`` (for dual ascent): the
rollouts, the PPO update (:func:`samarl.training.ppo.ppo_update`), reward scaling and logging are shared.

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
