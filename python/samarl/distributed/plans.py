"""Partition plans: the agents split into parts, and each part's rows of the consensus rounds with
the halo they read (see :mod:`samarl.distributed.partitions`).

A part's rows are the engine's (:class:`samarl.comms.HaloRows` of the run's
:class:`samarl.Consensus`): its rows of the Metropolis–Hastings weights as the engine holds them,
summed in the engine's order, with the engine's link ids for lossy rounds, so the parts' rows after
any rounds equal the whole graph's bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from samarl.comms import Consensus, Graph, HaloRows
from samarl.errors import ConfigError

__all__ = ["PartPlan", "PartitionPlan", "plan_partitions", "split_rows"]

I64 = npt.NDArray[np.int64]


@dataclass
class PartPlan:
    """One part: its agents, its rows of the rounds and who it exchanges halos with."""

    agents: I64
    """Global agent ids, ascending (the rows of the part's environment and multipliers)."""
    mixer: HaloRows | None
    """The part's participating agents' rows of the rounds, their halo grouped by the part that
    owns it (ascending), each group in ascending ids (the order ``recv`` delivers); None when the
    part has no participating agent."""
    recv: list[tuple[int, I64]]
    """Per neighbour part ``q`` (ascending): positions in ``q``'s participating agents of this
    part's halo, in halo order."""
    send: dict[int, I64] = field(default_factory=dict)
    """Per neighbour part ``q``: positions in this part's participating agents that ``q``
    needs."""
    rows: I64 | None = None
    """Positions in ``agents`` of the participating agents (None: all of them)."""


@dataclass
class PartitionPlan:
    """The split of N agents into parts (contiguous ranges of an order of the agents)."""

    num_agents: int
    parts: list[PartPlan]
    edge_cut: int
    """Undirected edges whose endpoints are in different parts."""
    part_of: I64
    """``[N]`` every agent's part."""

    @property
    def halo_values_per_round(self) -> int:
        """Values sent per consensus round (one multiplier column), over all parts."""
        return sum(len(pos) for part in self.parts for _, pos in part.recv)


def plan_partitions(
    graph: Graph, num_parts: int, *, order: str = "ids", consensus: Consensus | None = None
) -> PartitionPlan:
    """Splits ``graph``'s nodes into ``num_parts`` contiguous ranges of an order of the agents.

    ``order="ids"`` (the default) splits the agent ids ``0..N`` into ranges, so each part's
    environment steps a range of ids; the generators of the ``small_world``, ``kring`` and
    ``grid`` families number neighbours close together, so few edges are cut.
    ``order="locality"`` splits the engine's locality order (reverse Cuthill–McKee), which cuts far
    fewer edges of graphs numbered at random (``random_geometric``: 5,044 rather than 146,249 of
    194,860 edges at N = 20,000, P = 4); its parts' ids are scattered, which the engine's env
    steps as well. ``consensus`` is the run's on ``graph`` (built when omitted).
    """
    n = graph.num_nodes
    if isinstance(num_parts, bool) or not isinstance(num_parts, int) or not 1 <= num_parts <= n:
        raise ConfigError(f"partitions: must be an integer in [1, {n}], got {num_parts!r}")
    if order not in ("ids", "locality"):
        raise ConfigError(f"order: 'ids' or 'locality', got {order!r}")
    split = (
        np.arange(n, dtype=np.int64)
        if order == "ids"
        else np.ascontiguousarray(graph.locality_order(), dtype=np.int64)
    )
    bounds = np.linspace(0, n, num_parts + 1).round().astype(np.int64)
    part_of = np.empty(n, dtype=np.int64)
    part_of[split] = np.searchsorted(bounds, np.arange(n), side="right") - 1
    members = [np.sort(split[bounds[p] : bounds[p + 1]]) for p in range(num_parts)]
    consensus = consensus if consensus is not None else Consensus(graph)
    parts, edge_cut = split_rows(consensus, np.arange(n, dtype=np.int64), members, part_of)
    return PartitionPlan(n, parts, edge_cut, part_of)


def split_rows(
    consensus: Consensus, nodes: I64, members: list[I64], part_of: I64
) -> tuple[list[PartPlan], int]:
    """Each part's rows of ``consensus``'s rounds, and the edge cut.

    Node ``k`` of ``consensus``'s graph is the agent ``nodes[k]`` (``nodes`` ascending): all the
    agents, or the survivors of an agent removal (their induced subgraph,
    :func:`~samarl.execution.mixing.survivors_graph`). ``members[p]`` are part ``p``'s agents and
    ``part_of`` every agent's part; a part's rows are its members among ``nodes``.
    """
    graph = consensus.graph
    indptr, indices = graph.indptr, graph.indices
    node_of = np.full(part_of.size, -1, dtype=np.int64)
    node_of[nodes] = np.arange(nodes.size)
    local_index = np.full(part_of.size, -1, dtype=np.int64)
    for agents in members:
        active = agents[node_of[agents] >= 0]
        local_index[active] = np.arange(active.size)
    src = nodes[np.repeat(np.arange(nodes.size), np.diff(indptr))]
    edge_cut = int((part_of[src] != part_of[nodes[indices]]).sum()) // 2
    parts: list[PartPlan] = []
    for p, agents in enumerate(members):
        participating = node_of[agents] >= 0
        own = node_of[agents[participating]]  # ascending, as the agents
        starts, lens = indptr[own], indptr[own + 1] - indptr[own]
        ends = np.cumsum(lens)
        neighbours = indices[np.repeat(starts - (ends - lens), lens) + np.arange(int(lens.sum()))]
        outside = nodes[np.unique(neighbours)]
        outside = outside[part_of[outside] != p]
        # Grouped by owner part (ascending), each group in ascending ids: the order of ``recv``.
        halo = outside[np.argsort(part_of[outside], kind="stable")]
        mixer = HaloRows(consensus, own, halo=node_of[halo]) if own.size else None
        owners = part_of[halo]
        recv = [(int(q), local_index[halo[owners == q]]) for q in np.unique(owners).tolist()]
        rows = None if participating.all() else np.flatnonzero(participating)
        parts.append(PartPlan(agents, mixer, recv, rows=rows))
    for p, part in enumerate(parts):
        for q, positions in part.recv:
            parts[q].send[p] = positions
    return parts, edge_cut
