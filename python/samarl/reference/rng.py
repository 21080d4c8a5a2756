"""Counter-based random numbers, bit for bit equal to ``rust/samarl-core/src/rng.rs``.

A value is a pure function of ``(seed, stream, agent, step)``: SplitMix64's finaliser (Stafford's
variant 13) applied to a combination of the counters. Every operation is a wrapping ``uint64`` add,
multiply, xor or shift, which NumPy's ``uint64`` arrays reproduce exactly (array arithmetic wraps
modulo 2**64; NumPy *scalar* arithmetic warns on overflow, so every computation here runs under
``np.errstate(over="ignore")``).

The pure-Python integer versions (``*_int``) are a second, independent implementation used by the
tests to check the vectorised ones.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = [
    "GOLDEN",
    "K_AGENT",
    "K_STEP",
    "K_STREAM",
    "STREAM_ACTION_NOISE",
    "STREAM_ARRIVALS",
    "STREAM_BACKLOG",
    "STREAM_INIT",
    "STREAM_LINKS",
    "STREAM_MULTS",
    "bits",
    "bits_int",
    "mix64",
    "mix64_int",
    "normal_f64",
    "seed_key",
    "uniform_f32",
    "uniform_f64",
    "uniform_from_bits",
]

U64Array = npt.NDArray[np.uint64]
F32Array = npt.NDArray[np.float32]
F64Array = npt.NDArray[np.float64]

#: Golden-ratio increment of SplitMix64.
GOLDEN = 0x9E37_79B9_7F4A_7C15
#: Odd constants that separate the counters before mixing.
K_AGENT = 0xD1B5_4A32_D192_ED03
K_STEP = 0x8CB9_2BA7_2F3D_8DD7
K_STREAM = 0xF135_7AEA_2E62_A9C5
#: Multipliers of the finaliser.
M1 = 0xBF58_476D_1CE4_E5B9
M2 = 0x94D0_49BB_1331_11EB

#: Stream id of the environment's arrival draws.
STREAM_ARRIVALS = 1
#: Stream id of the lossy-consensus link drops.
STREAM_LINKS = 2
#: Stream ids of the trainer's per-agent draws with per-agent weights (NumPy only, no engine
#: kernel draws them): each agent's (or each simulated row's) values are keyed by its global id,
#: so agents ``a..b`` trained alone draw exactly what they draw in a run over all N agents.
#: Weight initialisation (agent id, position in the agent's weights).
STREAM_INIT = 3
#: Action noise (row id ``copy * N + agent``, step of training).
STREAM_ACTION_NOISE = 4
#: Each episode's multiplier profile (row id, ``episode * 2**32 + draw``).
STREAM_MULTS = 5
#: Each episode's initial backlog (row id, episode).
STREAM_BACKLOG = 6

MASK64 = (1 << 64) - 1
#: ``2**-24``: scales a 24-bit integer into ``[0, 1)`` exactly.
INV_2_24 = np.float32(1.0 / 16_777_216.0)
#: ``2**-53``: scales a 53-bit integer into ``[0, 1)`` exactly.
INV_2_53 = 2.0**-53
U_S11 = np.uint64(11)

#: The SplitMix64 finaliser's shifts and multipliers as uint64 scalars (shared with the fused step).
U_S27 = np.uint64(27)
U_S30 = np.uint64(30)
U_S31 = np.uint64(31)
U_S40 = np.uint64(40)
U_M1 = np.uint64(M1)
U_M2 = np.uint64(M2)
U_GOLDEN = np.uint64(GOLDEN)


def _as_u64(x: npt.ArrayLike, name: str) -> U64Array:
    """Convert counters to ``uint64``, refusing negative or non-integer input.

    Parameters
    ----------
    x : array_like
        Non-negative integers below ``2**64``.
    name : str
        Argument name used in error messages.

    Returns
    -------
    numpy.ndarray
        ``uint64`` array (0-d for scalar input).
    """
    if isinstance(x, int | np.integer):
        value = int(x)
        if not 0 <= value <= MASK64:
            raise ValueError(f"{name} must be in [0, 2**64), got {value}")
        return np.asarray(value, dtype=np.uint64)
    arr = np.asarray(x)
    if arr.dtype == np.uint64:
        return arr
    if arr.dtype.kind not in "iub":
        raise ValueError(f"{name} must be an integer array, got dtype {arr.dtype}")
    if arr.dtype.kind == "i" and arr.size and int(arr.min()) < 0:
        raise ValueError(f"{name} must be non-negative")
    return arr.astype(np.uint64)


def mix64(z: npt.ArrayLike) -> U64Array:
    """SplitMix64's output function, elementwise on ``uint64``.

    Parameters
    ----------
    z : array_like of uint64
        Input words (scalars are accepted).

    Returns
    -------
    numpy.ndarray
        ``uint64`` array of the same shape: ``z ^= z >> 30; z *= M1; z ^= z >> 27; z *= M2;
        z ^ (z >> 31)`` with wrapping multiplication.
    """
    x = _as_u64(z, "z")
    with np.errstate(over="ignore"):
        x = (x ^ (x >> U_S30)) * U_M1
        x = (x ^ (x >> U_S27)) * U_M2
        out = x ^ (x >> U_S31)
    return np.asarray(out, dtype=np.uint64)


def seed_key(seed: int) -> int:
    """The per-seed key ``mix64(seed + GOLDEN)`` as a Python int.

    Parameters
    ----------
    seed : int
        Seed in ``[0, 2**64)``.

    Returns
    -------
    int
        The key, in ``[0, 2**64)``.
    """
    return mix64_int((int(seed) + GOLDEN) & MASK64)


def bits(
    seed: npt.ArrayLike,
    stream: npt.ArrayLike,
    agent: npt.ArrayLike,
    step: npt.ArrayLike,
) -> U64Array:
    """64 random bits for ``(seed, stream, agent, step)``, broadcast over all four.

    Parameters
    ----------
    seed, stream, agent, step : array_like of non-negative int
        Counters in ``[0, 2**64)``; arrays broadcast against each other.

    Returns
    -------
    numpy.ndarray
        ``uint64`` array of the broadcast shape, equal to Rust's ``rng::bits`` elementwise.
    """
    s = _as_u64(seed, "seed")
    c = _as_u64(stream, "stream")
    a = _as_u64(agent, "agent")
    t = _as_u64(step, "step")
    with np.errstate(over="ignore"):
        key = mix64(s + U_GOLDEN)
        ctr = a * np.uint64(K_AGENT) + t * np.uint64(K_STEP) + c * np.uint64(K_STREAM)
        return mix64(mix64(key ^ ctr) + U_GOLDEN)


def uniform_from_bits(b: npt.ArrayLike) -> F32Array:
    """Map 64 random bits to a ``float32`` in ``[0, 1)`` from the top 24 bits.

    Parameters
    ----------
    b : array_like of uint64
        Output of :func:`bits`.

    Returns
    -------
    numpy.ndarray
        ``float32`` array: ``(b >> 40) * 2**-24``, which is exact in ``float32``.
    """
    top = _as_u64(b, "bits") >> U_S40
    return np.asarray(top.astype(np.float32) * INV_2_24, dtype=np.float32)


def uniform_f32(
    seed: npt.ArrayLike,
    stream: npt.ArrayLike,
    agent: npt.ArrayLike,
    step: npt.ArrayLike,
) -> F32Array:
    """A uniform ``float32`` in ``[0, 1)`` for ``(seed, stream, agent, step)``.

    Parameters
    ----------
    seed, stream, agent, step : array_like of non-negative int
        Counters in ``[0, 2**64)``; arrays broadcast against each other.

    Returns
    -------
    numpy.ndarray
        ``float32`` array of the broadcast shape, equal to Rust's ``rng::uniform_f32`` bit for bit.
    """
    return uniform_from_bits(bits(seed, stream, agent, step))


def uniform_f64(
    seed: npt.ArrayLike,
    stream: npt.ArrayLike,
    agent: npt.ArrayLike,
    step: npt.ArrayLike,
) -> F64Array:
    """A uniform ``float64`` in ``(0, 1)`` for ``(seed, stream, agent, step)``.

    The top 53 bits of :func:`bits` plus one half, times ``2**-53`` (exact in ``float64``): never 0
    or 1, so its logarithm is finite.
    """
    top = bits(seed, stream, agent, step) >> U_S11
    return np.asarray((top.astype(np.float64) + 0.5) * INV_2_53, dtype=np.float64)


def normal_f64(
    seed: npt.ArrayLike,
    stream: npt.ArrayLike,
    agent: npt.ArrayLike,
    step: npt.ArrayLike,
) -> F64Array:
    """A standard normal ``float64`` for ``(seed, stream, agent, step)``, broadcast over all four.

    Box-Muller on the uniforms of the counters ``2 * step`` and ``2 * step + 1``:
    ``sqrt(-2 log u1) cos(2 pi u2)``. Elementwise, so a value depends on its own counters only,
    never on the shape of the array it is drawn in.
    """
    t = _as_u64(step, "step")
    with np.errstate(over="ignore"):
        t2 = t * np.uint64(2)
        u1 = uniform_f64(seed, stream, agent, t2)
        u2 = uniform_f64(seed, stream, agent, t2 + np.uint64(1))
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def mix64_int(z: int) -> int:
    """SplitMix64's output function on a Python int (independent scalar oracle).

    Parameters
    ----------
    z : int
        Input in ``[0, 2**64)``.

    Returns
    -------
    int
        ``mix64(z)`` in ``[0, 2**64)``.
    """
    z &= MASK64
    z = ((z ^ (z >> 30)) * M1) & MASK64
    z = ((z ^ (z >> 27)) * M2) & MASK64
    return z ^ (z >> 31)


def bits_int(seed: int, stream: int, agent: int, step: int) -> int:
    """64 random bits for one ``(seed, stream, agent, step)``, in pure Python integers.

    Parameters
    ----------
    seed, stream, agent, step : int
        Counters in ``[0, 2**64)``.

    Returns
    -------
    int
        Same value as Rust's ``rng::bits``.
    """
    key = seed_key(seed)
    ctr = (agent * K_AGENT + step * K_STEP + stream * K_STREAM) & MASK64
    return mix64_int((mix64_int(key ^ ctr) + GOLDEN) & MASK64)
