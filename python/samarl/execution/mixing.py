"""Mixing the agents' stepped multipliers: the one part of the dual update that differs between a
run in one process and one split across machines.

An update (:class:`~samarl.execution.dual.DualUpdate`) steps every participating agent's copy into
a working column, asks its *mixer* for ``K`` consensus rounds on that column, then projects. A
mixer is anything with

- ``mix(rounds, round_offset)``: ``rounds`` rounds of ``x <- W x`` on the working column of every
  holder of rows (``round_offset``: the lossy-link round counter of the first one);
- ``estimate(block, first)``: the tracking mode's estimate of the network average use;
- ``remove(keep)``: the agents ``keep`` (ascending global ids) go on alone, on their induced
  subgraph (agent removal);
- ``graph_facts()``: the graph entry of a run's metrics.

:class:`ConsensusMixer` mixes the rows of one process with the engine's :class:`samarl.Consensus`;
:class:`samarl.distributed.partitions.HaloMixer` mixes the rows of Ray actors by halo exchange.
:class:`DualState` is the dual dynamics of N agents in one process: their
:class:`~samarl.execution.dual.DualRows` and a :class:`ConsensusMixer` under the one
:class:`~samarl.execution.dual.DualUpdate`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from samarl._validate import (
    MAX_AGENTS,
    as_f32,
    as_f64,
    as_index,
    check_memory,
    config_real,
    positive_int,
)
from samarl.comms import Consensus, Graph, make_graph
from samarl.errors import ConfigError, DisconnectedGraphError, GraphError, InvalidValueError
from samarl.execution.dual import (
    FREE_ROUNDS,
    MAX_MULT,
    USEFUL_ROUNDS_FACTOR,
    DualConfig,
    DualRows,
    DualStep,
    DualUpdate,
    dual_bytes,
)

__all__ = ["ConsensusMixer", "DualState", "survivors_graph"]

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]


def survivors_graph(graph: Graph, keep: I64) -> Graph:
    """The subgraph of ``graph`` induced by the nodes ``keep`` (ascending), relabelled ``0..A-1``
    in the order of ``keep`` (the communication graph after agent removal)."""
    n = graph.num_nodes
    new_id = np.full(n, -1, dtype=np.int64)
    new_id[keep] = np.arange(keep.size)
    src = np.repeat(np.arange(n), np.diff(graph.indptr))
    a, b = new_id[src], new_id[graph.indices]
    ok = (a >= 0) & (b >= 0) & (a < b)
    return Graph.from_edges(int(keep.size), np.stack([a[ok], b[ok]], axis=1))


def communication_graph(config: DualConfig, num_agents: int, graph: Graph | None = None) -> Graph:
    """The connected communication graph of ``config`` on ``num_agents`` agents (``graph``, checked,
    when given)."""
    if graph is None:
        graph = make_graph(
            config.graph, num_agents, seed=config.graph_seed, **dict(config.graph_params)
        )
    if not isinstance(graph, Graph) or graph.num_nodes != num_agents:
        raise GraphError(
            f"graph: expected a samarl.Graph on num_agents = {num_agents} nodes, got {graph!r}"
        )
    if not graph.is_connected():
        raise DisconnectedGraphError(
            f"graph: the {config.graph} communication graph of {num_agents} agents is "
            f"disconnected; consensus with K = {config.rounds} > 0 needs a connected graph "
            "(use more neighbours or another family)"
        )
    return graph


class ConsensusMixer:
    """Mixes the working column of the rows of one process (:class:`DualRows`) with the engine's
    consensus kernels on the communication graph (lossy links with ``drop_prob > 0``)."""

    def __init__(self, config: DualConfig, rows: DualRows, graph: Graph) -> None:
        self.config = config
        self.rows = rows
        self.graph = graph
        self._base_graph = graph
        self.consensus = Consensus(graph)
        self.components = 1
        check_rounds(config, self.consensus)

    def mix(self, rounds: int, round_offset: int) -> None:
        cfg, rows = self.config, self.rows
        if cfg.drop_prob > 0:
            rows.z = self.consensus.mix_lossy(
                rows.z,
                rounds,
                drop_prob=cfg.drop_prob,
                seed=cfg.graph_seed,
                round_offset=round_offset,
            )
        else:
            rows.z = self.consensus.mix(rows.z, rounds)

    def estimate(self, block: int, first: bool) -> None:
        rounds = self.config.rounds
        self.rows.track(block, first, lambda y, g, old: self.consensus.track(y, g, old, rounds))

    def remove(self, keep: I64) -> None:
        sub = survivors_graph(self._base_graph, keep)
        self.components = int(sub.components()[0])
        self.graph = sub
        self.consensus = Consensus(sub, require_connected=False)

    def graph_facts(self) -> dict[str, Any]:
        return {
            "family": self.config.graph,
            "mean_degree": self.consensus.graph.mean_degree,
            "spectral_gap": self.consensus.spectral_gap(),
            "components": self.components,
        }


def check_rounds(config: DualConfig, consensus: Consensus) -> None:
    """Refuses ``consensus_rounds`` far beyond those after which the copies agree to float32
    precision on this graph (more only cost time: at 10^9 rounds, about 20 minutes per update even
    on 16 agents). Up to :data:`~samarl.execution.dual.FREE_ROUNDS` rounds are never questioned."""
    rounds = config.rounds
    if rounds <= FREE_ROUNDS:
        return
    n = consensus.num_nodes
    sigma2 = consensus.sigma2()
    # sigma_2^K ||x - mean||_2 <= 2^-24 |x|: agreement to float32's precision, whatever x is.
    contraction = math.log(sigma2) if sigma2 > 0 else -math.inf
    if contraction > -1e-12:
        return  # (numerically) no contraction: no bound on useful rounds
    useful = max(1, math.ceil(math.log(2.0**-24 / math.sqrt(n)) / contraction))
    limit = max(FREE_ROUNDS, math.ceil(USEFUL_ROUNDS_FACTOR * useful / (1.0 - config.drop_prob)))
    if rounds > limit:
        work = float(rounds) * (n + 2 * consensus.graph.num_edges)
        raise ConfigError(
            f"consensus_rounds: {rounds:,} rounds per update, but on this {config.graph} graph of "
            f"{n:,} agents (sigma_2 = {sigma2:.3g}) the copies agree to float32 precision after "
            f"{useful:,} rounds; the rest only cost time ({work:.2g} multiply-adds per update): "
            f"use at most {limit:,}, or mode='centralized' for exact agreement"
        )


class DualState:
    """The multipliers ``mult[n, h]`` of N agents and m blocks in one process, and the rule that
    updates them (:class:`~samarl.execution.dual.DualUpdate`, the same as every run's).

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
        if not isinstance(config, DualConfig):
            raise ConfigError(f"config: expected a DualConfig, got {type(config).__name__}")
        self.config = config
        self.capacity = as_f64("capacity_per_block", capacity_per_block, shape=(None,))
        if self.capacity.size == 0 or (self.capacity <= 0).any():
            raise ConfigError(
                "capacity_per_block: expected one capacity per block (at least one), all > 0"
            )
        self.num_agents = positive_int("num_agents", num_agents, maximum=MAX_AGENTS)
        self.num_blocks = int(self.capacity.size)
        self.mult_max = config_real("mult_max", mult_max, low=0.0, high=MAX_MULT, low_open=True)
        need = dual_bytes(config, num_agents, self.num_blocks, graph_given=graph is not None)
        check_memory("num_agents", num_agents, "agents", need)
        #: The step and projection (shared with every holder of rows).
        self.rule = DualStep(config, self.capacity, self.num_agents, self.mult_max)
        self.step_size = self.rule.step_size
        self.rows = DualRows(self.rule, num_agents, tracking=config.mode == "tracking")
        self.mixer: ConsensusMixer | None = None
        if config.rounds > 0:
            graph = communication_graph(config, num_agents, graph)
            self.mixer = ConsensusMixer(config, self.rows, graph)
        self.graph = graph
        rows = self.rows
        self._update = DualUpdate(self.rule, lambda name, *a: [getattr(rows, name)(*a)], self.mixer)

    @property
    def mult(self) -> F32:
        """``[N, m]`` every agent's multipliers."""
        return self.rows.mult

    @property
    def consensus(self) -> Consensus | None:
        """The consensus kernels on the (survivors') graph (None without rounds)."""
        return None if self.mixer is None else self.mixer.consensus

    @property
    def components(self) -> int:
        """Connected components of the (survivors') communication graph."""
        return 1 if self.mixer is None else self.mixer.components

    @property
    def active(self) -> I64 | None:
        """``[A]`` indices of the agents still participating (None: all of them)."""
        return self.rows.participating

    @property
    def num_active(self) -> int:
        """Agents still participating."""
        return self.rows.num_participating

    @property
    def mix_log(self) -> list[tuple[int, float, float, float]]:
        """Per update of agent-held copies: ``(block, spread_l2_before_mixing,
        max_deviation_after, step_spread_l2)`` (:class:`~samarl.execution.dual.DualUpdate`)."""
        return self._update.mix_log

    def remove_agents(self, agents: npt.ArrayLike) -> None:
        """Takes ``agents`` (indices) out of the dual dynamics from now on (see the module doc of
        :mod:`samarl.execution.dual`): their multipliers freeze and leave every later average; the
        communication graph becomes the survivors' induced subgraph, with weights re-derived."""
        gone = np.unique(as_index("agents", agents).ravel())
        if gone.size and (gone.min() < 0 or gone.max() >= self.num_agents):
            raise ConfigError(f"agents: indices must be in [0, {self.num_agents}), got {gone}")
        current = np.arange(self.num_agents) if self.active is None else self.active
        keep = np.setdiff1d(current, gone, assume_unique=True)
        if keep.size == 0:
            raise ConfigError("agents: removing them would leave no agent participating")
        self.rows.remove(gone)
        if self.mixer is not None:
            self.mixer.remove(keep)
            self.graph = self.mixer.graph

    def update(self, block: int, ghat: F32) -> None:
        """Ends an epoch of ``block`` with each agent's average use ``ghat`` ([N], kW)."""
        h = positive_int("block", block, minimum=0)
        if h >= self.num_blocks:
            raise InvalidValueError(f"block: must be < num_blocks = {self.num_blocks}, got {h}")
        ghat = as_f32("ghat", ghat, shape=(self.num_agents,))
        self._update(h, "begin", ghat)

    def participating_mult(self) -> F32:
        """``[N, m]`` multipliers with each removed agent's row replaced by the participants' mean.

        The mean over all rows then equals the participants' mean and removed agents add no
        deviation, so consensus metrics computed on it measure the participants only.
        """
        if self.active is None:
            return self.mult
        mean = self.mult[self.active].mean(axis=0, dtype=np.float64).astype(np.float32)
        return self.rows.filled(mean)

    def consensus_error(self) -> tuple[float, float]:
        """``(max, mean)`` over participating agents and blocks of ``|mult^n_h - mean_n mult_h|``."""
        x = self.mult if self.active is None else self.mult[self.active]
        dev = np.abs(x - x.mean(axis=0, dtype=np.float64))
        return float(dev.max()), float(dev.mean())
