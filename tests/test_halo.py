"""A part's rows of the consensus rounds (:class:`samarl.comms.HaloRows`): a run split into P
parts, each mixing its rows from its own values and its halo's, equals the whole graph's mix and
lossy mix bit for bit, for any graph, split, number of rounds and halo depth."""

from __future__ import annotations

import pickle

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from samarl.comms import Consensus, Graph, HaloRows, make_graph
from samarl.errors import InvalidValueError, ShapeError
from samarl.reference import consensus as rc

F32 = npt.NDArray[np.float32]
SETTINGS = settings(max_examples=40, deadline=None)


def split(n: int, parts: int, seed: int) -> list[npt.NDArray[np.int64]]:
    """Scattered parts: every node to a random part (some parts may be empty)."""
    owner = np.random.default_rng(seed).integers(0, parts, n)
    return [np.flatnonzero(owner == p) for p in range(parts)]


def partitioned(
    mixers: list[HaloRows],
    x: F32,
    rounds: int,
    hops: int,
    drop_prob: float,
    seed: int,
    offset: int,
) -> F32:
    """The rounds run part by part in calls of at most ``hops`` rounds, every part reading its
    halo from the others' results of the previous call (what actors would send each other)."""
    now, done = x.copy(), 0
    while done < rounds:
        k = min(hops, rounds - done)
        after = now.copy()
        for m in mixers:
            own, halo = now[m.rows], now[m.halo]
            if drop_prob > 0:
                after[m.rows] = m.mix_lossy(
                    own, halo, k, drop_prob=drop_prob, seed=seed, round_offset=offset + done
                )
            else:
                after[m.rows] = m.mix(own, halo, k)
        now, done = after, done + k
    return now


def whole(c: Consensus, x: F32, rounds: int, drop_prob: float, seed: int, offset: int) -> F32:
    if drop_prob > 0:
        return c.mix_lossy(x, rounds, drop_prob=drop_prob, seed=seed, round_offset=offset)
    return c.mix(x, rounds)


def random_graph(n: int, seed: int) -> Graph:
    rng = np.random.default_rng(seed)
    edges = rng.integers(0, n, (3 * n, 2))
    return Graph.from_edges(n, edges)


@SETTINGS
@given(
    n=st.integers(2, 60),
    graph_seed=st.integers(0, 2**32),
    parts=st.integers(1, 5),
    hops=st.integers(1, 3),
    rounds=st.integers(0, 7),
    cols=st.sampled_from([None, 1, 3]),
    drop_prob=st.sampled_from([0.0, 0.3, 0.7, 1.0]),
    seed=st.integers(0, 2**64 - 1),
    offset=st.integers(0, 2**40),
    reorder=st.booleans(),
)
def test_parts_equal_the_whole_graph_bit_for_bit(
    n: int,
    graph_seed: int,
    parts: int,
    hops: int,
    rounds: int,
    cols: int | None,
    drop_prob: float,
    seed: int,
    offset: int,
    reorder: bool,
) -> None:
    graph = random_graph(n, graph_seed)
    c = Consensus(graph, require_connected=False, reorder=reorder)
    shape = (n,) if cols is None else (n, cols)
    x = np.random.default_rng(graph_seed + 1).uniform(-5, 5, shape).astype(np.float32)
    mixers = [HaloRows(c, rows, hops=hops) for rows in split(n, parts, graph_seed)]
    got = partitioned(mixers, x, rounds, hops, drop_prob, seed, offset)
    want = whole(c, x, rounds, drop_prob, seed, offset)
    assert got.dtype == np.float32
    assert got.tobytes() == want.tobytes()


def test_a_large_graph_in_parallel_chunks_and_the_numpy_reference() -> None:
    """Parts big enough for the engine's parallel chunks, a locality-ordered consensus (the
    engine's default), and the SciPy reference of the whole graph's lossy rounds."""
    n = 80_000
    graph = make_graph("random_geometric", n, seed=3)
    x = np.random.default_rng(4).standard_normal((n, 2)).astype(np.float32)
    for reorder in (True, False):
        c = Consensus(graph, require_connected=False, reorder=reorder)
        mixers = [HaloRows(c, rows, hops=2) for rows in split(n, 2, 5)]
        got = partitioned(mixers, x, 5, 2, 0.2, 9, 3)
        assert got.tobytes() == whole(c, x, 5, 0.2, 9, 3).tobytes()
    # Without reordering the engine's order is the graph's own: the reference mixes the same.
    w = rc.diag_first(c.weights())
    assert got.tobytes() == rc.mix_lossy(w, x, 5, drop_prob=0.2, seed=9, round_offset=3).tobytes()


def test_the_parts_rows_are_the_engines_weights() -> None:
    graph = make_graph("small_world", 300, seed=1)
    c = Consensus(graph)
    rows = np.arange(0, 300, 7)
    m = HaloRows(c, rows)
    w = m.weights()
    full = c.weights()
    cols = np.concatenate([m.rows, m.halo])
    np.testing.assert_array_equal(w.toarray(), full[m.rows][:, cols].toarray())
    # Stored diagonal first, as the engine sums.
    assert (w.indices[w.indptr[:-1]] == np.arange(len(rows))).all()
    # The halo is every neighbour outside the part, by id (one hop).
    adj = graph.to_scipy()
    neighbours = np.unique(adj[rows].indices)
    np.testing.assert_array_equal(m.halo, np.setdiff1d(neighbours, rows))


def test_the_halo_order_is_the_callers_and_mixers_pickle() -> None:
    graph = make_graph("erdos_renyi", 200, seed=2)
    c = Consensus(graph)
    rows = np.arange(1, 200, 3)
    default = HaloRows(c, rows, hops=2)
    order = default.halo[::-1].copy()
    custom = HaloRows(c, rows, hops=2, halo=order)
    np.testing.assert_array_equal(custom.halo, order)
    x = np.random.default_rng(0).standard_normal(200).astype(np.float32)
    a = default.mix_lossy(x[rows], x[default.halo], 2, drop_prob=0.4, seed=1)
    b = custom.mix_lossy(x[rows], x[order], 2, drop_prob=0.4, seed=1)
    assert a.tobytes() == b.tobytes()
    back = pickle.loads(pickle.dumps(custom))
    np.testing.assert_array_equal(back.halo, order)
    assert back.mix_lossy(x[rows], x[order], 2, drop_prob=0.4, seed=1).tobytes() == b.tobytes()
    assert "HaloRows(rows=67" in repr(back)


def test_bad_arguments_name_the_argument() -> None:
    c = Consensus(make_graph("ring", 10))
    m = HaloRows(c, [4, 5])
    np.testing.assert_array_equal(m.halo, [3, 6])
    with pytest.raises(InvalidValueError, match="rows"):
        HaloRows(c, [4, 4])
    with pytest.raises(InvalidValueError, match="rows"):
        HaloRows(c, [10])
    with pytest.raises(InvalidValueError, match="hops"):
        HaloRows(c, [4], hops=0)
    with pytest.raises(InvalidValueError, match="halo"):
        HaloRows(c, [4, 5], halo=[3, 7])
    with pytest.raises(InvalidValueError, match="rounds"):
        m.mix([0.0, 1.0], [0.0, 0.0], 2)
    with pytest.raises(ShapeError, match="x"):
        m.mix([0.0, 1.0, 2.0], [0.0, 0.0])
    with pytest.raises(ShapeError, match="halo"):
        m.mix([0.0, 1.0], [[0.0], [0.0]])
    with pytest.raises(InvalidValueError, match="halo"):
        m.mix([0.0, 1.0], [np.nan, 0.0])
    with pytest.raises(InvalidValueError, match="drop_prob"):
        m.mix_lossy([0.0, 1.0], [0.0, 0.0], drop_prob=1.5)
    parts = list(m.__getstate__()["parts"])
    parts[6] = parts[6] + 100  # a column out of range
    with pytest.raises(InvalidValueError, match="parts"):
        HaloRows.__new__(HaloRows).__setstate__({"parts": tuple(parts)})
