"""PettingZoo ``ParallelEnv`` adapter of :class:`~samarl.envs.DemandResponseEnv`.

MARL libraries built on PettingZoo (TorchRL/BenchMARL, RLlib, ...) can run the demand-response
environment unchanged: agents are named ``household_0 ... household_{N-1}``; observations are
``float32 [7]`` arrays in one shared ``Box`` (columns: :data:`~samarl.envs.OBS_FIELDS`), actions are
``float32 [1]`` in ``Box(0, 1)`` (the fraction of the household's maximum power to draw). Every
agent's ``info`` carries its ``resource_use`` (kW), ``served`` and ``arrived`` (kWh), so the shared
constraint can be tracked (``reset`` returns the same keys, zeros, so that wrappers which build
their info specs from ``reset``, as TorchRL's ``PettingZooWrapper`` does, keep them); :attr:`DemandResponseParallelEnv.constraints` declares it.

The adapter steps the batched env once per ``step`` and converts arrays to dicts: it costs O(N)
Python work per step (see ``benches/python/bench_env.py`` for the overhead against the native API).
Given the same seed and actions it produces the same trajectory as the native API.

Rewards are the env's (minus the waiting cost) unless ``mult`` is given: then each agent gets the
Lagrangian reward ``r - mult[h] * (g - C_t / N)`` at that fixed price profile (docs/method.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from gymnasium import spaces
from pettingzoo import ParallelEnv

from samarl._validate import as_f32
from samarl.envs.demand_response import CapacityConstraint, DemandResponseEnv, lagrangian_reward
from samarl.errors import InvalidValueError, ShapeError
from samarl.scenario import ScenarioConfig

__all__ = ["DemandResponseParallelEnv", "parallel_env"]

F32 = npt.NDArray[np.float32]


class DemandResponseParallelEnv(ParallelEnv[str, F32, F32]):
    """The demand-response environment as a PettingZoo ``ParallelEnv``.

    Parameters
    ----------
    scenario
        A :class:`~samarl.scenario.ScenarioConfig`, a preset name or a scenario file path.
    mult
        Optional fixed multipliers: a scalar, ``[m]`` (one price per block, shared) or ``[N, m]``
        (per agent), all ``>= 0``. When given, rewards are Lagrangian (see the module docstring).
    **overrides
        Scenario fields to change, e.g. ``num_agents=64``.

    ``reset(options=...)`` understands ``{"initial_backlog": [N] kWh}``; other keys are ignored
    (PettingZoo passes free-form options).
    """

    metadata: dict[str, Any] = {  # noqa: RUF012 (PettingZoo's class attribute)
        "name": "samarl_demand_response_v0",
        "render_modes": [],
        "is_parallelizable": True,
    }

    def __init__(
        self,
        scenario: ScenarioConfig | str = "default",
        *,
        mult: npt.ArrayLike | None = None,
        **overrides: Any,
    ) -> None:
        self.env = DemandResponseEnv(scenario, **overrides)
        """The batched env underneath (its buffers are overwritten every step)."""
        n = self.env.num_agents
        self.possible_agents: list[str] = [f"household_{i}" for i in range(n)]
        self.agents: list[str] = []
        self._index = {a: i for i, a in enumerate(self.possible_agents)}
        low, high = self.env.observation_bounds()
        self._obs_space = spaces.Box(low, high, dtype=np.float32)
        self._act_space = spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32)
        self._state_space = spaces.Box(np.tile(low, n), np.tile(high, n), dtype=np.float32)
        self._mult = None if mult is None else self._check_mult(mult)
        self._lagrangian = np.empty(n, dtype=np.float32)
        self._obs: F32 = np.zeros((n, self.env.obs_dim), dtype=np.float32)

    def _check_mult(self, mult: npt.ArrayLike) -> F32:
        n, m = self.env.num_agents, self.env.num_blocks
        arr = as_f32("mult", mult, nonnegative=True)
        if arr.ndim == 0:  # a scalar: the same price in every block
            arr = np.full(m, arr, dtype=np.float32)
        if arr.shape not in ((m,), (n, m)):
            raise ShapeError(f"mult: expected a scalar, [{m}] or [{n}, {m}], got {list(arr.shape)}")
        return arr

    # -- spaces ------------------------------------------------------------------------------------
    def observation_space(self, agent: str) -> spaces.Box:
        """The same ``Box`` (``float32 [7]``, finite bounds) for every agent."""
        self._agent_index(agent)
        return self._obs_space

    def action_space(self, agent: str) -> spaces.Box:
        """The same ``Box(0, 1, shape=(1,))`` for every agent."""
        self._agent_index(agent)
        return self._act_space

    @property
    def observation_spaces(self) -> dict[str, spaces.Box]:
        """``{agent: observation_space(agent)}`` (for libraries that read the dict)."""
        return dict.fromkeys(self.possible_agents, self._obs_space)

    @property
    def action_spaces(self) -> dict[str, spaces.Box]:
        """``{agent: action_space(agent)}`` (for libraries that read the dict)."""
        return dict.fromkeys(self.possible_agents, self._act_space)

    @property
    def state_space(self) -> spaces.Box:
        """Space of :meth:`state`: every agent's observation, flattened."""
        return self._state_space

    @property
    def constraints(self) -> tuple[CapacityConstraint, ...]:
        """The global constraints (total ``resource_use`` <= capacity, per block)."""
        return self.env.constraints

    # -- the API -----------------------------------------------------------------------------------
    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, F32], dict[str, dict[str, Any]]]:
        """Starts an episode (seeding as :meth:`DemandResponseEnv.reset`); returns obs and infos."""
        backlog = None if options is None else options.get("initial_backlog")
        obs = self.env.reset(seed=seed, initial_backlog=backlog)
        self.agents = self.possible_agents[:]
        self._obs = obs.copy()
        # The same info keys as step (zeros: nothing drawn yet), so wrappers that build their
        # info specs from reset (TorchRL's PettingZooWrapper) keep them.
        infos = {a: {"resource_use": 0.0, "served": 0.0, "arrived": 0.0} for a in self.agents}
        return dict(zip(self.agents, self._obs, strict=True)), infos

    def step(
        self, actions: dict[str, Any]
    ) -> tuple[
        dict[str, F32],
        dict[str, float],
        dict[str, bool],
        dict[str, bool],
        dict[str, dict[str, Any]],
    ]:
        """Steps every household; ``actions`` maps each live agent to a ``[1]`` array (or float)."""
        if not self.agents:
            raise RuntimeError("DemandResponseParallelEnv.step: no live agents; call reset()")
        names = self.possible_agents
        if len(actions) != len(names):
            missing = [a for a in names if a not in actions][:3]
            extra = [a for a in actions if a not in self._index][:3]
            raise InvalidValueError(
                f"actions: every household acts every step; expected {len(names)} actions, got "
                f"{len(actions)} (missing e.g. {missing}, unknown e.g. {extra})"
            )
        try:
            values = [actions[a] for a in names]
        except KeyError as e:
            raise InvalidValueError(f"actions: no action for {e.args[0]!r}") from None
        try:
            a = np.asarray(values, dtype=np.float32)
        except ValueError:
            raise ShapeError("actions: every action must be a [1] array or a number") from None
        if a.shape == (len(names), 1):
            a = a.reshape(len(names))
        elif a.shape != (len(names),):
            raise ShapeError(
                f"actions: every action must be a [1] array or a number, got stacked shape "
                f"{list(a.shape)}"
            )
        t = self.env.step_of_day
        h = self.env.block
        out = self.env.step(a)
        reward = out.reward
        if self._mult is not None:
            reward = lagrangian_reward(
                out.reward,
                out.resource_use,
                self._mult[..., h],
                float(self.env.capacity_per_agent[t]),
                out=self._lagrangian,
            )
        self._obs = out.obs.copy()
        agents = self.agents
        obs = dict(zip(agents, self._obs, strict=True))
        rewards = dict(zip(agents, reward.tolist(), strict=True))
        terminations = dict.fromkeys(agents, False)
        truncations = dict.fromkeys(agents, out.truncated)
        infos = {
            a: {"resource_use": g, "served": e, "arrived": d}
            for a, g, e, d in zip(
                agents,
                out.resource_use.tolist(),
                out.served.tolist(),
                out.arrived.tolist(),
                strict=True,
            )
        }
        if out.truncated:
            self.agents = []
        return obs, rewards, terminations, truncations, infos

    def state(self) -> F32:
        """Global state: every agent's current observation, flattened (``[N * 7]``, a copy)."""
        return self._obs.ravel().copy()

    def render(self) -> None:
        """No interactive rendering; see :mod:`samarl.plots` for figures."""
        return None

    def close(self) -> None:
        """Nothing to release."""

    def _agent_index(self, agent: str) -> int:
        try:
            return self._index[agent]
        except KeyError:
            raise InvalidValueError(
                f"agent: unknown agent {agent!r} (agents are household_0 ... "
                f"household_{len(self.possible_agents) - 1})"
            ) from None


def parallel_env(
    preset: str = "default",
    scenario: ScenarioConfig | str | None = None,
    **kwargs: Any,
) -> DemandResponseParallelEnv:
    """The PettingZoo ``ParallelEnv`` (PettingZoo's module convention).

    ``scenario`` (a :class:`~samarl.scenario.ScenarioConfig` or a file) takes precedence over
    ``preset``; ``kwargs`` go to :class:`DemandResponseParallelEnv` (``mult=`` and scenario field
    overrides such as ``num_agents=``).
    """
    return DemandResponseParallelEnv(preset if scenario is None else scenario, **kwargs)
