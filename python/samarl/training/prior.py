"""The training price prior: the range of multipliers agents train on and how episodes draw them.

Each training episode gives every agent a daily multiplier profile ``mult`` ``[m]`` in
``[0, mult_max]``; the policy learns its response to every price it may meet at run time. ``mult_max``
must be high enough that deferring everything is optimal (:func:`default_mult_max`), and the
profiles mix flat, per-block, smooth and zero prices (:func:`sample_mults`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from samarl._validate import as_f64, positive_int, real
from samarl.errors import ArgumentTypeError, ShapeError

if TYPE_CHECKING:
    from samarl.training.config import TrainConfig

__all__ = ["default_mult_max", "sample_mults", "sample_mults_per_agent"]


def default_mult_max(
    mean_arrival: npt.ArrayLike,
    cost_linear: npt.ArrayLike,
    cost_quadratic: npt.ArrayLike,
    *,
    dt_hours: float,
    steps_per_day: int,
    gamma: float,
    backlog_days: float = 1.5,
) -> float:
    """A multiplier high enough that deferring everything is optimal for (almost) every agent.

    Serving one kWh costs ``mult / dt`` (reward per kWh: ``mult`` per kW over a step of ``dt``
    hours). Holding it costs the marginal waiting cost ``cost_linear + 2 cost_quadratic q`` per step
    at backlog ``q``; with discount ``gamma`` a flat price makes an agent hold until that marginal
    cost reaches ``(1 - gamma) * mult / dt`` (the discount earned by paying later). So the agent keeps
    deferring up to ``backlog_days`` days of arrivals when
    ``mult >= dt * (cost_linear + 2 cost_quadratic * backlog_days * S * mean_arrival) / (1 - gamma)``;
    this returns the 95th percentile of that over agents, rounded up to two significant digits.

    Every argument must be finite (arrays ``>= 0``, broadcasting together; ``gamma`` in
    ``[0, 1)``): anything else raises a :class:`~samarl.errors.InvalidValueError` naming it.
    """
    mu = as_f64("mean_arrival", mean_arrival, nonnegative=True)
    cl = as_f64("cost_linear", cost_linear, nonnegative=True)
    cq = as_f64("cost_quadratic", cost_quadratic, nonnegative=True)
    shape = mu.shape
    for name, arr in (("cost_linear", cl), ("cost_quadratic", cq)):
        try:
            shape = np.broadcast_shapes(shape, arr.shape)
        except ValueError:
            raise ShapeError(
                f"{name}: shape {list(arr.shape)} does not broadcast with mean_arrival's "
                f"{list(mu.shape)}"
            ) from None
    if 0 in shape:
        raise ShapeError("mean_arrival: expected at least one agent, got none")
    dt_hours = real("dt_hours", dt_hours, low=0.0, low_open=True)
    steps_per_day = positive_int("steps_per_day", steps_per_day)
    gamma = real("gamma", gamma, low=0.0, high=1.0, high_open=True)
    backlog_days = real("backlog_days", backlog_days, low=0.0)
    q = backlog_days * steps_per_day * mu
    with np.errstate(over="ignore", invalid="ignore"):
        need = dt_hours * (cl + 2.0 * cq * q) / (1.0 - gamma)
    value = float(np.quantile(need, 0.95))
    if not (value > 0 and math.isfinite(value)):
        return 1.0
    digits = 10 ** (math.floor(math.log10(value)) - 1)
    return math.ceil(value / digits) * digits


def sample_mults(
    rng: np.random.Generator, num_agents: int, num_blocks: int, mult_max: float, config: TrainConfig
) -> npt.NDArray[np.float32]:
    """One daily multiplier profile per agent, ``[N, m]`` in ``[0, mult_max]``.

    A mixture (shares from ``config``): flat profiles, independent uniform entries per block, smooth
    profiles (a level plus two random harmonics of the day, clipped to the range: they include the
    peaked profiles the dual dynamics produce), and zero. Levels are ``mult_max * u**mult_exponent``.

    ``rng`` is a :class:`numpy.random.Generator`, ``config`` a
    :class:`~samarl.training.TrainConfig` and ``mult_max`` a finite number ``> 0``; anything else
    raises a :class:`~samarl.errors.InvalidValueError` naming the argument.
    """
    if not isinstance(rng, np.random.Generator):
        raise ArgumentTypeError(
            f"rng: expected a numpy.random.Generator (np.random.default_rng(seed)), got "
            f"{type(rng).__name__}"
        )
    n = positive_int("num_agents", num_agents)
    m = positive_int("num_blocks", num_blocks)
    mult_max = _mult_max(mult_max)
    _check_config(config)
    kind = rng.choice(4, size=n, p=_shares(config))
    level = rng.random(n)
    blocks = rng.random((n, m))
    amp = rng.random((n, 2)) * rng.random((n, 1))
    shift = rng.random((n, 2))
    return _mixture(kind, level, blocks, amp, shift, mult_max, config)


def sample_mults_per_agent(
    seed: int,
    rows: npt.NDArray[np.uint64],
    episode: int,
    num_blocks: int,
    mult_max: float,
    config: TrainConfig,
) -> npt.NDArray[np.float32]:
    """:func:`sample_mults`' mixture drawn from counter-based streams, ``[len(rows), m]``.

    Row ``i`` draws from ``(seed, STREAM_MULTS, rows[i], episode * 2**32 + j)`` only
    (:mod:`samarl.rng`), so its profile does not depend on which other rows are drawn
    with it: the per-agent-weights trainer keys ``rows`` by global row id (``copy * N + agent``),
    and agents ``a..b`` trained alone draw what they draw among all N.
    """
    from samarl.rng import STREAM_MULTS, uniform_f64

    m = positive_int("num_blocks", num_blocks)
    mult_max = _mult_max(mult_max)
    _check_config(config)
    base = np.uint64(episode) << np.uint64(32)
    draws = base + np.arange(m + 7, dtype=np.uint64)  # kind, level, m blocks, 2 + 1 amp, 2 shift
    u = uniform_f64(seed, STREAM_MULTS, np.asarray(rows, dtype=np.uint64)[:, None], draws[None])
    cumulative = np.cumsum(_shares(config))
    kind = np.minimum(np.searchsorted(cumulative, u[:, 0], side="right"), 3)
    amp = u[:, m + 2 : m + 4] * u[:, m + 4 : m + 5]
    return _mixture(kind, u[:, 1], u[:, 2 : m + 2], amp, u[:, m + 5 :], mult_max, config)


def _mult_max(value: float) -> float:
    """``mult_max`` as a finite float ``> 0`` (profiles are float32: at most its range)."""
    return real("mult_max", value, low=0.0, high=float(np.finfo(np.float32).max), low_open=True)


def _check_config(config: TrainConfig) -> None:
    from samarl.training.config import TrainConfig

    if not isinstance(config, TrainConfig):
        raise ArgumentTypeError(
            f"config: expected a TrainConfig (its mult_* shares and exponent), got "
            f"{type(config).__name__}"
        )


def _shares(config: TrainConfig) -> npt.NDArray[np.float64]:
    """The four profile kinds' probabilities (flat, per block, smooth, zero), summing to 1."""
    shares = np.array(
        [
            config.mult_flat_prob,
            config.mult_block_prob,
            config.mult_smooth_prob,
            config.mult_zero_prob,
        ]
    )
    return shares / shares.sum()


def _mixture(
    kind: npt.NDArray[np.int64],
    level_u: npt.NDArray[np.float64],
    blocks_u: npt.NDArray[np.float64],
    amp: npt.NDArray[np.float64],
    shift_u: npt.NDArray[np.float64],
    mult_max: float,
    config: TrainConfig,
) -> npt.NDArray[np.float32]:
    """The profiles from their uniform draws (``kind`` in 0..3, the rest in ``[0, 1)``)."""
    n, m = blocks_u.shape
    k = config.mult_exponent
    level = level_u**k
    blocks = blocks_u**k
    phase = np.arange(m) / m * 2 * np.pi
    shift = shift_u * 2 * np.pi
    wave = amp[:, :1] * np.cos(phase[None] + shift[:, :1]) + amp[:, 1:] * np.cos(
        2 * phase[None] + shift[:, 1:]
    )
    smooth = np.clip(level[:, None] + wave, 0.0, 1.0)
    out = np.select(
        [kind[:, None] == 0, kind[:, None] == 1, kind[:, None] == 2],
        [np.broadcast_to(level[:, None], (n, m)), blocks, smooth],
        0.0,
    )
    return (out * mult_max).astype(np.float32)
