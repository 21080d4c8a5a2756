"""Partition plans: the agents split into parts, each part's rows of the consensus weights and
halos, and one consensus round of a part's rows (see :mod:`samarl.distributed.partitions`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from samarl.comms.graph import Graph
from samarl.errors import ConfigError
from samarl.execution.dual import DualConfig

__all__ = ["PartPlan", "PartitionPlan", "mix_rows", "plan_partitions", "split_weights"]

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]


@dataclass
class PartPlan:
    """One part: its agents, its rows of the weights and who it exchanges halos with."""

    agents: I64
    """Global agent ids, ascending (the rows of the part's environment and multipliers)."""
    weights: sp.csr_array
    """``[own, own + halo]`` float32 rows of the participating agents, each stored in the
    engine's order of summation (diagonal first, then neighbours ascending in the locality
    order); columns ``0..own`` are the participating agents, then the halo."""
    link_keys: U64
    """Per stored entry of ``weights``: the engine's id of the link, ``min(i, j) * n + max(i,
    j)`` with ``i, j`` the endpoints' positions in the locality order of the graph's ``n`` nodes
    (:mod:`samarl.reference.consensus` ``link_keys``); both endpoints' parts compute the same."""
    recv: list[tuple[int, I64]]
    """Per neighbour part ``q`` (ascending): positions in ``q``'s participating agents of this
    part's halo, in halo-column order."""
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


def plan_partitions(graph: Graph, num_parts: int, *, order: str = "ids") -> PartitionPlan:
    """Splits ``graph``'s nodes into ``num_parts`` contiguous ranges of an order of the agents.

    ``order="ids"`` (the default) splits the agent ids ``0..N`` into ranges, so each part's
    environment is the engine's (its agents are ``a..b``: ``first_agent = a``); the generators of
    the ``small_world``, ``kring`` and ``grid`` families number neighbours close together, so few
    edges are cut. ``order="locality"`` splits the engine's locality order (reverse Cuthill–McKee),
    which cuts far fewer edges of graphs numbered at random (``random_geometric``: 5,044 rather than
    146,249 of 194,860 edges at N = 20,000, P = 4), but its parts' agent ids are scattered, so they
    run the NumPy reference environment (slower, same bits).
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
    parts, edge_cut = split_weights(graph, np.arange(n, dtype=np.int64), members, part_of)
    return PartitionPlan(n, parts, edge_cut, part_of)


def split_weights(
    graph: Graph, nodes: I64, members: list[I64], part_of: I64
) -> tuple[list[PartPlan], int]:
    """Each part's rows of the Metropolis–Hastings weights of ``graph``, and the edge cut.

    Node ``k`` of ``graph`` is the agent ``nodes[k]`` (``nodes`` ascending): all the agents, or
    the survivors of an agent removal (:func:`~samarl.execution.dual.survivors_graph`, numbered
    as :class:`~samarl.execution.mixing.DualState` numbers them). ``members[p]`` are part ``p``'s
    agents and ``part_of`` every agent's part; a part's rows are its members among ``nodes``.
    The weights, their order of summation and the link ids are the engine's on ``graph``
    relabelled in its locality order (what :class:`samarl.Consensus` runs).
    """
    from samarl.reference.consensus import diag_first, metropolis_weights

    n = graph.num_nodes
    loc = np.ascontiguousarray(graph.locality_order(), dtype=np.int64)
    adj = graph.permute(loc).to_scipy().astype(bool)
    w = diag_first(metropolis_weights(sp.csr_array(adj)))
    inv_loc = np.empty(n, dtype=np.int64)
    inv_loc[loc] = np.arange(n)
    node_of = np.full(part_of.size, -1, dtype=np.int64)
    node_of[nodes] = np.arange(n)
    local_index = np.full(part_of.size, -1, dtype=np.int64)
    for agents in members:
        active = agents[node_of[agents] >= 0]
        local_index[active] = np.arange(active.size)
    indptr_all = np.asarray(w.indptr, dtype=np.int64)
    col_internal = np.asarray(w.indices, dtype=np.int64)
    col_agent = nodes[loc[col_internal]]
    row_agent = np.repeat(nodes[loc], np.diff(indptr_all))
    edge_cut = int((part_of[col_agent] != part_of[row_agent]).sum()) // 2
    parts: list[PartPlan] = []
    for p, agents in enumerate(members):
        participating = node_of[agents] >= 0
        active = agents[participating]
        rows = inv_loc[node_of[active]]
        starts, lens = indptr_all[rows], indptr_all[rows + 1] - indptr_all[rows]
        ends = np.cumsum(lens)
        total = int(ends[-1]) if ends.size else 0
        idx = np.repeat(starts - (ends - lens), lens) + np.arange(total)
        cols = col_agent[idx]
        outside = part_of[cols] != p
        # Halo columns grouped by owner part (ascending), each group in ascending ids: the order
        # in which the neighbours' values arrive (``recv``).
        by_id = np.unique(cols[outside])
        by_owner = np.argsort(part_of[by_id], kind="stable")
        halo = by_id[by_owner]
        rank = np.empty_like(by_owner)
        rank[by_owner] = np.arange(by_owner.size)
        local = local_index[cols]
        local[outside] = active.size + rank[np.searchsorted(by_id, cols[outside])]
        weights = sp.csr_array(
            (np.asarray(w.data[idx], dtype=np.float32), local, np.concatenate([[0], ends])),
            shape=(active.size, active.size + halo.size),
        )
        ends_a, ends_b = np.repeat(rows, lens), col_internal[idx]
        keys = np.minimum(ends_a, ends_b).astype(np.uint64) * np.uint64(n) + np.maximum(
            ends_a, ends_b
        ).astype(np.uint64)
        halo_owner = part_of[halo]
        recv = [
            (int(q), local_index[halo[halo_owner == q]]) for q in np.unique(halo_owner).tolist()
        ]
        own_rows = None if participating.all() else np.flatnonzero(participating)
        parts.append(PartPlan(agents, weights, keys, recv, rows=own_rows))
    for p, part in enumerate(parts):
        for q, positions in part.recv:
            parts[q].send[p] = positions
    return parts, edge_cut


def mix_rows(part: PartPlan, x: F32, halos: Sequence[F32], dual: DualConfig, round_: int) -> F32:
    """One consensus round of a part's participating rows ``x``, with the halo values ``halos``
    (per neighbour part, in ``part.recv`` order). With ``dual.drop_prob > 0`` the links that fail
    in round ``round_`` (the engine's counter) read the row's own value instead of the
    neighbour's: the weight moves onto the diagonal, in the engine's order of summation
    (:func:`samarl.reference.consensus.mix_lossy`)."""
    w = part.weights
    if w.shape[0] == 0:
        return x
    if dual.drop_prob > 0:
        from samarl.reference.rng import STREAM_LINKS, uniform_f32

        own = np.repeat(np.arange(w.shape[0]), np.diff(w.indptr))
        u = uniform_f32(dual.graph_seed, STREAM_LINKS, part.link_keys, round_)
        down = (w.indices != own) & (u < np.float32(dual.drop_prob))
        w = sp.csr_array((w.data, np.where(down, own, w.indices), w.indptr), shape=w.shape)
    ext = np.concatenate([x, *halos]) if halos else x
    return np.asarray(w @ ext, dtype=np.float32)
