"""Consensus kernels in Rust against the SciPy reference, and their invariants."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import samarl
from samarl import Consensus, Graph, _core
from samarl.errors import DisconnectedGraphError, InvalidValueError, ShapeError
from samarl.reference import consensus as ref

graphs = st.sampled_from(["ring", "grid", "er", "geometric", "small_world", "complete"])


def build(kind: str, n: int, seed: int) -> Graph:
    return {
        "ring": lambda: Graph.ring(n, 1),
        "grid": lambda: Graph.grid(n // 8, 8),
        "er": lambda: Graph.erdos_renyi(n, 5.0, seed=seed),
        "geometric": lambda: Graph.random_geometric(n, radius=0.3, seed=seed),
        "small_world": lambda: Graph.watts_strogatz(n, 2, 0.3, seed=seed),
        "complete": lambda: Graph.complete(n),
    }[kind]()


@given(
    kind=graphs,
    n=st.integers(16, 200),
    seed=st.integers(0, 2**32),
    m=st.integers(1, 4),
    rounds=st.integers(0, 30),
    reorder=st.booleans(),
)
def test_mix_matches_scipy(
    kind: str, n: int, seed: int, m: int, rounds: int, reorder: bool
) -> None:
    g = build(kind, n, seed)
    cons = Consensus(g, require_connected=False, reorder=reorder)
    w = ref.metropolis_weights(g.to_scipy())
    np.testing.assert_allclose(cons.weights().toarray(), w.toarray(), rtol=1e-6, atol=1e-7)
    x = np.random.default_rng(seed).normal(size=(g.num_nodes, m)).astype(np.float32)
    np.testing.assert_allclose(cons.mix(x, rounds), ref.mix(w, x, rounds), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        cons.mix(x[:, 0], rounds), ref.mix(w, x[:, 0], rounds), rtol=1e-4, atol=1e-5
    )


@given(kind=graphs, n=st.integers(16, 200), seed=st.integers(0, 2**32))
def test_weights_are_symmetric_and_doubly_stochastic(kind: str, n: int, seed: int) -> None:
    w = Consensus(build(kind, n, seed), require_connected=False).weights()
    assert (abs(w - w.T) > 1e-7).nnz == 0
    np.testing.assert_allclose(w.sum(axis=0), 1.0, atol=1e-5)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-5)
    assert (w.data >= 0).all()


@given(kind=graphs, n=st.integers(16, 200), seed=st.integers(0, 2**32), rounds=st.integers(1, 50))
def test_mix_preserves_the_mean(kind: str, n: int, seed: int, rounds: int) -> None:
    g = build(kind, n, seed)
    x = np.random.default_rng(seed).uniform(0, 10, g.num_nodes).astype(np.float32)
    y = Consensus(g, require_connected=False).mix(x, rounds)
    assert abs(float(y.astype(np.float64).mean()) - float(x.astype(np.float64).mean())) < 1e-4


@given(kind=graphs, seed=st.integers(0, 2**32))
def test_mix_converges_to_the_mean_within_the_bound(kind: str, seed: int) -> None:
    g = build(kind, 64, seed)
    assume(g.is_connected())
    cons = Consensus(g)
    x = np.random.default_rng(seed).uniform(0, 1, 64).astype(np.float32)
    k = min(cons.rounds_for(1e-3), 5000)
    y = cons.mix(x, k)
    assert np.abs(y - x.mean()).max() <= cons.disagreement_bound(x, k) + 1e-5
    assert np.abs(y - x.mean()).max() < 5e-3


@given(kind=graphs, n=st.integers(16, 120), seed=st.integers(0, 2**32))
def test_sigma2_matches_dense_eigenvalues(kind: str, n: int, seed: int) -> None:
    g = build(kind, n, seed)
    cons = Consensus(g, require_connected=False)
    assert cons.sigma2() == pytest.approx(
        ref.sigma2(ref.metropolis_weights(g.to_scipy())), abs=2e-3
    )


def test_ring_sigma2_closed_form() -> None:
    n = 40
    k = np.arange(1, n)
    want = np.abs((1 + 2 * np.cos(2 * np.pi * k / n)) / 3).max()
    assert Consensus(Graph.ring(n)).spectral_gap() == pytest.approx(1 - want, rel=1e-3)


@given(
    n=st.integers(16, 150),
    seed=st.integers(0, 2**32),
    p=st.floats(0.0, 1.0),
    rounds=st.integers(0, 10),
    offset=st.integers(0, 1000),
)
def test_lossy_mix_matches_reference_and_keeps_the_mean(
    n: int, seed: int, p: float, rounds: int, offset: int
) -> None:
    g = Graph.erdos_renyi(n, 4.0, seed=seed)
    cons = Consensus(g, reorder=False)
    x = np.random.default_rng(seed).normal(size=n).astype(np.float32)
    y = cons.mix_lossy(x, rounds, drop_prob=p, seed=seed, round_offset=offset)
    want = ref.mix_lossy(g.to_scipy().astype(bool), x, rounds, p, seed, offset)
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-5)
    assert abs(float(y.mean()) - float(x.mean())) < 1e-4


def test_lossy_mix_extremes() -> None:
    g = Graph.erdos_renyi(100, 4.0, seed=1)
    cons = Consensus(g)
    x = np.random.default_rng(0).normal(size=100).astype(np.float32)
    np.testing.assert_array_equal(cons.mix_lossy(x, 7, drop_prob=1.0), x)
    np.testing.assert_array_equal(cons.mix_lossy(x, 7, drop_prob=0.0), cons.mix(x, 7))


@given(n=st.integers(16, 150), seed=st.integers(0, 2**32), rounds=st.integers(0, 10))
def test_tracking_matches_reference(n: int, seed: int, rounds: int) -> None:
    g = Graph.watts_strogatz(n, 2, 0.2, seed=seed)
    cons = Consensus(g)
    rng = np.random.default_rng(seed)
    y, g_old, g_new = (rng.normal(size=(n, 3)).astype(np.float32) for _ in range(3))
    got = cons.track(y, g_new, g_old, rounds)
    want = ref.track(ref.metropolis_weights(g.to_scipy()), y, g_new, g_old, rounds)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    # Tracking keeps the network average of y equal to that of the latest g.
    np.testing.assert_allclose(got.mean(axis=0), (y + g_new - g_old).mean(axis=0), atol=1e-5)


def test_results_identical_for_one_and_two_threads() -> None:
    chunk, threshold = _core.parallel_layout()
    n = threshold + chunk + 77
    g = Graph.erdos_renyi(n, 6.0, seed=2)
    # Node ids in random order: reordering relabels it into the banded fast path.
    geometric = Graph.random_geometric(4 * threshold, mean_degree=6.0, seed=3)
    geometric = geometric.permute(np.random.default_rng(4).permutation(geometric.num_nodes))
    x = np.random.default_rng(1).random((n, 2), dtype=np.float32)
    xg = np.random.default_rng(5).random(geometric.num_nodes, dtype=np.float32)
    out = []
    for threads in (1, 2):
        samarl.set_num_threads(threads)
        try:
            out.append(
                (Consensus(g).mix(x, 10), Consensus(geometric, require_connected=False).mix(xg, 12))
            )
        finally:
            samarl.set_num_threads(0)
    for serial, parallel in zip(out[0], out[1], strict=True):
        np.testing.assert_array_equal(serial, parallel)


def test_reordering_changes_only_the_speed() -> None:
    g = Graph.random_geometric(3000, mean_degree=6.0, seed=7)
    g = g.permute(np.random.default_rng(8).permutation(3000))
    x = np.random.default_rng(9).normal(size=3000).astype(np.float32)
    fast = Consensus(g, require_connected=False)
    plain = Consensus(g, require_connected=False, reorder=False)
    assert g.bandwidth() > 10 * g.permute(fast.order).bandwidth()
    np.testing.assert_allclose(fast.mix(x, 15), plain.mix(x, 15), rtol=1e-5, atol=1e-6)


def test_engine_checks_the_relabelling() -> None:
    g = Graph.ring(6)
    with pytest.raises(InvalidValueError, match="order: 2 appears twice"):
        _core.ConsensusCore(g._core, order=np.array([0, 1, 2, 2, 3, 4]))
    with pytest.raises(InvalidValueError, match=r"order: entries must be in 0\.\.6, found 6"):
        _core.ConsensusCore(g._core, order=np.array([0, 1, 2, 3, 4, 6]))
    with pytest.raises(ShapeError, match="order: expected 6 entries"):
        _core.ConsensusCore(g._core, order=np.arange(5))
    with pytest.raises(InvalidValueError, match=r"order: .*found -1"):
        _core.ConsensusCore(g._core, order=np.array([0, 1, 2, 3, 4, -1]))


def test_inplace_mix_overwrites_the_input() -> None:
    g = Graph.ring(50, 2)
    x = np.random.default_rng(0).random(50, dtype=np.float32)
    want = Consensus(g).mix(x, 5)
    cons = Consensus(g)
    buf = x.copy()
    assert cons.mix(buf, 5, inplace=True) is buf
    np.testing.assert_allclose(buf, want, rtol=1e-6)


def test_read_only_or_aliased_arrays_raise_value_errors_not_panics() -> None:
    cons = Consensus(Graph.ring(10))
    frozen = np.zeros(10, dtype=np.float32)
    frozen.flags.writeable = False
    with pytest.raises(InvalidValueError, match="x: the array is read-only"):
        cons.mix(frozen, 3, inplace=True)
    with pytest.raises(InvalidValueError, match="x: the array is read-only"):
        cons.mix_lossy(frozen, 3, drop_prob=0.5, inplace=True)
    with pytest.raises(InvalidValueError, match="y: the array is read-only"):
        cons.track(frozen, np.ones(10), np.zeros(10), 1, inplace=True)
    y = np.zeros(10, dtype=np.float32)
    with pytest.raises(InvalidValueError, match="g_new: the array shares memory"):
        cons.track(y, y, np.zeros(10), 1, inplace=True)
    with pytest.raises(InvalidValueError, match="g_old: the array shares memory"):
        cons._core.track(y, np.zeros(10, dtype=np.float32), y[::-1], rounds=1)
    assert not y.any(), "a rejected call leaves its arguments alone"


LONG_CALLS = """
import signal
import numpy as np
from samarl import Consensus, Graph

# A shell that starts jobs in the background (as CI runners may) passes SIGINT on ignored, and
# Python then leaves it ignored: restore what an interactive session has.
signal.signal(signal.SIGINT, signal.default_int_handler)

small, big = Consensus(Graph.ring(1000)), Consensus(Graph.ring(100_000))
x, y = np.ones(1000, dtype=np.float32), np.ones(100_000, dtype=np.float32)
calls = {
    "mix": lambda: small.mix(x, 10**9),
    "mix_large": lambda: big.mix(y, 10**9),
    "mix_lossy": lambda: small.mix_lossy(x, 10**9, drop_prob=0.5),
    "track": lambda: small.track(x, x, x, 10**9),
    "sigma2": lambda: small._core.sigma2(max_iter=10**9, tol=0.0),
}
for name, call in calls.items():
    print("start", name, flush=True)
    try:
        call()
    except KeyboardInterrupt:
        print("interrupted", name, flush=True)
    else:
        print("finished", name, flush=True)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is POSIX")
def test_ctrl_c_stops_long_engine_calls() -> None:
    # Each call would run for hours; SIGINT during it must raise KeyboardInterrupt within ~1 s.
    env = dict(os.environ, PYTHONPATH=str(Path(samarl.__file__).parent.parent))
    lines: queue.Queue[str] = queue.Queue()

    def read(stream: IO[str]) -> None:
        for line in stream:
            lines.put(line.strip())

    with subprocess.Popen(
        [sys.executable, "-c", LONG_CALLS], stdout=subprocess.PIPE, text=True, env=env
    ) as child:
        assert child.stdout is not None
        reader = threading.Thread(target=read, args=(child.stdout,))
        reader.start()
        try:
            for name in ["mix", "mix_large", "mix_lossy", "track", "sigma2"]:
                assert lines.get(timeout=30) == f"start {name}"
                time.sleep(1.0 if name == "mix" else 0.3)
                sent = time.monotonic()
                child.send_signal(signal.SIGINT)
                assert lines.get(timeout=30) == f"interrupted {name}"
                # Within ~30 ms on an idle machine; a loaded CI machine can delay the child.
                assert time.monotonic() - sent < 3.0, name
            assert child.wait(timeout=10) == 0
        finally:
            child.kill()
            reader.join(timeout=10)


def test_bad_inputs_raise_clear_errors() -> None:
    two_parts = Graph.from_edges(4, [[0, 1], [2, 3]])
    with pytest.raises(DisconnectedGraphError, match="2 connected components"):
        Consensus(two_parts)
    cons = Consensus(Graph.ring(10))
    with pytest.raises(InvalidValueError, match="rounds: must be >= 0"):
        cons.mix(np.zeros(10), -1)
    with pytest.raises(ShapeError, match=r"x: expected shape \[10\]"):
        cons.mix(np.zeros(9), 1)
    with pytest.raises(InvalidValueError, match="x: must be finite"):
        cons.mix(np.full(10, np.nan), 1)
    with pytest.raises(InvalidValueError, match="drop_prob"):
        cons.mix_lossy(np.zeros(10), 1, drop_prob=2.0)
    with pytest.raises(InvalidValueError, match="inplace"):
        cons.mix(np.zeros(10, dtype=np.float64), 1, inplace=True)
    with pytest.raises(InvalidValueError, match="graph"):
        Consensus("ring")  # type: ignore[arg-type]
