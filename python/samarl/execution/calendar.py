"""The blocks of a scenario's day: when each starts and ends, how long it is, its capacity.

Every run (one process or split into parts) walks the same calendar: at a block's first step of
the day the price in force is recorded, at its last step the block's dual epoch may end
(docs/method.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from samarl.scenario import ScenarioData

__all__ = ["BlockCalendar"]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class BlockCalendar:
    """The ``m`` blocks of a day of ``S`` steps (:meth:`of` a built scenario)."""

    block_of_step: I64
    """``[S]`` block of every step of the day."""
    block_len: I64
    """``[m]`` steps in each block."""
    capacity_per_block: F64
    """``[m]`` each block's capacity ``C_h``: the mean over its steps of the total capacity (kW)."""
    starts_at: I64
    """``[S]`` the block whose first step of the day this is, else -1."""
    ends_at: I64
    """``[S]`` the block whose last step of the day this is, else -1."""

    @classmethod
    def of(cls, data: ScenarioData) -> BlockCalendar:
        """The calendar of ``data`` (its ``block_of_step`` and ``capacity``)."""
        blocks = np.asarray(data.block_of_step, dtype=np.int64)
        s, m = blocks.size, int(blocks.max()) + 1
        block_len = np.bincount(blocks, minlength=m)
        capacity = np.bincount(blocks, weights=data.capacity, minlength=m) / block_len
        starts_at = np.full(s, -1, dtype=np.int64)
        ends_at = np.full(s, -1, dtype=np.int64)
        for h in range(m):
            steps = np.flatnonzero(blocks == h)
            starts_at[int(steps.min())] = h
            ends_at[int(steps.max())] = h
        return cls(blocks, block_len, capacity, starts_at, ends_at)

    @property
    def steps_per_day(self) -> int:
        """``S``."""
        return int(self.block_of_step.size)

    @property
    def num_blocks(self) -> int:
        """``m``."""
        return int(self.block_len.size)
