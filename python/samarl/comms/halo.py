"""A part's rows of the consensus rounds, for partitioned runs: halo exchange in the engine.

In a run split into parts (:mod:`samarl.distributed`), each part holds some agents' multiplier
copies and mixes only its own rows, reading its neighbours' values (its *halo*) from the other
parts. :class:`HaloRows` is one part's rows of a :class:`~samarl.comms.Consensus`: its rows of
the Metropolis–Hastings weights, taken from the engine's own weights (never rebuilt elsewhere),
each summed in the engine's order (diagonal first, then the neighbours in the engine's graph
order, in ``float32``), with the engine's id of every link for lossy rounds. So the parts' rows
after ``K`` rounds equal, bit for bit, the rows of :meth:`Consensus.mix` (or
:meth:`~samarl.comms.Consensus.mix_lossy`, with the same ``seed`` and round counter) on the whole
graph, for any split into parts.

A halo of ``hops`` hops (the nodes within ``hops`` hops of the part, outside it) lets one call run
up to ``hops`` rounds from one exchange of halo values: the part recomputes the rows of its halo
that the later rounds need, exactly as the whole graph computes them. ``hops=1`` exchanges once a
round (the least data); ``hops=K`` once per update of ``K`` rounds (the fewest messages).

How a partitioned run uses it (``graph``, its parts' agent ids ``parts[p]``, ``K`` rounds per
update, ``dual.drop_prob`` and ``dual.graph_seed`` as in one process)::

    consensus = Consensus(graph)                 # once, on the driver: the Consensus DualState
                                                 # builds (after an agent removal, on the survivors'
                                                 # graph as DualState numbers it, with
                                                 # require_connected=False; rows are then its nodes)
    mixers = [HaloRows(consensus, agents, hops=K) for agents in parts]   # pickled to the actors
    # each mixer.halo says which values the part needs, in order; mixer.rows are its rows
    # per update, in each part p (after the local dual step):
    halo = values_of(mixers[p].halo)             # received from the parts that own them
    x = mixers[p].mix_lossy(x, halo, K, drop_prob=dual.drop_prob, seed=dual.graph_seed,
                            round_offset=rounds_done)
    rounds_done += K

With ``drop_prob = 0`` (or :meth:`HaloRows.mix`) the rounds are lossless. A :class:`HaloRows`
pickles to its arrays (not the graph), so actors receive only their part.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from samarl import _core
from samarl._validate import MAX_U64, as_f32, as_index, check_shape, positive_int, real
from samarl._validate import seed as seed_
from samarl.comms.consensus import MAX_ROUNDS, Consensus
from samarl.errors import ArgumentTypeError, InvalidValueError, ShapeError

__all__ = ["HaloRows"]

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]


class HaloRows:
    """The rows ``rows`` of ``consensus``'s rounds, with a halo of ``hops`` hops.

    Parameters
    ----------
    consensus
        The whole graph's consensus (its weights, and its locality order when it reorders: the
        lossy rounds' link ids are the engine's).
    rows
        The part's nodes (agent ids of ``consensus``'s graph, distinct, any order): the rows of
        the values :meth:`mix` takes and returns.
    hops
        Depth of the halo (``>= 1``): the most rounds one call runs.
    halo
        The order in which :meth:`mix` takes the halo's values: a permutation of :attr:`halo`'s
        default (the nodes within ``hops`` hops outside ``rows``, by distance, then by id), e.g.
        grouped by the part that owns them.
    """

    __slots__ = ("_core",)

    def __init__(
        self,
        consensus: Consensus,
        rows: npt.ArrayLike,
        *,
        hops: int = 1,
        halo: npt.ArrayLike | None = None,
    ) -> None:
        if not isinstance(consensus, Consensus):
            raise ArgumentTypeError(
                f"consensus: expected a samarl.Consensus, got {type(consensus).__name__}"
            )
        n = consensus.num_nodes
        ids = _nodes("rows", rows, n)
        order = None if halo is None else _nodes("halo", halo, n)
        k = positive_int("hops", hops, maximum=MAX_ROUNDS)
        self._core = _core.HaloRowsCore(consensus._core, ids, hops=k, halo=order)

    @property
    def rows(self) -> I64:
        """The part's nodes, in the order of the rows of :meth:`mix`'s values."""
        return self._core.rows()

    @property
    def halo(self) -> I64:
        """The halo's nodes, in the order :meth:`mix` takes their values."""
        return self._core.halo()

    @property
    def hops(self) -> int:
        """Depth of the halo: the most rounds one call of :meth:`mix` runs."""
        return self._core.hops

    @property
    def num_nodes(self) -> int:
        """Nodes of the whole graph."""
        return self._core.num_nodes

    def mix(self, x: npt.ArrayLike, halo: npt.ArrayLike, rounds: int = 1) -> F32:
        """The part's rows after ``rounds`` rounds (``0..hops``) of ``x <- W x``.

        ``x`` holds the part's values (``[len(rows)]`` or ``[len(rows), m]``), ``halo`` the halo's
        at the start of the rounds (``[len(halo)]`` or ``[len(halo), m]``, in :attr:`halo`'s
        order). Returns a new float32 array shaped as ``x``: the rows :meth:`Consensus.mix`
        gives these nodes on the whole graph, bit for bit.
        """
        x_, h_, out = self._blocks(x, halo)
        self._core.mix(x_, h_, out, rounds=self._rounds(rounds))
        return out

    def mix_lossy(
        self,
        x: npt.ArrayLike,
        halo: npt.ArrayLike,
        rounds: int = 1,
        *,
        drop_prob: float,
        seed: int = 0,
        round_offset: int = 0,
    ) -> F32:
        """Like :meth:`mix`, over links that fail as :meth:`Consensus.mix_lossy`'s do: link
        ``{i, j}`` is down in round ``r`` of the call as drawn from ``(seed, link, round_offset +
        r)``, so ``round_offset`` counts the rounds of the whole run (as there)."""
        p = real("drop_prob", drop_prob, low=0.0, high=1.0)
        x_, h_, out = self._blocks(x, halo)
        k = self._rounds(rounds)
        offset = positive_int("round_offset", round_offset, minimum=0, maximum=MAX_U64 - k)
        self._core.mix_lossy(
            x_, h_, out, rounds=k, drop_prob=p, seed=seed_(seed), round_offset=offset
        )
        return out

    def weights(self) -> sp.csr_array:
        """The part's rows of W, ``[len(rows), len(rows) + len(halo)]`` float32: columns are the
        rows, then the halo in :attr:`halo`'s order; each row stored diagonal first, then its
        neighbours in the order the engine sums them."""
        indptr, indices, data = self._core.to_csr()
        own = len(self.rows)
        return sp.csr_array((data, indices, indptr), shape=(own, own + len(self.halo)))

    def _blocks(self, x: npt.ArrayLike, halo: npt.ArrayLike) -> tuple[F32, F32, F32]:
        own, outside = len(self.rows), len(self.halo)
        x_ = as_f32("x", x)
        if x_.ndim not in (1, 2) or x_.shape[0] != own or 0 in x_.shape[1:]:
            raise ShapeError(
                f"x: expected shape [{own}] or [{own}, m] with m >= 1 (one row per node of the "
                f"part), got {list(x_.shape)}"
            )
        h_ = as_f32("halo", halo)
        check_shape("halo", h_, (outside, *x_.shape[1:]))
        return np.ascontiguousarray(x_), np.ascontiguousarray(h_), np.empty_like(x_)

    def _rounds(self, rounds: int) -> int:
        return positive_int("rounds", rounds, minimum=0, maximum=self.hops)

    def __getstate__(self) -> dict[str, Any]:
        return {"parts": self._core.to_parts()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._core = _core.HaloRowsCore.from_parts(*state["parts"])

    def __repr__(self) -> str:
        return (
            f"HaloRows(rows={len(self.rows)}, halo={len(self.halo)}, hops={self.hops}, "
            f"num_nodes={self.num_nodes})"
        )


def _nodes(name: str, ids: npt.ArrayLike, n: int) -> I64:
    """``ids`` as int64 node ids ``< n`` (the engine refuses repeats, naming the node)."""
    arr: I64 = as_index(name, ids, shape=(None,))
    if arr.size and int(arr.max()) >= n:
        raise InvalidValueError(f"{name}: nodes must be < num_nodes = {n}, found {int(arr.max())}")
    return arr
