"""Dual ascent during training: the price schedule of the Lagrangian baselines.

The Independent-Lagrangian and MAPPO-Lagrangian trainers learn their multipliers while they train:
after every iteration, one projected dual ascent step per block on the use measured in that
iteration's rollouts. The step is the executor's (:class:`samarl.execution.dual.DualStep`: its
``local`` step, ``project`` and step size ``eta``), in one of the executor's two modes without
communication:

- ``independent``: every agent ``n`` its own multipliers ``mult^n`` (``[N, m]``), stepped on its
  own estimate of the total, ``N * ghat^n_h`` (its use averaged over block ``h``'s steps and over
  the simulated copies of the population);
- ``centralized``: one multiplier per block (``[1, m]``, every row sees it), stepped on the total
  use ``G_h`` of the population (averaged over the copies).

Either way ``mult_h <- clip(mult_h + eta * (estimate_h - C_h) / C_h, 0, mult_max)`` with ``eta =
dual_lr * mult_max``, where the use and the capacity ``C_h`` are both averaged over the steps of
block ``h`` that the rollouts saw (a block the iteration did not reach keeps its price). As at run
time, the multipliers are float32.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor

from samarl.execution.dual import DualConfig, DualStep
from samarl.training.prices import PricedRows, PriceSchedule

__all__ = ["DualAscent"]

F32 = npt.NDArray[np.float32]


class DualAscent(PriceSchedule):
    """Prices that follow projected dual ascent on each iteration's measured use.

    Parameters
    ----------
    mode
        ``"independent"`` (a multiplier vector per agent) or ``"centralized"`` (one for all).
    dual_lr
        Step per iteration, as a fraction of ``mult_max`` per unit of relative excess.
    mult_init
        Initial multiplier of every block, as a fraction of ``mult_max``.
    """

    mult: F32
    """``[N, m]`` (independent) or ``[1, m]`` (centralized) current multipliers."""
    excess: npt.NDArray[np.float64]
    """The last update's relative excess ``(estimate - C_h) / C_h``, shaped as :attr:`mult` (0
    where a block was not updated)."""

    def __init__(
        self, mode: Literal["independent", "centralized"], *, dual_lr: float, mult_init: float
    ) -> None:
        if mode not in ("independent", "centralized"):
            raise ValueError(f"mode: expected 'independent' or 'centralized', got {mode!r}")
        self.mode = mode
        self.dual_lr = float(dual_lr)
        self.mult_init = float(mult_init)

    def setup(self, rows: PricedRows) -> None:
        super().setup(rows)
        config = DualConfig(
            mode=self.mode,
            dual_step_size=self.dual_lr * rows.mult_max,
            mult_init=self.mult_init * rows.mult_max,
        )
        owners = rows.num_agents if self.mode == "independent" else 1
        # The capacity is that of the steps each update saw (set per update).
        self.rule = DualStep(config, np.ones(rows.num_blocks), owners, rows.mult_max)
        m = rows.num_blocks
        self.mult = np.full((owners, m), self.rule.mult_init, dtype=np.float32)
        self.excess = np.zeros((owners, m))
        self.updates = np.zeros(m, dtype=np.int64)
        self._use = np.zeros((owners, m))
        self._steps = np.zeros(m, dtype=np.int64)
        self._capacity = np.zeros(m)

    def _prices(self) -> F32:
        """The multipliers of every row ``[copies * N, m]``."""
        rows = self.rows
        if self.mode == "independent":
            return np.tile(self.mult, (rows.copies, 1))
        return np.broadcast_to(self.mult, (rows.rows, rows.num_blocks)).copy()

    def episode(self, episode: int) -> F32:
        return self._prices()

    def record(self, step_of_day: int, use: Tensor) -> None:
        rows = self.rows
        h = int(rows.block_of_step[step_of_day])
        if self.mode == "independent":  # each agent's use, averaged over the copies
            own = use.view(rows.copies, rows.num_agents).double().mean(0)
            self._use[:, h] += own.cpu().numpy()
        else:  # the population's total, averaged over the copies
            self._use[0, h] += float(use.sum(dtype=torch.float64)) / rows.copies
        self._steps[h] += 1
        self._capacity[h] += rows.capacity[step_of_day]

    def update(self) -> F32:
        """One step of every block the iteration's rollouts reached; returns the new prices."""
        seen = np.flatnonzero(self._steps)
        capacity = self._capacity / np.maximum(self._steps, 1)
        rule = dataclasses.replace(self.rule, capacity=capacity)
        self.excess[:] = 0.0
        for h in seen:
            estimate = rule.average_use(self._use[:, h], int(self._steps[h]))
            col, excess = rule.local(
                self.mult[:, h], estimate, int(h), rule.eta(int(self.updates[h]))
            )
            self.mult[:, h] = rule.project(col)
            self.excess[:, h] = excess
            self.updates[h] += 1
        self._use[:] = 0.0
        self._steps[:] = 0
        self._capacity[:] = 0.0
        return self._prices()

    def state(self) -> dict[str, Any]:
        return {"mult": self.mult.copy(), "updates": self.updates.copy()}

    def load_state(self, state: dict[str, Any]) -> None:
        self.mult[:] = np.asarray(state["mult"], dtype=np.float32)
        self.updates[:] = np.asarray(state["updates"], dtype=np.int64)
