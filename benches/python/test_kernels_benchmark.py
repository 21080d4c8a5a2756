"""pytest-benchmark: the Rust kernels and their NumPy/SciPy references side by side, same data.

Run with ``pytest benches/python --benchmark-enable`` (the project's pytest settings disable timing
by default, so this file also runs as a quick correctness check). Compare the groups' medians.
"""

from __future__ import annotations

import numpy as np
import pytest

from samarl import Consensus, Graph
from samarl.benchmarks import fused_env
from samarl.benchmarks.kernels import heterogeneous_agents
from samarl.envs import Dynamics
from samarl.reference import consensus as ref_consensus
from samarl.reference import env as ref_env

N = 200_000
ROUNDS = 10


@pytest.fixture(scope="module")
def agents() -> dict:
    return heterogeneous_agents(N, seed=0)


@pytest.fixture(scope="module")
def actions() -> np.ndarray:
    return np.random.default_rng(1).random(N, dtype=np.float32)


@pytest.mark.benchmark(group="env-step")
def test_env_step_rust(benchmark, agents, actions) -> None:
    dyn = Dynamics(**agents)
    dyn.reset(0)
    res = benchmark(dyn.step, actions)
    assert (res.served >= 0).all()


@pytest.mark.benchmark(group="env-step")
def test_env_step_numpy(benchmark, agents, actions) -> None:
    c = fused_env.make_step_constants(**agents)
    backlog = np.zeros(N, np.float32)
    obs = np.zeros((N, ref_env.OBS_DIM), np.float32)
    outs = {k: np.zeros(N, np.float32) for k in ("reward", "resource_use", "served", "arrived")}
    benchmark(lambda: fused_env.step_arrays(c, backlog, actions, seed=0, step=0, obs=obs, **outs))
    assert (outs["served"] >= 0).all()


@pytest.fixture(scope="module")
def graph() -> Graph:
    # Households talk to physical neighbours: a random geometric graph, node ids in random order.
    g = Graph.random_geometric(N, mean_degree=6.0, seed=1)
    return g.permute(np.random.default_rng(0).permutation(N))


@pytest.mark.benchmark(group="consensus-K10")
def test_consensus_rust(benchmark, graph) -> None:
    cons = Consensus(graph, require_connected=False)
    x = np.random.default_rng(2).random(N, dtype=np.float32)
    y = benchmark(cons.mix, x, ROUNDS)
    assert abs(float(y.mean()) - float(x.mean())) < 1e-4


@pytest.mark.benchmark(group="consensus-K10")
def test_consensus_scipy(benchmark, graph) -> None:
    w = ref_consensus.metropolis_weights(graph.to_scipy().astype(bool))
    x = np.random.default_rng(2).random(N, dtype=np.float32)
    y = benchmark(ref_consensus.mix, w, x, ROUNDS)
    assert abs(float(y.mean()) - float(x.mean())) < 1e-4
