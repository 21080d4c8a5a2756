"""Training: one state-augmented policy per agent, PPO on the Lagrangian, linear in N.

- :mod:`~samarl.training.config`: :class:`TrainConfig`;
- :mod:`~samarl.training.prior`: the multipliers agents train on;
- :mod:`~samarl.training.policies`: the state-augmented actor-critic, batched over agents;
- :mod:`~samarl.training.buffer`: rollout storage, GAE, minibatches;
- :mod:`~samarl.training.ppo`: the PPO update;
- :mod:`~samarl.training.trainer`: the algorithm (:class:`Trainer`: rollouts, updates, state);
- :mod:`~samarl.training.run`: a run around it (:func:`train`: folder, checkpoints, logging,
  progress, evaluation);
- :mod:`~samarl.training.sweep`: the trained policies' response to flat prices;
- :mod:`~samarl.training.run_folder`: run folders, :func:`load_policy`, :func:`load_run`.
"""

from __future__ import annotations

from samarl.training.config import TrainConfig
from samarl.training.policies import StateAugmentedPolicy
from samarl.training.prior import default_mult_max, sample_mults
from samarl.training.run import TrainResult, train
from samarl.training.run_folder import TrainedRun, load_policy, load_run
from samarl.training.sweep import response_sweep
from samarl.training.trainer import Trainer, TrainingDivergedError, policy_for

__all__ = [
    "StateAugmentedPolicy",
    "TrainConfig",
    "TrainResult",
    "TrainedRun",
    "Trainer",
    "TrainingDivergedError",
    "default_mult_max",
    "load_policy",
    "load_run",
    "policy_for",
    "response_sweep",
    "sample_mults",
    "train",
]
