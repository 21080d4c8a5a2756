"""Execution run folders: what ``samarl run`` (and every mode of the demo) writes.

- ``metrics.json``: the run's metrics (:mod:`samarl.execution.metrics`), its dual settings and the
  graph's spectral gap;
- ``scenario.toml``: the scenario it ran;
- ``trajectories.npz`` and ``total_load.csv``: the data behind the figures, for re-analysis:
  the total load and capacity at every step (kW), and the mean multiplier of every (day, block)
  (the price in force while the block ran);
- ``load_vs_capacity.png`` (every day of the window), ``daily.png`` (each block's price and
  excess, day by day), ``multipliers.png``, ``backlog_top_agents.png``.

Every file is written atomically (:func:`samarl._io.atomic_write`): a killed run leaves whole files.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from samarl import plots
from samarl._io import atomic_write
from samarl.execution.executor import ExecutionResult
from samarl.scenario import ScenarioConfig, dump_scenario

__all__ = ["save_run"]


def save_run(result: ExecutionResult, scenario: ScenarioConfig, out_dir: str | Path) -> Path:
    """Writes ``metrics.json``, the scenario, and the run's figures into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "metrics.json", json.dumps(result.metrics, indent=2) + "\n")
    atomic_write(out / "scenario.toml", lambda tmp: dump_scenario(scenario, tmp))
    write_trajectories(result, out)
    s, dt = scenario.steps_per_day, scenario.dt_hours
    warm = int(result.metrics.get("warmup_days", 0))

    fig = plots.new_figure()
    plots.draw_load_vs_capacity(
        fig.axes[0], result.total_load, result.capacity[:s], dt, skip_days=warm
    )
    fig.axes[0].set_title(f"{result.metrics['mode']}: total load after {warm} warm-up days")
    plots.save_figure(fig, out / "load_vs_capacity.png")

    fig = plots.new_figure(1, 2, size=(12.0, 4.5))
    ax, bx = fig.axes
    if result.mult_band.size:
        days = result.mult_epochs / s
        plots.draw_band(
            ax,
            days,
            result.mult_band[:, 1],
            result.mult_band[:, 0],
            result.mult_band[:, 2],
            label="mult of the block just updated: mean, min..max over agents",
        )
        ax.set(xlabel="day", ylabel="multiplier", title="Multipliers over time")
        ax.legend(loc="upper left", fontsize="small")
        if (result.consensus_error > 0).any():
            bx.semilogy(days, np.maximum(result.consensus_error, 1e-12))
        else:
            bx.plot(days, result.consensus_error)
        bx.set(xlabel="day", ylabel="max |mult^n - mean|", title="Consensus error per update")
    plots.save_figure(fig, out / "multipliers.png")

    if result.mult_daily.size:
        plots.plot_daily(
            result.mult_daily,
            result.metrics.get("constraint/excess_per_day_block") or [],
            out / "daily.png",
            mult_max=float(result.metrics.get("dual", {}).get("mult_max") or 0.0) or None,
            warmup_days=warm,
            title=str(result.metrics["mode"]),
        )

    if result.top_backlog.size:
        fig = plots.new_figure()
        days = np.arange(result.top_backlog.shape[0]) / s
        fig.axes[0].plot(days, result.top_backlog)
        fig.axes[0].set(
            xlabel="day", ylabel="backlog (kWh)", title="Backlog of the most-loaded agents"
        )
        plots.save_figure(fig, out / "backlog_top_agents.png")
    return out


def write_trajectories(result: ExecutionResult, out: Path) -> None:
    """``trajectories.npz`` (``total_load`` and ``capacity`` ``[T]`` kW, ``mult_daily`` ``[days, m]``)
    and ``total_load.csv`` (step, day, step of day, total load, capacity)."""
    atomic_write(
        out / "trajectories.npz",
        lambda tmp: np.savez_compressed(
            tmp,
            total_load=result.total_load,
            capacity=result.capacity,
            mult_daily=result.mult_daily,
        ),
    )
    steps = result.total_load.shape[0]
    days = max(result.mult_daily.shape[0], 1)
    s = steps // days
    t = np.arange(steps)
    table = np.column_stack([t, t // s, t % s, result.total_load, result.capacity])
    atomic_write(
        out / "total_load.csv",
        lambda tmp: np.savetxt(
            tmp,
            table,
            fmt=["%d", "%d", "%d", "%.6g", "%.6g"],
            delimiter=",",
            header="step,day,step_of_day,total_load_kw,capacity_kw",
            comments="",
        ),
    )
