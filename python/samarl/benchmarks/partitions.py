"""``samarl bench partitions``: partitioned execution on Ray against the single-process executor.

The same scenario, untrained shared policy (or ``--policy``), seed and dual settings run once in
one process (:func:`samarl.execution.execute`) and with P = 1, 2, 4 Ray actors on this machine
(:class:`samarl.distributed.partitions.PartitionedRun`). For each it prints the time per step
(and per simulated day: measured when whole days ran, else per step x steps per day, labelled
"extrapolated"), and for the partitioned runs the halo values and bytes per consensus round and
the median latency of one round (halo exchange and mix, measured at the driver over ``repeats``
dual updates of K rounds each, run after the timed steps).

Every actor here shares this machine's cores with the others and with the driver, so P > 1 on a
2-core machine measures overhead, not speed-up: the figures are the cost of the exchange.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

__all__ = ["bench_partitions", "report"]


class _Stop(Exception):
    """Stops the single-process executor after the timed steps."""


def bench_partitions(
    agents: int = 1_000_000,
    *,
    parts: tuple[int, ...] = (1, 2, 4),
    days: int = 1,
    steps: int | None = None,
    rounds: int = 10,
    repeats: int = 5,
    policy_dir: str | None = None,
    scenario: str = "default",
    seed: int = 0,
    address: str | None = None,
) -> dict[str, Any]:
    """Times ``steps`` steps (default: ``days`` whole days) of each executor; see the module."""
    from samarl.benchmarks import bench_policy
    from samarl.distributed import LOCAL, connect
    from samarl.distributed.partitions import PartitionedRun
    from samarl.execution import DualConfig, execute, torch_act_fn
    from samarl.scenario import load_scenario

    sc = load_scenario(scenario, num_agents=agents)
    data = sc.build()
    policy = bench_policy(sc, data, policy_dir)
    mult_max = float(policy.mult_max)
    s = sc.steps_per_day
    total = days * s if steps is None else steps
    run_days = -(-total // s)
    dual = DualConfig(consensus_rounds=rounds)
    out: dict[str, Any] = {
        "agents": agents,
        "steps": total,
        "steps_per_day": s,
        "rounds": rounds,
        "extrapolated": total % s != 0,
    }

    act = torch_act_fn(policy)
    calls = 0

    def counted(obs: Any, mult: Any, sod: Any) -> Any:
        nonlocal calls
        if calls == total:
            raise _Stop
        calls += 1
        return act(obs, mult, sod)

    t0 = time.perf_counter()
    try:
        execute(sc, counted, dual, mult_max=mult_max, days=run_days, seed=seed, data=data,
                progress=False)  # fmt: skip
    except _Stop:
        pass
    one_s = (time.perf_counter() - t0) / total
    out["single_process"] = {"step_s": one_s, "day_s": one_s * s}

    out["partitioned"] = []
    with connect(address or LOCAL) as ray:
        for p in parts:
            t0 = time.perf_counter()
            run = PartitionedRun(
                ray, sc, policy, dual, mult_max=mult_max, partitions=p, days=run_days,
                seed=seed, data=data,
            )  # fmt: skip
            try:
                setup_s = time.perf_counter() - t0
                t0 = time.perf_counter()
                run.advance(total)
                step_s = (time.perf_counter() - t0) / total
                in_run = len(run.round_s)
                for _ in range(repeats):
                    run.update_block(0)
                round_s = run.round_s[in_run:]
            finally:
                run.close()
            halo = run.plan.halo_values_per_round
            out["partitioned"].append(
                {
                    "parts": p,
                    "setup_s": setup_s,
                    "step_s": step_s,
                    "day_s": step_s * s,
                    "edge_cut": run.plan.edge_cut,
                    "halo_values_per_round": halo,
                    "bytes_per_round": 4 * halo,
                    "round_s_median": float(np.median(round_s)) if round_s else None,
                }
            )
    return out


def report(result: dict[str, Any]) -> str:
    """The benchmark's table."""
    n, total, s = result["agents"], result["steps"], result["steps_per_day"]
    label = "per day (extrapolated from steps)" if result["extrapolated"] else "per day"
    lines = [
        f"partitioned execution, N = {n:,}, {total} steps ({total / s:g} days), "
        f"K = {result['rounds']} rounds",
        f"{'executor':<22}{'s/step':>10}{'s/day':>10}{'edge cut':>10}{'B/round':>12}"
        f"{'round ms':>10}",
    ]
    one = result["single_process"]
    lines.append(f"{'one process':<22}{one['step_s']:>10.4f}{one['day_s']:>10.1f}")
    for r in result["partitioned"]:
        ms = "-" if r["round_s_median"] is None else f"{1e3 * r['round_s_median']:.2f}"
        lines.append(
            f"{'Ray, P = ' + str(r['parts']):<22}{r['step_s']:>10.4f}{r['day_s']:>10.1f}"
            f"{r['edge_cut']:>10,}{r['bytes_per_round']:>12,}{ms:>10}"
        )
    lines.append(f"s/day: {label}; round ms: median halo exchange + mix of one consensus round")
    return "\n".join(lines)
