"""Average consensus over a communication graph.

:class:`Consensus` holds the Metropolis–Hastings weights of a graph,

    W_ij = 1 / (1 + max(deg_i, deg_j))  on edges,   W_ii = 1 - sum_j W_ij,

which are symmetric and doubly stochastic, so every round ``x <- W x`` keeps the network average of
``x`` exactly and, on a connected graph, contracts the disagreement by ``sigma_2(W)``:

    || W^K x - mean(x) ||_2  <=  sigma_2(W)^K  || x - mean(x) ||_2.

All K rounds run inside the Rust engine (one call, no Python between rounds), multi-threaded for
large graphs, on a vector ``[n]`` or a block ``[n, m]`` (one column per multiplier entry).

On large random graphs each round is bound by cache misses when neighbours sit far apart in memory.
By default :class:`Consensus` therefore works internally on the graph relabelled in reverse
Cuthill–McKee order (:meth:`samarl.Graph.locality_order`): inputs and outputs stay in the caller's
agent order, and the engine moves them in and out of that order once per call, not per round (on
its fast path, inside the kernel's own loads and stores).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from samarl import _core
from samarl._validate import MAX_U64, as_f32, as_f64, flag, positive_int, real
from samarl._validate import seed as seed_
from samarl.comms.graph import Graph
from samarl.comms.spectral import SpectralEstimate, second_singular_value
from samarl.errors import ArgumentTypeError, DisconnectedGraphError, InvalidValueError, ShapeError

__all__ = ["Consensus"]

F32 = npt.NDArray[np.float32]


class Consensus:
    """Consensus kernels on the Metropolis–Hastings weights of ``graph``.

    Parameters
    ----------
    graph
        The communication graph. Node ``i`` is agent ``i``.
    require_connected
        Raise :class:`~samarl.errors.DisconnectedGraphError` when the graph is disconnected
        (consensus can then only agree within each component).
    reorder
        Work internally in locality (reverse Cuthill–McKee) order. Results are the same up to
        floating-point summation order; only speed differs.
    """

    __slots__ = ("_core", "_sigma2", "graph", "order")

    def __init__(
        self, graph: Graph, *, require_connected: bool = True, reorder: bool = True
    ) -> None:
        if not isinstance(graph, Graph):
            raise ArgumentTypeError(f"graph: expected a samarl.Graph, got {type(graph).__name__}")
        require_connected = flag("require_connected", require_connected)
        reorder = flag("reorder", reorder)
        if require_connected:
            count, _ = graph.components()
            if count > 1:
                raise DisconnectedGraphError(
                    f"graph is disconnected ({count} connected components); consensus needs a "
                    "connected communication graph"
                )
        self.graph = graph
        #: ``order[i]`` is the caller's agent at internal position ``i`` (``None``: no reordering).
        self.order: npt.NDArray[np.int64] | None = None
        if reorder:
            self.order = np.ascontiguousarray(graph.locality_order(), dtype=np.int64)
            # The engine works on the relabelled graph and moves blocks to and from the caller's
            # order itself (fused into the kernel where it can).
            internal = graph.permute(self.order)
            self._core = _core.ConsensusCore(internal._core, order=self.order)
        else:
            self._core = _core.ConsensusCore(graph._core)
        self._sigma2: SpectralEstimate | None = None

    @property
    def num_nodes(self) -> int:
        """Number of agents."""
        return self._core.num_nodes

    def mix(self, x: npt.ArrayLike, rounds: int, *, inplace: bool = False) -> F32:
        """``rounds`` rounds of ``x <- W x`` on ``x`` of shape ``[n]`` or ``[n, m]`` (float32).

        Returns a new array unless ``inplace`` (then ``x`` must already be a contiguous float32
        array, and is overwritten and returned).
        """
        arr = self._block("x", x, inplace)
        self._core.mix(arr, rounds=_rounds(rounds))
        return arr

    def mix_lossy(
        self,
        x: npt.ArrayLike,
        rounds: int,
        *,
        drop_prob: float,
        seed: int = 0,
        round_offset: int = 0,
        inplace: bool = False,
    ) -> F32:
        """Like :meth:`mix`, but every link fails with probability ``drop_prob`` in every round.

        A failed link's weight moves to both endpoints' own weight, so each round's matrix is still
        symmetric and doubly stochastic: the average is kept, agreement just comes slower. The
        failures are a pure function of ``(seed, link, round_offset + round)``.
        """
        p = real("drop_prob", drop_prob, low=0.0, high=1.0)
        arr = self._block("x", x, inplace)
        k = _rounds(rounds)
        offset = positive_int("round_offset", round_offset, minimum=0, maximum=MAX_U64 - k)
        self._core.mix_lossy(arr, rounds=k, drop_prob=p, seed=seed_(seed), round_offset=offset)
        return arr

    def track(
        self,
        y: npt.ArrayLike,
        g_new: npt.ArrayLike,
        g_old: npt.ArrayLike,
        rounds: int,
        *,
        inplace: bool = False,
    ) -> F32:
        """Dynamic average tracking: ``y <- W^rounds y + (g_new - g_old)``.

        Started from ``y = g_0`` the network average of ``y`` equals that of the latest ``g`` at
        every step, and each ``y^n`` tracks it (docs/method.md).
        """
        arr = self._block("y", y, inplace)
        shape = tuple(arr.shape)
        k = _rounds(rounds)
        new, old = as_f32("g_new", g_new, shape=shape), as_f32("g_old", g_old, shape=shape)
        self._core.track(arr, new, old, rounds=k)
        return arr

    def spectrum(self) -> SpectralEstimate:
        """``sigma_2(W)`` with its stated accuracy (cached; dense for small graphs, Lanczos for
        large ones: :func:`samarl.comms.spectral.second_singular_value`)."""
        if self._sigma2 is None:
            indptr, indices, data = self._core.to_csr()  # internal order: same spectrum
            n = self.num_nodes
            self._sigma2 = second_singular_value(
                sp.csr_array((data, indices, indptr), shape=(n, n))
            )
        return self._sigma2

    def sigma2(self) -> float:
        """Second largest singular value of W (see :meth:`spectrum` for its accuracy)."""
        return self.spectrum().sigma2

    def spectral_gap(self) -> float:
        """``1 - sigma_2(W)``: larger means faster agreement."""
        return 1.0 - self.sigma2()

    def disagreement_bound(self, x0: npt.ArrayLike, rounds: int) -> float:
        """Upper bound on ``max_n |x_n - mean(x)|`` after ``rounds`` rounds from ``x0``.

        ``sigma_2^K ||x0 - mean(x0)||_2`` (the max-norm is at most the 2-norm). ``x0`` is ``[n]``
        or ``[n, m]``, finite.
        """
        x = as_f64("x0", x0)
        if x.ndim not in (1, 2) or x.shape[0] != self.num_nodes:
            raise ShapeError(
                f"x0: expected shape [{self.num_nodes}] or [{self.num_nodes}, m], "
                f"got {list(x.shape)}"
            )
        k = _rounds(rounds)
        # Centre and scale by the largest deviation first: the 2-norm of huge finite values would
        # overflow to inf.
        with np.errstate(over="ignore", invalid="ignore"):
            dev = x - x.mean(axis=0)
            scale = float(np.abs(dev).max()) if dev.size else 0.0
        if not np.isfinite(scale):
            raise InvalidValueError("x0: values too large to average (the spread overflows)")
        if scale == 0.0:
            return 0.0
        return self.sigma2() ** k * scale * float(np.linalg.norm(dev / scale))

    def rounds_for(self, tolerance: float) -> int:
        """Rounds needed to shrink the disagreement by a factor ``tolerance`` (in (0, 1))."""
        real("tolerance", tolerance, low=0.0, high=1.0, low_open=True, high_open=True)
        s2 = self.sigma2()
        if s2 <= 0.0:
            return 1
        if s2 >= 1.0:
            raise DisconnectedGraphError("sigma_2(W) = 1: the graph does not reach agreement")
        return math.ceil(math.log(tolerance) / math.log(s2))

    def weights(self) -> sp.csr_array:
        """W as a SciPy CSR array in the caller's agent order (float32, diagonal included)."""
        indptr, indices, data = self._core.to_csr()
        n = self.num_nodes
        w = sp.csr_array((data, indices, indptr), shape=(n, n))
        if self.order is None:
            return w
        inverse = np.empty_like(self.order)
        inverse[self.order] = np.arange(n)
        return sp.csr_array(w[inverse][:, inverse])

    def _block(self, name: str, x: npt.ArrayLike, inplace: bool) -> F32:
        if flag("inplace", inplace):
            if not (isinstance(x, np.ndarray) and x.dtype == np.float32 and x.flags.c_contiguous):
                raise InvalidValueError(
                    f"{name}: inplace=True needs a C-contiguous float32 numpy array"
                )
            arr = x
            as_f32(name, arr, shape=(self.num_nodes, *arr.shape[1:2]))
        else:
            arr = as_f32(name, x)
            if arr is x or not arr.flags.owndata:  # the caller's own buffer (or a tensor's)
                arr = arr.copy()
        if arr.ndim not in (1, 2) or arr.shape[0] != self.num_nodes or 0 in arr.shape[1:]:
            raise ShapeError(
                f"{name}: expected shape [{self.num_nodes}] or [{self.num_nodes}, m] with m >= 1, "
                f"got {list(arr.shape)}"
            )
        return arr

    def __repr__(self) -> str:
        return f"Consensus(num_nodes={self.num_nodes}, num_edges={self.graph.num_edges})"


#: Most consensus rounds one call runs (a long call stops on Ctrl-C: the engine checks for signals
#: between chunks of rounds).
MAX_ROUNDS = 2**32 - 1


def _rounds(rounds: int) -> int:
    return positive_int("rounds", rounds, minimum=0, maximum=MAX_ROUNDS)
