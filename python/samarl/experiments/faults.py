"""Experiment 4, faults: lossy links and agents removed mid-run.

- Lossy links: every message (link, round) is lost with probability p; the round's weights are
  re-normalised (a failed link's weight goes back to both endpoints), so each round still keeps the
  average (:meth:`samarl.Consensus.mix_lossy`). We sweep p and report violation and consensus error.
- Agent removal: at the start of a given day a random fraction of the agents stop participating.
  They leave the communication graph (the survivors' graph is rebuilt from their edges with
  ``Graph.from_edges``, its Metropolis–Hastings weights re-derived), their multipliers freeze and stay
  out of every later average, and their load stays on the grid, driven by the frozen prices (a
  household whose controller went silent). See :meth:`samarl.execution.mixing.DualState.remove_agents`.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from samarl import plots
from samarl.distributed import CellGrid
from samarl.execution.executor import AgentRemoval
from samarl.experiments.report import (
    check_line,
    environment,
    markdown_table,
    write_failures,
    write_outputs,
)
from samarl.experiments.runs import ExperimentSettings, metric_row, policy_note, run_dual, setup

__all__ = ["SETTINGS", "FaultsSettings", "run"]

DROP_PROBS = (0.0, 0.1, 0.3, 0.5, 0.7, 0.9)
REMOVED = (0.1, 0.3)


@dataclass(frozen=True)
class FaultsSettings(ExperimentSettings):
    """Settings of the faults experiment: the common ones (one arrival seed, the first of
    ``seeds``; days default to 8 quick, 20 otherwise) and the faults swept."""

    drop_probs: tuple[float, ...] = DROP_PROBS
    """Link failure probabilities p, one run each."""
    removed: tuple[float, ...] = REMOVED
    """Fractions of the agents removed (a quarter of the way into the run), one run each."""


#: The settings :func:`run` takes.
SETTINGS = FaultsSettings


def run(
    settings: FaultsSettings, out: str | os.PathLike[str], *, ray: Any = None
) -> dict[str, Any]:
    """The experiment into ``out``, its results returned (see :mod:`samarl.experiments`)."""
    job = setup(settings, out, quick_days=8, days=20)
    out = job.out
    seed = settings.first_seed
    policy = job.policy()
    days = job.days
    removal_day = max(1, days // 4)
    base = settings.dual.replace(mode="consensus")
    jobs: list[tuple[str, float]] = [("drop", p) for p in settings.drop_probs]
    jobs += [("remove", f) for f in settings.removed]
    drop_rows, remove_rows = [], []
    # Every run is a cell (a Ray task with --ray); the rows are built once all have finished.
    cells = CellGrid(ray, desc="faults", progress=settings.progress)
    shared = cells.share(policy)
    handles = [
        cells.submit(
            f"{kind}={value}",
            run_dual,
            shared,
            base.replace(drop_prob=value if kind == "drop" else 0.0),
            days=days,
            seed=seed,
            progress=False,
            removal=AgentRemoval(removal_day, value, seed=seed) if kind == "remove" else None,
        )
        for kind, value in jobs
    ]
    failed = cells.wait()
    if failed:
        return write_failures(out, "faults", cells, failed)
    for (kind, value), handle in zip(jobs, handles, strict=True):
        res = cells.result(handle)
        row = metric_row(res.metrics)
        if kind == "drop":
            drop_rows.append({"drop_prob": value, **row})
        else:
            g = res.metrics.get("graph", {})
            remove_rows.append(
                {
                    "fraction": value,
                    "day": removal_day,
                    "participating": res.metrics["removal"]["participating"],
                    "components": g.get("components"),
                    "survivor_spectral_gap": g.get("spectral_gap"),
                    **row,
                }
            )
    no_fault = drop_rows[0] if drop_rows and drop_rows[0]["drop_prob"] == 0 else None
    checks = {}
    if len(drop_rows) > 1:
        e = [r["consensus_error"] for r in drop_rows]
        checks["error_grows_with_p"] = (
            e[-1] >= e[0],
            f"consensus error grows with p ({e[0]:.4g} at p = {drop_rows[0]['drop_prob']} -> "
            f"{e[-1]:.4g} at p = {drop_rows[-1]['drop_prob']})",
        )
    if no_fault is not None:
        for r in remove_rows:
            checks[f"removal_{r['fraction']}_keeps_working"] = (
                r["served"] >= no_fault["served"] - 0.02,
                f"with {100 * r['fraction']:.0f}% of agents removed, served {r['served']:.4f} "
                f"stays within 0.02 of no fault ({no_fault['served']:.4f}); violation "
                f"{r['violation']:.4f} vs {no_fault['violation']:.4f}",
            )
    results: dict[str, Any] = {
        "experiment": "faults",
        "quick": bool(settings.quick),
        "scenario": policy.scenario.name,
        "num_agents": policy.scenario.num_agents,
        "days": days,
        "warmup_days": days // 2,
        "seed": seed,
        "policy": str(policy.run_dir),
        "dual": asdict(base),
        "drop": drop_rows,
        "removal": remove_rows,
        "removal_semantics": (
            "removed agents leave the graph (survivors' induced subgraph, weights re-derived), "
            "their multipliers freeze and stay out of the averages, their load stays on the grid"
        ),
        "checks": {k: v[0] for k, v in checks.items()},
        "wall_s": time.perf_counter() - job.started,
        "environment": environment(torch_threads=1 if cells.distributed else None),
    }
    figures = []
    if drop_rows:
        fig = plots.new_figure(1, 2, size=(12.0, 4.5))
        ax, bx = fig.axes
        p = np.array([r["drop_prob"] for r in drop_rows])
        ax.plot(p, [r["consensus_error"] for r in drop_rows], "o-")
        ax.set(
            xlabel="link failure probability p",
            ylabel="consensus error (max)",
            title=f"Consensus error vs p (K = {base.consensus_rounds}, {base.graph})",
        )
        bx.plot(p, [r["violation"] for r in drop_rows], "o-", label="violation")
        bx.plot(p, [1.0 - r["served"] for r in drop_rows], "s-", label="unserved share")
        bx.set(xlabel="link failure probability p", title="Violation and unserved demand vs p")
        bx.legend(fontsize="small")
        out.mkdir(parents=True, exist_ok=True)
        plots.save_figure(fig, out / "faults_drop.png")
        figures.append("faults_drop.png")
    lines = [
        f"# Faults: lossy links and agents removed{' (quick)' if settings.quick else ''}",
        "",
        f"Scenario `{results['scenario']}`, N = {results['num_agents']}, {days} days per run "
        f"(metrics over the last {days - days // 2}), K = {base.consensus_rounds} on a {base.graph} graph, "
        f"arrival seed {seed}. " + policy_note(policy),
        "",
        "## Lossy links",
        "",
        markdown_table(
            ["p", "violation", "overshoot", "served", "postponing", "consensus error"],
            [
                [
                    r["drop_prob"],
                    r["violation"],
                    r["overshoot"],
                    r["served"],
                    r["postponing"],
                    r["consensus_error"],
                ]
                for r in drop_rows
            ],
        ),
        "",
        f"## Agents removed at the start of day {removal_day}",
        "",
        results["removal_semantics"].capitalize() + ". Consensus error is measured over the "
        "participants.",
        "",
        markdown_table(
            [
                "removed",
                "participating",
                "components",
                "violation",
                "served",
                "postponing",
                "consensus error",
            ],
            [
                [
                    f"{100 * r['fraction']:.0f}%",
                    r["participating"],
                    r["components"],
                    r["violation"],
                    r["served"],
                    r["postponing"],
                    r["consensus_error"],
                ]
                for r in remove_rows
            ],
        ),
        "",
        "## Expectations",
        "",
        *[check_line(ok, text) for ok, text in checks.values()],
        "",
    ]
    for name in figures:
        lines += [f"![{name}]({name})", ""]
    lines.append(f"Wall time: {results['wall_s']:.0f} s.")
    write_outputs(out, results, "\n".join(lines))
    return results
