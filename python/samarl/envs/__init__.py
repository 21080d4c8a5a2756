"""Environments.

- :class:`DemandResponseEnv`: the scenario-driven demand-response env, native batched API
  (``[N, ...]`` float32 arrays written in place by the Rust engine);
- :class:`DemandResponseParallelEnv` / :func:`parallel_env`: its PettingZoo ``ParallelEnv`` adapter;
- :class:`HouseholdEnv`: a Gymnasium view of one household with the multiplier in its observation,
  registered as ``"samarl/DemandResponse-v0"`` (:func:`register_envs`, run on ``import samarl``);
- :func:`check_batched_env`: our API checker for batched envs;
- :class:`Dynamics`: the bare transition core underneath.

The adapters import PettingZoo / Gymnasium, so they load on first use. With ``samarl[torchrl]``,
:mod:`samarl.envs.torchrl` holds a native TorchRL env (``DemandResponseTorchRLEnv``) and
:mod:`samarl.envs.benchmarl` a BenchMARL task (``SamarlTask.DEMAND_RESPONSE``); this package never
imports them.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

from samarl._gym import GYM_ENV_ID, register_envs
from samarl.envs.checker import EnvCheckError, check_batched_env
from samarl.envs.demand_response import (
    CapacityConstraint,
    DemandResponseEnv,
    EnvStep,
    lagrangian_reward,
    observation_bounds,
)
from samarl.envs.dynamics import OBS_FIELDS, Dynamics, StepResult
from samarl.envs.wrappers import AutoReset, EpisodeStarts

if TYPE_CHECKING:
    from samarl.envs.gymnasium import HouseholdEnv
    from samarl.envs.pettingzoo import DemandResponseParallelEnv
    from samarl.scenario import ScenarioConfig

__all__ = [
    "GYM_ENV_ID",
    "OBS_FIELDS",
    "AutoReset",
    "CapacityConstraint",
    "DemandResponseEnv",
    "DemandResponseParallelEnv",
    "Dynamics",
    "EnvCheckError",
    "EnvStep",
    "EpisodeStarts",
    "HouseholdEnv",
    "StepResult",
    "check_batched_env",
    "lagrangian_reward",
    "observation_bounds",
    "parallel_env",
    "register_envs",
]


_LAZY = {
    "DemandResponseParallelEnv": "samarl.envs.pettingzoo",
    "HouseholdEnv": "samarl.envs.gymnasium",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'samarl.envs' has no attribute {name!r}")


def parallel_env(
    preset: str = "default", scenario: ScenarioConfig | str | None = None, **kwargs: Any
) -> DemandResponseParallelEnv:
    """The PettingZoo ``ParallelEnv`` on a preset, or on ``scenario`` (a config or a file) if given.

    ``kwargs`` go to :class:`DemandResponseParallelEnv` (``mult=``, scenario field overrides).
    """
    from samarl.envs.pettingzoo import parallel_env as _parallel_env

    return _parallel_env(preset, scenario, **kwargs)
