"""Figures of a run, drawn with matplotlib's object API (no pyplot state, no display) to PNG.

Each figure has a ``draw_*`` function that draws on a given ``Axes`` (to compose panels) and a
``plot_*`` function that makes a figure, saves it and returns the path:

- :func:`plot_load_vs_capacity`: total load over the hours of a day (mean over days, with the
  range across days as a band) against the capacity and, optionally, the expected demand;
- :func:`plot_backlog_by_group`: the mean backlog of agent groups over the run (groups e.g. by
  demand quantile, :func:`demand_groups`).

:func:`draw_band` (a line with a shaded range) and :func:`new_figure` / :func:`save_figure` are the
building blocks for further figures (e.g. the spread of the agents' multipliers over time).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from samarl._io import atomic_write
from samarl.errors import InvalidValueError, ShapeError

__all__ = [
    "day_colours",
    "demand_groups",
    "draw_backlog_by_group",
    "draw_band",
    "draw_load_vs_capacity",
    "fold_days",
    "new_figure",
    "plot_backlog_by_group",
    "plot_daily",
    "plot_engine_demo",
    "plot_load_vs_capacity",
    "plot_response",
    "plot_training_curves",
    "save_figure",
]

F64 = npt.NDArray[np.float64]


def new_figure(rows: int = 1, cols: int = 1, *, size: tuple[float, float] = (8.0, 4.5)) -> Figure:
    """A figure not attached to pyplot (safe in scripts, threads and headless runs)."""
    fig = Figure(figsize=size, layout="constrained")
    fig.subplots(rows, cols, squeeze=False)
    return fig


def save_figure(fig: Figure, path: str | os.PathLike[str], *, dpi: int = 120) -> Path:
    """Writes ``fig`` as PNG (Agg, atomically), creating the folder; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format="png"))


def draw_band(
    ax: Axes,
    x: npt.ArrayLike,
    mid: npt.ArrayLike,
    low: npt.ArrayLike,
    high: npt.ArrayLike,
    *,
    label: str | None = None,
    color: str | None = None,
    alpha: float = 0.25,
) -> None:
    """A line ``mid`` with the range ``[low, high]`` shaded around it."""
    (line,) = ax.plot(x, mid, label=label, color=color)
    ax.fill_between(x, low, high, color=line.get_color(), alpha=alpha, linewidth=0)


def day_colours(days: int) -> Any:
    """One colour per day, early days light and late days dark (viridis), ``[days, 4]`` RGBA."""
    return matplotlib.colormaps["viridis"](np.linspace(0.9, 0.1, max(days, 1)))[:days]


def fold_days(series: npt.ArrayLike, steps_per_day: int) -> F64:
    """``[T]`` per-step values from midnight -> ``[days, S]`` (complete days only; at least one).

    A run shorter than a day gives one row padded with NaN.
    """
    x = np.asarray(series, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ShapeError(f"series: expected a non-empty [T] array, got shape {list(x.shape)}")
    days = x.size // steps_per_day
    if days == 0:
        return np.concatenate([x, np.full(steps_per_day - x.size, np.nan)])[None, :]
    return x[: days * steps_per_day].reshape(days, steps_per_day)


def draw_load_vs_capacity(
    ax: Axes,
    total_use: npt.ArrayLike,
    capacity: npt.ArrayLike,
    dt_hours: float,
    *,
    expected_demand: npt.ArrayLike | None = None,
    skip_days: int = 0,
) -> None:
    """Draws total load over a day against capacity (see :func:`plot_load_vs_capacity`)."""
    cap = np.asarray(capacity, dtype=np.float64)
    s = cap.size
    if s == 0:
        raise ShapeError("capacity: expected [S] values for the steps of a day")
    days = fold_days(total_use, s)
    if skip_days and days.shape[0] > skip_days:
        days = days[skip_days:]
    hours = np.arange(s) * dt_hours
    if days.shape[0] > 1:
        # Every day its own line (early days light, late days dark): a day-to-day cycle shows,
        # where a mean would hide it.
        colours = day_colours(days.shape[0])
        for d, (row, colour) in enumerate(zip(days, colours, strict=True)):
            first_or_last = d in (0, days.shape[0] - 1)
            label = f"total load, day {d + 1 + skip_days}" if first_or_last else None
            ax.plot(hours, row, color=colour, lw=0.8, alpha=0.8, label=label)
    else:
        ax.plot(hours, days[0], label="total load")
    ax.step(hours, cap, where="post", color="black", label="capacity")
    if expected_demand is not None:
        demand = np.asarray(expected_demand, dtype=np.float64)
        if demand.shape != (s,):
            raise ShapeError(f"expected_demand: expected shape [{s}], got {list(demand.shape)}")
        ax.plot(hours, demand, linestyle="--", color="grey", label="expected demand (unshifted)")
    ax.set_xlim(0, 24)
    ax.set_xticks(range(0, 25, 3))
    ax.set_xlabel("hour of day")
    ax.set_ylabel("power (kW)")
    ax.legend(loc="upper left", fontsize="small")


def plot_load_vs_capacity(
    total_use: npt.ArrayLike,
    capacity: npt.ArrayLike,
    dt_hours: float,
    path: str | os.PathLike[str],
    *,
    expected_demand: npt.ArrayLike | None = None,
    skip_days: int = 0,
    title: str | None = None,
) -> Path:
    """Total load over the hours of a day vs capacity, saved as PNG; returns the path.

    Parameters
    ----------
    total_use
        ``[T]`` total power drawn per step from midnight (kW), e.g. :attr:`Metrics.total_use`.
    capacity
        ``[S]`` capacity per step of the day (kW).
    dt_hours
        Step length.
    expected_demand
        Optional ``[S]`` expected arrivals as power: the load if nothing were shifted.
    skip_days
        Leading days left out (e.g. 1 for a warm-up day), if the run is longer.
    """
    fig = new_figure()
    ax = fig.axes[0]
    draw_load_vs_capacity(
        ax, total_use, capacity, dt_hours, expected_demand=expected_demand, skip_days=skip_days
    )
    ax.set_title(title or "Total load vs capacity")
    return save_figure(fig, path)


def demand_groups(
    daily_demand: npt.ArrayLike, num_groups: int = 4
) -> tuple[npt.NDArray[np.int64], list[str]]:
    """Agents grouped by quantile of daily demand: ``(group [N] in 0..G-1, labels [G])``."""
    d = np.asarray(daily_demand, dtype=np.float64)
    if d.ndim != 1 or d.size == 0:
        raise ShapeError(f"daily_demand: expected a non-empty [N] array, got {list(d.shape)}")
    if not 1 <= num_groups <= d.size:
        raise InvalidValueError(f"num_groups: must be in [1, {d.size}], got {num_groups}")
    edges = np.quantile(d, np.linspace(0, 1, num_groups + 1))
    groups = np.clip(np.searchsorted(edges, d, side="right") - 1, 0, num_groups - 1)
    labels = [f"{edges[g]:.3g}-{edges[g + 1]:.3g} kWh/day" for g in range(num_groups)]
    return groups.astype(np.int64), labels


def draw_backlog_by_group(
    ax: Axes,
    backlog_by_group: npt.ArrayLike,
    dt_hours: float,
    *,
    labels: Sequence[str] | None = None,
) -> None:
    """Draws each group's mean backlog over the run (see :func:`plot_backlog_by_group`)."""
    b = np.asarray(backlog_by_group, dtype=np.float64)
    if b.ndim != 2:
        raise ShapeError(f"backlog_by_group: expected [T, G], got shape {list(b.shape)}")
    if labels is not None and len(labels) != b.shape[1]:
        raise ShapeError(f"labels: expected {b.shape[1]} labels, got {len(labels)}")
    hours = (np.arange(b.shape[0]) + 1) * dt_hours
    for g in range(b.shape[1]):
        ax.plot(hours, b[:, g], label=labels[g] if labels is not None else f"group {g}")
    for day in range(1, int(hours[-1] // 24) + 1 if hours.size else 0):
        ax.axvline(24 * day, color="grey", linewidth=0.5)
    ax.set_xlabel("hours since start")
    ax.set_ylabel("mean backlog (kWh)")
    ax.legend(loc="upper left", fontsize="small")


def plot_backlog_by_group(
    backlog_by_group: npt.ArrayLike,
    dt_hours: float,
    path: str | os.PathLike[str],
    *,
    labels: Sequence[str] | None = None,
    title: str | None = None,
) -> Path:
    """Mean backlog per agent group over the run, saved as PNG; returns the path.

    ``backlog_by_group`` is ``[T, G]`` (e.g. :attr:`Metrics.backlog_by_group` with groups from
    :func:`demand_groups`). A group whose backlog keeps climbing is postponing its demand.
    """
    fig = new_figure()
    ax = fig.axes[0]
    draw_backlog_by_group(ax, backlog_by_group, dt_hours, labels=labels)
    ax.set_title(title or "Backlog per agent group")
    return save_figure(fig, path)


# ------------------------------------------------------------------------------------ training


def plot_training_curves(rows: Sequence[dict[str, float]], path: str | os.PathLike[str]) -> Path:
    """``training_curves.png``: the logged training curves (and the flat-price checks, if any)."""
    panels = [
        ("rollout/lagrangian_reward", "Lagrangian reward per agent-step"),
        ("rollout/reward", "env reward (waiting cost) per agent-step"),
        ("constraint/served_over_arrived", "served / arrived (rollouts)"),
        ("train/value_loss", "value loss"),
        ("train/approx_kl", "approx. KL"),
        ("train/action_std", "action std"),
    ]
    sweep = [
        k
        for k in (
            "constraint/sweep_load_at_zero",
            "constraint/sweep_load_at_half",
            "constraint/sweep_load_at_max",
        )
        if any(k in r for r in rows)
    ]
    fig = new_figure(2, 4 if sweep else 3, size=(16 if sweep else 12, 6.5))
    flat = fig.axes
    it = [r["iteration"] for r in rows]
    for ax, (key, title) in zip(flat, panels, strict=False):
        ax.plot(it, [r.get(key, np.nan) for r in rows])
        ax.set(title=title, xlabel="iteration")
    if sweep:
        ax = flat[6]
        for key in sweep:
            pts = [(r["iteration"], r[key]) for r in rows if key in r]
            ax.plot(*zip(*pts, strict=True), "o-", label=key.split("sweep_load_")[1])
        ax.axhline(1.0, color="k", ls="--", lw=0.8)
        ax.set(title="peak load / capacity at flat mult", xlabel="iteration")
        ax.legend()
        ax = flat[7]
        pts = [
            (r["iteration"], r["constraint/sweep_served_at_zero"])
            for r in rows
            if "constraint/sweep_served_at_zero" in r
        ]
        ax.plot(*zip(*pts, strict=True), "o-")
        low = min(0.95, *(p[1] for p in pts))
        ax.set(title="served / arrived at mult = 0", xlabel="iteration", ylim=(low - 0.01, 1.01))
    return save_figure(fig, path, dpi=110)


def plot_response(res: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """``response.png``: the trained policies' response to flat multipliers (a response sweep)."""
    mult = np.asarray(res["mult"])
    fig = new_figure(1, 2, size=(11, 4))
    a, b = fig.axes
    a.plot(mult, res["total_load"], "o-", label="total load (binding blocks)")
    a.axhline(res["capacity"], color="k", ls="--", label="capacity")
    a.axhline(res["expected_demand"], color="gray", ls=":", label="expected demand")
    a.set(xlabel="flat multiplier", ylabel="kW", title="Response of the trained policies")
    a.legend()
    power = np.asarray(res["group_mean_power"])
    for g, name in enumerate(res["groups"]):
        b.plot(mult, power[:, g], "o-", label=name)
    b.set(xlabel="flat multiplier", ylabel="mean power per agent (kW)", title="By agent group")
    b.legend()
    return save_figure(fig, path, dpi=110)


def plot_engine_demo(
    path: str | os.PathLike[str],
    rounds: Sequence[int],
    errors: Sequence[float],
    bounds: Sequence[float],
    load: npt.ArrayLike,
) -> Path:
    """``demo.png`` of ``samarl demo --engine``: consensus disagreement vs K beside its bound, and
    one day of greedy total load."""
    load = np.asarray(load, dtype=np.float64)
    fig = new_figure(1, 2, size=(11, 4))
    a, b = fig.axes
    a.semilogy(rounds, errors, "o-", label="measured max |x - mean|")
    a.semilogy(rounds, bounds, "k--", label=r"bound $\sigma_2^K \|x_0 - \bar x\|$")
    a.set(xlabel="consensus rounds K", ylabel="disagreement", title="Consensus")
    a.legend()
    hours = np.arange(load.size) * 24 / load.size
    b.plot(hours, load / 1e3)
    b.set(xlabel="hour of day", ylabel="total load (MW)", title="Greedy load, one day")
    return save_figure(fig, path)


def plot_daily(
    mult_daily: npt.ArrayLike,
    excess_per_day_block: Sequence[Sequence[float | None]],
    path: str | os.PathLike[str],
    *,
    mult_max: float | None = None,
    warmup_days: int = 0,
    title: str = "",
) -> Path:
    """``daily.png``: what an operator judges, day by day. Left: every day's mean price of each
    block (a line per day, early light, late dark): settled prices overlap, cycling ones fan out.
    Right: the daily excess of every (day, block) of the evaluation window, as a heat map."""
    prices = np.asarray(mult_daily, dtype=np.float64)
    if prices.ndim != 2:
        raise ShapeError(f"mult_daily: expected [days, m], got shape {list(prices.shape)}")
    fig = new_figure(1, 2, size=(13.0, 4.5))
    ax, bx = fig.axes
    colours = day_colours(prices.shape[0])
    for d, (row, colour) in enumerate(zip(prices, colours, strict=True)):
        label = f"day {d + 1}" if d in (0, warmup_days, prices.shape[0] - 1) else None
        ax.plot(np.arange(row.size), row, color=colour, lw=0.9, label=label)
    ax.set(xlabel="block (hour of day)", ylabel="mean multiplier over agents")
    ax.set_title(f"{title}: block prices, one line per day".strip(": "))
    if mult_max:
        ax.set_ylim(0, mult_max * 1.02)
    ax.legend(fontsize="small")
    table = np.asarray(
        [[np.nan if v is None else v for v in row] for row in excess_per_day_block],
        dtype=np.float64,
    ).reshape(len(excess_per_day_block), -1)
    if table.size:
        im = bx.imshow(
            100 * table,
            aspect="auto",
            origin="lower",
            cmap="Reds",
            vmin=0,
            vmax=max(10.0, float(np.nanmax(100 * table))),
            extent=(
                -0.5,
                table.shape[1] - 0.5,
                warmup_days + 0.5,
                warmup_days + table.shape[0] + 0.5,
            ),
        )
        fig.colorbar(im, ax=bx, label="daily excess over capacity (%)")
    bx.set(xlabel="block (hour of day)", ylabel="day", title="Daily excess per (day, block)")
    return save_figure(fig, path)
