"""Graph construction in Rust against SciPy references."""

from __future__ import annotations

import io
import os
import zipfile

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

from samarl import Graph, _core, make_graph
from samarl.comms import graph_files
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


# -- graphs from files -----------------------------------------------------------------------------
#: The members ``scipy.sparse.save_npz`` writes for the path 0 - 1 - 2 in CSR.
PATH_CSR = {
    "format": np.array(b"csr"),
    "shape": np.array([3, 3]),
    "indptr": np.array([0, 1, 3, 4]),
    "indices": np.array([1, 0, 2, 1], dtype=np.int32),
    "data": np.ones(4, dtype=np.float32),
}


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
@pytest.mark.parametrize("kind", [sp.csr_array, sp.csr_matrix])
@pytest.mark.parametrize("compressed", [True, False])
def test_npz_files_of_every_read_format(tmp_path, fmt, kind, compressed) -> None:
    graph = Graph.erdos_renyi(40, 4.0, seed=3)
    path = tmp_path / "g.npz"
    sp.save_npz(path, kind(graph.to_scipy()).asformat(fmt), compressed=compressed)
    read = Graph.from_file(path)
    np.testing.assert_array_equal(read.indptr, graph.indptr)
    np.testing.assert_array_equal(read.indices, graph.indices)


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        # indptr rising past the entries, then falling: SciPy's C++ code wrote beyond its buffers
        # (the process aborted with "corrupted size vs. prev_size", or a bare RuntimeError).
        ({"indptr": np.array([0, 20, 20, 4])}, GraphError, r"indptr: must never decrease, but entry 3 is 4 after 20"),
        ({"indptr": np.array([0, 1, 3, 10**9])}, GraphError, "indptr ends at 1000000000, but there are 4 indices"),
        ({"indptr": np.array([1, 1, 3, 4])}, GraphError, "indptr: must start at 0"),
        ({"indptr": np.array([0, 1, 4])}, GraphError, r"indptr: expected 4 entries"),
        ({"indptr": np.array([0.0, 1, 3, 4])}, InvalidValueError, "indptr.npy holds a 1-D float64"),
        ({"indices": np.array([1, 0, 3, 1])}, GraphError, r"indices: index 3 is outside \[0, 3\)"),
        ({"indices": np.array([1, 0, -1, 1])}, GraphError, "indices: index -1 is outside"),
        ({"indices": np.array([2**64 - 1] * 4, dtype=np.uint64)}, GraphError, "too large"),
        ({"indices": None}, InvalidValueError, "a csr matrix needs an 'indices' array"),
        ({"shape": np.array([3, 4])}, GraphError, r"expected a square matrix, got shape \(3, 4\)"),
        ({"shape": np.array([3])}, InvalidValueError, "shape must hold 2 sizes"),
        ({"shape": np.array([2**40, 2**40])}, GraphError, "the matrix size must be in"),
        ({"shape": None}, InvalidValueError, "no 'shape' array"),
        ({"format": np.array(b"bsr")}, InvalidValueError, r"'bsr' is not read \(convert it with .tocsr"),
        ({"format": np.array("lil")}, InvalidValueError, "sparse format 'lil' is not read"),
        ({"format": np.array([1, 2])}, InvalidValueError, "format.npy holds a 1-D int64"),
        ({"data": np.array(["a"] * 4)}, InvalidValueError, "data.npy holds a 1-D <U1"),
        ({"data": np.array([1, 1, 1, 1], dtype=object)}, InvalidValueError, "data.npy holds a 1-D object"),
        ({"data": np.array([1, np.nan, 1, 1])}, GraphError, "data holds NaN or inf"),
        ({"data": np.ones(5)}, GraphError, "4 indices and 5 data"),
        ({"indices": np.array([1, 1, 2, 1])}, GraphError, r"not symmetric"),
    ],
)  # fmt: skip
def test_an_inconsistent_npz_is_refused_before_scipy_sees_it(
    tmp_path, change: dict, error: type[Exception], match: str
) -> None:
    arrays = {k: v for k, v in {**PATH_CSR, **change}.items() if v is not None}
    path = tmp_path / "g.npz"
    np.savez(path, **arrays)  # type: ignore[arg-type]
    with pytest.raises(error, match=match) as raised:
        Graph.from_file(path)
    assert str(raised.value).startswith(f"graph: {str(path)!r}")
    assert "\n" not in str(raised.value)


def test_a_file_that_is_not_an_npz_is_refused(tmp_path) -> None:
    good = tmp_path / "good.npz"
    np.savez(good, **PATH_CSR)  # type: ignore[arg-type]
    assert Graph.from_file(good).num_edges == 2
    for content, match in [
        (b"hello", "not a zip archive"),  # was zipfile.BadZipFile or a pickle error
        (good.read_bytes()[:200], "not a zip archive"),
        (good.read_bytes()[:-30], "not a zip archive"),
        (b"", "not a zip archive"),
    ]:
        path = tmp_path / "bad.npz"
        path.write_bytes(content)
        with pytest.raises(InvalidValueError, match=f"is not a SciPy sparse .npz file: {match}"):
            Graph.from_file(path)
    damaged = bytearray(good.read_bytes())
    damaged[100] ^= 0xFF  # inside the first member's data: its CRC no longer matches
    path.write_bytes(bytes(damaged))
    with pytest.raises(InvalidValueError, match=r"is not a SciPy sparse \.npz file"):
        Graph.from_file(path)


def test_npz_limits_against_zip_bombs(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    many = tmp_path / "many.npz"
    with zipfile.ZipFile(many, "w") as archive:
        for i in range(100):
            archive.writestr(f"x{i}.npy", b"")
    with pytest.raises(InvalidValueError, match="a zip of 100 members"):
        Graph.from_file(many)
    # An array whose header claims more than the member holds is never allocated.
    liar = tmp_path / "liar.npz"
    np.savez(liar, **PATH_CSR)  # type: ignore[arg-type]
    buffer = io.BytesIO()
    header = {"descr": "<i8", "fortran_order": False, "shape": (10**12,)}
    np.lib.format.write_array_header_1_0(buffer, header)
    with zipfile.ZipFile(liar, "a") as archive:
        archive.writestr("row.npy", buffer.getvalue() + b"\0" * 8)
    with pytest.raises(InvalidValueError, match=r"row\.npy is shorter than its array"):
        Graph.from_file(liar)
    # A small file that unpacks beyond the limit (zeros compress ~1000x) is refused unread.
    bomb = tmp_path / "bomb.npz"
    np.savez_compressed(bomb, **{**PATH_CSR, "data": np.zeros(10**5)})  # type: ignore[arg-type]
    monkeypatch.setattr(graph_files, "MAX_NPZ_BYTES", 50_000)
    assert bomb.stat().st_size < 50_000
    with pytest.raises(InvalidValueError, match="its arrays unpack to 8"):
        Graph.from_file(bomb)


@pytest.mark.parametrize(
    "text",
    [
        "0 1\n1 2\n",
        "\ufeff0 1\n1 2\n",  # a byte-order mark (Windows editors)
        "# a path\n0,1\n\n1 , 2  # a comment\n",  # commas in any file, comments, blank lines
        "0\t1\r\n1\t2\r\n",
    ],
)
def test_edge_lists(tmp_path, text: str) -> None:
    path = tmp_path / "e.txt"
    path.write_bytes(text.encode())
    graph = Graph.from_file(path)
    assert (graph.num_nodes, graph.num_edges) == (3, 2)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("0 1\n1 2.5\n", r"line 2: '2.5' is not a node index \(not whole\): '1 2.5'"),
        ("0 1\n\n# x\n1 -2\n", r"line 4: '-2' is not a node index \(< 0\)"),
        ("0 1 0.5\n", "line 1: expected two node indices, got 3 values"),
        ("0 99999999999999999999\n", "line 1: node index 99999999999999999999... has more than 10"),
        ("0 4294967294\n", "names node 4294967294; a graph file describes at most"),
        ("source,target\n0,1\n", "line 1: 'source' is not a node index"),
        ("0 \uff15\n", "line 1: '\uff15' is not a node index"),
    ],
)
def test_bad_edge_lists_name_the_line(tmp_path, text: str, match: str) -> None:
    path = tmp_path / "e.txt"
    path.write_bytes(text.encode())
    with pytest.raises(InvalidValueError, match=match):
        Graph.from_file(path)
    path.write_text("# no edges\n")
    with pytest.raises(GraphError, match="lists no edges, so it does not say how many nodes"):
        Graph.from_file(path)
    assert Graph.from_file(path, num_nodes=3).num_edges == 0


def test_graph_files_must_be_regular_and_bounded(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:

    with pytest.raises(InvalidValueError, match="is a folder, not a file"):
        Graph.from_file(tmp_path)
    fifo = tmp_path / "fifo.txt"
    os.mkfifo(fifo)  # reading would wait for a writer forever
    with pytest.raises(InvalidValueError, match="is not a regular file"):
        Graph.from_file(fifo)
    with pytest.raises(InvalidValueError, match="no such file"):
        Graph.from_file(tmp_path / "missing.npz")
    path = tmp_path / "e.txt"
    path.write_text("0 1\n" * 100)
    monkeypatch.setattr(graph_files, "MAX_EDGE_LIST_BYTES", 100)
    with pytest.raises(InvalidValueError, match="holds 400 bytes, more than the 100"):
        Graph.from_file(path)


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
