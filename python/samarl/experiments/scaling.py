"""Experiment 3, scaling: wall time of training per iteration and of execution per simulated day vs N.

Training: a :class:`samarl.training.trainer.Trainer` on the default scenario resized to N agents; one
warm-up iteration, then the median of a few timed ones. Execution: one learnt shared-weights policy
rebound to each population (``for_population``, as ``load_policy(run_dir, scenario=...)`` does)
runs simulated days with consensus (K = 10, small-world graph). Both are drawn log-log with a least-squares slope (about 1
means linear in N).

With ``--ray`` every N of either part is a cell that holds a whole node
(:class:`~samarl.distributed.CellGrid` with ``exclusive``): timings measured side by side on shared
cores would not compare with the serial run's, so on one machine the cells run one after another
(on a cluster of identical nodes, one per node at a time), the engine on all of the node's cores.
The learnt policy goes to the cells through the object store. Only the timings (``*_s``,
``*_per_s``, the slopes) differ from the serial run's ``results.json``.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from samarl import plots
from samarl.distributed import CellGrid
from samarl.execution.dual import DualConfig
from samarl.experiments.report import (
    environment,
    fit_slope,
    markdown_table,
    write_failures,
    write_outputs,
)
from samarl.experiments.runs import ExperimentSettings, obtain_policy, policy_note, run_dual
from samarl.scenario import ScenarioConfig
from samarl.training import TrainedRun

__all__ = ["SETTINGS", "ScalingSettings", "run"]

TRAIN_N = (100, 300, 1000, 3000, 10000)
EXEC_N = (100, 1000, 10000, 100000, 1000000)


@dataclass(frozen=True)
class ScalingSettings(ExperimentSettings):
    """Settings of the scaling experiment: of the common ones, ``quick``, ``policy``, ``days``
    (default 1) and ``progress`` apply (the scenario is the ``default`` preset resized); and the
    sizes timed."""

    train_agents: tuple[int, ...] | None = None
    """N timed for training (None: 50 100 200 400 with ``quick``, else 100 to 10,000)."""
    exec_agents: tuple[int, ...] | None = None
    """N timed for execution (None: 100 1,000 10,000 with ``quick``, else 100 to 10**6)."""
    timed_iterations: int | None = None
    """Timed training iterations per N, after a warm-up one (None: 2)."""


#: The settings :func:`run` takes.
SETTINGS = ScalingSettings


def _time_training(n: int, timed: int) -> dict[str, Any]:
    """A cell: median seconds per training iteration with ``n`` agents (after a warm-up one)."""
    from samarl.training import TrainConfig, Trainer

    base = ScenarioConfig.preset("default")
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(base.replace(num_agents=n), TrainConfig(progress=False), tmp)
        trainer.iterate()  # warm-up
        times = []
        for _ in range(timed):
            t0 = time.perf_counter()
            trainer.iterate()
            times.append(time.perf_counter() - t0)
    return {"num_agents": n, "s_per_iteration": statistics.median(times)}


def _time_execution(policy: TrainedRun, n: int, days: int) -> dict[str, Any]:
    """A cell: seconds per simulated day of the learnt policy rebound to ``n`` agents."""
    from samarl.training.features import population_tables

    sc = ScenarioConfig.preset("default").replace(num_agents=n)
    static, prof = population_tables(sc.build(), sc.dt_hours)
    module = policy.policy.for_population(static, prof).eval()
    dual = DualConfig(mode="consensus", consensus_rounds=10, graph="small_world")
    res = run_dual(
        policy, dual, days=days, seed=0, warmup_days=0, progress=False, scenario=sc, module=module
    )
    wall = res.metrics["time/execution_wall_s"]
    return {
        "num_agents": n,
        "s_per_day": wall / days,
        "agent_steps_per_s": n * days * sc.steps_per_day / wall,
    }


def run(
    settings: ScalingSettings, out: str | os.PathLike[str], *, ray: Any = None
) -> dict[str, Any]:
    """The experiment into ``out``, its results returned (see :mod:`samarl.experiments`)."""
    out = Path(out)
    quick = settings.quick
    start = time.perf_counter()
    train_n = list(settings.train_agents or ((50, 100, 200, 400) if quick else TRAIN_N))
    exec_n = list(settings.exec_agents or ((100, 1000, 10000) if quick else EXEC_N))
    timed = settings.timed_iterations or 2
    days = settings.days or 1
    base = ScenarioConfig.preset("default")

    # The policy first: training it here while timed cells run would take their cores.
    small = base.replace(num_agents=min(1000, min(exec_n)))
    policy = obtain_policy(settings, out, small, iterations=2 if quick else 5)
    # Every N is a cell holding a whole node (see the module doc); without --ray the plain loop.
    cells = CellGrid(ray, desc="scaling", progress=settings.progress, exclusive=True)
    train_cells = [cells.submit(f"training N={n}", _time_training, n, timed) for n in train_n]
    shared = cells.share(policy)
    exec_cells = [
        cells.submit(f"execution N={n}", _time_execution, shared, n, days) for n in exec_n
    ]
    failed = cells.wait()
    if failed:
        return write_failures(out, "scaling", cells, failed)
    train_rows = [cells.result(c) for c in train_cells]
    exec_rows = [cells.result(c) for c in exec_cells]
    t_slope = fit_slope(
        [r["num_agents"] for r in train_rows], [r["s_per_iteration"] for r in train_rows]
    )
    e_slope = fit_slope([r["num_agents"] for r in exec_rows], [r["s_per_day"] for r in exec_rows])
    results: dict[str, Any] = {
        "experiment": "scaling",
        "quick": bool(quick),
        "training": {"rows": train_rows, "slope": t_slope, "timed_iterations": timed},
        "execution": {"rows": exec_rows, "slope": e_slope, "days": days, "rounds": 10},
        "policy": str(policy.run_dir),
        "wall_s": time.perf_counter() - start,
        "environment": environment(),
    }
    out.mkdir(parents=True, exist_ok=True)
    fig = plots.new_figure(1, 2, size=(12.0, 4.5))
    for ax, rows, key, title, sl in (
        (fig.axes[0], train_rows, "s_per_iteration", "Training: s per iteration", t_slope),
        (fig.axes[1], exec_rows, "s_per_day", "Execution: s per simulated day", e_slope),
    ):
        ns = np.array([r["num_agents"] for r in rows], dtype=float)
        ts = np.array([r[key] for r in rows])
        ax.loglog(
            ns, ts, "o-", label=f"measured (slope {sl:.2f})" if sl is not None else "measured"
        )
        ax.loglog(ns, ts[0] * ns / ns[0], "k:", label="linear from the first point")
        ax.set(xlabel="agents N", ylabel="wall time (s)", title=title)
        ax.legend(fontsize="small")
    plots.save_figure(fig, out / "scaling.png")

    def s(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.2f}"

    report = "\n".join(
        [
            f"# Scaling: wall time vs N{' (quick)' if quick else ''}",
            "",
            f"Default scenario resized to N agents; {results['environment']['cpu_count']} CPU "
            "cores. " + policy_note(policy),
            "",
            f"## Training (median of {timed} iterations after a warm-up one): slope {s(t_slope)}",
            "",
            markdown_table(
                ["N", "s / iteration"],
                [[r["num_agents"], r["s_per_iteration"]] for r in train_rows],
            ),
            "",
            f"## Execution (K = 10, small-world, {days} day(s)): slope {s(e_slope)}",
            "",
            markdown_table(
                ["N", "s / day", "agent-steps / s"],
                [[r["num_agents"], r["s_per_day"], r["agent_steps_per_s"]] for r in exec_rows],
            ),
            "",
            "![scaling.png](scaling.png)",
            "",
            "A slope near 1 is linear in N; below 1 at small N, fixed per-step costs (Python, "
            "torch dispatch) dominate.",
            "",
            f"Wall time: {results['wall_s']:.0f} s.",
        ]
    )
    write_outputs(out, results, report)
    return results
