"""Gymnasium single-agent view: one household facing a price profile (the multiplier).

This is the problem each agent solves in state-augmented training (docs/method.md, training): maximise
the Lagrangian reward ``r - mult[h(t)] * (g - C_t / N)`` with the multiplier vector ``mult`` part of
the observation, so any single-agent learner (Stable-Baselines3, CleanRL, ...) can train one
augmented policy. Registered as ``"samarl/DemandResponse-v0"`` on ``import samarl``::

    env = gymnasium.make("samarl/DemandResponse-v0", scenario="small", mult_max=5.0)

**Observation**: a flat ``Box`` of ``float32 [7 + m]`` (flat rather than ``Dict`` so that
off-the-shelf MLP policies and ``check_env`` accept it without wrappers):

- ``obs[:7]``: the household's own features (:data:`~samarl.envs.OBS_FIELDS`): backlog, last
  arrivals, time of day (sin, cos), expected arrivals of the coming step, max energy per step, mean
  arrivals per step;
- ``obs[7 + j] = mult[(h + j) % m]``: the multiplier vector rolled so the coming step's block ``h``
  comes first (the convention of the policies).

All bounds are finite (backlog and arrivals are bounded by the largest possible arrivals over an
episode).

**Action**: ``float32 [1]`` in ``[0, 1]``, the fraction of maximum power to draw.

**Episodes**: each ``reset`` draws, from the env's seeded ``np_random``, the household (uniformly
from the scenario's population, unless ``agent`` is fixed), the multiplier vector (each entry
uniform on ``[0, mult_max]``, unless ``mult`` is fixed or given as ``reset(options={"mult": ...})``)
and the arrival noise. Episodes last ``scenario.episode_days`` and end by truncation.

**Info**: ``reward_env`` (the plain reward, minus the waiting cost), ``resource_use`` (kW),
``served`` and ``arrived`` (kWh), ``mult`` (the price of the step's block), ``block``, ``agent``.
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
import numpy.typing as npt
from gymnasium import spaces

from samarl._validate import as_f32
from samarl.envs.demand_response import lagrangian_reward, observation_bounds
from samarl.envs.dynamics import Dynamics
from samarl.errors import InvalidValueError, ShapeError
from samarl.scenario import ScenarioConfig, load_scenario

__all__ = ["HouseholdEnv"]

F32 = npt.NDArray[np.float32]


class HouseholdEnv(gym.Env[F32, F32]):
    """One household of a scenario, with the multiplier vector in its observation.

    Parameters
    ----------
    scenario
        A :class:`~samarl.scenario.ScenarioConfig`, a preset name or a scenario file; it supplies the
        population households are drawn from, the profiles, the capacity and the episode length.
    agent
        Simulate always this household (an index into the population); ``None`` (default) draws
        one per episode.
    mult
        A fixed multiplier vector (scalar or ``[m]``, ``>= 0``); ``None`` (default) draws one per
        episode, each entry uniform on ``[0, mult_max]``.
    mult_max
        Upper end of the multipliers (``> 0``): of the sampling range and of the observation bounds.
    render_mode
        Must be ``None`` (no rendering; see :mod:`samarl.plots`).
    **overrides
        Scenario fields to change.
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 (Gymnasium's class attribute)

    def __init__(
        self,
        scenario: ScenarioConfig | str = "default",
        *,
        agent: int | None = None,
        mult: npt.ArrayLike | None = None,
        mult_max: float = 5.0,
        render_mode: str | None = None,
        **overrides: Any,
    ) -> None:
        if isinstance(scenario, ScenarioConfig):
            scenario = scenario.replace(**overrides) if overrides else scenario
        else:
            scenario = load_scenario(scenario, **overrides)
        if render_mode is not None:
            raise InvalidValueError(
                f"render_mode: HouseholdEnv does not render, got {render_mode!r}"
            )
        if (
            isinstance(mult_max, bool)
            or not isinstance(mult_max, (int, float, np.integer, np.floating))
            or not np.isfinite(mult_max)
            or mult_max <= 0
        ):
            raise InvalidValueError(f"mult_max: must be a finite number > 0, got {mult_max!r}")
        self.scenario = scenario
        self.data = scenario.build()
        n, m = self.data.num_agents, scenario.num_blocks
        if agent is not None and (
            isinstance(agent, bool)
            or not isinstance(agent, (int, np.integer))
            or not 0 <= agent < n
        ):
            raise InvalidValueError(f"agent: must be an index in [0, {n}), got {agent!r}")
        self.agent_choice = None if agent is None else int(agent)
        self.mult_max = float(mult_max)
        self.fixed_mult = None if mult is None else self._check_mult(mult)
        self.num_blocks = m
        self.episode_steps = scenario.episode_steps
        self.render_mode = render_mode

        low7, high7 = observation_bounds(scenario, self.data)
        self.observation_space = spaces.Box(
            np.concatenate([low7, np.zeros(m, np.float32)]),
            np.concatenate([high7, np.full(m, self.mult_max, np.float32)]),
            dtype=np.float32,
        )
        self.action_space = spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32)
        self._cap_share = self.data.capacity.astype(np.float64) / n
        self._dyn: Dynamics | None = None
        self._agent = -1
        self._mult = np.zeros(m, dtype=np.float32)
        self._action = np.zeros(1, dtype=np.float32)

    def _check_mult(self, mult: npt.ArrayLike) -> F32:
        m = self.scenario.num_blocks
        arr = as_f32("mult", mult, nonnegative=True)
        if arr.ndim == 0:  # a scalar: the same price in every block
            arr = np.full(m, arr, dtype=np.float32)
        if arr.shape != (m,):
            raise ShapeError(f"mult: expected a scalar or [{m}], got {list(arr.shape)}")
        if (arr > self.mult_max).any():
            raise InvalidValueError(f"mult: must be <= mult_max = {self.mult_max}, got {arr.max()}")
        return arr

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[F32, dict[str, Any]]:
        """Draws a household, a multiplier vector and the arrival noise; starts at midnight."""
        super().reset(seed=seed)
        rng = self.np_random
        k = self.agent_choice
        self._agent = int(rng.integers(self.data.num_agents)) if k is None else k
        if options is not None and options.get("mult") is not None:
            self._mult = self._check_mult(options["mult"])
        elif self.fixed_mult is not None:
            self._mult = self.fixed_mult
        else:
            self._mult = rng.uniform(0.0, self.mult_max, self.num_blocks).astype(np.float32)
        self._dyn = Dynamics.from_scenario(self.scenario, self.data, agents=[self._agent])
        obs = self._dyn.reset(int(rng.integers(2**63)))
        return self._observation(obs[0], 0), {"agent": self._agent, "mult": self._mult.copy()}

    def step(self, action: npt.ArrayLike) -> tuple[F32, SupportsFloat, bool, bool, dict[str, Any]]:
        """One step (``dt_hours``) at the episode's prices; ``action`` is ``[1]`` in ``[0, 1]``."""
        if self._dyn is None:
            raise RuntimeError("HouseholdEnv.step: call reset() first")
        t = self._dyn.step_count
        if t >= self.episode_steps:
            raise RuntimeError(
                f"HouseholdEnv.step: the episode ended after {self.episode_steps} steps; "
                "call reset()"
            )
        a = np.asarray(action, dtype=np.float32)
        if a.size != 1:
            raise ShapeError(f"action: expected shape [1], got {list(a.shape)}")
        self._action[0] = a.reshape(())
        out = self._dyn.step(self._action)
        tod = t % self.scenario.steps_per_day
        h = int(self.data.block_of_step[tod])
        r, g = float(out.reward[0]) + 0.0, float(out.resource_use[0])  # + 0.0: no -0.0
        price = float(self._mult[h])
        reward = lagrangian_reward(r, g, price, float(self._cap_share[tod]))
        info = {
            "reward_env": r,
            "resource_use": g,
            "served": float(out.served[0]),
            "arrived": float(out.arrived[0]),
            "mult": price,
            "block": h,
            "agent": self._agent,
        }
        truncated = t + 1 == self.episode_steps
        return self._observation(out.obs[0], t + 1), reward, False, truncated, info

    def _observation(self, own: F32, t: int) -> F32:
        h = int(self.data.block_of_step[t % self.scenario.steps_per_day])
        return np.concatenate([own, np.roll(self._mult, -h)])
