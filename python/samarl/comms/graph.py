"""Communication graphs between agents.

A :class:`Graph` is an undirected simple graph stored as compressed sparse rows by the Rust engine.
Build one with a generator (:meth:`Graph.ring`, :meth:`Graph.grid`, :meth:`Graph.erdos_renyi`,
:meth:`Graph.random_geometric`, :meth:`Graph.watts_strogatz`, :meth:`Graph.complete`), from an edge
list, a SciPy sparse matrix or a file (:meth:`Graph.from_file`); :func:`make_graph` builds one from
a family name or a file path, as configs do.

Consensus over large random graphs is limited by cache misses when neighbours sit far apart in
memory; :meth:`Graph.locality_order` (reverse Cuthill–McKee) returns a node order that keeps them
close, and :meth:`Graph.permute` applies it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from samarl import _core
from samarl._validate import MAX_AGENTS, as_f32, as_index, check_shape, flag, positive_int, real
from samarl._validate import seed as seed_
from samarl.comms.graph_files import read_edge_list, read_sparse_npz
from samarl.errors import ArgumentTypeError, GraphError, InvalidValueError

__all__ = ["GRAPH_FAMILIES", "Graph", "is_graph_file", "make_graph"]

#: Graph families :func:`make_graph` understands, with their parameters.
GRAPH_FAMILIES = {
    "ring": "k (neighbours on each side, default 1)",
    "kring": "k (neighbours on each side, default 3, fewer below 7 nodes)",
    "grid": "rows x cols as close to square as divides N (N must factor)",
    "erdos_renyi": "mean_degree (default 6, N - 1 below 7 nodes), connected (default True)",
    "random_geometric": "mean_degree (default 2 log N, above the connectivity threshold) or radius",
    "small_world": "k (default 3, fewer below 7 nodes), beta (rewiring probability, default 0.1)",
    "complete": "(N <= 20000)",
}


class Graph:
    """An undirected simple graph on ``num_nodes`` agents (immutable)."""

    __slots__ = ("_core",)

    def __init__(self, core: _core.GraphCore) -> None:
        self._core = core

    # -- constructors ---------------------------------------------------------------------------
    @classmethod
    def ring(cls, num_nodes: int, k: int = 1) -> Graph:
        """Ring where node ``i`` links to its ``k`` nearest nodes on each side."""
        return cls(
            _core.GraphCore.ring(_num_nodes(num_nodes), positive_int("k", k, maximum=MAX_AGENTS))
        )

    @classmethod
    def grid(cls, rows: int, cols: int) -> Graph:
        """2-D lattice of ``rows * cols`` nodes, each linked to its 4 neighbours."""
        r = positive_int("rows", rows, maximum=MAX_AGENTS)
        c = positive_int("cols", cols, maximum=MAX_AGENTS)
        if r * c > MAX_AGENTS:
            raise InvalidValueError(
                f"rows * cols: at most {MAX_AGENTS} nodes (node indices are u32), got {r} * {c}"
            )
        return cls(_core.GraphCore.grid_2d(r, c))

    @classmethod
    def complete(cls, num_nodes: int) -> Graph:
        """Every pair linked (small ``num_nodes`` only)."""
        return cls(_core.GraphCore.complete(_num_nodes(num_nodes)))

    @classmethod
    def erdos_renyi(
        cls, num_nodes: int, mean_degree: float = 6.0, *, seed: int = 0, connected: bool = True
    ) -> Graph:
        """Erdős–Rényi G(n, p) with ``p = mean_degree / (n - 1)``.

        With ``connected=True`` (default) two of the mean degree come from a Hamiltonian cycle
        through a random permutation, so the graph is connected and has no locality at all.
        """
        _check_positive("mean_degree", mean_degree)
        return cls(
            _core.GraphCore.erdos_renyi(
                _num_nodes(num_nodes),
                float(mean_degree),
                seed_(seed),
                flag("connected", connected),
            )
        )

    @classmethod
    def random_geometric(
        cls,
        num_nodes: int,
        *,
        radius: float | None = None,
        mean_degree: float | None = None,
        seed: int = 0,
    ) -> Graph:
        """Agents at random points of the unit square, linked within ``radius``.

        Give ``radius`` or ``mean_degree`` (then ``radius = sqrt(mean_degree / (pi n))``); by
        default ``mean_degree = 2 ln n``, above the connectivity threshold ``ln n``.
        """
        n = _num_nodes(num_nodes)
        if radius is None:
            degree = mean_degree if mean_degree is not None else max(2.0 * math.log(n), 4.0)
            _check_positive("mean_degree", degree)
            radius = math.sqrt(degree / (math.pi * n))
        _check_positive("radius", radius)
        return cls(_core.GraphCore.random_geometric(n, float(radius), seed_(seed)))

    @classmethod
    def from_points(cls, points: npt.ArrayLike, radius: float) -> Graph:
        """Links every pair of 2-D ``points`` (shape ``[n, 2]``) within euclidean ``radius``."""
        _check_positive("radius", radius)
        pts = as_f32("points", points, shape=(None, 2))
        return cls(_core.GraphCore.geometric_from_points(pts, float(radius)))

    @classmethod
    def watts_strogatz(
        cls, num_nodes: int, k: int = 3, beta: float = 0.1, *, seed: int = 0
    ) -> Graph:
        """Small world: ``ring(n, k)`` with each edge rewired with probability ``beta``."""
        return cls(
            _core.GraphCore.watts_strogatz(
                _num_nodes(num_nodes),
                positive_int("k", k, maximum=MAX_AGENTS),
                real("beta", beta, low=0.0, high=1.0),
                seed_(seed),
            )
        )

    @classmethod
    def from_edges(cls, num_nodes: int, edges: npt.ArrayLike) -> Graph:
        """Graph from an ``[E, 2]`` edge list (undirected; self loops and duplicates dropped).

        An empty list (of any shape) is a graph without edges.
        """
        n = _num_nodes(num_nodes)
        e = as_index("edges", edges)
        e = np.zeros((0, 2), dtype=np.int64) if e.size == 0 else e
        check_shape("edges", e, (None, 2))
        return cls(_core.GraphCore.from_edges(n, e))

    @classmethod
    def from_scipy(cls, matrix: Any) -> Graph:
        """Graph from the sparsity pattern of a square, symmetric SciPy sparse matrix or array."""
        if not sp.issparse(matrix):
            raise InvalidValueError(
                f"matrix: expected a scipy.sparse matrix, got {type(matrix).__name__}"
            )
        source: Any = matrix  # issparse() narrows to a type the stubs cannot convert
        m = sp.csr_array(source)
        if m.shape[0] != m.shape[1]:
            raise GraphError(f"matrix: expected a square matrix, got shape {m.shape}")
        m.sum_duplicates()
        m.eliminate_zeros()
        return cls(
            _core.GraphCore.from_csr(
                _num_nodes(m.shape[0]),
                as_index("indptr", m.indptr),
                as_index("indices", m.indices),
            )
        )

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], num_nodes: int | None = None) -> Graph:
        """Graph from a file: a square SciPy sparse matrix (csr, csc or coo) saved with
        ``scipy.sparse.save_npz`` (``.npz``), or a text edge list (any other suffix: two node
        indices per line, separated by whitespace or a comma; ``#`` starts a comment).
        ``num_nodes`` defaults to the matrix size, or to the largest index + 1 of an edge list;
        when given, it must match.

        The file is checked before anything is built from it (:mod:`samarl.comms.graph_files`):
        a file that is not a graph file raises :class:`~samarl.errors.InvalidValueError`, an
        inconsistent matrix (e.g. a CSR ``indptr`` that decreases) a
        :class:`~samarl.errors.GraphError`, each naming the file in one line.
        """
        if not isinstance(path, (str, os.PathLike)):
            raise ArgumentTypeError(f"graph: expected a file path, got {path!r}")
        if num_nodes is not None:
            num_nodes = _num_nodes(num_nodes)
        p = Path(path)
        if p.suffix.lower() == ".npz":
            matrix = read_sparse_npz(p)
            with _naming_file(p):
                graph = cls.from_scipy(matrix)
        else:
            edges = read_edge_list(p)
            size = int(edges.max()) + 1 if edges.size else 0
            n = size if num_nodes is None else num_nodes
            if n == 0:
                raise GraphError(
                    f"graph: {os.fspath(p)!r} lists no edges, so it does not say how many nodes "
                    "there are; give num_nodes"
                )
            if n < size:
                raise GraphError(
                    f"graph: {os.fspath(p)!r} names node {size - 1}, but there are only {n} agents"
                )
            with _naming_file(p):
                graph = cls.from_edges(n, edges)
        if num_nodes is not None and graph.num_nodes != num_nodes:
            raise GraphError(
                f"graph: {os.fspath(p)!r} has {graph.num_nodes} nodes, expected {num_nodes} "
                "(one per agent)"
            )
        return graph

    # -- structure ------------------------------------------------------------------------------
    @property
    def num_nodes(self) -> int:
        """Number of nodes (agents)."""
        return self._core.num_nodes

    @property
    def num_edges(self) -> int:
        """Number of undirected edges."""
        return self._core.num_edges

    @property
    def indptr(self) -> npt.NDArray[np.int64]:
        """CSR row pointer (length ``num_nodes + 1``)."""
        return self._core.indptr()

    @property
    def indices(self) -> npt.NDArray[np.int64]:
        """CSR column indices: the neighbours of each node, sorted."""
        return self._core.indices()

    @property
    def degrees(self) -> npt.NDArray[np.int64]:
        """Degree of every node."""
        return self._core.degrees()

    @property
    def mean_degree(self) -> float:
        """Average degree ``2 E / N``."""
        return 2.0 * self.num_edges / self.num_nodes

    def components(self) -> tuple[int, npt.NDArray[np.int64]]:
        """``(count, labels)`` of the connected components."""
        return self._core.component_labels()

    def is_connected(self) -> bool:
        """Whether every node can reach every other."""
        return self._core.is_connected()

    def locality_order(self) -> npt.NDArray[np.int64]:
        """Reverse Cuthill–McKee order (``order[new] = old``): neighbours end up close in memory."""
        return self._core.rcm_order()

    def permute(self, order: npt.ArrayLike) -> Graph:
        """The same graph relabelled so that new node ``i`` is old node ``order[i]``."""
        return Graph(self._core.permuted(as_index("order", order, shape=(self.num_nodes,))))

    def bandwidth(self) -> int:
        """Largest ``|i - j|`` over the edges (small after :meth:`locality_order`)."""
        return self._core.bandwidth()

    def to_scipy(self) -> sp.csr_array:
        """The adjacency matrix as a SciPy CSR array (float32 ones)."""
        indices = self.indices
        data = np.ones(indices.shape[0], dtype=np.float32)
        return sp.csr_array((data, indices, self.indptr), shape=(self.num_nodes, self.num_nodes))

    def __repr__(self) -> str:
        return f"Graph(num_nodes={self.num_nodes}, num_edges={self.num_edges})"


def make_graph(family: str, num_nodes: int, *, seed: int = 0, **params: Any) -> Graph:
    """Builds a graph of a named family (see :data:`GRAPH_FAMILIES`), or reads one from a file
    (:meth:`Graph.from_file`: a ``.npz`` SciPy sparse matrix or an edge list), as configs do."""
    n = _num_nodes(num_nodes)
    if not isinstance(family, (str, os.PathLike)):
        raise ArgumentTypeError(f"family: expected a graph family name or a path, got {family!r}")
    family = os.fspath(family)
    if family not in GRAPH_FAMILIES and is_graph_file(family):
        if params:
            raise InvalidValueError(
                f"graph_params: a graph read from a file takes none, got {params}"
            )
        return Graph.from_file(family, n)
    if family in _FAMILY_PARAMS and not set(params) <= _FAMILY_PARAMS[family]:
        unknown = sorted(set(params) - _FAMILY_PARAMS[family])
        raise InvalidValueError(
            f"graph_params: the {family} family takes {sorted(_FAMILY_PARAMS[family])}, got "
            f"unknown {unknown}"
        )
    if family == "ring":
        return Graph.ring(n, params.pop("k", 1), **params)
    # The default neighbourhood (3 on each side; a mean degree of 6) shrinks to fit populations
    # of fewer than 7, so the default graphs exist at any size from 3 nodes.
    k_default = max(1, min(3, (n - 1) // 2))
    if family == "kring":
        return Graph.ring(n, params.pop("k", k_default), **params)
    if family == "grid":
        rows = params.pop("rows", None) or _squarest_factor(n)
        rows = positive_int("rows", rows, maximum=n)
        if n % rows:
            raise InvalidValueError(f"rows: must divide num_nodes = {n}, got {rows}")
        return Graph.grid(rows, n // rows, **params)
    if family == "erdos_renyi":
        return Graph.erdos_renyi(
            n, params.pop("mean_degree", min(6.0, n - 1.0)), seed=seed, **params
        )
    if family == "random_geometric":
        return Graph.random_geometric(n, seed=seed, **params)
    if family == "small_world":
        return Graph.watts_strogatz(
            n, params.pop("k", k_default), params.pop("beta", 0.1), seed=seed, **params
        )
    if family == "complete":
        return Graph.complete(n, **params)
    raise InvalidValueError(
        f"family: unknown graph family {family!r}; choose from {sorted(GRAPH_FAMILIES)}"
    )


def is_graph_file(source: str) -> bool:
    """Whether ``source`` names an existing file (rather than a graph family)."""
    if not isinstance(source, (str, os.PathLike)):
        return False
    try:
        return Path(source).is_file()
    except (OSError, ValueError):  # a name too long, or with a NUL byte, is no file
        return False


@contextmanager
def _naming_file(path: Path) -> Iterator[None]:
    """Adds the file to the engine's graph errors (e.g. an asymmetric matrix)."""
    try:
        yield
    except GraphError as e:
        raise GraphError(f"graph: {os.fspath(path)!r}: {e}") from None


def _squarest_factor(n: int) -> int:
    for rows in range(math.isqrt(n), 0, -1):
        if n % rows == 0:
            return rows
    return 1


def _check_positive(name: str, value: float) -> None:
    real(name, value, low=0.0, low_open=True)


def _num_nodes(value: int) -> int:
    return positive_int("num_nodes", value, maximum=MAX_AGENTS)


#: Parameters each family of :func:`make_graph` takes.
_FAMILY_PARAMS: dict[str, set[str]] = {
    "ring": {"k"},
    "kring": {"k"},
    "grid": {"rows"},
    "erdos_renyi": {"mean_degree", "connected"},
    "random_geometric": {"radius", "mean_degree"},
    "small_world": {"k", "beta"},
    "complete": set(),
}
