"""The main job: a demonstration of samarl end to end on the default scenario.

It builds the agents' communication graph and shows consensus at work (disagreement after K rounds
against the theoretical bound ``sigma_2^K``), then simulates a day of the batched demand-response
dynamics for many agents, and writes everything to ``--out``: ``demo.json`` with every number
printed, and PNG figures.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from samarl.benchmarks import heterogeneous_agents
from samarl.consensus import Consensus
from samarl.envs.dynamics import Dynamics
from samarl.graph import Graph


def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``samarl demo``."""
    parser.add_argument("--out", default="runs/demo", help="output folder")
    parser.add_argument("--agents", type=int, default=100_000, help="agents in the engine demo")
    parser.add_argument("--seed", type=int, default=0, help="seed of graph and arrivals")


def run_from_args(args: argparse.Namespace) -> int:
    """Runs the demonstration and writes its results."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = engine_demo(args.agents, seed=args.seed, out=out)
    (out / "demo.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out / 'demo.json'} and figures in {out}")
    return 0


def engine_demo(n: int, *, seed: int, out: Path) -> dict[str, Any]:
    """Consensus error vs rounds on a random geometric graph, and one simulated day of dynamics."""
    rng = np.random.default_rng(seed)
    graph = Graph.random_geometric(n, seed=seed)
    cons = Consensus(graph)
    s2 = cons.sigma2()
    print(
        f"graph: random geometric, {n:,} agents, mean degree {graph.mean_degree:.1f}, "
        f"sigma_2(W) = {s2:.5f} (spectral gap {1 - s2:.2e})"
    )
    x0 = rng.exponential(1.0, n).astype(np.float32)
    rounds = [0, 1, 2, 5, 10, 20, 50, 100, 200]
    errors, bounds = [], []
    for k in rounds:
        x = cons.mix(x0, k)
        errors.append(float(np.abs(x - x0.mean()).max()))
        bounds.append(cons.disagreement_bound(x0, k))
        print(
            f"  K = {k:4d}: max |x - mean| = {errors[-1]:.4e}   bound sigma_2^K ||x0 - mean|| = "
            f"{bounds[-1]:.4e}   mean kept: {float(x.mean()):.6f} vs {float(x0.mean()):.6f}"
        )

    dyn = Dynamics(**heterogeneous_agents(n, seed))
    dyn.reset(seed)
    steps = dyn.steps_per_day
    load = np.zeros(steps)
    t0 = time.perf_counter()
    for t in range(steps):
        # Greedy: serve the whole backlog as soon as possible (what the constraint must prevent).
        res = dyn.step(np.ones(n, dtype=np.float32))
        load[t] = float(res.resource_use.sum())
    wall = time.perf_counter() - t0
    print(
        f"dynamics: one day ({steps} steps) of {n:,} agents in {wall:.2f} s "
        f"({n * steps / wall / 1e6:.1f} M agent-steps/s); greedy peak load {load.max():,.0f} kW, "
        f"mean {load.mean():,.0f} kW"
    )
    _plot(out, rounds, errors, bounds, load)
    return {
        "agents": n,
        "graph": {"family": "random_geometric", "mean_degree": graph.mean_degree, "sigma2": s2},
        "consensus": {"rounds": rounds, "max_error": errors, "bound": bounds},
        "dynamics": {
            "steps": steps,
            "wall_s": wall,
            "agent_steps_per_s": n * steps / wall,
            "greedy_load_kw": load.tolist(),
        },
    }


def _plot(
    out: Path, rounds: list[int], errors: list[float], bounds: list[float], load: np.ndarray
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    a.semilogy(rounds, errors, "o-", label="measured max |x - mean|")
    a.semilogy(rounds, bounds, "k--", label=r"bound $\sigma_2^K \|x_0 - \bar x\|$")
    a.set(xlabel="consensus rounds K", ylabel="disagreement", title="Consensus")
    a.legend()
    hours = np.arange(load.size) * 24 / load.size
    b.plot(hours, load / 1e3)
    b.set(xlabel="hour of day", ylabel="total load (MW)", title="Greedy load, one day")
    fig.tight_layout()
    fig.savefig(out / "demo.png", dpi=120)
    plt.close(fig)
