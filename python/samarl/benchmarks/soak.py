"""Soak benchmark: a million agents for a month with consensus, memory per simulated day.

A long execution must not grow: the executor keeps per-step aggregates (``[T]``) and per-agent
state (``[N]``), never an ``[T, N]`` history at this size, so its resident memory should be flat
once the first day has touched every buffer. This runs :func:`samarl.execution.execute` with the
default dual configuration (consensus, staggered block boundaries) and prints the process's
resident set size (RSS) at the start of every simulated day, then the growth after day 1.

The policy is a trained run folder's (``--policy DIR``; a shared-weights policy is rebound to
the population) or a freshly initialised one: memory and speed do not depend on the weights.

    samarl bench soak [--agents 1000000] [--days 30] [--policy DIR] [--json FILE]
"""

from __future__ import annotations

import os
import resource
import sys
import time
from typing import Any

import numpy as np

from samarl.benchmarks import bench_policy
from samarl.execution import DualConfig, execute, torch_act_fn
from samarl.scenario import load_scenario

__all__ = ["rss_mib", "soak"]


def rss_mib() -> float:
    """The process's current resident set size in MiB (``/proc/self/statm``; the peak from
    ``getrusage`` where ``/proc`` is missing)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / (2**20 if sys.platform == "darwin" else 2**10)


def soak(
    agents: int = 1_000_000,
    days: int = 30,
    *,
    policy_dir: str | os.PathLike[str] | None = None,
    scenario: str = "default",
    seed: int = 0,
    verbose: bool = True,
) -> dict[str, Any]:
    """Runs ``days`` days of ``agents`` agents with consensus; returns RSS per day and timings
    (``verbose``: prints each day's RSS as the day starts)."""

    sc = load_scenario(scenario, num_agents=agents)
    t0 = time.perf_counter()
    data = sc.build()
    policy = bench_policy(sc, data, policy_dir)
    build_s = time.perf_counter() - t0
    steps_per_day = sc.steps_per_day
    act = torch_act_fn(policy)
    rss: list[float] = []
    day_start: list[float] = []
    calls = 0

    def act_and_measure(obs: Any, mult: Any, step_of_day: Any) -> Any:
        nonlocal calls
        if calls % steps_per_day == 0:
            rss.append(rss_mib())
            day_start.append(time.perf_counter())
            if verbose:
                print(f"day {len(rss) - 1:3d} starts: RSS {rss[-1]:9.1f} MiB", flush=True)
        calls += 1
        return act(obs, mult, step_of_day)

    t1 = time.perf_counter()
    res = execute(
        sc,
        act_and_measure,
        DualConfig(),
        mult_max=float(policy.mult_max),
        days=days,
        seed=seed,
        data=data,
        progress=False,
    )
    end = time.perf_counter()
    rss.append(rss_mib())
    day_start.append(end)
    day_s = np.diff(day_start)
    after_day1 = np.array(rss[1:])
    return {
        "agents": agents,
        "days": days,
        "policy": None if policy_dir is None else os.fspath(policy_dir),
        "build_s": build_s,
        "run_s": end - t1,
        "median_day_s": float(np.median(day_s)),
        "rss_mib": rss,
        "rss_growth_after_day1_mib": float(after_day1.max() - after_day1[0]),
        "served": res.metrics["demand/served"],
        "excess_p95": res.metrics["constraint/excess_p95"],
        "consensus_error": res.metrics["consensus/error_max"],
    }


def report(result: dict[str, Any]) -> str:
    """The summary line: sizes, timings, RSS growth after day 1 and the run's metrics."""
    return (
        f"{result['agents']:,} agents, {result['days']} days: build {result['build_s']:.1f} s, "
        f"run {result['run_s']:.0f} s (median {result['median_day_s']:.1f} s per day); RSS growth "
        f"after day 1: {result['rss_growth_after_day1_mib']:+.1f} MiB; served "
        f"{result['served']:.4f}, daily excess p95 {result['excess_p95']:.4f}, consensus error "
        f"{result['consensus_error']:.3g}"
    )
