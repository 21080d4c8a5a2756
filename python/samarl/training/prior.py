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

if TYPE_CHECKING:
    from samarl.training.config import TrainConfig

__all__ = ["default_mult_max", "sample_mults"]


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
    """
    mu = np.asarray(mean_arrival, dtype=np.float64)
    cl = np.asarray(cost_linear, dtype=np.float64)
    cq = np.asarray(cost_quadratic, dtype=np.float64)
    q = backlog_days * steps_per_day * mu
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
    """
    n, m = num_agents, num_blocks
    shares = np.array(
        [
            config.mult_flat_prob,
            config.mult_block_prob,
            config.mult_smooth_prob,
            config.mult_zero_prob,
        ]
    )
    kind = rng.choice(4, size=n, p=shares / shares.sum())
    k = config.mult_exponent
    level = rng.random(n) ** k
    blocks = rng.random((n, m)) ** k
    phase = np.arange(m) / m * 2 * np.pi
    amp = rng.random((n, 2)) * rng.random((n, 1))
    shift = rng.random((n, 2)) * 2 * np.pi
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
