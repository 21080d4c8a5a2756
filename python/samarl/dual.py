"""Dual dynamics at run time (DESIGN.md section 3): each agent's own multiplier copy, per block.

When block ``h`` of the day ends (after ``dual_epoch_len`` days of it), agent ``n``

1. estimates the total use from its own average use over the block, ``N * ghat^n_h``
   (or, with tracking, from its running estimate ``y^n_h`` of the network average of ``ghat``);
2. takes a projected step on the relative excess over capacity,
   ``mult^n_h <- clip(mult^n_h + dual_step_size * (N * ghat^n_h - C_h) / C_h, 0, mult_max)``;
3. averages its copy with its neighbours for ``consensus_rounds`` rounds
   (:class:`samarl.Consensus`).

The modes share this one code path: ``consensus`` (K > 0), ``independent`` (K = 0: each agent prices
from its own use), ``tracking`` (dynamic average tracking of ``ghat``, which removes the bias of the
local estimate), ``centralized`` (one price from the true total, broadcast) and ``unconstrained``
(``mult = 0``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from samarl.consensus import Consensus
from samarl.errors import ConfigError, DisconnectedGraphError
from samarl.graph import GRAPH_FAMILIES, Graph, make_graph

__all__ = ["MODES", "DualConfig", "DualState"]

F32 = npt.NDArray[np.float32]
Mode = Literal["consensus", "independent", "centralized", "unconstrained", "tracking"]
MODES: tuple[str, ...] = ("consensus", "independent", "centralized", "unconstrained", "tracking")


@dataclass(frozen=True, slots=True)
class DualConfig:
    """How agents update and share their multipliers at run time."""

    mode: Mode = "consensus"
    """One of :data:`MODES`."""
    consensus_rounds: int = 10
    """K: consensus rounds after every local dual step (``independent`` forces 0)."""
    dual_step_size: float | None = None
    """eta: step on the relative excess ``(N ghat - C) / C`` (mult units); None: 0.1 mult_max."""
    dual_epoch_len: int = 1
    """T0, in days: a block's multiplier is updated after every T0 days of it (>= 1)."""
    mult_init: float = 0.0
    """Initial multiplier of every agent and block."""
    graph: str = "small_world"
    """Communication graph family (see :data:`samarl.graph.GRAPH_FAMILIES`); the default, a ring of
    neighbours with a few random shortcuts, is connected at any size."""
    graph_params: tuple[tuple[str, float], ...] = ()
    """Extra parameters of the graph family, e.g. ``(("k", 2),)``."""
    graph_seed: int = 0
    """Seed of random graph families."""
    drop_prob: float = 0.0
    """Probability that a link fails in a consensus round (weights re-normalised per round)."""

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"mode: unknown mode {self.mode!r}; choose from {list(MODES)}")
        if not isinstance(self.consensus_rounds, int) or self.consensus_rounds < 0:
            raise ConfigError(
                f"consensus_rounds: must be an integer >= 0, got {self.consensus_rounds!r}"
            )
        if self.dual_step_size is not None and not (
            np.isfinite(self.dual_step_size) and self.dual_step_size > 0
        ):
            raise ConfigError(f"dual_step_size: must be > 0, got {self.dual_step_size!r}")
        if not isinstance(self.dual_epoch_len, int) or self.dual_epoch_len < 1:
            raise ConfigError(
                f"dual_epoch_len: must be an integer >= 1 (days), got {self.dual_epoch_len!r}"
            )
        if not (np.isfinite(self.mult_init) and self.mult_init >= 0):
            raise ConfigError(f"mult_init: must be >= 0, got {self.mult_init!r}")
        if self.graph not in GRAPH_FAMILIES:
            raise ConfigError(
                f"graph: unknown family {self.graph!r}; choose from {sorted(GRAPH_FAMILIES)}"
            )
        if not 0.0 <= self.drop_prob < 1.0:
            raise ConfigError(f"drop_prob: must be in [0, 1), got {self.drop_prob!r}")

    @property
    def rounds(self) -> int:
        """Consensus rounds actually run (0 unless the mode shares multipliers)."""
        return self.consensus_rounds if self.mode in ("consensus", "tracking") else 0

    def replace(self, **changes: object) -> DualConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


class DualState:
    """The multipliers ``mult[n, h]`` of N agents and m blocks, and the rule that updates them.

    Parameters
    ----------
    config
        The dual dynamics.
    capacity_per_block
        ``[m]`` total capacity ``C_h`` of each block (kW, mean over the block's steps).
    num_agents
        N.
    mult_max
        Upper end of the multipliers' range (the range the policies saw in training).
    graph
        The communication graph; built from ``config`` when omitted.
    """

    def __init__(
        self,
        config: DualConfig,
        capacity_per_block: npt.ArrayLike,
        num_agents: int,
        mult_max: float,
        graph: Graph | None = None,
    ) -> None:
        self.config = config
        self.capacity = np.asarray(capacity_per_block, dtype=np.float64)
        if (self.capacity <= 0).any():
            raise ConfigError("capacity: every block's capacity must be > 0")
        self.num_agents = num_agents
        self.num_blocks = int(self.capacity.size)
        self.mult_max = float(mult_max)
        self.step_size = config.dual_step_size or 0.1 * self.mult_max
        init = 0.0 if config.mode == "unconstrained" else min(config.mult_init, self.mult_max)
        self.mult = np.full((num_agents, self.num_blocks), init, dtype=np.float32)
        self.consensus: Consensus | None = None
        if config.rounds > 0:
            if graph is None:
                graph = make_graph(
                    config.graph, num_agents, seed=config.graph_seed, **dict(config.graph_params)
                )
            if not graph.is_connected():
                raise DisconnectedGraphError(
                    f"graph: the {config.graph} communication graph of {num_agents} agents is "
                    f"disconnected; consensus with K = {config.rounds} > 0 needs a connected graph "
                    "(use more neighbours or another family)"
                )
            self.consensus = Consensus(graph)
        self.graph = graph
        # Tracking: y[n, h] estimates the network average of ghat[., h]; last ghat per block.
        self._track_y: F32 | None = None
        self._track_last: F32 | None = None
        self._updates = np.zeros(self.num_blocks, dtype=np.int64)

    def update(self, block: int, ghat: F32) -> None:
        """Ends an epoch of ``block`` with each agent's average use ``ghat`` ([N], kW)."""
        cfg, h = self.config, block
        if cfg.mode == "unconstrained":
            return
        n, cap = self.num_agents, self.capacity[h]
        if cfg.mode == "centralized":
            excess = (float(ghat.astype(np.float64).sum()) - cap) / cap
            new = np.clip(self.mult[0, h] + self.step_size * excess, 0.0, self.mult_max)
            self.mult[:, h] = new
            return
        estimate = ghat
        if cfg.mode == "tracking":
            estimate = self._track(h, ghat)
        excess = (n * estimate.astype(np.float64) - cap) / cap
        col = np.clip(self.mult[:, h] + self.step_size * excess, 0.0, self.mult_max).astype(
            np.float32
        )
        if self.consensus is not None and cfg.rounds > 0:
            if cfg.drop_prob > 0:
                col = self.consensus.mix_lossy(
                    col,
                    cfg.rounds,
                    drop_prob=cfg.drop_prob,
                    seed=cfg.graph_seed,
                    round_offset=int(self._updates.sum()) * cfg.rounds,
                )
            else:
                col = self.consensus.mix(col, cfg.rounds)
        self.mult[:, h] = col
        self._updates[h] += 1

    def _track(self, h: int, ghat: F32) -> F32:
        assert self.consensus is not None
        if self._track_y is None or self._track_last is None:
            self._track_y = np.zeros((self.num_agents, self.num_blocks), dtype=np.float32)
            self._track_last = np.zeros_like(self._track_y)
        g_new = ghat.astype(np.float32)
        y = self._track_y[:, h].copy()
        if self._updates[h] == 0:
            y = g_new.copy()  # y starts at the agent's own measurement
        else:
            y = self.consensus.track(y, g_new, self._track_last[:, h], self.config.rounds)
        self._track_y[:, h] = y
        self._track_last[:, h] = g_new
        return y

    def consensus_error(self) -> tuple[float, float]:
        """``(max, mean)`` over agents and blocks of ``|mult^n_h - mean_n mult_h|``."""
        dev = np.abs(self.mult - self.mult.mean(axis=0, dtype=np.float64))
        return float(dev.max()), float(dev.mean())
