"""The main job: samarl end to end on the default scenario.

1. Train one state-augmented policy per agent (PPO on the Lagrangian, all agents in one batch).
2. Run the learnt policies for a few simulated days in every mode through the same executor:
   ``consensus`` (dual dynamics + K rounds of neighbour averaging), ``independent`` (no
   communication), ``centralized`` (one price from the true total) and ``unconstrained``.
3. Print the table of the metrics (docs/metrics.md) and write everything to ``out``: ``demo.json``,
   ``report.md``, the training run (``train/``) and each mode's run folder with figures.

:func:`engine_demo` (``samarl demo --engine``) instead shows the Rust kernels alone: consensus disagreement after K rounds against the
bound ``sigma_2^K`` on a large graph, and a day of the batched dynamics.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from samarl import plots
from samarl._io import atomic_write
from samarl._validate import MAX_AGENTS, check_memory, positive_int
from samarl.benchmarks.kernels import heterogeneous_agents
from samarl.comms import Consensus, Graph
from samarl.distributed import CellError, CellGrid
from samarl.envs.dynamics import ROW_BYTES, Dynamics
from samarl.execution import (
    DualConfig,
    ExecutionResult,
    Mode,
    execute,
    save_run,
    torch_act_fn,
)
from samarl.execution.dual import consensus_bytes
from samarl.execution.optimum import solve_for_run
from samarl.scenario import ScenarioConfig
from samarl.training import TrainConfig, train

__all__ = ["MODES_SHOWN", "check_engine_demo", "end_to_end", "engine_demo"]

#: Bytes per agent of the engine demonstration beyond the graph and the dynamics: the agents'
#: parameters as drawn, and the values mixed (measured 72 in all with the dynamics' own).
_ENGINE_BYTES_PER_AGENT = 40

MODES_SHOWN: tuple[Mode, ...] = ("consensus", "independent", "centralized", "unconstrained")


def end_to_end(
    scenario: ScenarioConfig,
    out: Path,
    *,
    train_config: TrainConfig,
    dual: DualConfig,
    days: int,
    seed: int,
    progress: bool = True,
    ray: Any = None,
) -> dict[str, Any]:
    """Trains on ``scenario``, runs every mode of :data:`MODES_SHOWN` with the same policies
    (``dual`` with its mode replaced) for ``days`` days of arrivals from ``seed``, reports.

    With ``ray`` (a connected module) the optimum's solve and each mode are Ray tasks (cells of a
    :class:`~samarl.distributed.CellGrid`) sharing the trained policy through the object store;
    a mode that fails is listed under ``failed_cells`` and the others are reported.
    """
    print(
        f"[1/2] training {scenario.num_agents:,} agents on '{scenario.name}' "
        f"({train_config.iterations} PPO iterations; the perfect-foresight optimum is solved "
        f"meanwhile in {'a Ray task' if ray is not None else 'a second process'})"
    )
    grid = CellGrid(ray, desc="demo", progress=progress and ray is not None)
    # Training and the optimum's LPs each keep one core busy: side by side they take the time of
    # the longer one on a 2-core machine instead of the sum.
    if grid.distributed:
        optimum = grid.submit("optimum", solve_for_run, scenario, None, seed=seed, days=days)
        trained = train(scenario, train_config, out / "train")
    else:
        with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
            pending = pool.submit(solve_for_run, scenario, None, seed=seed, days=days)
            trained = train(scenario, train_config, out / "train")
            optimum = pending.result()
    policy = trained.policy.eval()
    solved = (
        ""
        if grid.distributed
        else f" (the optimum of the same arrivals took {optimum.solve_s:.0f} s)"
    )
    print(f"[2/2] running the learnt policies for {days} days in each mode{solved}")
    shared = grid.share(policy)
    cells = {
        mode: grid.submit(
            f"mode={mode}",
            _run_mode,
            shared,
            scenario,
            dual.replace(mode=mode),
            days=days,
            seed=seed,
            optimum=optimum,
            progress=progress and not grid.distributed,
        )
        for mode in MODES_SHOWN
    }
    failed = grid.wait()
    rows: dict[str, dict[str, Any]] = {}
    for mode, cell in cells.items():
        res = grid.result(cell)
        if not isinstance(res, CellError):
            save_run(res, scenario, out / mode)
            rows[mode] = res.metrics
    table = _table(rows)
    print(table)
    lost = "".join(f"- cell `{f.cell}` failed: {f.error}\n" for f in failed)
    atomic_write(
        out / "report.md",
        f"# samarl demo: {scenario.num_agents:,} agents, scenario '{scenario.name}'\n\n"
        f"Training: {trained.iterations} iterations in {trained.wall_time_s:.0f} s "
        f"(run folder `train/`). Execution: {days} days per mode, metrics after the "
        f"warm-up (first half), K = {dual.consensus_rounds} consensus rounds.\n\n"
        "Daily excess: for every (day, block) of the window, the block's energy above capacity "
        "that day over its capacity (p95 and max); peak: the largest step load over capacity; "
        "settling: mean day-to-day change of each block's price / mult_max; cost / optimum: "
        "waiting cost against the perfect-foresight optimum of the same arrivals; violation_avg: "
        f"the long-run per-block form (a day over capacity cancels a day under it).\n\n{table}\n"
        + (f"\n{lost}" if lost else ""),
    )
    solution = grid.result(optimum)
    result: dict[str, Any] = {
        "scenario": scenario.to_dict(),
        "train": {
            "iterations": trained.iterations,
            "wall_s": trained.wall_time_s,
            "response": trained.response,
        },
        "optimum": None
        if isinstance(solution, CellError)
        else {"solve_s": solution.solve_s, "block_price": solution.block_price.tolist()},
        "modes": rows,
    }
    if failed:
        result["failed_cells"] = [f.to_dict() for f in failed]
    return result


def _run_mode(
    policy: Any,
    scenario: ScenarioConfig,
    dual: DualConfig,
    *,
    days: int,
    seed: int,
    optimum: Any,
    progress: bool,
) -> ExecutionResult:
    """One mode of the demo (a cell): the trained policy under ``dual``."""
    return execute(
        scenario,
        torch_act_fn(policy),
        dual,
        mult_max=float(policy.mult_max),
        days=days,
        seed=seed,
        progress=progress,
        optimum=optimum,
    )


#: The demo table: what a grid operator reads first (per day), then the rest.
TABLE = (
    ("daily excess p95", "constraint/excess_p95"),
    ("daily excess max", "constraint/excess_max"),
    ("peak / capacity", "constraint/peak_ratio"),
    ("settling", "dual/settling"),
    ("served", "demand/served"),
    ("postponing", "demand/postponing"),
    ("cost / optimum", "optimum/gap_cost"),
    ("violation_avg", "constraint/violation_avg_max"),
    ("consensus error", "consensus/error_max"),
)


def _table(rows: dict[str, dict[str, Any]]) -> str:
    head = "| mode | " + " | ".join(k for k, _ in TABLE) + " |"
    lines = [head, "|" + "---|" * (len(TABLE) + 1)]
    for mode, m in rows.items():
        cells = [_fmt(m.get(key)) for _, key in TABLE]
        lines.append(f"| {mode} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, int):
        return str(v)
    return f"{v:.4f}"


def check_engine_demo(n: int) -> int:
    """``n`` checked for :func:`engine_demo`: an integer in ``[1, MAX_AGENTS]`` whose graph,
    consensus weights and dynamics fit in this machine's memory (else one line naming
    ``num_agents`` and the bytes it would need)."""
    n = positive_int("num_agents", n, maximum=MAX_AGENTS)
    need = consensus_bytes("random_geometric", n) + n * (ROW_BYTES + _ENGINE_BYTES_PER_AGENT)
    check_memory("num_agents", n, "agents", need)
    return n


def engine_demo(n: int, *, seed: int, out: Path) -> dict[str, Any]:
    """Consensus error vs rounds on a random geometric graph, and one simulated day of dynamics."""
    n = check_engine_demo(n)
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
    plots.plot_engine_demo(out / "demo.png", rounds, errors, bounds, load)
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
