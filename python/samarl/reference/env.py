"""NumPy reference of the demand-response environment (``rust/samarl-core/src/env``).

:class:`DemandResponseRef` computes the transition of ``docs/environment.md`` in ``float32``
throughout and in the engine's order of operations (every constant is an ``np.float32``, so nothing
is promoted to ``float64``), one line per formula. It is the oracle the tests compare the Rust core
with, bit for bit. (The fused, cache-blocked NumPy step the benchmarks time the engine against is
:mod:`samarl.benchmarks.fused_env`; the tests check it equals this class bit for bit.)

Per agent ``n`` at step ``t`` (``tod = t % S``)::

    d  = (mu * phi[tod]) * ((1 - noise) + (2 * noise) * u)     u = uniform_f32(seed, 1, n, t)
    e  = min((clip(a, 0, 1) * pmax) * dt, q + d)
    q' = max((q + d) - e, 0),   g = e / dt,   r = -((cl * q') + ((cq * q') * q'))

and the observation for the coming step ``tod' = (t + 1) % S`` is
``[q', d, sin(2 pi tod'/S), cos(2 pi tod'/S), mu * phi[tod'], pmax * dt, mu]``.
"""

from __future__ import annotations

import math
from typing import TypedDict

import numpy as np
import numpy.typing as npt

from samarl.reference.rng import (
    MASK64,
    STREAM_ARRIVALS,
    uniform_f32,
)

__all__ = [
    "OBS_DIM",
    "DemandResponseRef",
    "StepOutputs",
    "time_features",
    "validate_params",
]

F32Array = npt.NDArray[np.float32]
U64Array = npt.NDArray[np.uint64]
IntpArray = npt.NDArray[np.intp]

#: Number of observation features per agent.
OBS_DIM = 7
_ZERO = np.float32(0.0)
_ONE = np.float32(1.0)
_TWO = np.float32(2.0)


class StepOutputs(TypedDict):
    """Per-step outputs of :meth:`DemandResponseRef.step`, all ``float32``."""

    obs: F32Array
    """Observation for the coming step, ``[N, OBS_DIM]``."""
    reward: F32Array
    """Reward ``-(cl * q' + cq * q'^2)``, ``[N]``."""
    resource_use: F32Array
    """Power drawn ``e / dt`` (kW), ``[N]``."""
    served: F32Array
    """Energy served this step (kWh), ``[N]``."""
    arrived: F32Array
    """Arrivals of this step (kWh), ``[N]``."""


def time_features(steps_per_day: int) -> tuple[F32Array, F32Array]:
    """Time-of-day features ``sin(2 pi tod / S)`` and ``cos(2 pi tod / S)`` for every ``tod``.

    Computed in ``float64`` with the C library's ``sin``/``cos`` (as Rust's ``f64::sin`` does,
    rather than NumPy's SIMD implementations), left to right as ``((2 * pi) * tod) / S``, then cast
    to ``float32``.

    Parameters
    ----------
    steps_per_day : int
        ``S > 0``.

    Returns
    -------
    tuple of numpy.ndarray
        ``(sin_table, cos_table)``, each ``float32 [S]``.
    """
    angles = [2.0 * math.pi * tod / steps_per_day for tod in range(steps_per_day)]
    sin_table = np.array([math.sin(x) for x in angles], dtype=np.float64).astype(np.float32)
    cos_table = np.array([math.cos(x) for x in angles], dtype=np.float64).astype(np.float32)
    return sin_table, cos_table


def _vector(x: npt.ArrayLike, name: str, n: int | None) -> F32Array:
    """Coerce a per-agent parameter to a contiguous ``float32 [N]`` and check it is finite, >= 0."""
    arr = np.ascontiguousarray(x, dtype=np.float32)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    if np.any(arr < 0):
        raise ValueError(f"{name} must be >= 0")
    return arr


def validate_params(
    mean_arrival: npt.ArrayLike,
    max_power: npt.ArrayLike,
    cost_linear: npt.ArrayLike,
    cost_quadratic: npt.ArrayLike,
    profile_id: npt.ArrayLike,
    profiles: npt.ArrayLike,
    dt_hours: float,
    noise: float,
) -> tuple[F32Array, F32Array, F32Array, F32Array, IntpArray, F32Array, np.float32, np.float32]:
    """Validate the parameters as the Rust constructor does and return them coerced."""
    mu = _vector(mean_arrival, "mean_arrival", None)
    n = mu.shape[0]
    if n == 0:
        raise ValueError("num_agents must be > 0")
    pmax = _vector(max_power, "max_power", n)
    cl = _vector(cost_linear, "cost_linear", n)
    cq = _vector(cost_quadratic, "cost_quadratic", n)
    pid_raw = np.asarray(profile_id)
    if pid_raw.shape != (n,):
        raise ValueError(f"profile_id must have shape ({n},), got {pid_raw.shape}")
    if pid_raw.dtype.kind not in "iu":
        raise ValueError(f"profile_id must be an integer array, got dtype {pid_raw.dtype}")
    prof = np.ascontiguousarray(profiles, dtype=np.float32)
    if prof.ndim != 2 or prof.shape[0] == 0 or prof.shape[1] == 0:
        raise ValueError(f"profiles must have shape [num_profiles > 0, S > 0], got {prof.shape}")
    if not np.all(np.isfinite(prof)) or np.any(prof < 0):
        raise ValueError("profiles must be finite and >= 0")
    if np.any(pid_raw < 0) or np.any(pid_raw >= prof.shape[0]):
        raise ValueError(f"profile_id must be in [0, {prof.shape[0]})")
    pid = pid_raw.astype(np.intp)
    dt = np.float32(dt_hours)
    if not (math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt_hours must be finite and > 0, got {dt_hours}")
    nz = np.float32(noise)
    if not 0.0 <= nz <= 1.0:
        raise ValueError(f"noise must be in [0, 1], got {noise}")
    return mu, pmax, cl, cq, pid, prof, dt, nz


class DemandResponseRef:
    """Plain NumPy oracle of ``samarl_core::env::DemandResponse``.

    Parameters
    ----------
    mean_arrival : array_like, shape (N,)
        ``mu``: mean arrivals per step at profile value 1 (kWh), >= 0.
    max_power : array_like, shape (N,)
        ``pmax`` (kW), >= 0.
    cost_linear : array_like, shape (N,)
        Waiting-cost weight on the backlog (per kWh), >= 0.
    cost_quadratic : array_like, shape (N,)
        Waiting-cost weight on the squared backlog (per kWh^2), >= 0.
    profile_id : array_like of int, shape (N,)
        Row of ``profiles`` that drives each agent.
    profiles : array_like, shape (P, S)
        Daily arrival profiles ``phi_p(tod)``, finite and >= 0; ``S`` is the number of steps a day.
    dt_hours : float
        Step length in hours (> 0).
    noise : float
        In ``[0, 1]``: arrivals are uniform on ``mu * phi * [1 - noise, 1 + noise]``.
    first_agent : int
        Agent id of row 0: row ``i`` draws the arrivals of agent ``first_agent + i``; in
        ``[0, 2**64 - N)``.
    agent_ids : array_like of int, shape (N,), optional
        Row ``i`` draws the arrivals of agent ``agent_ids[i]`` (any ids in ``[0, 2**64)``);
        ``first_agent`` must then be 0.

    Raises
    ------
    ValueError
        On any invalid parameter (naming it), as the Rust constructor does.
    """

    def __init__(
        self,
        mean_arrival: npt.ArrayLike,
        max_power: npt.ArrayLike,
        cost_linear: npt.ArrayLike,
        cost_quadratic: npt.ArrayLike,
        profile_id: npt.ArrayLike,
        *,
        profiles: npt.ArrayLike,
        dt_hours: float = 0.25,
        noise: float = 0.3,
        first_agent: int = 0,
        agent_ids: npt.ArrayLike | None = None,
    ) -> None:
        mu, pmax, cl, cq, pid, prof, dt, nz = validate_params(
            mean_arrival,
            max_power,
            cost_linear,
            cost_quadratic,
            profile_id,
            profiles,
            dt_hours,
            noise,
        )
        self.mean_arrival: F32Array = mu
        self.max_power: F32Array = pmax
        self.cost_linear: F32Array = cl
        self.cost_quadratic: F32Array = cq
        self.profile_id: IntpArray = pid
        self.profiles: F32Array = prof
        self.dt_hours: np.float32 = dt
        self.noise: np.float32 = nz
        self._sin, self._cos = time_features(prof.shape[1])
        n = mu.shape[0]
        if not isinstance(first_agent, (int, np.integer)) or not 0 <= first_agent < 2**64 - n:
            raise ValueError(
                f"first_agent must be an integer in [0, 2**64 - {n}), got {first_agent}"
            )
        self._agents: U64Array = np.arange(n, dtype=np.uint64) + np.uint64(first_agent)
        if agent_ids is not None:
            ids = np.asarray(agent_ids)
            if first_agent or ids.shape != (n,) or ids.dtype.kind not in "iu":
                raise ValueError(
                    f"agent_ids must be {n} integers (with first_agent 0), got {ids.shape} "
                    f"{ids.dtype}"
                )
            if ids.dtype.kind == "i" and int(ids.min()) < 0:
                raise ValueError("agent_ids must be >= 0")
            self._agents = ids.astype(np.uint64)
        self._backlog: F32Array = np.zeros(mu.shape[0], dtype=np.float32)
        self._last_arrival: F32Array = np.zeros(mu.shape[0], dtype=np.float32)
        self._step = 0
        self._seed = 0

    @property
    def num_agents(self) -> int:
        """Number of agents ``N``."""
        return int(self.mean_arrival.shape[0])

    @property
    def steps_per_day(self) -> int:
        """Steps per day ``S``."""
        return int(self.profiles.shape[1])

    @property
    def num_profiles(self) -> int:
        """Number of daily profiles ``P``."""
        return int(self.profiles.shape[0])

    @property
    def backlog(self) -> F32Array:
        """Current backlog ``q`` (kWh), a copy."""
        return self._backlog.copy()

    @property
    def last_arrival(self) -> F32Array:
        """Arrivals of the last step taken (kWh), a copy."""
        return self._last_arrival.copy()

    @property
    def step_count(self) -> int:
        """Steps taken since the last reset."""
        return self._step

    @property
    def seed(self) -> int:
        """Seed of the arrival stream."""
        return self._seed

    def reset(self, seed: int, initial_backlog: npt.ArrayLike | None = None) -> F32Array:
        """Start a new trajectory.

        Parameters
        ----------
        seed : int
            Seed of the arrival stream, in ``[0, 2**64)``.
        initial_backlog : array_like, shape (N,), optional
            Starting backlog (kWh, finite, >= 0); zeros when omitted.

        Returns
        -------
        numpy.ndarray
            Observation ``float32 [N, OBS_DIM]`` for step 0 (``obs[:, 1] == 0``).
        """
        seed = int(seed)
        if not 0 <= seed <= MASK64:
            raise ValueError(f"seed must be in [0, 2**64), got {seed}")
        n = self.num_agents
        if initial_backlog is None:
            q0 = np.zeros(n, dtype=np.float32)
        else:
            q0 = _vector(initial_backlog, "initial_backlog", n).copy()
        self._seed = seed
        self._step = 0
        self._backlog = q0
        self._last_arrival = np.zeros(n, dtype=np.float32)
        return self.observe()

    def observe(self) -> F32Array:
        """The observation for the coming step.

        Returns
        -------
        numpy.ndarray
            ``float32 [N, OBS_DIM]``.
        """
        tod = self._step % self.steps_per_day
        obs = np.empty((self.num_agents, OBS_DIM), dtype=np.float32)
        obs[:, 0] = self._backlog
        obs[:, 1] = self._last_arrival
        obs[:, 2] = self._sin[tod]
        obs[:, 3] = self._cos[tod]
        obs[:, 4] = self.mean_arrival * self.profiles[self.profile_id, tod]
        obs[:, 5] = self.max_power * self.dt_hours
        obs[:, 6] = self.mean_arrival
        return obs

    def set_state(
        self, seed: int, step: int, backlog: npt.ArrayLike, last_arrival: npt.ArrayLike
    ) -> None:
        """Restore a checkpoint.

        Parameters
        ----------
        seed : int
            Seed of the arrival stream.
        step : int
            Steps taken since reset (>= 0).
        backlog, last_arrival : array_like, shape (N,)
            Finite, >= 0.
        """
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        q = _vector(backlog, "backlog", self.num_agents).copy()
        d = _vector(last_arrival, "last_arrival", self.num_agents).copy()
        self.reset(seed)
        self._step = int(step)
        self._backlog = q
        self._last_arrival = d

    def step(self, actions: npt.ArrayLike) -> StepOutputs:
        """Advance every agent one step.

        Parameters
        ----------
        actions : array_like, shape (N,)
            Fraction of ``max_power`` drawn; finite, clipped to ``[0, 1]``.

        Returns
        -------
        StepOutputs
            ``obs``, ``reward``, ``resource_use``, ``served``, ``arrived``: fresh ``float32``
            arrays.

        Raises
        ------
        ValueError
            If ``actions`` has the wrong shape or is not finite.
        """
        act = np.asarray(actions, dtype=np.float32)
        if act.shape != (self.num_agents,):
            raise ValueError(f"actions must have shape ({self.num_agents},), got {act.shape}")
        if not np.all(np.isfinite(act)):
            raise ValueError("actions must be finite")
        t = self._step
        tod = t % self.steps_per_day
        mu, pmax, dt, nz = self.mean_arrival, self.max_power, self.dt_hours, self.noise
        phi = self.profiles[self.profile_id, tod]
        u = uniform_f32(self._seed, STREAM_ARRIVALS, self._agents, t)
        d = (mu * phi) * ((_ONE - nz) + (_TWO * nz) * u)
        a = np.clip(act, _ZERO, _ONE)
        q = self._backlog
        avail = q + d
        e = np.minimum((a * pmax) * dt, avail)
        q_new = np.maximum(avail - e, _ZERO)
        g = e / dt
        r = -((self.cost_linear * q_new) + ((self.cost_quadratic * q_new) * q_new))
        self._step = t + 1
        self._backlog = q_new
        self._last_arrival = d
        return StepOutputs(obs=self.observe(), reward=r, resource_use=g, served=e, arrived=d)
