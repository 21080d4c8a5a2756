"""``samarl experiment ctde``: how training cost grows with N, CTDE (MAPPO-Lagrangian) against ours.

For N = 4, 8, 16, ... (doubling) each method is measured in a fresh subprocess (so its peak memory is
its own) on the ``--scenario`` family (a preset or file) with N agents:

1. **time**: seconds per PPO iteration with one copy of every agent and ``num_steps`` = 96 steps per
   agent (the per-agent batch of ``benches/python/bench_training.py``): one warm-up iteration, then
   the median of ``--repeats`` iterations;
2. **memory**: the subprocess's peak resident set size (``resource.getrusage(RUSAGE_SELF).ru_maxrss``,
   the high-water mark of the whole process, torch's CPU allocations included; tracemalloc would miss
   them) after the timed iterations, and that peak minus the RSS after imports;
3. **feasibility**: a fresh run of ``--train-iterations`` iterations (the trainer's default number of
   copies for small N), then the learnt policies are executed for ``--eval-days`` days
   (:func:`samarl.execution.executor.execute`, metrics after the warm-up half): ours with the dual dynamics and
   K = 10 consensus rounds, CTDE with its final central multiplier and no communication.

CTDE stops at the first N where its seconds per iteration exceed ``--max-iteration-s``, its measured
peak memory exceeds ``--max-memory-gib``, its predicted rollout storage would (checked before
running), or its subprocess fails. Ours continues to ``--ours-max-agents`` (time only beyond the
sizes where CTDE ran). ``DIR/results.json`` holds the rows, the fitted log-log slopes and where CTDE
stopped; ``DIR/report.md`` and ``DIR/ctde_scaling.png`` show them.

With ``--ray [ADDRESS]`` every (method, N) subprocess is a Ray task that holds a whole node
(:class:`~samarl.distributed.CellGrid` with ``exclusive``): a cell measures seconds per iteration
and peak memory, and where CTDE stops depends on them, so a cell never shares cores with another
(on one machine the cells run one after another, as in the serial run; on a cluster of identical
nodes, ``ours`` at N runs beside CTDE at 2N). Each cell trains and evaluates with its own seed
(``--seed``), so the feasibility numbers equal the serial run's; a cell whose task fails becomes a
row with its ``error``, as a failed subprocess does. Only timings and memory differ between two
runs (``*_s``, ``*_mib``, the slopes, a measured ``ctde_stopped.detail``).
"""

from __future__ import annotations

import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from samarl._io import atomic_write
from samarl.distributed import CellError, CellGrid
from samarl.experiments.report import fit_slope

__all__ = ["QUICK", "SETTINGS", "CTDESettings", "measure", "run", "sweep"]

#: Daily feasibility thresholds (daily excess p95 <= 2 %, peak <= 1.2x capacity, served >= 99 %).
MAX_VIOLATION = 0.02
MAX_PEAK = 1.2
MIN_SERVED = 0.99


@dataclass(frozen=True, slots=True)
class CTDESettings:
    """Settings of the scaling comparison (:data:`QUICK`, ``--quick``, changes the defaults marked
    so)."""

    scenario: str = "default"
    """Scenario family: a preset or a scenario file, with ``num_agents`` set to each N."""
    min_agents: int = 4
    """First N; each next N doubles it."""
    max_iteration_s: float = 30.0
    """CTDE stops once one training iteration takes longer than this (quick: 6 s, so that CTDE
    reaches N = 512, past the sizes where fixed per-step costs hide its quadratic growth)."""
    max_memory_gib: float = 20.0
    """CTDE stops once its peak memory (measured, or predicted before running) exceeds this."""
    ours_max_agents: int = 8192
    """Largest N timed for our method (quick: 2048)."""
    repeats: int = 3
    """Timed iterations per size (median; quick: 2)."""
    num_steps: int = 96
    """Steps per agent per timed iteration."""
    train_iterations: int = 150
    """PPO iterations of the feasibility runs (quick: 15)."""
    eval_days: int = 4
    """Simulated days of each feasibility execution (metrics after the first half; quick: 2)."""
    seed: int = 0
    """Seed of training and execution."""


#: The settings :func:`run` takes.
SETTINGS = CTDESettings

#: The defaults of ``--quick`` (``CTDESettings(**QUICK)``): ~10 min on 2 cores.
QUICK = {
    "max_iteration_s": 6.0,
    "ours_max_agents": 2048,
    "repeats": 2,
    "train_iterations": 15,
    "eval_days": 2,
}


# ================================================================================= one measurement


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def measure(method: str, n: int, settings: CTDESettings, *, train: bool) -> dict[str, Any]:
    """Time, peak memory and (when ``train``) feasibility of ``method`` (``ours`` or ``ctde``) with
    ``n`` agents, in this process (run it in a fresh one for a meaningful peak)."""
    from samarl.baselines.mappo_lagrangian import MAPPOLagrangianTrainer
    from samarl.execution.dual import DualConfig
    from samarl.execution.executor import execute, torch_act_fn
    from samarl.scenario import load_scenario
    from samarl.training import TrainConfig, Trainer

    rss_start = _rss_mib()
    cls = MAPPOLagrangianTrainer if method == "ctde" else Trainer
    scenario = load_scenario(settings.scenario, num_agents=n)
    s = settings
    timing = TrainConfig(
        num_steps=s.num_steps, agent_copies=1, progress=False, checkpoint_every=0, seed=s.seed
    )
    row: dict[str, Any] = {"method": method, "N": n}
    with tempfile.TemporaryDirectory() as tmp:
        trainer = cls(scenario, timing, tmp)
        trainer.iterate()  # warm-up
        times, rollout, update = [], [], []
        for _ in range(s.repeats):
            t0 = time.perf_counter()
            st = trainer.iterate()
            times.append(time.perf_counter() - t0)
            rollout.append(st["time/rollout_s"])
            update.append(st["time/update_s"])
        row["iteration_s"] = statistics.median(times)
        row["rollout_s"] = statistics.median(rollout)
        row["update_s"] = statistics.median(update)
        row["input_dim"] = int(trainer.policy.input_dim)
        del trainer
    row["peak_rss_mib"] = _peak_rss_mib()
    row["peak_rss_above_start_mib"] = row["peak_rss_mib"] - rss_start
    if not train or (method == "ctde" and row["iteration_s"] > s.max_iteration_s):
        return row  # over the time budget: CTDE stops here, its feasibility run is skipped

    cfg = TrainConfig(
        iterations=s.train_iterations, progress=False, checkpoint_every=0, seed=s.seed
    )
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        trainer = cls(scenario, cfg, tmp)
        for _ in range(s.train_iterations):
            trainer.iterate()
    row["train_wall_s"] = time.perf_counter() - t0
    if method == "ctde":
        assert isinstance(trainer, MAPPOLagrangianTrainer)
        assert trainer.central_mult is not None
        act, dual = trainer.act_fn(), DualConfig(mode="unconstrained")
        row["final_central_mult"] = trainer.central_mult.round(4).tolist()
    else:
        # K = 10 rounds on the default small-world graph (a ring below 8 agents, where the
        # small-world family's 3 neighbours a side do not fit).
        graph = "small_world" if n >= 8 else "ring"
        act, dual = torch_act_fn(trainer.policy.eval()), DualConfig(mode="consensus", graph=graph)
    res = execute(
        scenario,
        act,
        dual,
        mult_max=trainer.mult_max,
        days=s.eval_days,
        seed=s.seed + 1000,
        progress=False,
    ).metrics
    row["violation"] = res["constraint/excess_p95"]
    row["excess_max"] = res["constraint/excess_max"]
    row["peak_ratio"] = res["constraint/peak_ratio"]
    row["settling"] = res["dual/settling"]
    row["violation_avg"] = res["constraint/violation_avg_max"]
    row["overshoot"] = res["constraint/overshoot"]
    row["served"] = res["demand/served"]
    row["postponing_frac"] = res["demand/postponing_frac"]
    row["feasible"] = bool(
        row["violation"] <= MAX_VIOLATION
        and row["peak_ratio"] <= MAX_PEAK
        and row["served"] >= MIN_SERVED
    )
    row["peak_rss_train_mib"] = _peak_rss_mib()
    return row


def _predicted_ctde_gib(n: int, settings: CTDESettings) -> float:
    """CTDE's rollout storage at the timing size (``num_steps * N`` rows of ``~N * 7`` floats) times
    2 (minibatch copies and the critic's activations in the update; measured: ~1.5 at N = 512)."""
    return 2 * 4.0 * settings.num_steps * n * (7 * n + 64) / 2**30


def _spawn(method: str, n: int, settings: CTDESettings, train: bool) -> dict[str, Any]:
    """:func:`measure` in a fresh interpreter; a failure comes back as ``{"error": ...}``."""
    job = json.dumps({"method": method, "n": n, "settings": asdict(settings), "train": train})
    cmd = [sys.executable, "-c", "import sys, samarl.experiments.ctde as m; m._worker(sys.argv[1])"]
    proc = subprocess.run([*cmd, job], capture_output=True, text=True, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"method": method, "N": n, "error": f"exit {proc.returncode}: {' | '.join(tail)}"}
    return dict(json.loads(lines[-1]))


def _worker(job_json: str) -> None:
    job = json.loads(job_json)
    settings = CTDESettings(**job["settings"])
    print(json.dumps(measure(job["method"], job["n"], settings, train=job["train"])), flush=True)


# ====================================================================================== the sweep


def _tail_slope(rows: list[dict[str, Any]]) -> tuple[float | None, list[int]]:
    """Slope over the largest sizes (N >= largest / 16, at least 3 points): the growth rate once
    fixed per-step overheads no longer dominate."""
    ok = [r for r in rows if "iteration_s" in r]
    if not ok:
        return None, []
    top = max(r["N"] for r in ok)
    tail = [r for r in ok if r["N"] >= top / 16] or ok
    if len(tail) < 3:
        tail = ok[-3:]
    ns = [r["N"] for r in tail]
    return fit_slope(ns, [r["iteration_s"] for r in tail]), ns


def _row(grid: CellGrid, cell: Any, method: str, n: int) -> dict[str, Any]:
    """The row a cell measured (waiting for it), or its task's failure as an ``error`` row."""
    row = grid.get(cell)
    if isinstance(row, CellError):
        return {"method": method, "N": n, "error": row.error}
    return dict(row)


def sweep(settings: CTDESettings, log: Any = print, ray: Any = None) -> dict[str, Any]:
    """Runs the comparison (with ``ray``: each subprocess as a Ray task holding a whole node);
    returns the ``results.json`` content."""
    grid = CellGrid(ray, desc="ctde", progress=False, exclusive=True)
    ours_cells: list[tuple[int, Any]] = []
    ours: list[dict[str, Any]] = []
    ctde: list[dict[str, Any]] = []
    stopped: dict[str, Any] | None = None
    n = settings.min_agents
    budget = settings.max_memory_gib
    while stopped is None or n <= settings.ours_max_agents:
        if stopped is None:
            predicted = _predicted_ctde_gib(n, settings)
            if predicted > budget:
                stopped = {
                    "N": n,
                    "reason": "memory",
                    "detail": f"predicted {predicted:.1f} GiB > budget {budget:g} GiB",
                }
            else:
                # CTDE's next size depends on this one's measurements: wait for the cell.
                cell = grid.submit(f"ctde N={n}", _spawn, "ctde", n, settings, True)
                row = _row(grid, cell, "ctde", n)
                ctde.append(row)
                log(f"ctde N={n}: {_brief(row)}")
                if "error" in row:
                    reason = (
                        "memory"
                        if "MemoryError" in row["error"] or "-9" in row["error"]
                        else "error"
                    )
                    stopped = {"N": n, "reason": reason, "detail": row["error"]}
                elif row["peak_rss_mib"] / 1024 > budget:
                    stopped = {
                        "N": n,
                        "reason": "memory",
                        "detail": f"peak {row['peak_rss_mib'] / 1024:.1f} GiB > {budget:g} GiB",
                    }
                elif row["iteration_s"] > settings.max_iteration_s:
                    stopped = {
                        "N": n,
                        "reason": "time",
                        "detail": (
                            f"{row['iteration_s']:.2f} s per iteration > budget "
                            f"{settings.max_iteration_s:g} s"
                        ),
                    }
        if n <= settings.ours_max_agents:
            both = any(r["N"] == n and "violation" in r for r in ctde)
            ours_cells.append((n, grid.submit(f"ours N={n}", _spawn, "ours", n, settings, both)))
            if not grid.distributed:
                ours.append(_row(grid, ours_cells[-1][1], "ours", n))
                log(f"ours N={n}: {_brief(ours[-1])}")
        n *= 2
    if grid.distributed:  # nothing waits for ours' cells: gather them now, in order of N
        for m, cell in ours_cells:
            ours.append(_row(grid, cell, "ours", m))
            log(f"ours N={m}: {_brief(ours[-1])}")
    if stopped is None:  # unreachable: the loop ends only once CTDE stopped
        stopped = {"N": None, "reason": "not stopped", "detail": ""}
    if stopped["reason"] in ("time", "memory", "error"):
        infeasible = [r["N"] for r in ctde if r.get("feasible") is False]
        stopped["infeasible_at"] = infeasible

    slope_ours, ns_ours = _tail_slope(ours)
    slope_ctde, ns_ctde = _tail_slope(ctde)
    common = sorted(
        {r["N"] for r in ctde if "iteration_s" in r} & {r["N"] for r in ours if "iteration_s" in r}
    )

    def t(rows: list[dict[str, Any]], m: int) -> float:
        return next(r["iteration_s"] for r in rows if r["N"] == m)

    return {
        "slope": {
            "ours": slope_ours,
            "ctde": slope_ctde,
            "ours_fit_N": ns_ours,
            "ctde_fit_N": ns_ctde,
            "ours_all": fit_slope(
                [r["N"] for r in ours if "iteration_s" in r],
                [r["iteration_s"] for r in ours if "iteration_s" in r],
            ),
            "ctde_all": fit_slope(
                [r["N"] for r in ctde if "iteration_s" in r],
                [r["iteration_s"] for r in ctde if "iteration_s" in r],
            ),
            "ours_common": fit_slope(common, [t(ours, m) for m in common]),
            "ctde_common": fit_slope(common, [t(ctde, m) for m in common]),
            "common_N": common,
            "description": (
                "least-squares slopes of log(seconds per training iteration) vs log(N); 'ours' and "
                "'ctde' fit each method's largest sizes (N >= its largest N / 16, at least 3 "
                "points: fitted on ours_fit_N / ctde_fit_N), '_all' every size, '_common' the sizes "
                "where both ran"
            ),
        },
        "rows": {"ours": ours, "ctde": ctde},
        "ctde_stopped": stopped,
        "settings": asdict(settings),
        "memory_method": (
            "peak resident set size of a fresh subprocess per (method, N), from "
            "resource.getrusage(RUSAGE_SELF).ru_maxrss after the timed iterations (includes torch's "
            "CPU tensors and the ~0.3-0.5 GiB of the interpreter and libraries); "
            "peak_rss_above_start_mib subtracts the RSS after imports"
        ),
        "feasibility_thresholds": {
            "excess_p95_max": MAX_VIOLATION,
            "peak_ratio_max": MAX_PEAK,
            "served_min": MIN_SERVED,
        },
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": _cpus(),
        },
    }


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _brief(row: dict[str, Any]) -> str:
    if "error" in row:
        return f"FAILED {row['error']}"
    out = f"{row['iteration_s']:.3f} s/it, peak {row['peak_rss_mib']:.0f} MiB"
    if "violation" in row:
        out += (
            f", daily excess p95 {row['violation']:.3f}, peak {row.get('peak_ratio', 0):.2f}x, "
            f"served {row['served']:.3f}"
        )
    return out


# ====================================================================================== the report


def _fmt(v: Any, spec: str) -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def write_report(results: dict[str, Any], out: Path, command: str) -> None:
    """``report.md`` and ``ctde_scaling.png`` from :func:`sweep`'s results."""
    ours = {r["N"]: r for r in results["rows"]["ours"]}
    ctde = {r["N"]: r for r in results["rows"]["ctde"]}
    slope, stop, s = results["slope"], results["ctde_stopped"], results["settings"]
    _plot(results, out / "ctde_scaling.png")
    lines = [
        "# CTDE (MAPPO-Lagrangian) vs state-augmented training: cost per iteration vs N",
        "",
        f"Command: `{command}`  ",
        f"Machine: {results['machine']['platform']}, {results['machine']['cpus']} CPUs, "
        "torch with 1 thread per run, both methods measured in this one run.",
        "",
        f"**Fitted log-log slopes of seconds per iteration vs N**: ours "
        f"**{_fmt(slope['ours'], '.2f')}** (N = {slope['ours_fit_N']}), CTDE "
        f"**{_fmt(slope['ctde'], '.2f')}** (N = {slope['ctde_fit_N']}). Over every size: ours "
        f"{_fmt(slope['ours_all'], '.2f')}, CTDE {_fmt(slope['ctde_all'], '.2f')}; over the sizes "
        f"both ran ({slope['common_N']}): ours {_fmt(slope['ours_common'], '.2f')}, CTDE "
        f"{_fmt(slope['ctde_common'], '.2f')}. At small N both are dominated by fixed per-step "
        "costs (96 batched forwards and env steps per iteration), so the growth rate shows at the "
        "largest sizes.",
        "",
        f"**CTDE stopped at N = {stop['N']}: {stop['reason']}** ({stop.get('detail', '')}).",
        "",
        "| N | ours s/it | CTDE s/it | ours peak MiB | CTDE peak MiB | ours daily excess p95 | "
        "ours peak/cap | ours served | CTDE daily excess p95 | CTDE peak/cap | CTDE served |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in sorted(set(ours) | set(ctde)):
        o, c = ours.get(n, {}), ctde.get(n, {})
        lines.append(
            f"| {n:,} | {_fmt(o.get('iteration_s'), '.3f')} | {_fmt(c.get('iteration_s'), '.3f')} "
            f"| {_fmt(o.get('peak_rss_mib'), '.0f')} | {_fmt(c.get('peak_rss_mib'), '.0f')} "
            f"| {_fmt(o.get('violation'), '.3f')} | {_fmt(o.get('peak_ratio'), '.2f')} "
            f"| {_fmt(o.get('served'), '.3f')} "
            f"| {_fmt(c.get('violation'), '.3f')} | {_fmt(c.get('peak_ratio'), '.2f')} "
            f"| {_fmt(c.get('served'), '.3f')} |"
        )
    both = [n for n in sorted(ctde) if "violation" in ctde[n] and "violation" in ours.get(n, {})]
    feas_c = [n for n in both if ctde[n]["feasible"]]
    feas_o = [n for n in both if ours[n]["feasible"]]
    lines += [
        "",
        "## Feasibility (where both ran)",
        "",
        f"After {s['train_iterations']} PPO iterations each and {s['eval_days']} executed days "
        f"(metrics over the second half), feasible means daily excess p95 <= {MAX_VIOLATION:.0%}, "
        f"peak <= {MAX_PEAK}x capacity and served >= {MIN_SERVED:.0%}. CTDE was feasible at N = "
        f"{feas_c or 'none'}; ours at N = {feas_o or 'none'} (of {both}). "
        "Ours executes with dual dynamics and K = 10 consensus rounds; CTDE with its final "
        "central multiplier per block, no communication.",
    ]
    if s["train_iterations"] < 100:
        lines.append(
            f"With only {s['train_iterations']} iterations (`--quick`) neither method is expected "
            "to be trained to feasibility: these feasibility numbers show the pipeline works, not "
            "what either method reaches."
        )
    lines += [
        "",
        "## How it was measured",
        "",
        f"- Time: one warm-up then the median of {s['repeats']} iterations, one copy of each "
        f"agent, {s['num_steps']} steps per agent per iteration, 4 epochs x 8 minibatches.",
        f"- Memory: {results['memory_method']}.",
        f"- CTDE budget: {s['max_iteration_s']:g} s per iteration, {s['max_memory_gib']:g} GiB.",
        "- CTDE's critic input for each agent is the N agents' observations (N x 7) plus the "
        "agent's own features; it is evaluated for every agent (O(N^2) per step) and the rollout "
        "storage keeps that input for every agent-step (O(T N^2) memory), as MAPPO does.",
        "",
        "![scaling](ctde_scaling.png)",
        "",
    ]
    atomic_write(out / "report.md", "\n".join(lines))


def _plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    for key, label, color in (("ours", "ours (state-augmented)", "C0"), ("ctde", "CTDE", "C3")):
        rows = [r for r in results["rows"][key] if "iteration_s" in r]
        if not rows:
            continue
        ns = np.array([r["N"] for r in rows], dtype=float)
        a.loglog(ns, [r["iteration_s"] for r in rows], "o-", color=color, label=label)
        b.loglog(ns, [r["peak_rss_mib"] for r in rows], "o-", color=color, label=label)
        k, fit_n = results["slope"][key], results["slope"][f"{key}_fit_N"]
        if k is not None and fit_n:
            ts = [r["iteration_s"] for r in rows if r["N"] in fit_n]
            c = np.exp(np.mean(np.log(ts)) - k * np.mean(np.log(fit_n)))
            xs = np.array([min(fit_n), max(fit_n)], dtype=float)
            a.loglog(xs, c * xs**k, "--", color=color, lw=2, label=f"fit, slope {k:.2f}")
    stop = results["ctde_stopped"]
    if stop.get("N"):
        a.axvline(stop["N"], color="C3", ls=":", lw=1, label=f"CTDE stops ({stop['reason']})")
    a.set(xlabel="agents N", ylabel="seconds per training iteration", title="Time per iteration")
    b.set(xlabel="agents N", ylabel="peak RSS (MiB)", title="Peak memory (process)")
    a.legend(fontsize=8)
    b.legend(fontsize=8)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110))
    plt.close(fig)


# ====================================================================================== the run


def run(
    settings: CTDESettings,
    out: str | os.PathLike[str],
    *,
    ray: Any = None,
    command: str | None = None,
) -> dict[str, Any]:
    """Runs the comparison into ``out`` (``results.json``, ``report.md``, ``ctde_scaling.png``)
    and returns its results (with ``wall_s``); ``ray``: a connected Ray module
    (:func:`samarl.distributed.session`) to run the measurements on; ``command``: how it was
    started, for the report (default: this call)."""
    out = Path(out)
    t0 = time.perf_counter()
    results = sweep(settings, log=lambda msg: print(msg, flush=True), ray=ray)
    results["wall_s"] = time.perf_counter() - t0
    atomic_write(out / "results.json", json.dumps(results, indent=2))
    write_report(results, out, command or f"samarl.experiments.ctde.run({settings!r})")
    print(f"wrote {out / 'results.json'} and {out / 'report.md'} in {results['wall_s']:.0f} s")
    return results
