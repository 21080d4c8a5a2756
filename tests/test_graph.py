"""Graph construction in Rust against SciPy references."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

from samarl import Graph, _core, make_graph
from samarl.comms.graph import GRAPH_FAMILIES
from samarl.errors import GraphError, InvalidValueError
from samarl.reference import graph as ref


def same_pattern(g: Graph, adj: sp.csr_array) -> None:
    got = g.to_scipy()
    assert got.shape == adj.shape
    assert (got != sp.csr_array(adj, dtype=np.float32)).nnz == 0


def assert_canonical(g: Graph) -> None:
    a = g.to_scipy()
    assert (a != a.T).nnz == 0, "symmetric"
    assert a.diagonal().sum() == 0, "no self loops"
    indptr, indices = g.indptr, g.indices
    for i in range(g.num_nodes):
        row = indices[indptr[i] : indptr[i + 1]]
        assert (np.diff(row) > 0).all(), "sorted, no duplicates"
    np.testing.assert_array_equal(g.degrees, np.diff(indptr))


@given(n=st.integers(3, 60), k=st.integers(1, 5))
def test_ring_matches_reference(n: int, k: int) -> None:
    if 2 * k >= n:
        with pytest.raises(InvalidValueError):
            Graph.ring(n, k)
        return
    same_pattern(Graph.ring(n, k), ref.ring(n, k))


@given(rows=st.integers(1, 12), cols=st.integers(1, 12))
def test_grid_matches_reference(rows: int, cols: int) -> None:
    same_pattern(Graph.grid(rows, cols), ref.grid_2d(rows, cols))


@given(n=st.integers(1, 40))
def test_complete_matches_reference(n: int) -> None:
    same_pattern(Graph.complete(n), ref.complete(n))


@given(n=st.integers(1, 200), radius=st.floats(0.01, 0.5), seed=st.integers(0, 2**32))
def test_geometric_matches_kdtree(n: int, radius: float, seed: int) -> None:
    pts = np.random.default_rng(seed).random((n, 2), dtype=np.float32)
    same_pattern(Graph.from_points(pts, radius), ref.geometric_from_points(pts, radius))


@given(n=st.integers(2, 50), edges=st.lists(st.tuples(st.integers(0, 49), st.integers(0, 49))))
def test_from_edges_matches_reference(n: int, edges: list[tuple[int, int]]) -> None:
    e = np.array([(a % n, b % n) for a, b in edges], dtype=np.int64).reshape(-1, 2)
    g = Graph.from_edges(n, e)
    same_pattern(g, ref.from_edges(n, e))
    assert_canonical(g)
    same_pattern(Graph.from_scipy(g.to_scipy()), g.to_scipy())


@pytest.mark.parametrize(
    "make",
    [
        lambda: Graph.erdos_renyi(2000, 6.0, seed=3),
        lambda: Graph.erdos_renyi(2000, 6.0, seed=3, connected=False),
        lambda: Graph.random_geometric(2000, seed=1),
        lambda: Graph.watts_strogatz(2000, 3, 0.2, seed=2),
        lambda: Graph.ring(100, 3),
        lambda: Graph.grid(20, 30),
    ],
)
def test_generators_give_canonical_graphs(make) -> None:
    g = make()
    assert_canonical(g)
    count, labels = g.components()
    assert count == ref.num_components(g.to_scipy())
    assert labels.shape == (g.num_nodes,)


def test_erdos_renyi_mean_degree_and_connectivity() -> None:
    g = Graph.erdos_renyi(20_000, 6.0, seed=7)
    assert g.is_connected()
    assert abs(g.mean_degree - 6.0) < 0.15
    loose = Graph.erdos_renyi(20_000, 1.0, seed=7, connected=False)
    assert not loose.is_connected()
    assert abs(loose.mean_degree - 1.0) < 0.05


def test_watts_strogatz_keeps_edge_count() -> None:
    g = Graph.watts_strogatz(1000, 3, 0.3, seed=1)
    assert g.num_edges == 3000
    assert Graph.watts_strogatz(1000, 3, 0.0).to_scipy().nnz == Graph.ring(1000, 3).to_scipy().nnz


@given(seed=st.integers(0, 2**32))
def test_locality_order_is_a_permutation_that_shrinks_bandwidth(seed: int) -> None:
    rows, cols = 12, 15
    grid = Graph.grid(rows, cols)
    shuffled = grid.permute(np.random.default_rng(seed).permutation(grid.num_nodes))
    order = shuffled.locality_order()
    np.testing.assert_array_equal(np.sort(order), np.arange(grid.num_nodes))
    tidy = shuffled.permute(order)
    assert tidy.bandwidth() <= 2 * min(rows, cols) + 2
    assert tidy.num_edges == grid.num_edges
    assert (
        tidy.bandwidth()
        <= ref.bandwidth(ref.permuted(shuffled.to_scipy(), ref.rcm_order(shuffled.to_scipy()))) * 2
    )


def test_permute_is_an_isomorphism() -> None:
    g = Graph.erdos_renyi(300, 4.0, seed=1)
    order = np.random.default_rng(0).permutation(300)
    same_pattern(g.permute(order), ref.permuted(g.to_scipy(), order))


def test_make_graph_knows_every_family() -> None:
    for family in GRAPH_FAMILIES:
        g = make_graph(family, 400, seed=1)
        assert g.num_nodes == 400
        assert g.is_connected(), family
    with pytest.raises(InvalidValueError, match="unknown graph family"):
        make_graph("hypercube", 16)


def test_bad_graphs_raise_clear_errors() -> None:
    with pytest.raises(GraphError, match=r"edge 0 = \(0, 3\) has an endpoint >= num_nodes = 3"):
        Graph.from_edges(3, [[0, 3]])
    with pytest.raises(InvalidValueError, match="num_nodes"):
        Graph.ring(0)
    with pytest.raises(InvalidValueError, match="mean_degree"):
        Graph.erdos_renyi(10, -1.0)
    with pytest.raises(InvalidValueError, match="beta"):
        Graph.watts_strogatz(10, 2, 1.5)
    with pytest.raises(GraphError, match=r"symmetric|asymmetric"):
        Graph.from_scipy(sp.csr_array(np.array([[0, 1], [0, 0]])))
    with pytest.raises(InvalidValueError, match="order"):
        Graph.ring(5).permute([0, 0, 1, 2, 3])


def test_engine_rejects_negative_csr_indices() -> None:
    indptr, indices = np.array([0, 1, 2]), np.array([1, 0])
    with pytest.raises(InvalidValueError, match=r"indptr: .*found -1"):
        _core.GraphCore.from_csr(2, np.array([0, -1, 2]), indices)
    with pytest.raises(InvalidValueError, match=r"indices: .*found -1"):
        _core.GraphCore.from_csr(2, indptr, np.array([1, -1]))
    assert _core.GraphCore.from_csr(2, indptr, indices).num_edges == 1


def test_sizes_beyond_memory_are_one_line_from_the_engine_and_python(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from samarl import Consensus
    from samarl._validate import available_memory, check_memory, format_bytes
    from samarl.errors import ConfigError, MemoryLimitError

    monkeypatch.setenv("SAMARL_MEMORY_LIMIT", "1M")
    assert available_memory() == 1_000_000
    for make in (
        lambda: Graph.ring(100_000, 3),
        lambda: Graph.watts_strogatz(100_000, 3, 0.1),
        lambda: Graph.erdos_renyi(100_000, 4.0),
        lambda: Graph.random_geometric(100_000),
        lambda: Graph.grid(300, 400),
        lambda: Graph.from_edges(10**6, [[0, 1]]),
        lambda: make_graph("small_world", 100_000),
    ):
        with pytest.raises(MemoryLimitError, match=r"^num_nodes: [\d,]+ nodes need ~[\d.]+ MB \("):
            make()
    monkeypatch.setenv("SAMARL_MEMORY_LIMIT", "60k")
    ring = Graph.ring(1000, 1)
    with pytest.raises(MemoryLimitError, match="num_nodes: 1,000 nodes need ~"):
        Consensus(ring)
    with pytest.raises(MemoryLimitError, match=r"^x: 1 things need ~2\.0 MB \(this machine has 60"):
        check_memory("x", 1, "things", 2e6)
    for limit in ("lots", "-1G", "1e30"):
        monkeypatch.setenv("SAMARL_MEMORY_LIMIT", limit)
        with pytest.raises(ConfigError, match="SAMARL_MEMORY_LIMIT: expected a size"):
            available_memory()
        with pytest.raises(InvalidValueError, match="SAMARL_MEMORY_LIMIT: expected a size"):
            Graph.ring(10, 1)
    monkeypatch.setenv("SAMARL_MEMORY_LIMIT", "1.5GB")
    assert available_memory() <= 1_500_000_000
    monkeypatch.delenv("SAMARL_MEMORY_LIMIT")
    assert Graph.ring(1000, 1).num_nodes == 1000
    sizes = [999, 3_400, 12_300_000, 152e9, 2.5e12]
    assert [format_bytes(b) for b in sizes] == ["999 B", "3.4 kB", "12 MB", "152 GB", "2.5 TB"]
