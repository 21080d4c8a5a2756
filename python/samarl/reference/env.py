"""NumPy reference of the demand-response environment (``rust/samarl-core/src/env``).

Two implementations of the same transition, both ``float32`` throughout and in the order of
``notes/ENGINE_SPEC.md`` (every constant is an ``np.float32``, so nothing is promoted to
``float64``):

* :class:`DemandResponseRef` reads like the spec, one line per formula. It is the oracle the tests
  compare the Rust core with, bit for bit.
* :func:`step_arrays` is the *fused* reference: one step on caller-owned arrays, every operation
  written into preallocated buffers (``out=``), optionally in cache-sized row blocks. It is what the
  benchmarks time the Rust kernel against, and the tests check that it equals the class bit for bit.

Per agent ``n`` at step ``t`` (``tod = t % S``)::

    d  = (mu * phi[tod]) * ((1 - noise) + (2 * noise) * u)     u = uniform_f32(seed, 1, n, t)
    e  = min((clip(a, 0, 1) * pmax) * dt, q + d)
    q' = max((q + d) - e, 0),   g = e / dt,   r = -((cl * q') + ((cq * q') * q'))

and the observation for the coming step ``tod' = (t + 1) % S`` is
``[q', d, sin(2 pi tod'/S), cos(2 pi tod'/S), mu * phi[tod'], pmax * dt, mu]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypedDict

import numpy as np
import numpy.typing as npt

from samarl.reference.rng import (
    GOLDEN,
    INV_2_24,
    K_AGENT,
    K_STEP,
    K_STREAM,
    M1,
    M2,
    MASK64,
    STREAM_ARRIVALS,
    seed_key,
    uniform_f32,
)

__all__ = [
    "OBS_DIM",
    "DemandResponseRef",
    "StepConstants",
    "StepOutputs",
    "StepScratch",
    "make_step_constants",
    "step_arrays",
    "time_features",
]

F32Array = npt.NDArray[np.float32]
U64Array = npt.NDArray[np.uint64]
IntpArray = npt.NDArray[np.intp]

#: Number of observation features per agent.
OBS_DIM = 7
#: Rows per block in :func:`step_arrays`: the two ``uint64`` temporaries (512 KiB each) and the
#: block's rows of ``obs`` stay in L2. Measured best among 2**12 .. 2**18 and unblocked at N = 10**6
#: (unblocked passes are about 1.4x slower).
DEFAULT_BLOCK = 65_536

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


def _validate(
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
    ) -> None:
        mu, pmax, cl, cq, pid, prof, dt, nz = _validate(
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
        self._agents: U64Array = np.arange(mu.shape[0], dtype=np.uint64)
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


# --------------------------------------------------------------------------------------------------
# Fused functional form
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StepConstants:
    """Everything :func:`step_arrays` needs that does not change from step to step.

    Build it with :func:`make_step_constants`.
    """

    mean_arrival: F32Array
    """``mu``, ``float32 [N]``."""
    max_power: F32Array
    """``pmax``, ``float32 [N]``."""
    cost_linear: F32Array
    """``cl``, ``float32 [N]``."""
    cost_quadratic: F32Array
    """``cq``, ``float32 [N]``."""
    profile_id: IntpArray
    """Profile row per agent, ``intp [N]``."""
    profiles_by_tod: F32Array
    """``profiles.T`` made contiguous, ``float32 [S, P]``: one gather per step reads row ``tod``."""
    max_energy: F32Array
    """``pmax * dt`` (obs feature 5), ``float32 [N]``."""
    agent_ctr: U64Array
    """``agent * K_AGENT`` (wrapping), ``uint64 [N]``: the per-agent part of the RNG counter."""
    sin_table: F32Array
    """``sin(2 pi tod / S)``, ``float32 [S]``."""
    cos_table: F32Array
    """``cos(2 pi tod / S)``, ``float32 [S]``."""
    dt_hours: np.float32
    """Step length ``dt`` (h)."""
    arrival_low: np.float32
    """``1 - noise`` in ``float32``."""
    arrival_span: np.float32
    """``2 * noise`` in ``float32``."""

    @property
    def num_agents(self) -> int:
        """Number of agents ``N``."""
        return int(self.mean_arrival.shape[0])

    @property
    def steps_per_day(self) -> int:
        """Steps per day ``S``."""
        return int(self.profiles_by_tod.shape[0])


def make_step_constants(
    mean_arrival: npt.ArrayLike,
    max_power: npt.ArrayLike,
    cost_linear: npt.ArrayLike,
    cost_quadratic: npt.ArrayLike,
    profile_id: npt.ArrayLike,
    *,
    profiles: npt.ArrayLike,
    dt_hours: float = 0.25,
    noise: float = 0.3,
) -> StepConstants:
    """Validate the parameters and precompute the step-invariant arrays of :func:`step_arrays`.

    Parameters
    ----------
    mean_arrival, max_power, cost_linear, cost_quadratic, profile_id, profiles, dt_hours, noise
        As for :class:`DemandResponseRef`.

    Returns
    -------
    StepConstants
        The coerced parameters plus derived tables.
    """
    mu, pmax, cl, cq, pid, prof, dt, nz = _validate(
        mean_arrival, max_power, cost_linear, cost_quadratic, profile_id, profiles, dt_hours, noise
    )
    sin_table, cos_table = time_features(prof.shape[1])
    with np.errstate(over="ignore"):
        agent_ctr = np.arange(mu.shape[0], dtype=np.uint64) * np.uint64(K_AGENT)
    return StepConstants(
        mean_arrival=mu,
        max_power=pmax,
        cost_linear=cl,
        cost_quadratic=cq,
        profile_id=pid,
        profiles_by_tod=np.ascontiguousarray(prof.T),
        max_energy=pmax * dt,
        agent_ctr=agent_ctr,
        sin_table=sin_table,
        cos_table=cos_table,
        dt_hours=dt,
        arrival_low=_ONE - nz,
        arrival_span=_TWO * nz,
    )


@dataclass(frozen=True, slots=True)
class StepScratch:
    """Preallocated temporaries of :func:`step_arrays` (two ``float32`` and two ``uint64`` rows)."""

    f0: F32Array
    """``float32`` scratch."""
    f1: F32Array
    """``float32`` scratch."""
    u0: U64Array
    """``uint64`` scratch (the RNG state)."""
    u1: U64Array
    """``uint64`` scratch (shifted copy)."""

    @classmethod
    def empty(cls, rows: int) -> StepScratch:
        """Allocate scratch for blocks of up to ``rows`` agents.

        Parameters
        ----------
        rows : int
            Block size (or ``N`` for unblocked use).

        Returns
        -------
        StepScratch
            Uninitialised buffers.
        """
        return cls(
            f0=np.empty(rows, dtype=np.float32),
            f1=np.empty(rows, dtype=np.float32),
            u0=np.empty(rows, dtype=np.uint64),
            u1=np.empty(rows, dtype=np.uint64),
        )


_S27 = np.uint64(27)
_S30 = np.uint64(30)
_S31 = np.uint64(31)
_S40 = np.uint64(40)
_UM1 = np.uint64(M1)
_UM2 = np.uint64(M2)
_UGOLDEN = np.uint64(GOLDEN)


def _xorshift_mul(z: U64Array, tmp: U64Array, shift: np.uint64, mul: np.uint64) -> None:
    """``z = (z ^ (z >> shift)) * mul`` in place (wrapping)."""
    np.right_shift(z, shift, out=tmp)
    np.bitwise_xor(z, tmp, out=z)
    np.multiply(z, mul, out=z)


def _step_block(
    c: StepConstants,
    lo: int,
    hi: int,
    backlog: F32Array,
    actions: F32Array,
    key: np.uint64,
    step_ctr: np.uint64,
    tod: int,
    tod_next: int,
    obs: F32Array,
    reward: F32Array,
    resource_use: F32Array,
    served: F32Array,
    arrived: F32Array,
    s: StepScratch,
    write_static_obs: bool,
) -> None:
    """One step for agents ``lo:hi``; see :func:`step_arrays`."""
    m = hi - lo
    rows = slice(lo, hi)
    mu = c.mean_arrival[rows]
    q = backlog[rows]
    d = arrived[rows]
    e = served[rows]
    g = resource_use[rows]
    r = reward[rows]
    f0 = s.f0[:m]
    f1 = s.f1[:m]
    z = s.u0[:m]
    tmp = s.u1[:m]

    # u = uniform_f32(seed, STREAM_ARRIVALS, n, t): ctr = n*K_AGENT + (t*K_STEP + 1*K_STREAM).
    np.add(c.agent_ctr[rows], step_ctr, out=z)
    np.bitwise_xor(z, key, out=z)
    _xorshift_mul(z, tmp, _S30, _UM1)
    _xorshift_mul(z, tmp, _S27, _UM2)
    np.right_shift(z, _S31, out=tmp)
    np.bitwise_xor(z, tmp, out=z)
    np.add(z, _UGOLDEN, out=z)
    _xorshift_mul(z, tmp, _S30, _UM1)
    _xorshift_mul(z, tmp, _S27, _UM2)
    # The final `z ^= z >> 31` of mix64 leaves bits 40..63 unchanged (they would be xored with bits
    # 71..94, which do not exist), so the top 24 bits are already final here.
    np.right_shift(z, _S40, out=z)
    np.copyto(f0, z, casting="unsafe")  # < 2**24: exact in float32
    np.multiply(f0, INV_2_24, out=f0)  # u

    # d = (mu * phi) * ((1 - noise) + (2 * noise) * u)
    np.multiply(f0, c.arrival_span, out=f0)
    np.add(f0, c.arrival_low, out=f0)
    np.take(c.profiles_by_tod[tod], c.profile_id[rows], out=f1, mode="clip")
    np.multiply(mu, f1, out=f1)
    np.multiply(f1, f0, out=d)

    # e = min((clip(a, 0, 1) * pmax) * dt, q + d);  q' = max((q + d) - e, 0);  g = e / dt
    np.clip(actions[rows], _ZERO, _ONE, out=f0)
    np.multiply(f0, c.max_power[rows], out=f0)
    np.multiply(f0, c.dt_hours, out=f0)
    np.add(q, d, out=q)
    np.minimum(f0, q, out=e)
    np.subtract(q, e, out=q)
    np.maximum(q, _ZERO, out=q)
    np.divide(e, c.dt_hours, out=g)

    # r = -((cl * q') + ((cq * q') * q'))
    np.multiply(c.cost_quadratic[rows], q, out=f0)
    np.multiply(f0, q, out=f0)
    np.multiply(c.cost_linear[rows], q, out=r)
    np.add(r, f0, out=r)
    np.negative(r, out=r)

    # Observation for the coming step.
    o = obs[rows]
    o[:, 0] = q
    o[:, 1] = d
    o[:, 2] = c.sin_table[tod_next]
    o[:, 3] = c.cos_table[tod_next]
    np.take(c.profiles_by_tod[tod_next], c.profile_id[rows], out=f1, mode="clip")
    np.multiply(mu, f1, out=o[:, 4])
    if write_static_obs:
        o[:, 5] = c.max_energy[rows]
        o[:, 6] = mu


def step_arrays(
    constants: StepConstants,
    backlog: F32Array,
    actions: F32Array,
    *,
    seed: int,
    step: int,
    obs: F32Array,
    reward: F32Array,
    resource_use: F32Array,
    served: F32Array,
    arrived: F32Array,
    scratch: StepScratch | None = None,
    block: int | None = DEFAULT_BLOCK,
    write_static_obs: bool = True,
) -> None:
    """Fused NumPy step: one transition on plain arrays, writing only into the given buffers.

    Bit for bit equal to :meth:`DemandResponseRef.step` (and to the Rust kernel). Every operation
    writes into a preallocated buffer (``out=``); the RNG runs in place on ``uint64`` scratch with
    the per-agent counter and the seed key precomputed. With ``block`` set, agents are processed in
    blocks of that many rows so the temporaries stay in cache (the same trick as numexpr), which is
    faster than whole-array passes once ``N`` is large.

    Parameters
    ----------
    constants : StepConstants
        From :func:`make_step_constants`.
    backlog : numpy.ndarray
        ``float32 [N]`` contiguous; read as ``q`` and overwritten with ``q'``.
    actions : numpy.ndarray
        ``float32 [N]``; finite (not checked here: this is the fast path), clipped to ``[0, 1]``.
    seed : int
        Seed of the arrival stream.
    step : int
        Steps taken since reset, ``t``.
    obs : numpy.ndarray
        Output ``float32 [N, OBS_DIM]`` C-contiguous: observation for step ``t + 1``.
    reward, resource_use, served, arrived : numpy.ndarray
        Outputs, ``float32 [N]`` each.
    scratch : StepScratch, optional
        Temporaries with at least ``block`` (or ``N``) rows; allocated per call when omitted.
    block : int or None
        Rows per block; ``None`` processes all agents in one pass.
    write_static_obs : bool
        Write obs columns 5 and 6 (``pmax * dt`` and ``mu``). They never change, so a caller that
        reuses the same ``obs`` buffer may write them once and pass ``False`` afterwards.
    """
    n = constants.num_agents
    for name, arr in (
        ("backlog", backlog),
        ("actions", actions),
        ("reward", reward),
        ("resource_use", resource_use),
        ("served", served),
        ("arrived", arrived),
    ):
        if arr.dtype != np.float32 or arr.shape != (n,):
            raise ValueError(f"{name} must be float32 of shape ({n},), got {arr.dtype} {arr.shape}")
    if obs.dtype != np.float32 or obs.shape != (n, OBS_DIM) or not obs.flags.c_contiguous:
        raise ValueError(f"obs must be C-contiguous float32 of shape ({n}, {OBS_DIM})")
    rows = n if block is None else max(1, min(int(block), n))
    if scratch is None:
        scratch = StepScratch.empty(rows)
    elif scratch.f0.shape[0] < rows:
        raise ValueError(f"scratch has {scratch.f0.shape[0]} rows, need {rows}")
    key = np.uint64(seed_key(seed))
    step_ctr = np.uint64((int(step) * K_STEP + STREAM_ARRIVALS * K_STREAM) & MASK64)
    s_per_day = constants.steps_per_day
    tod = int(step) % s_per_day
    tod_next = (int(step) + 1) % s_per_day
    for lo in range(0, n, rows):
        _step_block(
            constants,
            lo,
            min(lo + rows, n),
            backlog,
            actions,
            key,
            step_ctr,
            tod,
            tod_next,
            obs,
            reward,
            resource_use,
            served,
            arrived,
            scratch,
            write_static_obs,
        )
