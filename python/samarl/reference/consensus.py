"""SciPy reference of the consensus kernels (``rust/samarl-core/src/consensus.rs``).

Weights are ``float32`` CSR matrices that include the diagonal. The Rust kernel computes row
``i`` of ``W x`` as ``diag_i * x_i + sum_j w_ij * x_j`` accumulated in ``float32``, diagonal term
first, then the neighbours in ascending order. SciPy's CSR product accumulates each row
sequentially in the stored order, so :func:`mix` stores every row diagonal first
(:func:`diag_first`) and then *is* a chain of plain SciPy products that reproduces that order.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from samarl.reference.graph import degrees
from samarl.reference.rng import STREAM_LINKS, uniform_f32

__all__ = [
    "MAX_DENSE_NODES",
    "diag_first",
    "link_keys",
    "lossy_weights",
    "metropolis_weights",
    "mix",
    "mix_lossy",
    "sigma2",
    "spectral_gap",
    "split_diagonal",
    "track",
]

F32Array = npt.NDArray[np.float32]
F64Array = npt.NDArray[np.float64]
Int64Array = npt.NDArray[np.int64]
U64Array = npt.NDArray[np.uint64]
BoolArray = npt.NDArray[np.bool_]

#: Largest ``n`` for which :func:`sigma2` builds the dense matrix.
MAX_DENSE_NODES = 6_000


def _rows(a: sp.csr_array) -> Int64Array:
    """Row index of every stored entry."""
    return np.repeat(np.arange(a.shape[0], dtype=np.int64), np.diff(a.indptr))


def _csr(
    n: int, rows: Int64Array, cols: Int64Array, data: npt.NDArray[np.generic], *, sort: bool
) -> sp.csr_array:
    """CSR ``[n, n]`` from entries already grouped by row (``sort`` orders columns within rows)."""
    if sort:
        order = np.lexsort((cols, rows))
        rows, cols, data = rows[order], cols[order], data[order]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    return sp.csr_array((data, cols, indptr), shape=(n, n))


def metropolis_weights(adj: sp.csr_array) -> sp.csr_array:
    """Metropolis-Hastings weights of a graph, diagonal included.

    ``W_ij = 1 / (1 + max(deg_i, deg_j))`` on edges, computed in ``float64`` and stored ``float32``;
    ``W_ii = 1 - sum_j W_ij`` with the ``float64`` weights summed in ascending ``j``, then stored
    ``float32``. ``W`` is symmetric and (up to ``float32`` rounding) doubly stochastic.

    Parameters
    ----------
    adj : scipy.sparse.csr_array
        Canonical adjacency (symmetric, no diagonal), e.g. from :mod:`samarl.reference.graph`.

    Returns
    -------
    scipy.sparse.csr_array
        ``float32 [n, n]``, columns sorted within rows, diagonal stored for every node.
    """
    a = sp.csr_array(adj, copy=True)
    a.sort_indices()
    n = a.shape[0]
    deg = degrees(a)
    rows = _rows(a)
    cols = np.asarray(a.indices, dtype=np.int64)
    w64 = 1.0 / (1.0 + np.maximum(deg[rows], deg[cols]).astype(np.float64))
    # SciPy's CSR mat-vec sums each row sequentially in stored (ascending) order.
    row_sum = sp.csr_array((w64, cols, a.indptr), shape=(n, n)) @ np.ones(n, dtype=np.float64)
    diag = (1.0 - row_sum).astype(np.float32)
    nodes = np.arange(n, dtype=np.int64)
    return _csr(
        n,
        np.concatenate([rows, nodes]),
        np.concatenate([cols, nodes]),
        np.concatenate([w64.astype(np.float32), diag]),
        sort=True,
    )


def split_diagonal(w: sp.csr_array) -> tuple[sp.csr_array, F32Array]:
    """Split ``W`` into its off-diagonal part and its diagonal (the Rust ``Weights`` layout).

    Parameters
    ----------
    w : scipy.sparse.csr_array
        ``float32`` weights.

    Returns
    -------
    tuple
        ``(offdiag, diag)``: ``offdiag`` a ``float32`` CSR with sorted columns and no diagonal,
        ``diag`` ``float32 [n]`` (0 where ``W`` stores no diagonal).
    """
    m = sp.csr_array(w).astype(np.float32)
    m.sum_duplicates()
    m.sort_indices()
    n = m.shape[0]
    rows = _rows(m)
    cols = np.asarray(m.indices, dtype=np.int64)
    on = rows == cols
    diag = np.zeros(n, dtype=np.float32)
    diag[rows[on]] = m.data[on]
    off = _csr(n, rows[~on], cols[~on], np.asarray(m.data[~on], dtype=np.float32), sort=False)
    return off, diag


def diag_first(w: sp.csr_array) -> sp.csr_array:
    """Reorder ``W`` so that each row stores its diagonal first, then its other columns ascending.

    A SciPy product with the result accumulates every row in the Rust kernel's order. Rows without a
    stored diagonal get an explicit 0.

    Parameters
    ----------
    w : scipy.sparse.csr_array
        Square ``float32`` weights.

    Returns
    -------
    scipy.sparse.csr_array
        The same matrix, entries reordered (``has_sorted_indices`` is false).
    """
    off, diag = split_diagonal(w)
    n = off.shape[0]
    nodes = np.arange(n, dtype=np.int64)
    rows = np.concatenate([nodes, _rows(off)])
    cols = np.concatenate([nodes, np.asarray(off.indices, dtype=np.int64)])
    data = np.concatenate([diag, off.data])
    order = np.argsort(rows, kind="stable")  # diagonal, then the already sorted off-diagonals
    return _csr(n, rows[order], cols[order], data[order], sort=False)


def _is_diag_first(w: sp.csr_array) -> bool:
    """Whether every row of ``w`` starts with its diagonal, followed by ascending columns."""
    n = w.shape[0]
    starts = np.asarray(w.indptr[:-1], dtype=np.int64)
    if np.any(np.diff(w.indptr) == 0):
        return False
    idx = np.asarray(w.indices, dtype=np.int64)
    if not np.array_equal(idx[starts], np.arange(n)):
        return False
    rest = np.ones(idx.shape[0], dtype=bool)
    rest[starts] = False
    rest_rows = _rows(w)[rest]
    rest_idx = idx[rest]
    same_row = rest_rows[1:] == rest_rows[:-1]
    return bool(
        np.all(rest_idx[1:][same_row] > rest_idx[:-1][same_row]) and np.all(rest_idx != rest_rows)
    )


def _check_w(w: sp.csr_array) -> sp.csr_array:
    """Validate a weight matrix and return it in diagonal-first order."""
    if w.ndim != 2 or w.shape[0] != w.shape[1]:
        raise ValueError(f"W must be square, got shape {w.shape}")
    if w.dtype != np.float32:
        raise ValueError(f"W must be float32, got {w.dtype}")
    m = sp.csr_array(w)
    return m if _is_diag_first(m) else diag_first(m)


def _check_x(x: npt.ArrayLike, n: int, name: str = "x") -> F32Array:
    """Validate a ``float32 [n]`` or ``[n, cols]`` state and return a C-contiguous copy."""
    arr = np.array(x, dtype=np.float32, order="C", copy=True)
    if arr.ndim not in (1, 2) or arr.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},) or ({n}, cols), got {arr.shape}")
    if arr.ndim == 2 and arr.shape[1] == 0:
        raise ValueError(f"{name} must have cols > 0")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    return arr


def mix(w: sp.csr_array, x: npt.ArrayLike, rounds: int) -> F32Array:
    """``rounds`` consensus rounds ``x <- W x`` (every column), in ``float32``.

    Parameters
    ----------
    w : scipy.sparse.csr_array
        ``float32`` weights ``[n, n]`` (e.g. :func:`metropolis_weights`); reordered with
        :func:`diag_first` unless already in that order.
    x : array_like
        ``float32 [n]`` or ``[n, cols]``, finite.
    rounds : int
        Number of products, >= 0.

    Returns
    -------
    numpy.ndarray
        ``W^rounds x`` as a new ``float32`` array of the shape of ``x``.
    """
    if rounds < 0:
        raise ValueError(f"rounds must be >= 0, got {rounds}")
    m = _check_w(w)
    y = _check_x(x, m.shape[0])
    for _ in range(rounds):
        y = m @ y
    return np.asarray(y, dtype=np.float32)


def link_keys(w: sp.csr_array) -> U64Array:
    """RNG agent key of every stored entry: ``min(i, j) * n + max(i, j)`` as ``uint64``.

    Both directions of an undirected edge share a key, hence a drop decision.

    Parameters
    ----------
    w : scipy.sparse.csr_array
        Square matrix in CSR form.

    Returns
    -------
    numpy.ndarray
        ``uint64 [nnz]``.
    """
    n = w.shape[0]
    rows = _rows(w)
    cols = np.asarray(w.indices, dtype=np.int64)
    lo = np.minimum(rows, cols).astype(np.uint64)
    hi = np.maximum(rows, cols).astype(np.uint64)
    return lo * np.uint64(n) + hi


def _dropped(
    m: sp.csr_array, keys: U64Array, drop_prob: np.float32, seed: int, round_index: int
) -> BoolArray:
    """Entries of ``m`` whose link is down in round ``round_index`` (never the diagonal)."""
    off = _rows(m) != np.asarray(m.indices, dtype=np.int64)
    u = uniform_f32(seed, STREAM_LINKS, keys, round_index)
    return np.asarray(off & (u < drop_prob), dtype=bool)


def _as_weights(adj_or_w: sp.csr_array) -> sp.csr_array:
    """Weights as given (float) or Metropolis weights of an adjacency (bool / int)."""
    if np.issubdtype(adj_or_w.dtype, np.floating):
        return sp.csr_array(adj_or_w)
    return metropolis_weights(adj_or_w)


def _check_prob(drop_prob: float) -> np.float32:
    """``drop_prob`` as ``float32`` in ``[0, 1]``."""
    p = np.float32(drop_prob)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"drop_prob must be in [0, 1], got {drop_prob}")
    return p


def mix_lossy(
    adj_or_w: sp.csr_array,
    x: npt.ArrayLike,
    rounds: int,
    drop_prob: float,
    seed: int,
    round_offset: int = 0,
) -> F32Array:
    """Consensus over unreliable links: in each round every undirected edge may be down.

    In round ``r`` the edge ``{i, j}`` (``i < j``) is down iff
    ``uniform_f32(seed, STREAM_LINKS, i * n + j, round_offset + r) < drop_prob``. A down edge's
    weight moves to both endpoints' diagonals, so each round's matrix stays symmetric and doubly
    stochastic.
    Row ``i`` is accumulated in ``float32`` as ``diag_i * x_i`` followed, in ascending ``j``, by
    ``w_ij * x_j`` for a live edge and ``w_ij * x_i`` for a down one.

    Parameters
    ----------
    adj_or_w : scipy.sparse.csr_array
        ``float32`` weights, or an adjacency (``bool``/integer) whose Metropolis weights are used.
    x : array_like
        ``float32 [n]`` or ``[n, cols]``, finite.
    rounds : int
        Number of rounds, >= 0.
    drop_prob : float
        Probability that a link is down in a round, in ``[0, 1]``.
    seed : int
        Seed of the link stream.
    round_offset : int
        Counter of the first round (continue a sequence across calls).

    Returns
    -------
    numpy.ndarray
        The mixed ``float32`` state, shape of ``x``.
    """
    if rounds < 0:
        raise ValueError(f"rounds must be >= 0, got {rounds}")
    p = _check_prob(drop_prob)
    m = _check_w(_as_weights(adj_or_w))
    n = m.shape[0]
    y = _check_x(x, n)
    keys = link_keys(m)
    rows = _rows(m)
    cols = np.asarray(m.indices, dtype=np.int64)
    for r in range(rounds):
        down = _dropped(m, keys, p, seed, round_offset + r)
        m_r = sp.csr_array((m.data, np.where(down, rows, cols), m.indptr), shape=(n, n))
        y = m_r @ y
    return np.asarray(y, dtype=np.float32)


def lossy_weights(
    adj_or_w: sp.csr_array, drop_prob: float, seed: int, round_index: int
) -> sp.csr_array:
    """The explicit weight matrix of one lossy round (for property tests).

    Down edges are removed and their weights added to both endpoints' diagonals (summed in
    ``float64``, stored ``float32``).

    Parameters
    ----------
    adj_or_w : scipy.sparse.csr_array
        ``float32`` weights or an adjacency.
    drop_prob : float
        Probability that a link is down, in ``[0, 1]``.
    seed : int
        Seed of the link stream.
    round_index : int
        Round counter (``round_offset + r``).

    Returns
    -------
    scipy.sparse.csr_array
        ``float32 [n, n]`` with sorted columns and the diagonal stored.
    """
    p = _check_prob(drop_prob)
    w = sp.csr_array(_as_weights(adj_or_w)).astype(np.float32)
    w.sort_indices()
    n = w.shape[0]
    down = _dropped(w, link_keys(w), p, seed, round_index)
    _, diag = split_diagonal(w)
    rows = _rows(w)
    moved = np.bincount(rows[down], weights=w.data[down].astype(np.float64), minlength=n)
    new_diag = (diag.astype(np.float64) + moved).astype(np.float32)
    cols = np.asarray(w.indices, dtype=np.int64)
    live = ~down & (rows != cols)
    nodes = np.arange(n, dtype=np.int64)
    return _csr(
        n,
        np.concatenate([rows[live], nodes]),
        np.concatenate([cols[live], nodes]),
        np.concatenate([np.asarray(w.data[live], dtype=np.float32), new_diag]),
        sort=True,
    )


def track(
    w: sp.csr_array,
    y: npt.ArrayLike,
    g_new: npt.ArrayLike,
    g_old: npt.ArrayLike,
    rounds: int,
) -> F32Array:
    """Dynamic average tracking: ``y <- W^rounds y + (g_new - g_old)`` in ``float32``.

    Parameters
    ----------
    w : scipy.sparse.csr_array
        ``float32`` weights.
    y : array_like
        Tracker state ``float32 [n]`` or ``[n, cols]``.
    g_new, g_old : array_like
        New and previous local signals, shape of ``y``.
    rounds : int
        Consensus rounds per update, >= 0.

    Returns
    -------
    numpy.ndarray
        The updated tracker, ``float32``.
    """
    mixed = mix(w, y, rounds)
    gn = _check_x(g_new, mixed.shape[0], "g_new")
    go = _check_x(g_old, mixed.shape[0], "g_old")
    if gn.shape != mixed.shape or go.shape != mixed.shape:
        raise ValueError(f"g_new and g_old must have shape {mixed.shape}")
    return np.asarray(mixed + (gn - go), dtype=np.float32)


def sigma2(w: sp.csr_array) -> float:
    """Second largest singular value of a symmetric doubly stochastic ``W``, exactly.

    The largest ``|eigenvalue|`` of ``W - (1/n) 1 1^T``, from a dense ``float64`` ``eigvalsh``.

    Parameters
    ----------
    w : scipy.sparse.csr_array
        Symmetric weights, ``n <= MAX_DENSE_NODES``.

    Returns
    -------
    float
        ``sigma_2(W)`` in ``[0, 1]`` for doubly stochastic ``W``.
    """
    n = w.shape[0]
    if w.ndim != 2 or n != w.shape[1]:
        raise ValueError(f"W must be square, got shape {w.shape}")
    if n > MAX_DENSE_NODES:
        raise ValueError(f"sigma2 is dense: n must be <= {MAX_DENSE_NODES}, got {n}")
    dense: F64Array = np.asarray(sp.csr_array(w).toarray(), dtype=np.float64)
    if not np.allclose(dense, dense.T, rtol=0.0, atol=1e-7):
        raise ValueError("W must be symmetric")
    dense -= 1.0 / n
    eig = np.linalg.eigvalsh(dense)
    return float(np.max(np.abs(eig)))


def spectral_gap(w: sp.csr_array) -> float:
    """Spectral gap ``1 - sigma2(W)``.

    Parameters
    ----------
    w : scipy.sparse.csr_array
        Symmetric weights, ``n <= MAX_DENSE_NODES``.

    Returns
    -------
    float
        The gap (> 0 for a connected graph with Metropolis weights).
    """
    return 1.0 - sigma2(w)
