"""The fused NumPy step of the demand-response dynamics: what the benchmarks time the engine against.

:func:`step_arrays` is one step on caller-owned arrays, every operation written into preallocated
buffers (``out=``), in cache-sized row blocks: the fastest NumPy form of the transition that
:class:`samarl.reference.env.DemandResponseRef` defines (the tests check the two agree bit for bit).
It is a benchmark baseline, not an oracle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from samarl.reference.env import OBS_DIM, time_features, validate_params
from samarl.reference.rng import (
    INV_2_24,
    K_AGENT,
    K_STEP,
    K_STREAM,
    MASK64,
    STREAM_ARRIVALS,
    U_GOLDEN,
    U_M1,
    U_M2,
    U_S27,
    U_S30,
    U_S31,
    U_S40,
    seed_key,
)

__all__ = ["DEFAULT_BLOCK", "StepConstants", "StepScratch", "make_step_constants", "step_arrays"]

F32Array = npt.NDArray[np.float32]
U64Array = npt.NDArray[np.uint64]
IntpArray = npt.NDArray[np.intp]

#: Rows per block in :func:`step_arrays`: the two ``uint64`` temporaries (512 KiB each) and the
#: block's rows of ``obs`` stay in L2. Measured best among 2**12 .. 2**18 and unblocked at N = 10**6
#: (unblocked passes are about 1.4x slower).
DEFAULT_BLOCK = 65_536

_ZERO = np.float32(0.0)
_ONE = np.float32(1.0)
_TWO = np.float32(2.0)


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
    mu, pmax, cl, cq, pid, prof, dt, nz = validate_params(
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
    _xorshift_mul(z, tmp, U_S30, U_M1)
    _xorshift_mul(z, tmp, U_S27, U_M2)
    np.right_shift(z, U_S31, out=tmp)
    np.bitwise_xor(z, tmp, out=z)
    np.add(z, U_GOLDEN, out=z)
    _xorshift_mul(z, tmp, U_S30, U_M1)
    _xorshift_mul(z, tmp, U_S27, U_M2)
    # The final `z ^= z >> 31` of mix64 leaves bits 40..63 unchanged (they would be xored with bits
    # 71..94, which do not exist), so the top 24 bits are already final here.
    np.right_shift(z, U_S40, out=z)
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
