"""Experiment 2, consensus: error and violation vs rounds K and vs graph family, beside the bound.

At every dual update each agent takes a local step on its own estimate of the excess, then the
copies are mixed for K rounds on the Metropolis–Hastings weights W. The local steps differ across
agents by ``eta (e - mean(e))``, whose 2-norm the executor records (``eta G``: its maximum over the
run); mixing contracts the disagreement by ``s = sigma_2(W)`` per round and the projection onto
``[0, mult_max]`` never increases it, so from agreement the disagreement after every update stays
below the a-priori bound (docs/method.md)

    max_n |x_n - mean|  <=  eta G s^K / (1 - s^K),

with ``sigma_2`` computed to a stated accuracy (:mod:`samarl.comms.spectral`). The report draws the
measured error beside that bound against K and against the graph's spectral gap, and counts updates
above it (with a float32 rounding allowance of 1e-6 mult_max).
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from samarl import plots
from samarl.comms.consensus import Consensus
from samarl.comms.graph import make_graph
from samarl.comms.spectral import steady_state_spread_bound
from samarl.distributed import CellGrid
from samarl.execution.dual import DualConfig
from samarl.execution.executor import ExecutionResult
from samarl.experiments.report import (
    check_line,
    environment,
    fmt,
    markdown_table,
    write_failures,
    write_outputs,
)
from samarl.experiments.runs import ExperimentSettings, metric_row, policy_note, run_dual, setup

__all__ = ["SETTINGS", "ConsensusSettings", "run"]

ROUNDS = (0, 1, 2, 5, 10, 20, 50)
FAMILIES = ("ring", "kring", "grid", "random_geometric", "small_world", "erdos_renyi")


@dataclass(frozen=True)
class ConsensusSettings(ExperimentSettings):
    """Settings of the consensus experiment: the common ones (one arrival seed, the first of
    ``seeds``; days default to 6 quick, 20 otherwise) and its two sweeps."""

    rounds: tuple[int, ...] = ROUNDS
    """K values of the K sweep (on the dual settings' graph)."""
    families: tuple[str, ...] = FAMILIES
    """Graph families of the graph sweep (at the dual settings' consensus rounds)."""


#: The settings :func:`run` takes.
SETTINGS = ConsensusSettings


def bound_stats(
    res: ExecutionResult, sigma2: float, rounds: int, window_start: int, mult_max: float
) -> dict[str, Any]:
    """Measured disagreement against the a-priori bound ``eta G s^K / (1 - s^K)``.

    ``eta G`` is the largest 2-norm spread of the agents' local steps over the run (the last column
    of ``mix_log``), ``s = sigma_2(W)``: starting from agreement, the post-mix disagreement of every
    update stays below the bound (docs/method.md); the statistics cover the window's updates.
    """
    log = res.mix_log
    if not log.size:
        return {"updates": 0}
    eta_g = float(log[:, 4].max())
    bound = steady_state_spread_bound(1.0, eta_g, sigma2, rounds)
    window = log[log[:, 0] >= window_start]
    measured = window[:, 3] if window.size else log[:, 3]
    tol = 1e-6 * mult_max
    return {
        "updates": int(measured.size),
        "measured_mean": float(measured.mean()),
        "measured_max": float(measured.max()),
        "bound": bound,
        "bound_mean": bound,
        "step_spread_max": eta_g,
        "above_bound": int((log[:, 3] > bound + tol).sum()),
        "max_ratio": float(log[:, 3].max() / bound) if bound > 0 else None,
    }


def _row(
    res: ExecutionResult,
    k: int,
    fam: str,
    sigma: float,
    degree: float,
    window: int,
    mult_max: float,
) -> dict[str, Any]:
    """One run's line of the tables."""
    return {
        "rounds": k,
        "graph": fam,
        "spectral_gap": 1.0 - sigma,
        "sigma2": sigma,
        "mean_degree": degree,
        **metric_row(res.metrics),
        "bound": bound_stats(res, sigma, k, window, mult_max),
    }


def gap_to_centralized(
    row: dict[str, Any],
    res: ExecutionResult,
    ref: dict[str, Any],
    ref_res: ExecutionResult,
    warmup_days: int,
    mult_max: float,
) -> dict[str, float | None]:
    """How far a run is from the centralized run on the same policy, arrivals and days.

    ``price``: mean over the window's (day, block) pairs of ``|mean_n mult^n - mult_central| /
    mult_max`` (the mean of the agents' copies, as it stood while the block ran); ``served_pp``:
    centralized's served share minus the run's, in percentage points; ``waiting``: the run's
    waiting cost over centralized's, minus 1; ``violation``: the absolute difference of the daily
    excess p95 (capacity shares)."""
    a, b = res.mult_daily[warmup_days:], ref_res.mult_daily[warmup_days:]
    price = float(np.abs(a - b).mean() / mult_max) if a.size and a.shape == b.shape else None
    wc, wc_ref = row["waiting_cost"], ref["waiting_cost"]
    return {
        "price": price,
        "served_pp": 100.0 * (ref["served"] - row["served"]),
        "waiting": wc / wc_ref - 1.0 if wc is not None and wc_ref else None,
        "violation": abs(row["violation"] - ref["violation"]),
    }


def run(
    settings: ConsensusSettings, out: str | os.PathLike[str], *, ray: Any = None
) -> dict[str, Any]:
    """The experiment into ``out``, its results returned (see :mod:`samarl.experiments`)."""
    job = setup(settings, out, quick_days=6, days=20)
    seed = settings.first_seed
    policy = job.policy()
    n, s, days = policy.scenario.num_agents, policy.scenario.steps_per_day, job.days
    warmup_days = days // 2
    window = warmup_days * s
    base = settings.dual.replace(mode="consensus")
    families = list(dict.fromkeys([base.graph, *settings.families]))
    sigma: dict[str, float] = {}
    degree: dict[str, float] = {}
    for fam in families:
        g = make_graph(fam, n, seed=base.graph_seed)
        sigma[fam] = Consensus(g, require_connected=False).sigma2()
        degree[fam] = g.mean_degree

    # One centralized run is the K -> infinity reference; K = 0 mixes nothing (the independent
    # mode), so it is one run shared by every family; every other (family, K) pair is its own run.
    rounds = sorted(set(settings.rounds) | {base.consensus_rounds})
    jobs = [("centralized", 0, base.graph)] + [
        ("grid", k, fam) for k in rounds for fam in (families if k else families[:1])
    ]
    grid: dict[tuple[str, int], dict[str, Any]] = {}
    ref: dict[str, Any] = {}
    ref_res: ExecutionResult | None = None
    trace: ExecutionResult | None = None
    # Every run is a cell (a Ray task with --ray); the rows are built once all have finished.
    cells = CellGrid(ray, desc="consensus", progress=settings.progress)
    shared = cells.share(policy)
    handles = [
        cells.submit(
            f"{kind} K={k} graph={fam}",
            run_dual,
            shared,
            base.replace(
                mode="centralized" if kind == "centralized" else "consensus",
                consensus_rounds=k,
                graph=fam,
            ),
            days=days,
            seed=seed,
            progress=False,
        )
        for kind, k, fam in jobs
    ]
    failed = cells.wait()
    if failed:
        return write_failures(job.out, "consensus", cells, failed)
    for (_, k, fam), handle in zip(jobs, handles, strict=True):
        res = cells.result(handle)
        row = _row(res, k, fam, sigma[fam], degree[fam], window, policy.mult_max)
        if ref_res is None:
            ref, ref_res = row, res
            continue
        row["gap"] = gap_to_centralized(row, res, ref, ref_res, warmup_days, policy.mult_max)
        for f in families if k == 0 else [fam]:
            grid[(f, k)] = (
                row | {"graph": f, "spectral_gap": 1.0 - sigma[f], "sigma2": sigma[f]}
                if k == 0
                else row
            )
        if k == base.consensus_rounds and fam == base.graph:
            trace = res
    k_rows = [grid[(base.graph, k)] for k in rounds if k in settings.rounds]
    fam_rows = [grid[(f, base.consensus_rounds)] for f in families if f in settings.families]
    by_gap = sorted(fam_rows, key=lambda r: r["spectral_gap"])
    checks = _checks(k_rows, by_gap, grid, families, rounds)
    results = {
        "experiment": "consensus",
        "quick": bool(settings.quick),
        "scenario": policy.scenario.name,
        "num_agents": n,
        "days": days,
        "warmup_days": warmup_days,
        "seed": seed,
        "policy": str(policy.run_dir),
        "centralized": ref,
        "k_sweep": {"graph": base.graph, "rows": k_rows},
        "family_sweep": {"rounds": base.consensus_rounds, "rows": fam_rows},
        "grid": {
            "families": families,
            "rounds": rounds,
            "rows": [grid[(f, k)] for f in families for k in rounds],
        },
        "checks": {k: v[0] for k, v in checks.items()},
        "wall_s": time.perf_counter() - job.started,
        "environment": environment(torch_threads=1 if cells.distributed else None),
    }
    figures = _figures(job.out, k_rows, by_gap, trace, window, sigma[base.graph], base, s)
    figures.append(_gap_figure(job.out, grid, families, rounds, ref))
    write_outputs(job.out, results, _report(results, checks, figures, policy, by_gap))
    return results


def _checks(
    k_rows: list[dict[str, Any]],
    by_gap: list[dict[str, Any]],
    grid: dict[tuple[str, int], dict[str, Any]],
    families: list[str],
    rounds: list[int],
) -> dict[str, tuple[bool, str]]:
    """The experiment's expectations, each with the numbers behind its verdict."""
    above = sum(r["bound"].get("above_bound", 0) for r in grid.values())
    err = [r["consensus_error"] for r in k_rows]
    served = [r["served"] for r in k_rows]
    viol = [r["violation"] for r in k_rows]
    checks = {
        "bound_holds": (
            above == 0,
            f"measured error never exceeds the a-priori bound eta G s^K / (1 - s^K) ({above} "
            "updates above it, every run)",
        ),
        "error_falls_with_K": (
            all(e2 <= e1 for e1, e2 in itertools.pairwise(err)),
            "consensus error falls with every step up in K ("
            + ", ".join(f"{e:.3g}" for e in err)
            + ")",
        ),
        "sharing_serves_more": (
            served[-1] > served[0],
            f"K = {k_rows[-1]['rounds']} serves more than K = {k_rows[0]['rounds']} "
            f"({served[-1]:.4f} vs {served[0]:.4f}); violation {viol[-1]:.4f} vs {viol[0]:.4f} "
            "(K = 0 is the independent mode: it meets capacity by postponing, so its violation "
            "can be lower)",
        ),
    }
    k_lo, k_hi = rounds[0], rounds[-1]
    for key, label in (("price", "price gap"), ("served_pp", "served gap (pp)")):
        seqs = {f: [abs(grid[(f, k)]["gap"][key] or 0.0) for k in rounds] for f in families}
        checks[f"gap_{key}_falls_with_K"] = (
            all(v[-1] < v[0] for v in seqs.values()),
            f"the {label} to centralized is smaller at K = {k_hi} than at K = {k_lo} on every "
            "graph ("
            + "; ".join(f"{f}: " + ", ".join(f"{x:.3g}" for x in v) for f, v in seqs.items())
            + f" for K = {', '.join(map(str, rounds))})",
        )
    if len(by_gap) > 1:
        lo, hi = by_gap[0], by_gap[-1]
        checks["error_falls_with_gap"] = (
            hi["consensus_error"] < lo["consensus_error"],
            f"the best-connected graph ({hi['graph']}, gap {hi['spectral_gap']:.3g}) agrees "
            f"better than the worst ({lo['graph']}, gap {lo['spectral_gap']:.3g}): "
            f"{hi['consensus_error']:.4g} < {lo['consensus_error']:.4g}",
        )
    return checks


def _gap_figure(
    out: Path,
    grid: dict[tuple[str, int], dict[str, Any]],
    families: list[str],
    rounds: list[int],
    ref: dict[str, Any],
) -> str:
    """Gap to centralized and daily violation against K, one line per graph family."""
    fig = plots.new_figure(1, 3, size=(16.0, 4.5))
    x = np.maximum(np.array(rounds, dtype=float), 0.5)
    panels = (
        ("price", "mean |price - centralized's| / mult_max (floor 1e-6)", True),
        ("served_pp", "served: centralized's - run's (pp)", False),
    )
    for ax, (key, label, log) in zip(fig.axes[:2], panels, strict=True):
        for f in families:
            y = [grid[(f, k)]["gap"][key] for k in rounds]
            y = [np.nan if v is None else (max(abs(v), 1e-6) if log else v) for v in y]
            (ax.loglog if log else ax.semilogx)(x, y, "o-", label=f)
        ax.set(
            xlabel="consensus rounds K (K = 0 drawn at 0.5)",
            ylabel=label,
            title=f"{'Price' if log else 'Served'} gap to centralized vs K",
        )
        ax.legend(fontsize="x-small")
    cx = fig.axes[2]
    for f in families:
        cx.semilogx(x, [grid[(f, k)]["violation"] for k in rounds], "o-", label=f)
    cx.axhline(ref["violation"], color="k", ls="--", label="centralized")
    cx.set(
        xlabel="consensus rounds K",
        ylabel="daily excess p95 (share of capacity)",
        title="Daily violation vs K",
    )
    cx.legend(fontsize="x-small")
    plots.save_figure(fig, out / "gap_vs_rounds.png")
    return "gap_vs_rounds.png"


def _figures(
    out: Path,
    k_rows: list[dict[str, Any]],
    fam_rows: list[dict[str, Any]],
    trace: ExecutionResult | None,
    window: int,
    sigma2: float,
    base: DualConfig,
    s: int,
) -> list[str]:
    out.mkdir(parents=True, exist_ok=True)
    names = []
    ks = np.array([r["rounds"] for r in k_rows], dtype=float)
    fig = plots.new_figure(1, 2, size=(12.0, 4.5))
    ax, bx = fig.axes
    x = np.maximum(ks, 0.5)  # K = 0 drawn at 0.5 on the log axis
    ax.loglog(x, [r["bound"].get("measured_mean", np.nan) for r in k_rows], "o-", label="measured")
    ax.loglog(
        x,
        [r["bound"].get("bound_mean", np.nan) for r in k_rows],
        "s--",
        label="a-priori bound eta G s^K / (1 - s^K)",
    )
    ax.set(
        xlabel="consensus rounds K (K = 0 drawn at 0.5)",
        ylabel="max_n |mult^n - mean| after an update",
        title=f"Consensus error vs K ({base.graph})",
    )
    ax.legend(fontsize="small")
    bx.semilogx(x, [r["violation"] for r in k_rows], "o-", label="violation (max over blocks)")
    bx.semilogx(x, [1.0 - r["served"] for r in k_rows], "s-", label="unserved share")
    bx.set(xlabel="consensus rounds K", title="Constraint violation and unserved demand vs K")
    bx.legend(fontsize="small")
    plots.save_figure(fig, out / "error_vs_rounds.png")
    names.append("error_vs_rounds.png")

    fig = plots.new_figure(1, 2, size=(12.0, 4.5))
    ax, bx = fig.axes
    gaps = [r["spectral_gap"] for r in fam_rows]
    labels = [r["graph"] for r in fam_rows]
    ax.loglog(
        gaps, [r["bound"].get("measured_mean", np.nan) for r in fam_rows], "o", label="measured"
    )
    ax.loglog(gaps, [r["bound"].get("bound_mean", np.nan) for r in fam_rows], "s", label="bound")
    for g, lab, r in zip(gaps, labels, fam_rows, strict=True):
        ax.annotate(lab, (g, r["bound"].get("measured_mean", np.nan)), fontsize="x-small")
    ax.set(
        xlabel="spectral gap 1 - sigma_2(W)",
        ylabel="max_n |mult^n - mean| after an update",
        title=f"Error vs graph (K = {base.consensus_rounds})",
    )
    ax.legend(fontsize="small")
    bx.semilogx(gaps, [r["violation"] for r in fam_rows], "o-")
    for g, lab, r in zip(gaps, labels, fam_rows, strict=True):
        bx.annotate(lab, (g, r["violation"]), fontsize="x-small")
    bx.set(xlabel="spectral gap", ylabel="violation", title="Violation vs graph")
    plots.save_figure(fig, out / "error_vs_graph.png")
    names.append("error_vs_graph.png")

    if trace is not None and trace.mix_log.size:
        log = trace.mix_log
        fig = plots.new_figure()
        ax = fig.axes[0]
        days = log[:, 0] / s
        bound = steady_state_spread_bound(
            1.0, float(log[:, 4].max()), sigma2, base.consensus_rounds
        )
        ax.semilogy(days, np.maximum(log[:, 3], 1e-12), ".", ms=2, label="measured, every update")
        ax.axhline(bound, color="k", ls="--", label="a-priori bound eta G s^K / (1 - s^K)")
        ax.axvline(window / s, color="grey", ls=":")
        ax.set(
            xlabel="day",
            ylabel="max_n |mult^n - mean|",
            title=f"Disagreement after every update and its a-priori bound ({base.graph}, "
            f"K = {base.consensus_rounds})",
        )
        ax.legend(fontsize="small")
        plots.save_figure(fig, out / "bound_per_update.png")
        names.append("bound_per_update.png")
    return names


def _report(
    results: dict[str, Any],
    checks: dict[str, tuple[bool, str]],
    figures: list[str],
    policy: Any,
    fam_rows: list[dict[str, Any]],
) -> str:
    def b(r: dict[str, Any], key: str) -> Any:
        return r["bound"].get(key)

    def gap(r: dict[str, Any], key: str) -> Any:
        return r["gap"][key]

    k_table = markdown_table(
        [
            "K",
            "violation",
            "served",
            "consensus error",
            "measured (per update)",
            "bound",
            "above",
            "price gap",
            "served gap (pp)",
            "waiting-cost gap",
        ],
        [
            [
                r["rounds"],
                r["violation"],
                r["served"],
                r["consensus_error"],
                b(r, "measured_mean"),
                b(r, "bound_mean"),
                b(r, "above_bound"),
                gap(r, "price"),
                gap(r, "served_pp"),
                gap(r, "waiting"),
            ]
            for r in results["k_sweep"]["rows"]
        ],
    )
    grid = results["grid"]
    by_family = {f: [r for r in grid["rows"] if r["graph"] == f] for f in grid["families"]}
    ks = ", ".join(map(str, grid["rounds"]))
    grid_table = markdown_table(
        ["graph", "spectral gap", f"violation (K = {ks})", "price gap", "served gap (pp)"],
        [
            [
                f,
                rows[0]["spectral_gap"],
                " / ".join(fmt(r["violation"], 4) for r in rows),
                " / ".join(fmt(r["gap"]["price"], 4) for r in rows),
                " / ".join(fmt(r["gap"]["served_pp"], 3) for r in rows),
            ]
            for f, rows in by_family.items()
        ],
    )
    c = results["centralized"]
    g_table = markdown_table(
        [
            "graph",
            "mean degree",
            "spectral gap",
            "violation",
            "served",
            "consensus error",
            "measured (per update)",
            "bound",
            "above",
        ],
        [
            [
                r["graph"],
                f"{r['mean_degree']:.2f}",
                r["spectral_gap"],
                r["violation"],
                r["served"],
                r["consensus_error"],
                b(r, "measured_mean"),
                b(r, "bound_mean"),
                b(r, "above_bound"),
            ]
            for r in fam_rows
        ],
    )
    lines = [
        f"# Consensus: error and violation vs K and graph{' (quick)' if results['quick'] else ''}",
        "",
        f"Scenario `{results['scenario']}`, N = {results['num_agents']}, {results['days']} days per "
        f"run (metrics over the last {results['days'] - results['warmup_days']}), arrival seed "
        f"{results['seed']}. " + policy_note(policy),
        "",
        "Consensus error: max over agents of |mult^n - mean| over all blocks, averaged over the "
        "window's updates. Measured (per update): the same for the block just updated, right "
        "after its K rounds; bound: the a-priori eta G s^K / (1 - s^K) with eta G the largest "
        "2-norm spread of the agents' local steps in the run and s = sigma_2(W); above: updates "
        "whose measured error exceeds it (beyond 1e-6 mult_max of float32 rounding).",
        "",
        f"## Rounds K ({results['k_sweep']['graph']} graph)",
        "",
        k_table,
        "",
        f"## Graph family (K = {results['family_sweep']['rounds']}, sorted by spectral gap)",
        "",
        g_table,
        "",
        "## Gap to centralized, K x graph",
        "",
        "The same policy, arrivals and days run with one centralized price (the K -> infinity "
        f"limit of the update): violation {fmt(c['violation'])}, served {fmt(c['served'])}, "
        f"waiting cost {fmt(c['waiting_cost'])} per agent-day, peak {fmt(c['peak_ratio'], 3)}x "
        "capacity. Price gap: mean over the window's (day, block) pairs of |mean price - "
        "centralized's| / mult_max; served gap: centralized's served share minus the run's "
        "(percentage points); waiting-cost gap: the run's waiting cost over centralized's, "
        "minus 1.",
        "",
        grid_table,
        "",
        "## Expectations",
        "",
        *[check_line(ok, text) for ok, text in checks.values()],
        "",
        "## Figures",
        "",
    ]
    for name in figures:
        lines += [f"![{name}]({name})", ""]
    lines += [f"Wall time: {results['wall_s']:.0f} s."]
    return "\n".join(lines)
