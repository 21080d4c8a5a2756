"""Fuzzing the files samarl reads from users: scenario files (TOML, YAML, JSON), profile CSVs, graph
edge lists and SciPy sparse ``.npz`` graphs.

Each example writes one file and reads it the way samarl does (:func:`load_scenario`,
:func:`read_mapping`, :func:`read_profile_csv`, :meth:`Graph.from_file`). It must end in a correct
result or a :class:`samarl.errors.SamarlError` with a one-line message: never another exception, a
warning, a hang (each read runs under a time limit) or a crash. The files are valid ones mutated:
random bytes, truncations, flipped bytes, inserted tokens that parsers trip on (a byte-order mark,
NUL, a Unicode minus, YAML aliases, quotes, huge numbers), and valid files with one field, cell,
line or array changed.

The hypothesis profile (``tests/conftest.py``) sets the rest: ``ci`` derandomises (the same
examples on every run), ``dev`` draws new ones, and ``HYPOTHESIS_PROFILE=fuzz`` runs ten times as
many (:data:`EXAMPLES`).
"""

from __future__ import annotations

import io
import json
import math
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from samarl import Graph
from samarl.comms import graph_files
from samarl.errors import SamarlError
from samarl.scenario import ScenarioConfig, load_scenario, read_mapping, read_profile_csv
from samarl.scenario.formats import parse_mapping, toml_dumps
from test_fuzz import time_limit

yaml = pytest.importorskip("yaml")

#: Examples per test: 1,000 under ``dev`` and ``ci`` (about 15 s for the file on 2 cores), 10,000
#: under ``fuzz``.
_PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "dev")
EXAMPLES = 1000 if _PROFILE in ("ci", "dev") else 10_000
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
#: Seconds one read may take.
READ_LIMIT_S = 10.0
#: Nodes a fuzzed graph file may describe (the default, 5.4e8, would let a mutated coo shape or
#: edge index make the engine allocate gigabytes; the bound itself is what is tested).
FILE_NODES = 10_000


# --------------------------------------------------------------------------------------------------
# The oracle
# --------------------------------------------------------------------------------------------------


def outcome(read: Callable[[], Any]) -> Any:
    """The result of ``read``, or ``None`` when it raised a samarl error with a one-line message.
    Any other exception, a warning or a timeout fails the test."""
    with time_limit(READ_LIMIT_S), warnings.catch_warnings():  # CallTimedOut: an AssertionError
        warnings.simplefilter("error")
        try:
            return read()
        except SamarlError as e:
            message = str(e)
    assert message.strip(), "an error without a message"
    assert "\n" not in message, f"a message of several lines: {message!r}"
    assert len(message) < 1000, f"a message of {len(message)} characters"
    return None


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("file_fuzz")


# --------------------------------------------------------------------------------------------------
# Mutations of a valid file
# --------------------------------------------------------------------------------------------------

#: Byte strings that parsers trip on, inserted or written over a valid file.
TOKENS = [
    b"\xef\xbb\xbf",  # a UTF-8 byte-order mark
    b"\x00",
    b"\xff\xfe",
    "\u2212".encode(),  # a Unicode minus
    "\uff15".encode(),  # a full-width digit
    b"\r",
    b"\n",
    b"\n\n",
    b",",
    b",,",
    b";",
    b"\t",
    b" ",
    b"#",
    b'"',
    b"'",
    b"[",
    b"]",
    b"{",
    b"}",
    b"=",
    b":",
    b"-",
    b"-1",
    b"0",
    b"1.5",
    b"1e400",
    b"nan",
    b"inf",
    b"99999999999999999999999",
    b"4294967295",
    b"00:00",
    b"24:00",
    b"1_000",
    b"0x1F",
    b"&a ",
    b"*a",
    b"<<: ",
    b"!!python/object:os.system ",
    b"!!binary ",
    b"PK\x03\x04",
    b"PK\x05\x06",
]


def mutations(valid: bytes) -> st.SearchStrategy[bytes]:
    """Random bytes, truncations, flipped bytes and inserted or overwritten tokens of ``valid``."""
    n = len(valid)
    positions = st.integers(0, n)
    return st.one_of(
        st.binary(max_size=2 * n + 16),
        positions.map(lambda k: valid[:k]),
        st.lists(st.tuples(st.integers(0, n - 1), st.integers(1, 255)), min_size=1, max_size=4).map(
            lambda flips: _flipped(valid, flips)
        ),
        st.tuples(positions, st.sampled_from(TOKENS)).map(
            lambda t: valid[: t[0]] + t[1] + valid[t[0] :]
        ),
        st.tuples(positions, st.integers(1, 8), st.sampled_from(TOKENS)).map(
            lambda t: valid[: t[0]] + t[2] + valid[t[0] + t[1] :]
        ),
    )


def _flipped(data: bytes, flips: list[tuple[int, int]]) -> bytes:
    out = bytearray(data)
    for position, mask in flips:
        out[position] ^= mask
    return bytes(out)


#: Values a changed field, cell or array entry takes.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=10,
)


# --------------------------------------------------------------------------------------------------
# Scenario files
# --------------------------------------------------------------------------------------------------

SCENARIO = ScenarioConfig.preset("small", num_agents=4, capacity_kw=(1.0, 2.0)).to_dict()
FIELDS = [*SCENARIO, "profile_data", "profile_csv", "scenario", "num_agent"]


def scenario_text(data: dict[str, Any], suffix: str) -> bytes:
    """``data`` written as a ``suffix`` file (values TOML cannot hold are left out)."""
    if suffix == ".json":
        return json.dumps(data).encode()
    if suffix == ".yaml":
        return yaml.safe_dump(data, allow_unicode=True).encode()
    lines = []
    for key, value in data.items():
        try:
            lines.append(toml_dumps({key: value}).split("\n", 1)[1])
        except TypeError:  # None: TOML has no null
            continue
    return "".join(lines).encode()


VALID_SCENARIOS = {
    suffix: scenario_text(SCENARIO, suffix) for suffix in (".toml", ".yaml", ".json")
}


@st.composite
def scenario_files(draw: st.DrawFn) -> tuple[str, bytes]:
    suffix = draw(st.sampled_from(sorted(VALID_SCENARIOS)))
    if draw(st.booleans()):
        return suffix, draw(mutations(VALID_SCENARIOS[suffix]))
    changed = {**SCENARIO, draw(st.sampled_from(FIELDS)): draw(values)}
    if draw(st.booleans()):
        changed = {"scenario": changed}
    return suffix, scenario_text(changed, suffix)


@FUZZ
@given(file=scenario_files())
def test_scenario_files(file: tuple[str, bytes], folder: Path) -> None:
    suffix, content = file
    path = folder / f"scenario{suffix}"
    path.write_bytes(content)
    scenario = outcome(lambda: load_scenario(path))
    assert scenario is None or isinstance(scenario, ScenarioConfig)
    table = outcome(lambda: read_mapping(path))
    assert table is None or isinstance(table, dict)


def test_valid_scenario_files_load() -> None:
    """The files every scenario example starts from are valid."""
    for suffix, content in VALID_SCENARIOS.items():
        assert ScenarioConfig.from_dict(_parse(suffix, content)).to_dict() == SCENARIO


def _parse(suffix: str, content: bytes) -> Any:
    return parse_mapping(content.decode(), suffix, Path(f"s{suffix}"))


# --------------------------------------------------------------------------------------------------
# Profile CSVs
# --------------------------------------------------------------------------------------------------

_HOURLY = np.arange(1.0, 25.0)
VALID_CSVS = [
    ("time,a,b\n" + "".join(f"{h:02d}:00,{v},{25 - v}\n" for h, v in enumerate(_HOURLY))).encode(),
    "".join(f"{v}\n" for v in _HOURLY).encode(),
    ("\ufeffstep,a\n" + "".join(f"{h},{v}\n" for h, v in enumerate(_HOURLY))).encode(),
]


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    valid = draw(st.sampled_from(VALID_CSVS))
    if draw(st.booleans()):
        return draw(mutations(valid))
    lines = valid.decode().split("\n")
    row = draw(st.integers(0, len(lines) - 2))
    cells = lines[row].split(",")
    column = draw(st.integers(0, len(cells) - 1))
    cells[column] = draw(
        st.one_of(
            scalars.map(str),
            st.sampled_from(["", " ", "-0", "1e-320", "1e308", "24:00", "00:30", "\u22121", "1,5"]),
        )
    )
    lines[row] = ",".join(cells)
    return "\n".join(lines).encode()


@FUZZ
@given(content=csv_files())
def test_profile_csvs(content: bytes, folder: Path) -> None:
    path = folder / "profiles.csv"
    path.write_bytes(content)
    profiles = outcome(lambda: read_profile_csv(path, 24))
    if profiles is not None:
        assert profiles.shape[1:] == (24,)
        assert np.isfinite(profiles).all()
        assert (profiles >= 0).all()
        np.testing.assert_allclose(profiles.mean(axis=1), 1.0)


def test_valid_csvs_read(folder: Path) -> None:
    path = folder / "valid.csv"
    for content in VALID_CSVS:
        path.write_bytes(content)
        np.testing.assert_allclose(read_profile_csv(path, 24)[0], _HOURLY / _HOURLY.mean())


# --------------------------------------------------------------------------------------------------
# Graph edge lists
# --------------------------------------------------------------------------------------------------

VALID_EDGES = b"# a ring of 6\n0 1\n1,2\n2 3\n3\t4  # a tab\n4 5\n5 0\n"


@st.composite
def edge_lists(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):
        return draw(mutations(VALID_EDGES))
    lines = VALID_EDGES.split(b"\n")
    row = draw(st.integers(0, len(lines) - 1))
    lines[row] = draw(
        st.one_of(
            st.tuples(scalars, scalars).map(lambda t: f"{t[0]} {t[1]}".encode()),
            st.sampled_from([b"0 9999", b"0 10000", b"0 -1", b"0 1 2", b"0", b"0 1.0", b"", b"#"]),
        )
    )
    return b"\n".join(lines)


@FUZZ
@given(content=edge_lists(), num_nodes=st.sampled_from([None, 6, 10_000]))
def test_edge_lists(content: bytes, num_nodes: int | None, folder: Path) -> None:
    read_graph(folder / "edges.txt", content, num_nodes)


def read_graph(path: Path, content: bytes, num_nodes: int | None) -> None:
    """Writes ``content`` to ``path`` and reads it as a graph of ``num_nodes``: a valid graph or
    a samarl error."""
    path.write_bytes(content)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(graph_files, "MAX_FILE_NODES", FILE_NODES)
        graph = outcome(lambda: Graph.from_file(path, num_nodes))
    if graph is None:
        return
    assert num_nodes is None or graph.num_nodes == num_nodes
    indptr, indices = graph.indptr, graph.indices
    assert indptr[0] == 0
    assert (np.diff(indptr) >= 0).all()
    assert indptr[-1] == indices.size
    assert indices.size == 0 or 0 <= indices.min() <= indices.max() < graph.num_nodes
    adjacency = graph.to_scipy()
    assert (adjacency != adjacency.T).nnz == 0


# --------------------------------------------------------------------------------------------------
# Graph .npz files
# --------------------------------------------------------------------------------------------------


def npz_bytes(arrays: dict[str, Any], compressed: bool) -> bytes:
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return buffer.getvalue()


def saved_npz(fmt: str, compressed: bool) -> bytes:
    buffer = io.BytesIO()
    sp.save_npz(buffer, Graph.ring(6).to_scipy().asformat(fmt), compressed=compressed)
    return buffer.getvalue()


VALID_NPZ = [saved_npz(fmt, c) for fmt in ("csr", "csc", "coo") for c in (False, True)]
#: The arrays of the ring of 6 in CSR, as ``save_npz`` writes them.
RING_CSR = dict(np.load(io.BytesIO(VALID_NPZ[0])))

#: Arrays a changed member takes: any dtype NumPy writes without pickles, any small shape.
arrays = st.one_of(
    st.lists(st.integers(-(2**63), 2**63 - 1), max_size=10).map(np.array),
    st.lists(st.integers(-3, 12), max_size=10).map(lambda v: np.array(v, dtype=np.int32)),
    st.lists(st.integers(0, 2**64 - 1), max_size=6).map(lambda v: np.array(v, dtype=np.uint64)),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=10).map(np.array),
    st.lists(st.booleans(), max_size=10).map(lambda v: np.array(v, dtype=bool)),
    st.sampled_from(["csr", "csc", "coo", "bsr", "dia", "lil", "", "CSR"]).map(np.array),
    st.sampled_from([b"csr", b"coo", b"\xff"]).map(np.array),
    st.tuples(st.integers(-2, 2**40), st.integers(-2, 2**40)).map(np.array),
    st.lists(st.integers(0, 5), min_size=4, max_size=4).map(lambda v: np.array(v).reshape(2, 2)),
    st.just(np.array(3)),
    st.just(np.zeros((0,))),
    st.lists(scalars.map(str), max_size=4).map(np.array),
)


@st.composite
def npz_files(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):
        return draw(mutations(draw(st.sampled_from(VALID_NPZ))))
    changed = dict(RING_CSR)
    key = draw(st.sampled_from([*changed, "row", "col", "extra"]))
    if draw(st.integers(0, 5)) == 0:
        changed.pop(key, None)
    else:
        changed[key] = draw(arrays)
    return npz_bytes(changed, draw(st.booleans()))


@FUZZ
@given(content=npz_files(), num_nodes=st.sampled_from([None, 6]))
def test_npz_graphs(content: bytes, num_nodes: int | None, folder: Path) -> None:
    read_graph(folder / "graph.npz", content, num_nodes)


def test_valid_npz_read(folder: Path) -> None:
    ring = Graph.ring(6)
    for content in VALID_NPZ:
        path = folder / "valid.npz"
        path.write_bytes(content)
        graph = Graph.from_file(path)
        np.testing.assert_array_equal(graph.indices, ring.indices)
    assert math.isclose(graph.mean_degree, 2.0)
