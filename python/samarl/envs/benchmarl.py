"""The demand-response environment as a BenchMARL task, shipped with samarl.

Pick it as any BenchMARL task, without writing a class (needs ``samarl[torchrl]``)::

    from benchmarl.algorithms import MappoConfig
    from benchmarl.experiment import Experiment, ExperimentConfig
    from benchmarl.models.mlp import MlpConfig
    from samarl.envs.benchmarl import SamarlTask

    task = SamarlTask.DEMAND_RESPONSE.get_from_yaml()  # or .get_task(config={...})
    Experiment(task=task, algorithm_config=MappoConfig.get_from_yaml(),
               model_config=MlpConfig.get_from_yaml(), seed=0,
               config=ExperimentConfig.get_from_yaml()).run()

The env is :class:`~samarl.envs.torchrl.DemandResponseTorchRLEnv` with ``num_envs`` populations
(BenchMARL's vectorised envs, as VMAS); the default config is ``benchmarl_conf/demand_response.yaml``
next to this module (fields: :class:`TaskConfig`). BenchMARL's models see
``("household", "observation")`` (and ``("household", "mult")`` with ``mult_max``); the constraint
signal, ``("household", "info", "resource_use")`` and ``("constraint", "total_use" | "capacity" |
"block")``, is in every collected batch, and :meth:`SamarlClass.log_info` logs the mean total use,
capacity and excess of each batch under ``constraint/``.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from benchmarl.environments.common import Task, TaskClass
from benchmarl.utils import _read_yaml_config
from tensordict import TensorDictBase
from torchrl.data import Composite
from torchrl.envs import EnvBase

from samarl.envs.torchrl import GROUP, DemandResponseTorchRLEnv
from samarl.errors import ConfigError

__all__ = ["SamarlClass", "SamarlTask", "TaskConfig"]

_CONF = Path(__file__).parent / "benchmarl_conf"


@dataclass
class TaskConfig:
    """Config of :attr:`SamarlTask.DEMAND_RESPONSE` (BenchMARL type-checks task configs this way)."""

    scenario: str = "small"
    """A preset name or a scenario file path."""
    num_agents: int | None = None
    """Households per population (``None``: the scenario's)."""
    episode_steps: int | None = None
    """Steps per episode (``None``: the scenario's)."""
    mult_max: float | None = None
    """Draw multipliers on ``[0, mult_max]`` at every reset (``None``: no multipliers)."""


class SamarlClass(TaskClass):
    """How BenchMARL builds samarl's task: the native TorchRL env, vectorised over populations."""

    def get_env_fun(
        self, num_envs: int, continuous_actions: bool, seed: int | None, device: Any
    ) -> Callable[[], EnvBase]:
        config = {k: v for k, v in copy.deepcopy(self.config).items() if v is not None}
        if "num_agents" in config:
            config["num_agents"] = int(config["num_agents"])
        return lambda: DemandResponseTorchRLEnv(
            num_envs=num_envs, seed=seed, device=device, **config
        )

    def supports_continuous_actions(self) -> bool:
        return True

    def supports_discrete_actions(self) -> bool:
        return False

    def has_render(self, env: EnvBase) -> bool:
        return False

    def max_steps(self, env: EnvBase) -> int:
        return int(_base(env).episode_steps)

    def group_map(self, env: EnvBase) -> dict[str, list[str]]:
        return dict(_base(env).group_map)

    def observation_spec(self, env: EnvBase) -> Composite:
        spec = env.full_observation_spec_unbatched.clone()
        del spec[(GROUP, "info")]
        del spec["constraint"]
        return spec

    def info_spec(self, env: EnvBase) -> Composite | None:
        spec = env.full_observation_spec_unbatched.clone()
        for key in list(spec[GROUP].keys()):
            if key != "info":
                del spec[(GROUP, key)]
        del spec["constraint"]
        return spec

    def state_spec(self, env: EnvBase) -> Composite | None:
        return None

    def action_mask_spec(self, env: EnvBase) -> Composite | None:
        return None

    def action_spec(self, env: EnvBase) -> Composite:
        return env.full_action_spec_unbatched

    @staticmethod
    def env_name() -> str:
        return "samarl"

    @staticmethod
    def log_info(batch: TensorDictBase) -> dict[str, float]:
        """Mean total use, capacity and excess (kW) over the batch's steps, as ``constraint/``."""
        use = batch.get(("next", "constraint", "total_use"), None)
        capacity = batch.get(("next", "constraint", "capacity"), None)
        if use is None or capacity is None:
            return {}
        return {
            "constraint/total_use": float(use.mean()),
            "constraint/capacity": float(capacity.mean()),
            "constraint/excess": float((use - capacity).mean()),
            "constraint/excess_positive": float(torch.clamp(use - capacity, min=0).mean()),
        }


class SamarlTask(Task):
    """samarl's BenchMARL tasks (one so far)."""

    DEMAND_RESPONSE = None

    @staticmethod
    def associated_class() -> type[SamarlClass]:
        return SamarlClass

    def get_from_yaml(self, path: str | None = None) -> TaskClass:
        """The task with its default config (shipped with samarl), or the YAML file at ``path``.

        BenchMARL's own loader looks for configs inside the BenchMARL package; samarl's live in
        ``samarl/envs/benchmarl_conf/``.
        """
        file = _CONF / f"{self.name.lower()}.yaml" if path is None else Path(path)
        raw = _read_yaml_config(str(file))
        names = {f.name for f in dataclasses.fields(TaskConfig)}
        unknown = sorted(set(raw) - names)
        if unknown:
            raise ConfigError(f"{file}: unknown task config keys {unknown}; known: {sorted(names)}")
        return self.get_task(config=dataclasses.asdict(TaskConfig(**raw)))


def _base(env: EnvBase) -> DemandResponseTorchRLEnv:
    """The samarl env under BenchMARL's transforms."""
    while not isinstance(env, DemandResponseTorchRLEnv):
        env = env.base_env
    return env
