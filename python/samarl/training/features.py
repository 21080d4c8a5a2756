"""What a state-augmented policy sees: its network input, built from an observation and prices.

The input of the networks (built by :meth:`StateAugmentedPolicy.features
<samarl.training.policies.StateAugmentedPolicy.features>` from the pieces here), for agent ``n`` at
the coming step of day ``t`` (block ``h = block_of_step[t]``):

- scale-free local features (:func:`dynamic_features`): backlog and arrivals in units of the agent's
  mean arrivals per step, the backlog in units of one step at full power, the action that would
  clear the expected backlog, time of day (sin, cos), the position inside the current block
  (:func:`block_positions`);
- static agent features (:func:`agent_tables`): ``cost_linear``, ``cost_quadratic *
  mean_arrival``, ``log(max_energy / mean_arrival)``, ``log(mean_arrival)``;
- the agent's own arrival profile averaged per block (:func:`agent_tables`), rolled so the current
  block comes first (what it expects to arrive in the coming blocks: local information);

all of which go through a running mean/variance normaliser (its statistics are buffers, so they are
saved and restored with the policy), and finally (:func:`mult_features`)

- ``mult`` rolled so the current block comes first, scaled by ``1 / mult_max`` (no normaliser: it is
  already in ``[0, 1]`` when ``mult`` is in the training range), and the same rolled vector
  log-compressed, ``log1p(mult / (mult_log_ref * mult_max)) / log1p(1 / mult_log_ref)``, also in
  ``[0, 1]``: ``mult_max`` must be high enough that deferring everything is optimal, while the prices
  that shift load between neighbouring blocks are a few percent of it, and the compressed copy
  resolves them.

:func:`input_width` is the resulting width for a day of ``m`` blocks.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor

from samarl._validate import as_f32
from samarl.envs.dynamics import OBS_FIELDS
from samarl.errors import ArgumentTypeError

__all__ = [
    "NUM_DYNAMIC",
    "NUM_STATIC",
    "PARAM_NAMES",
    "agent_tables",
    "as_tensor",
    "block_positions",
    "dynamic_features",
    "input_width",
    "mult_features",
    "population_tables",
    "step_of_day_from_obs",
]

#: Columns of the env observation (:data:`samarl.envs.OBS_FIELDS`).
_BACKLOG, _ARRIVED, _SIN, _COS, _EXPECTED, _MAX_ENERGY, _MEAN_ARRIVAL = (
    OBS_FIELDS.index(name)
    for name in (
        "backlog",
        "arrived",
        "tod_sin",
        "tod_cos",
        "expected_arrival",
        "max_energy",
        "mean_arrival",
    )
)
#: Number of scale-free dynamic features built from one observation row.
NUM_DYNAMIC = 8
#: Number of static features per agent (see :func:`agent_tables`).
NUM_STATIC = 4
#: Floor of the means and energies the features divide by.
EPS = 1e-6


def input_width(num_blocks: int) -> int:
    """Width of the network input for a day of ``num_blocks`` blocks: the dynamic and static
    features, the rolled profile, and the two rolled multiplier vectors."""
    return NUM_DYNAMIC + NUM_STATIC + 3 * num_blocks


def agent_tables(
    params: dict[str, npt.ArrayLike],
    profiles: npt.ArrayLike,
    block_of_step: npt.ArrayLike,
    dt_hours: float,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Static per-agent inputs of the policy, from the env's built agent arrays.

    Parameters
    ----------
    params
        ``mean_arrival``, ``max_power``, ``cost_linear``, ``cost_quadratic``, ``profile_id``, each
        ``[N]`` (the scenario's built agent arrays).
    profiles
        ``[P, S]`` daily arrival profiles.
    block_of_step
        ``[S]`` block of every step of the day.
    dt_hours
        Step length (hours).

    Returns
    -------
    static : float32 ``[N, 4]``
        ``cost_linear``, ``cost_quadratic * mean_arrival`` (the quadratic weight in the agent's own
        units of backlog), ``log(max_power * dt / mean_arrival)`` (how many steps of mean arrivals
        one step at full power serves), ``log(mean_arrival)``.
    profile_blocks : float32 ``[N, m]``
        The agent's arrival profile averaged over each block (its expected arrivals per step in block
        ``h``, in units of its mean arrivals).
    """
    mu = np.asarray(params["mean_arrival"], dtype=np.float64)
    pmax = np.asarray(params["max_power"], dtype=np.float64)
    cl = np.asarray(params["cost_linear"], dtype=np.float64)
    cq = np.asarray(params["cost_quadratic"], dtype=np.float64)
    pid = np.asarray(params["profile_id"], dtype=np.int64)
    prof = np.atleast_2d(np.asarray(profiles, dtype=np.float64))
    blocks = np.asarray(block_of_step, dtype=np.int64)
    m = int(blocks.max()) + 1
    mu_safe = np.maximum(mu, EPS)
    static = np.stack(
        [cl, cq * mu_safe, np.log(np.maximum(pmax * dt_hours, EPS) / mu_safe), np.log(mu_safe)],
        axis=1,
    )
    counts = np.bincount(blocks, minlength=m).astype(np.float64)
    sums = np.zeros((prof.shape[0], m))
    np.add.at(sums.T, blocks, prof.T)
    per_block = sums / np.maximum(counts, 1.0)
    return static.astype(np.float32), per_block[pid].astype(np.float32)


#: The per-agent arrays of a built scenario that :func:`agent_tables` reads.
PARAM_NAMES = ("mean_arrival", "max_power", "cost_linear", "cost_quadratic", "profile_id")


def population_tables(
    data: Any, dt_hours: float
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """:func:`agent_tables` of a built scenario (:class:`~samarl.scenario.ScenarioData`)."""
    params = {k: getattr(data, k) for k in PARAM_NAMES}
    return agent_tables(params, data.profiles, data.block_of_step, dt_hours)


def block_positions(
    block_of_step: npt.NDArray[np.int64], num_blocks: int
) -> npt.NDArray[np.float32]:
    """``[S]`` offset of every step of the day inside its block, as a fraction of the block's
    length."""
    pos = np.zeros(block_of_step.shape[0], dtype=np.float32)
    for h in range(num_blocks):
        idx = np.flatnonzero(block_of_step == h)
        pos[idx] = np.arange(idx.size, dtype=np.float32) / max(idx.size, 1)
    return pos


def step_of_day_from_obs(obs: Tensor, steps_per_day: int) -> Tensor:
    """Step of day of the coming step, per row of ``obs``, recovered from the (sin, cos) columns."""
    angle = torch.atan2(obs[:, _SIN].double(), obs[:, _COS].double())
    return torch.round(angle / (2 * math.pi) * steps_per_day).long() % steps_per_day


def dynamic_features(obs: Tensor, block_position: Tensor) -> Tensor:
    """``[N, NUM_DYNAMIC]`` scale-free features of float32 observations ``[N, obs_dim]``, each
    row's step at ``block_position`` (``[N]``) of its block."""
    mu = obs[:, _MEAN_ARRIVAL].clamp_min(EPS)
    energy = obs[:, _MAX_ENERGY].clamp_min(EPS)
    q = obs[:, _BACKLOG]
    expected = obs[:, _EXPECTED]
    return torch.stack(
        [
            torch.log1p(q / mu),
            q / energy,
            obs[:, _ARRIVED] / mu,
            expected / mu,
            ((q + expected) / energy).clamp_max(2.0),
            obs[:, _SIN],
            obs[:, _COS],
            block_position,
        ],
        dim=1,
    )


def mult_features(rolled: Tensor, mult_max: float, mult_log_ref: float) -> tuple[Tensor, Tensor]:
    """The multipliers ``rolled`` (``[N, m]``, the current block first) as the policy reads them:
    scaled by ``1 / mult_max``, and log-compressed (both in ``[0, 1]`` over the training range)."""
    ref = mult_log_ref * mult_max
    squashed = torch.log1p(rolled.clamp_min(0.0) / ref) / math.log1p(mult_max / ref)
    return rolled / mult_max, squashed


def as_tensor(name: str, x: Any, device: torch.device, *, integer: bool = False) -> Tensor:
    """``x`` as a real tensor on ``device`` (a NumPy array or nested list is converted)."""
    if isinstance(x, Tensor):
        if x.is_complex() or (integer and x.is_floating_point()) or x.dtype == torch.bool:
            raise ArgumentTypeError(f"{name}: expected a real tensor, got dtype {x.dtype}")
        return x.to(device)
    if integer:
        arr = np.asarray(x)
        if arr.dtype.kind not in "iu" or (arr.dtype.kind == "u" and arr.itemsize == 8):
            raise ArgumentTypeError(f"{name}: expected integers, got dtype {arr.dtype}")
        return torch.from_numpy(arr.astype(np.int64)).to(device)
    arr = as_f32(name, x, finite=False)
    return torch.from_numpy(np.array(arr, copy=True)).to(device)
