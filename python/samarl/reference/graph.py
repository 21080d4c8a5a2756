"""SciPy reference of the graph constructions (``rust/samarl-core/src/graph.rs``).

Every constructor returns the canonical form the Rust ``Graph`` uses: an undirected simple graph as
a symmetric ``scipy.sparse.csr_array`` of ``bool`` (``True`` on edges), column indices sorted
within each row, no diagonal, no duplicates.

The seeded random families (Erdos-Renyi, random geometric, Watts-Strogatz) draw from xoshiro in
Rust; they are checked through their invariants and through :func:`geometric_from_points`, which
takes the points explicitly.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components, reverse_cuthill_mckee
from scipy.spatial import cKDTree

__all__ = [
    "MAX_COMPLETE_NODES",
    "bandwidth",
    "complete",
    "component_labels",
    "degrees",
    "edge_list",
    "from_csr",
    "from_edges",
    "geometric_from_points",
    "grid_2d",
    "num_components",
    "num_edges",
    "permuted",
    "rcm_order",
    "ring",
]

Int64Array = npt.NDArray[np.int64]

#: Largest ``n`` accepted by :func:`complete` (the Rust limit, for memory).
MAX_COMPLETE_NODES = 20_000


def _from_pairs(n: int, rows: npt.ArrayLike, cols: npt.ArrayLike) -> sp.csr_array:
    """Canonical symmetric adjacency from (possibly repeated, either-orientation) index pairs."""
    r = np.asarray(rows, dtype=np.int64).ravel()
    c = np.asarray(cols, dtype=np.int64).ravel()
    keep = r != c
    r, c = r[keep], c[keep]
    lo = np.minimum(r, c)
    hi = np.maximum(r, c)
    codes = np.unique(lo * n + hi)  # dedupe undirected edges
    lo, hi = codes // n, codes % n
    both_r = np.concatenate([lo, hi])
    both_c = np.concatenate([hi, lo])
    order = np.lexsort((both_c, both_r))
    both_r, both_c = both_r[order], both_c[order]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(both_r, minlength=n), out=indptr[1:])
    data = np.ones(both_c.shape[0], dtype=bool)
    adj = sp.csr_array((data, both_c, indptr), shape=(n, n))
    adj.has_sorted_indices = True
    return adj


def _check_nodes(n: int) -> None:
    """Refuse an empty graph (Rust: ``InvalidValue{name: "num_nodes"}``)."""
    if n <= 0:
        raise ValueError(f"num_nodes must be > 0, got {n}")


def from_edges(n: int, edges: npt.ArrayLike) -> sp.csr_array:
    """Graph on ``n`` nodes from an edge list; self loops and duplicates are dropped.

    Parameters
    ----------
    n : int
        Number of nodes (> 0).
    edges : array_like of int, shape (m, 2)
        Undirected edges ``(u, v)`` in either orientation.

    Returns
    -------
    scipy.sparse.csr_array
        Canonical ``bool`` adjacency ``[n, n]``.

    Raises
    ------
    ValueError
        If ``n <= 0``, ``edges`` is not ``[m, 2]``, or an index is outside ``[0, n)``.
    """
    _check_nodes(n)
    e = np.asarray(edges, dtype=np.int64)
    if e.size == 0:
        e = e.reshape(0, 2)
    if e.ndim != 2 or e.shape[1] != 2:
        raise ValueError(f"edges must have shape [m, 2], got {e.shape}")
    if e.size and (e.min() < 0 or e.max() >= n):
        raise ValueError(f"edge index out of range [0, {n})")
    return _from_pairs(n, e[:, 0], e[:, 1])


def from_csr(n: int, indptr: npt.ArrayLike, indices: npt.ArrayLike) -> sp.csr_array:
    """Graph from a symmetric CSR pattern (the diagonal is dropped).

    Parameters
    ----------
    n : int
        Number of nodes (> 0).
    indptr : array_like of int, shape (n + 1,)
        Row pointers, non-decreasing from 0.
    indices : array_like of int
        Column indices in ``[0, n)``.

    Returns
    -------
    scipy.sparse.csr_array
        Canonical ``bool`` adjacency.

    Raises
    ------
    ValueError
        If the pattern is malformed or not symmetric.
    """
    _check_nodes(n)
    ptr = np.asarray(indptr, dtype=np.int64)
    idx = np.asarray(indices, dtype=np.int64)
    if ptr.shape != (n + 1,) or ptr[0] != 0 or ptr[-1] != idx.shape[0] or np.any(np.diff(ptr) < 0):
        raise ValueError("indptr must be non-decreasing, start at 0 and end at len(indices)")
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise ValueError(f"column index out of range [0, {n})")
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(ptr))
    off = rows != idx
    fwd = np.unique(rows[off] * n + idx[off])
    bwd = np.unique(idx[off] * n + rows[off])
    if fwd.shape != bwd.shape or not np.array_equal(fwd, bwd):
        raise ValueError("adjacency pattern is not symmetric")
    return _from_pairs(n, rows[off], idx[off])


def ring(n: int, k: int = 1) -> sp.csr_array:
    """Ring lattice: node ``i`` linked to ``i +- 1, ..., i +- k`` (mod ``n``).

    Parameters
    ----------
    n : int
        Number of nodes, ``n >= 3``.
    k : int
        Neighbours on each side, ``k >= 1`` and ``2 k < n``.

    Returns
    -------
    scipy.sparse.csr_array
        Canonical ``bool`` adjacency, every degree ``2 k``.
    """
    if n < 3 or k < 1 or 2 * k >= n:
        raise ValueError(f"ring needs n >= 3, k >= 1 and 2k < n, got n={n}, k={k}")
    i = np.repeat(np.arange(n, dtype=np.int64), k)
    j = (i + np.tile(np.arange(1, k + 1, dtype=np.int64), n)) % n
    return _from_pairs(n, i, j)


def grid_2d(rows: int, cols: int) -> sp.csr_array:
    """4-neighbour lattice; node ``r * cols + c``.

    Parameters
    ----------
    rows, cols : int
        Lattice size, each >= 1.

    Returns
    -------
    scipy.sparse.csr_array
        Canonical ``bool`` adjacency with ``rows (cols - 1) + cols (rows - 1)`` edges.
    """
    if rows < 1 or cols < 1:
        raise ValueError(f"grid needs rows >= 1 and cols >= 1, got {rows}x{cols}")
    node = np.arange(rows * cols, dtype=np.int64).reshape(rows, cols)
    i = np.concatenate([node[:, :-1].ravel(), node[:-1, :].ravel()])
    j = np.concatenate([node[:, 1:].ravel(), node[1:, :].ravel()])
    return _from_pairs(rows * cols, i, j)


def complete(n: int) -> sp.csr_array:
    """Complete graph on ``n`` nodes.

    Parameters
    ----------
    n : int
        ``1 <= n <= MAX_COMPLETE_NODES``.

    Returns
    -------
    scipy.sparse.csr_array
        Canonical ``bool`` adjacency.
    """
    _check_nodes(n)
    if n > MAX_COMPLETE_NODES:
        raise ValueError(f"complete graph limited to {MAX_COMPLETE_NODES} nodes, got {n}")
    i, j = np.triu_indices(n, k=1)
    return _from_pairs(n, i, j)


def geometric_from_points(points: npt.ArrayLike, radius: float) -> sp.csr_array:
    """Random-geometric-style graph: edge iff the euclidean distance is at most ``radius``.

    Candidates come from ``cKDTree.query_pairs`` with a slightly enlarged radius; the decision is
    then made exactly as in Rust: ``dx * dx + dy * dy <= radius * radius`` in ``float64``, with
    ``dx = float64(x_i) - float64(x_j)``.

    Parameters
    ----------
    points : array_like, shape (n, 2)
        Coordinates (stored ``float32`` in Rust; cast to ``float32`` here first).
    radius : float
        Connection radius, finite and >= 0.

    Returns
    -------
    scipy.sparse.csr_array
        Canonical ``bool`` adjacency.
    """
    pts32 = np.asarray(points, dtype=np.float32)
    if pts32.ndim != 2 or pts32.shape[1] != 2:
        raise ValueError(f"points must have shape [n, 2], got {pts32.shape}")
    n = pts32.shape[0]
    _check_nodes(n)
    if not np.all(np.isfinite(pts32)):
        raise ValueError("points must be finite")
    r = float(radius)
    if not (np.isfinite(r) and r >= 0):
        raise ValueError(f"radius must be finite and >= 0, got {radius}")
    pts = pts32.astype(np.float64)
    pairs = cKDTree(pts).query_pairs(r * (1.0 + 1e-9) + 1e-300, output_type="ndarray")
    pairs = pairs.astype(np.int64).reshape(-1, 2)
    dx = pts[pairs[:, 0], 0] - pts[pairs[:, 1], 0]
    dy = pts[pairs[:, 0], 1] - pts[pairs[:, 1], 1]
    keep = dx * dx + dy * dy <= r * r
    return _from_pairs(n, pairs[keep, 0], pairs[keep, 1])


def degrees(adj: sp.csr_array) -> Int64Array:
    """Node degrees (stored entries per row).

    Parameters
    ----------
    adj : scipy.sparse.csr_array
        Canonical adjacency.

    Returns
    -------
    numpy.ndarray
        ``int64 [n]``.
    """
    indptr = np.asarray(adj.indptr, dtype=np.int64)
    return indptr[1:] - indptr[:-1]


def num_edges(adj: sp.csr_array) -> int:
    """Number of undirected edges.

    Parameters
    ----------
    adj : scipy.sparse.csr_array
        Canonical adjacency.

    Returns
    -------
    int
        ``nnz / 2``.
    """
    return int(adj.nnz) // 2


def edge_list(adj: sp.csr_array) -> Int64Array:
    """Undirected edges ``(i, j)`` with ``i < j``, sorted by ``(i, j)``.

    Parameters
    ----------
    adj : scipy.sparse.csr_array
        Canonical adjacency.

    Returns
    -------
    numpy.ndarray
        ``int64 [m, 2]``.
    """
    rows = np.repeat(np.arange(adj.shape[0], dtype=np.int64), degrees(adj))
    cols = np.asarray(adj.indices, dtype=np.int64)
    upper = rows < cols
    return np.stack([rows[upper], cols[upper]], axis=1)


def rcm_order(adj: sp.csr_array) -> Int64Array:
    """Reverse Cuthill-McKee order (``order[new] = old``) from SciPy.

    SciPy's start nodes and tie-breaking differ from the Rust implementation, so the two orders are
    compared through the bandwidth they achieve, not element by element.

    Parameters
    ----------
    adj : scipy.sparse.csr_array
        Canonical adjacency.

    Returns
    -------
    numpy.ndarray
        ``int64 [n]`` permutation.
    """
    return np.asarray(reverse_cuthill_mckee(sp.csr_array(adj), symmetric_mode=True), dtype=np.int64)


def permuted(adj: sp.csr_array, order: npt.ArrayLike) -> sp.csr_array:
    """Relabel nodes: new node ``i`` is old node ``order[i]``.

    Parameters
    ----------
    adj : scipy.sparse.csr_array
        Canonical adjacency.
    order : array_like of int, shape (n,)
        A permutation of ``0 .. n-1``.

    Returns
    -------
    scipy.sparse.csr_array
        Canonical adjacency of the relabelled graph.
    """
    n = adj.shape[0]
    perm = np.asarray(order, dtype=np.int64)
    if perm.shape != (n,) or not np.array_equal(np.sort(perm), np.arange(n)):
        raise ValueError("order must be a permutation of 0..n-1")
    inverse = np.empty(n, dtype=np.int64)
    inverse[perm] = np.arange(n, dtype=np.int64)
    e = edge_list(adj)
    return _from_pairs(n, inverse[e[:, 0]], inverse[e[:, 1]])


def bandwidth(adj: sp.csr_array) -> int:
    """Largest ``|i - j|`` over the edges (0 for an edgeless graph).

    Parameters
    ----------
    adj : scipy.sparse.csr_array
        Adjacency in CSR form.

    Returns
    -------
    int
        The bandwidth.
    """
    if adj.nnz == 0:
        return 0
    rows = np.repeat(np.arange(adj.shape[0], dtype=np.int64), degrees(adj))
    return int(np.max(np.abs(rows - np.asarray(adj.indices, dtype=np.int64))))


def component_labels(adj: sp.csr_array) -> tuple[int, Int64Array]:
    """Connected components, labelled ``0, 1, ...`` in order of each component's smallest node.

    Parameters
    ----------
    adj : scipy.sparse.csr_array
        Canonical adjacency.

    Returns
    -------
    tuple
        ``(count, labels)`` with ``labels`` ``int64 [n]``.
    """
    count, labels = connected_components(adj, directed=False)
    _, first = np.unique(labels, return_index=True)
    relabel = np.empty(count, dtype=np.int64)
    relabel[labels[np.sort(first)]] = np.arange(count, dtype=np.int64)
    return int(count), relabel[labels]


def num_components(adj: sp.csr_array) -> int:
    """Number of connected components.

    Parameters
    ----------
    adj : scipy.sparse.csr_array
        Canonical adjacency.

    Returns
    -------
    int
        The count (1 for a connected graph).
    """
    count, _ = connected_components(adj, directed=False)
    return int(count)
