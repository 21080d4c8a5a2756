"""Counter-based random numbers, drawn by the engine.

A value is a pure function of ``(seed, stream, agent, step)`` (SplitMix64's finaliser on a
combination of the counters: ``rust/samarl-core/src/rng.rs``), so a row's draws do not depend on
which other rows are drawn with it, on the batch, or on the number of threads. The functions here
have the names, arguments and values, bit for bit, of :mod:`samarl.reference.rng` (the tests'
NumPy oracle), and take the same broadcasting of ``agent`` against ``step``; the engine draws
them, in parallel over large batches.

The per-agent streams of training with per-agent weights are keyed by the agent's global id (or
the simulated row's, ``copy * N + agent``), so agents ``a..b`` trained alone draw exactly what
they draw in a run over all N agents:

- :data:`STREAM_INIT`: initial weights (agent id, position in the agent's weights);
- :data:`STREAM_ACTION_NOISE`: action noise (row id, step of training);
- :data:`STREAM_MULTS`: each episode's multiplier profile (row id, ``episode * 2**32 + draw``);
- :data:`STREAM_BACKLOG`: each episode's initial backlog (row id, episode).

Streams 1 and 2 are the engine's own (the env's arrivals and the lossy-consensus links).

:func:`normal_f64` takes its logarithm from NumPy: the values must be those NumPy draws, and
NumPy's ``float64`` logarithm is not the C library's everywhere (on x86-64 with AVX-512 it is
Intel SVML's, which differs from glibc's in the last bit on about 0.3% of inputs). The engine draws
the bits, both uniforms and the cosine (NumPy's ``float64`` cosine is the C library's).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from samarl import _core
from samarl._validate import as_counter, check_memory
from samarl._validate import seed as seed_
from samarl.errors import ShapeError

__all__ = [
    "STREAM_ACTION_NOISE",
    "STREAM_ARRIVALS",
    "STREAM_BACKLOG",
    "STREAM_INIT",
    "STREAM_LINKS",
    "STREAM_MULTS",
    "normal_f64",
    "uniform_f32",
    "uniform_f64",
]

U64 = npt.NDArray[np.uint64]
F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

#: Stream id of the environment's arrival draws.
STREAM_ARRIVALS = 1
#: Stream id of the lossy-consensus link drops.
STREAM_LINKS = 2
#: Stream id of the initial per-agent weights (agent id, position in the agent's weights).
STREAM_INIT = 3
#: Stream id of the training action noise (row id ``copy * N + agent``, step of training).
STREAM_ACTION_NOISE = 4
#: Stream id of each episode's multiplier profile (row id, ``episode * 2**32 + draw``).
STREAM_MULTS = 5
#: Stream id of each episode's initial backlog (row id, episode).
STREAM_BACKLOG = 6

#: Peak bytes per value drawn: the counters of a pairing (16), the engine's outputs and NumPy's
#: temporaries of a normal (8 each).
_BYTES_PER_VALUE = 48


def uniform_f32(seed: int, stream: int, agent: npt.ArrayLike, step: npt.ArrayLike) -> F32:
    """A uniform ``float32`` in ``[0, 1)`` (24 random bits) for ``(seed, stream, agent, step)``.

    Parameters
    ----------
    seed, stream : int
        Integers in ``[0, 2**64)``.
    agent, step : array_like of int
        Counters in ``[0, 2**64)``, broadcast against each other (as NumPy broadcasts).

    Returns
    -------
    numpy.ndarray
        ``float32`` array of the broadcast shape (0-d for two scalars).
    """
    out: F32 = _draw(_core.uniform_f32, seed, stream, agent, step)
    return out


def uniform_f64(seed: int, stream: int, agent: npt.ArrayLike, step: npt.ArrayLike) -> F64:
    """A uniform ``float64`` in ``(0, 1]`` for ``(seed, stream, agent, step)``: the top 53 random
    bits plus one half, times ``2**-53`` (never 0, so its logarithm is finite; exactly 1 for the
    one draw with all 53 bits set, which the sum rounds up). Arguments as :func:`uniform_f32`."""
    out: F64 = _draw(_core.uniform_f64, seed, stream, agent, step)
    return out


def normal_f64(seed: int, stream: int, agent: npt.ArrayLike, step: npt.ArrayLike) -> F64:
    """A standard normal ``float64`` for ``(seed, stream, agent, step)``: Box–Muller,
    ``sqrt(-2 log u1) cos(2 pi u2)`` on the uniforms of the counters ``2 * step`` and
    ``2 * step + 1`` (wrapping modulo ``2**64``). Arguments as :func:`uniform_f32`."""
    u1, cosine = _draw(_core.box_muller_f64, seed, stream, agent, step)
    # The reference's expression: NumPy's logarithm (the module's docstring says why), then
    # correctly rounded IEEE operations.
    out: F64 = np.sqrt(-2.0 * np.log(u1)) * cosine
    return out


def _draw(
    kernel: Callable[..., Any],
    seed: int,
    stream: int,
    agent: npt.ArrayLike,
    step: npt.ArrayLike,
) -> Any:
    """Validates and broadcasts the counters, runs ``kernel`` and reshapes its output(s)."""
    s = seed_(seed)
    c = seed_(stream, "stream")
    a, t = as_counter("agent", agent), as_counter("step", step)
    try:
        shape = np.broadcast_shapes(a.shape, t.shape)
    except ValueError:
        raise ShapeError(
            f"step: shape {list(t.shape)} does not broadcast against agent's {list(a.shape)}"
        ) from None
    size = int(np.prod(shape, dtype=np.float64))
    check_memory("agent", size, "values", size * _BYTES_PER_VALUE)
    agents, steps, grid = _layout(a, t, shape)
    out = kernel(s, c, agents, steps, grid=grid)
    if isinstance(out, tuple):
        return tuple(np.reshape(x, shape) for x in out)
    return np.reshape(out, shape)


def _layout(a: U64, t: U64, shape: tuple[int, ...]) -> tuple[U64, U64, bool]:
    """The counters as the engine takes them: a grid (every agent with every step) when ``agent``
    varies over leading axes of ``shape`` only and ``step`` over the others (the shapes every
    caller uses: a vector of agents with a scalar step, ``[A, 1]`` with ``[S]``), else one pair
    per value."""
    d = len(shape)
    pa = (1,) * (d - a.ndim) + a.shape
    pt = (1,) * (d - t.ndim) + t.shape
    for k in range(d + 1):
        if all(n == 1 for n in pa[k:]) and all(n == 1 for n in pt[:k]):
            agents = np.broadcast_to(a.reshape(pa[:k]), shape[:k]).reshape(-1)
            steps = np.broadcast_to(t.reshape(pt[k:]), shape[k:]).reshape(-1)
            return np.ascontiguousarray(agents), np.ascontiguousarray(steps), True
    pairs = np.broadcast_arrays(a, t)
    return (
        np.ascontiguousarray(pairs[0]).reshape(-1),
        np.ascontiguousarray(pairs[1]).reshape(-1),
        False,
    )
