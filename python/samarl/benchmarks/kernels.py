"""Kernel benchmarks: the Rust engine against the NumPy/SciPy references, same data, one run.

Every figure is the median of repeated timings. The ratios printed (and written as JSON by
``samarl bench kernels --json FILE``) are what docs/engine.md calls fast:

- ``env_step``: one step of N agents, Rust vs the fused NumPy reference, and vs the time to stream
  the bytes the step touches at the machine's measured copy bandwidth;
- ``consensus``: K rounds of ``x <- W x`` on a random geometric graph of mean degree about 6 (agents
  talk to physical neighbours) whose node ids come in random order: Rust (locality order included)
  vs SciPy's CSR product repeated K times on the graph as given, and both on the reordered graph
  (the kernel alone). ``consensus_erdos_renyi`` repeats it on a connected Erdős–Rényi graph, an
  expander: there no node order gives locality, so it shows the kernel's worst case;
- ``scaling``: seconds per step and per round for N = 10^3 ... 10^6 with a fitted log-log slope.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from samarl import _core
from samarl.benchmarks import fused_env
from samarl.comms.consensus import Consensus
from samarl.comms.graph import Graph
from samarl.envs.dynamics import Dynamics
from samarl.errors import InvalidValueError
from samarl.reference import env as ref_env

__all__ = ["copy_bandwidth", "run_kernel_benchmarks", "time_median"]

#: Bytes one agent-step reads (actions, backlog, 4 parameters, profile id) and writes (backlog, last
#: arrival, 7 observation features, reward, use, served, arrived), all 4-byte values.
ENV_BYTES_PER_AGENT = 4 * (7 + 2 + 7 + 4)


def time_median(
    fn: Callable[[], object], *, repeats: int, warmup: int = 3, warmup_s: float = 0.2
) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeats`` calls, after at least ``warmup``
    untimed calls and ``warmup_s`` seconds of them.

    The warm-up brings caches, the allocator and idle cores (which shared machines slow down
    after a single-threaded phase such as SciPy's product or graph setup) to a steady state.
    """
    t_end = time.perf_counter() + warmup_s
    done = 0
    while done < warmup or time.perf_counter() < t_end:
        fn()
        done += 1
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def time_batched(step: Callable[[], object], *, repeats: int, min_time: float) -> float:
    """Median seconds per call of ``step()`` over ``repeats`` batches of calls, each batch lasting
    about ``min_time`` s (for calls too short to time one by one), after a warm-up that also sizes
    the batch."""
    step()
    start = time.perf_counter()
    calls = 0
    while calls < 3 or time.perf_counter() - start < min_time / 4:
        step()
        calls += 1
    per_call = (time.perf_counter() - start) / calls
    batch = max(3, int(min_time / max(per_call, 1e-9)))
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(batch):
            step()
        samples.append((time.perf_counter() - t0) / batch)
    return statistics.median(samples)


def copy_bandwidth(nbytes: int = 256 * 2**20, repeats: int = 7) -> float:
    """Streaming bandwidth in bytes/s: ``2 * nbytes`` (read + write) per NumPy copy."""
    src = np.ones(nbytes // 8, dtype=np.float64)
    dst = np.empty_like(src)
    t = time_median(lambda: np.copyto(dst, src), repeats=repeats)
    return 2.0 * src.nbytes / t


def heterogeneous_agents(n: int, seed: int = 0) -> dict[str, Any]:
    """Agent parameters like the default scenario's (lognormal demand, two daily profiles)."""
    rng = np.random.default_rng(seed)
    s = 96
    hours = np.arange(s) * 24.0 / s
    peaks = [(7.5, 1.5, 0.8), (19.0, 2.0, 1.6)]
    base = np.full(s, 0.4)
    for h, w, a in peaks:
        base += a * np.exp(-0.5 * ((hours - h) / w) ** 2)
    late = np.roll(base, 8)
    profiles = np.stack([base / base.mean(), late / late.mean()]).astype(np.float32)
    mu = rng.lognormal(np.log(0.1), 0.4, n).astype(np.float32)
    return {
        "mean_arrival": mu,
        "max_power": (mu / 0.25 * rng.uniform(3, 6, n)).astype(np.float32),
        "cost_linear": rng.uniform(0.5, 1.5, n).astype(np.float32),
        "cost_quadratic": rng.uniform(0.0, 0.5, n).astype(np.float32),
        "profile_id": rng.integers(0, 2, n),
        "profiles": profiles,
        "dt_hours": 0.25,
        "noise": 0.3,
    }


def bench_env_step(n: int, *, repeats: int, bandwidth: float) -> dict[str, Any]:
    """One env step of ``n`` agents: Rust vs the fused NumPy reference and vs streaming."""
    params = heterogeneous_agents(n)
    actions = np.random.default_rng(1).random(n, dtype=np.float32)
    rust = Dynamics(**params)
    rust.reset(seed=3)
    rust_s = time_median(lambda: rust.step(actions), repeats=repeats)

    consts = fused_env.make_step_constants(**params)
    backlog = np.zeros(n, dtype=np.float32)
    obs = np.zeros((n, ref_env.OBS_DIM), dtype=np.float32)
    outs = {
        k: np.zeros(n, dtype=np.float32) for k in ("reward", "resource_use", "served", "arrived")
    }
    scratch = fused_env.StepScratch.empty(min(n, fused_env.DEFAULT_BLOCK or n))
    counter = [0]

    def numpy_step() -> None:
        fused_env.step_arrays(
            consts,
            backlog,
            actions,
            seed=3,
            step=counter[0],
            obs=obs,
            scratch=scratch,
            reward=outs["reward"],
            resource_use=outs["resource_use"],
            served=outs["served"],
            arrived=outs["arrived"],
        )
        counter[0] += 1

    numpy_s = time_median(numpy_step, repeats=repeats)
    stream_s = n * ENV_BYTES_PER_AGENT / bandwidth
    return {
        "agents": n,
        "dtype": "float32",
        "rust_s": rust_s,
        "numpy_s": numpy_s,
        "speedup": numpy_s / rust_s,
        "bytes_per_agent": ENV_BYTES_PER_AGENT,
        "stream_s": stream_s,
        "ratio_to_stream": rust_s / stream_s,
        "agent_steps_per_s": n / rust_s,
    }


def benchmark_graph(family: str, n: int, mean_degree: float = 6.0) -> tuple[Graph, str]:
    """The benchmark graph of ``family`` with node ids in random order, and its description."""
    if family == "random_geometric":
        graph = Graph.random_geometric(n, mean_degree=mean_degree, seed=11)
        graph = graph.permute(np.random.default_rng(11).permutation(n))
        return graph, f"random_geometric(mean_degree={mean_degree}), node ids in random order"
    if family == "erdos_renyi":
        graph = Graph.erdos_renyi(n, mean_degree, seed=11, connected=True)
        return graph, f"erdos_renyi(mean_degree={mean_degree}, connected=True), random order"
    raise InvalidValueError(f"family: unknown benchmark graph {family!r}")


def bench_consensus(
    n: int, *, rounds: int, repeats: int, family: str = "random_geometric", mean_degree: float = 6.0
) -> dict[str, Any]:
    """K rounds on a graph in random node order: Rust vs SciPy, as given and reordered."""
    graph, description = benchmark_graph(family, n, mean_degree)
    x = np.random.default_rng(2).random(n, dtype=np.float32)

    t0 = time.perf_counter()
    fast = Consensus(graph, reorder=True, require_connected=False)
    setup_s = time.perf_counter() - t0
    rust_s = time_median(lambda: fast.mix(x, rounds), repeats=repeats)

    w_given = Consensus(graph, reorder=False, require_connected=False).weights()
    scipy_s = time_median(lambda: _scipy_rounds(w_given, x, rounds), repeats=repeats)

    # The kernel alone: both sides on the reordered graph, no permutation of x.
    assert fast.order is not None
    ordered = Consensus(graph.permute(fast.order), reorder=False, require_connected=False)
    w_ordered = ordered.weights()
    xo = np.ascontiguousarray(x[fast.order])
    buf = xo.copy()

    def rust_kernel() -> None:
        buf[:] = xo
        ordered.mix(buf, rounds, inplace=True)

    rust_same_s = time_median(rust_kernel, repeats=repeats)
    scipy_same_s = time_median(lambda: _scipy_rounds(w_ordered, xo, rounds), repeats=repeats)
    return {
        "agents": n,
        "rounds": rounds,
        "dtype": "float32",
        "graph": description,
        "mean_degree": graph.mean_degree,
        "rust_s": rust_s,
        "scipy_s": scipy_s,
        "speedup": scipy_s / rust_s,
        "rust_same_order_s": rust_same_s,
        "scipy_same_order_s": scipy_same_s,
        "speedup_same_order": scipy_same_s / rust_same_s,
        "setup_s": setup_s,
        "bandwidth_given": graph.bandwidth(),
        "bandwidth_reordered": ordered.graph.bandwidth(),
        "agent_rounds_per_s": n * rounds / rust_s,
    }


def _scipy_rounds(w: Any, x: np.ndarray, rounds: int) -> np.ndarray:
    for _ in range(rounds):
        x = w @ x
    return x


def bench_scaling(sizes: list[int], *, rounds: int, repeats: int) -> dict[str, Any]:
    """Seconds per env step and per consensus round for each N, with fitted log-log slopes."""
    step_s, round_s = [], []
    for n in sizes:
        dyn = Dynamics(**heterogeneous_agents(n))
        dyn.reset(seed=0)
        a = np.full(n, 0.5, dtype=np.float32)
        step_s.append(time_median(partial(dyn.step, a), repeats=repeats))
        cons = Consensus(benchmark_graph("random_geometric", n)[0], require_connected=False)
        x = np.random.default_rng(0).random(n, dtype=np.float32)
        round_s.append(time_median(partial(cons.mix, x, rounds), repeats=repeats) / rounds)
    return {
        "agents": sizes,
        "step_s": step_s,
        "round_s": round_s,
        "step_slope": _slope(sizes, step_s),
        "round_slope": _slope(sizes, round_s),
    }


def _slope(xs: list[int], ys: list[float]) -> float:
    lx, ly = np.log(np.asarray(xs, float)), np.log(np.asarray(ys, float))
    return float(np.polyfit(lx, ly, 1)[0])


def run_kernel_benchmarks(
    agents: int = 1_000_000,
    *,
    rounds: int = 10,
    repeats: int = 7,
    scaling: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Runs every kernel benchmark at ``agents`` agents and returns the results (JSON-ready)."""
    log(
        f"samarl {_core.__version__}: kernel benchmarks at N = {agents:,}, K = {rounds}, "
        f"{_core.get_num_threads()} engine threads, median of {repeats}"
    )
    bw = copy_bandwidth()
    log(f"copy bandwidth (NumPy, read + write): {bw / 1e9:.1f} GB/s")
    env = bench_env_step(agents, repeats=repeats, bandwidth=bw)
    log(
        f"env step     rust {env['rust_s'] * 1e3:8.2f} ms   numpy {env['numpy_s'] * 1e3:8.2f} ms   "
        f"speedup {env['speedup']:.2f}x   vs streaming {env['bytes_per_agent']} B/agent: "
        f"{env['ratio_to_stream']:.2f}x the stream time"
    )
    runs = {}
    for key, family in (
        ("consensus", "random_geometric"),
        ("consensus_erdos_renyi", "erdos_renyi"),
    ):
        cons = bench_consensus(agents, rounds=rounds, repeats=repeats, family=family)
        runs[key] = cons
        log(f"{key}: {cons['graph']}, mean degree {cons['mean_degree']:.2f}")
        log(
            f"  as given   rust {cons['rust_s'] * 1e3:8.2f} ms   "
            f"scipy {cons['scipy_s'] * 1e3:8.2f} ms"
            f"   speedup {cons['speedup']:.2f}x (locality order set up once in "
            f"{cons['setup_s']:.2f} s)"
        )
        log(
            f"  same order rust {cons['rust_same_order_s'] * 1e3:8.2f} ms   scipy "
            f"{cons['scipy_same_order_s'] * 1e3:8.2f} ms   "
            f"speedup {cons['speedup_same_order']:.2f}x "
            f"(bandwidth {cons['bandwidth_given']:,} -> {cons['bandwidth_reordered']:,})"
        )
    result: dict[str, Any] = {
        "samarl_version": _core.__version__,
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "engine_threads": _core.get_num_threads(),
        },
        "agents": agents,
        "rounds": rounds,
        "repeats": repeats,
        "copy_bandwidth_bytes_per_s": bw,
        "env_step": env,
        **runs,
    }
    if scaling:
        top = int(math.log10(max(agents, 1000)))
        sizes = [10**k for k in range(3, top + 1)]
        sc = bench_scaling(sizes, rounds=rounds, repeats=repeats)
        for n, s, r in zip(sc["agents"], sc["step_s"], sc["round_s"], strict=True):
            log(f"scaling  N = {n:>9,}   step {s * 1e3:9.3f} ms   round {r * 1e3:9.3f} ms")
        log(f"fitted log-log slope: step {sc['step_slope']:.2f}, round {sc['round_slope']:.2f}")
        result["scaling"] = sc
    return result
