"""Copies of a population's agents side by side, stepped as one batched env (env composition).

Training steps ``copies`` copies of a scenario's agents (each copy with its own arrivals and
backlog) to get more samples per iteration. Row ``r * n + i`` is copy ``r``'s row ``i``; its global
id, which keys its arrivals, is ``r * N + a + i`` for the agents ``a..a + n`` of a population of N.
:func:`population_copies` builds them: one engine env when those ids are contiguous (all N agents,
or one copy), else :class:`CopyEnvs`, one engine env per copy gathered into one set of buffers.
Either way the rows step exactly as the same rows of the env over all N agents.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from samarl.envs.demand_response import DemandResponseEnv, EnvStep
from samarl.scenario import ScenarioConfig, ScenarioData

__all__ = ["CopyEnvs", "population_copies"]

F32 = npt.NDArray[np.float32]


def population_copies(
    scenario: ScenarioConfig,
    data: ScenarioData,
    *,
    copies: int,
    agents: tuple[int, int],
    num_agents: int,
    episode_steps: int,
) -> DemandResponseEnv | CopyEnvs:
    """``copies`` copies of the agents ``agents = (a, b)`` of a population of ``num_agents``
    (``data`` holds those agents' arrays), as one batched env of ``copies * (b - a)`` rows.

    One engine env when the rows' global ids are contiguous (``copies == 1`` or all the agents),
    else a :class:`CopyEnvs` of one engine env per copy (``first_agent = r * N + a``)."""
    first, end = agents

    def env(count: int, first_agent: int) -> DemandResponseEnv:
        return DemandResponseEnv(
            scenario,
            data=data,
            copies=count,
            episode_steps=episode_steps,
            first_agent=first_agent,
        )

    if copies == 1 or (first, end) == (0, num_agents):
        return env(copies, first)
    return CopyEnvs([env(1, r * num_agents + first) for r in range(copies)])


class CopyEnvs:
    """Copies of a slice of the agents, one engine env each, stepped as one env of
    ``copies * n`` rows (row ``r * n + i`` is copy ``r``'s row ``i``).

    A shard's rows ``r * N + a .. r * N + b`` are not contiguous ids across copies, so each copy
    is its own env (``first_agent = r * N + a``); the outputs are gathered into one set of buffers.
    """

    def __init__(self, envs: list[DemandResponseEnv]) -> None:
        self.envs = envs
        first = envs[0]
        self.per_copy = first.num_agents
        self.num_agents = first.num_agents * len(envs)
        self.obs_dim = first.obs_dim
        self.episode_steps = first.episode_steps
        self.steps_per_day = first.steps_per_day
        rows = self.num_agents
        self._obs = np.zeros((rows, self.obs_dim), dtype=np.float32)
        self._out = {
            k: np.zeros(rows, dtype=np.float32)
            for k in ("reward", "resource_use", "served", "arrived")
        }

    def _rows(self, r: int) -> slice:
        return slice(r * self.per_copy, (r + 1) * self.per_copy)

    def reset(self, seed: int, initial_backlog: npt.ArrayLike | None = None) -> F32:
        backlog = None if initial_backlog is None else np.asarray(initial_backlog)
        for r, env in enumerate(self.envs):
            rows = self._rows(r)
            self._obs[rows] = env.reset(seed, None if backlog is None else backlog[rows])
        return self._obs

    def step(self, actions: npt.ArrayLike) -> EnvStep:
        actions = np.asarray(actions)
        truncated = False
        for r, env in enumerate(self.envs):
            rows = self._rows(r)
            out = env.step(actions[rows])
            self._obs[rows] = out.obs
            for key, buf in self._out.items():
                buf[rows] = getattr(out, key)
            truncated = out.truncated
        o = self._out
        return EnvStep(
            self._obs,
            o["reward"],
            o["resource_use"],
            o["served"],
            o["arrived"],
            terminated=False,
            truncated=truncated,
        )

    @property
    def step_of_day(self) -> int:
        return self.envs[0].step_of_day

    def get_state(self) -> dict[str, Any]:
        return {"copies": [env.get_state() for env in self.envs], "obs": self._obs.copy()}

    def set_state(self, state: dict[str, Any]) -> F32:
        for env, s in zip(self.envs, state["copies"], strict=True):
            env.set_state(s)
        self._obs[:] = state["obs"]
        return self._obs
