"""Price schedules: the multipliers a trainer's rows train on, and how they change.

A :class:`~samarl.training.Trainer` holds one schedule, a strategy object it is given (or the
training prior by default). It asks the schedule for each new episode's prices
(:meth:`PriceSchedule.episode`), shows it every step's resource use (:meth:`PriceSchedule.record`),
and after every iteration lets it update (:meth:`PriceSchedule.update`), which may change the
prices of the running episode. Whatever a schedule accumulates is its own state, saved in the
trainer's checkpoints (:meth:`PriceSchedule.state`).

- :class:`TrainingPrior` (the state-augmented method): prices drawn per episode and per row from
  the training price prior (:mod:`samarl.training.prior`);
- :class:`FixedPrices`: the same prices always (IPPO trains at zero);
- dual ascent on the measured use, the Lagrangian baselines' schedule:
  :class:`samarl.baselines.dual_ascent.DualAscent`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from torch import Tensor

from samarl.training.config import TrainConfig
from samarl.training.prior import sample_mults, sample_mults_per_agent

__all__ = ["FixedPrices", "PriceSchedule", "PricedRows", "TrainingPrior"]

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class PricedRows:
    """What a schedule knows of the rows it prices (the trainer's, given at :meth:`setup
    <PriceSchedule.setup>`)."""

    num_agents: int
    """N, the agents trained: row ``r * N + n`` is copy ``r`` of agent ``n``."""
    copies: int
    """Copies of the agents simulated side by side."""
    num_blocks: int
    """m, blocks of the day (one price each)."""
    mult_max: float
    """Top of the price range."""
    block_of_step: npt.NDArray[np.int64]
    """``[S]`` block of every step of the day."""
    capacity: npt.NDArray[np.float64]
    """``[S]`` total capacity ``C_t`` (kW) at every step of the day."""

    @property
    def rows(self) -> int:
        """``copies * N``."""
        return self.copies * self.num_agents


class PriceSchedule:
    """How a trainer chooses the multipliers ``[rows, m]`` its rows train on (a strategy the
    trainer calls; the defaults do nothing but :meth:`episode`, which every schedule defines)."""

    rows: PricedRows

    def setup(self, rows: PricedRows) -> None:
        """Called once by the trainer, before the first :meth:`episode`."""
        self.rows = rows

    def episode(self, episode: int) -> F32:
        """The prices ``[rows, m]`` of the episode just started (``episode``: its index, from 0)."""
        raise NotImplementedError

    def record(self, step_of_day: int, use: Tensor) -> None:
        """One rollout step's resource use ``[rows]`` (kW), taken at ``step_of_day``."""

    def update(self) -> F32 | None:
        """After an iteration: the running episode's new prices ``[rows, m]``, or None (unchanged)."""
        return None

    def state(self) -> dict[str, Any]:
        """What a checkpoint needs to continue the schedule exactly (empty: nothing)."""
        return {}

    def load_state(self, state: dict[str, Any]) -> None:
        """Restores :meth:`state`'s output."""


class TrainingPrior(PriceSchedule):
    """Prices drawn per episode and per row from the training price prior
    (:func:`~samarl.training.prior.sample_mults`, settings from ``config``): from ``rng`` or, with
    ``streams = (seed, row_ids)``, row ``i`` from its own counter-based stream keyed by its global
    id ``row_ids[i]`` (:func:`~samarl.training.prior.sample_mults_per_agent`)."""

    def __init__(
        self,
        config: TrainConfig,
        rng: np.random.Generator,
        streams: tuple[int, npt.NDArray[np.uint64]] | None = None,
    ) -> None:
        self.config = config
        self.rng = rng
        self.streams = streams

    def episode(self, episode: int) -> F32:
        rows, cfg = self.rows, self.config
        if self.streams is not None:
            seed, row_ids = self.streams
            return sample_mults_per_agent(
                seed, row_ids, episode, rows.num_blocks, rows.mult_max, cfg
            )
        return sample_mults(self.rng, rows.rows, rows.num_blocks, rows.mult_max, cfg)


class FixedPrices(PriceSchedule):
    """Every row at ``value`` in every block, always (``value = 0``: unconstrained training)."""

    def __init__(self, value: float = 0.0) -> None:
        self.value = float(value)

    def episode(self, episode: int) -> F32:
        return np.full((self.rows.rows, self.rows.num_blocks), self.value, dtype=np.float32)
