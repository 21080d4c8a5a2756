"""Agent-steps per second of the demand-response env: native batched API vs PettingZoo adapter.

For each N it times, on the same scenario and actions, in one process:

- ``native``: :meth:`samarl.envs.DemandResponseEnv.step` (validation + one Rust call, in place);
- ``numpy``: the fused NumPy reference step (:func:`samarl.benchmarks.fused_env.step_arrays`) on the same
  arrays, the baseline the Rust kernel is measured against;
- ``pettingzoo``: :meth:`samarl.envs.DemandResponseParallelEnv.step` with a prebuilt action dict
  (the adapter's own cost: stacking N actions, copying observations, building N-entry dicts).

and prints median agent-steps/s with the ratios native/numpy and native/pettingzoo (the adapter's
overhead factor). The adapter is skipped above ``--max-adapter-n``.

    python benches/python/bench_env.py                       # N = 10^2 ... 10^6
    python benches/python/bench_env.py --sizes 1000 100000 --json runs/bench/env.json
"""

from __future__ import annotations

import argparse
import json
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import samarl
from samarl.benchmarks import fused_env
from samarl.benchmarks.kernels import time_batched
from samarl.envs import DemandResponseEnv, DemandResponseParallelEnv
from samarl.reference import env as ref_env
from samarl.scenario import ScenarioConfig

DEFAULT_SIZES = (100, 1_000, 10_000, 100_000, 1_000_000)


def time_steps(step: Callable[[], object], *, min_time: float, repeats: int) -> float:
    """Median seconds per call of ``step``: ``repeats`` batches, each running >= ``min_time``."""
    return time_batched(step, repeats=repeats, min_time=min_time)


def scenario(n: int) -> ScenarioConfig:
    # Long episodes: a reset (at most every 100 days of steps) costs nothing measurable.
    return ScenarioConfig.preset("default", num_agents=n, episode_days=100.0, name=f"bench-{n}")


def bench_native(n: int, actions: np.ndarray, **kw: Any) -> float:
    env = DemandResponseEnv(scenario(n))
    env.reset(seed=0)

    def step() -> None:
        if env.step(actions).truncated:
            env.reset()

    return time_steps(step, **kw)


def bench_numpy(n: int, actions: np.ndarray, **kw: Any) -> float:
    consts = fused_env.make_step_constants(**scenario(n).dynamics_params())
    backlog = np.zeros(n, np.float32)
    obs = np.zeros((n, ref_env.OBS_DIM), np.float32)
    reward, use, served, arrived = (np.zeros(n, np.float32) for _ in range(4))
    scratch = fused_env.StepScratch.empty(min(n, fused_env.DEFAULT_BLOCK))
    t = [0]

    def step() -> None:
        fused_env.step_arrays(
            consts,
            backlog,
            actions,
            seed=0,
            step=t[0],
            obs=obs,
            reward=reward,
            resource_use=use,
            served=served,
            arrived=arrived,
            scratch=scratch,
        )
        t[0] += 1

    return time_steps(step, **kw)


def bench_pettingzoo(n: int, actions: np.ndarray, **kw: Any) -> float:
    env = DemandResponseParallelEnv(scenario(n))
    env.reset(seed=0)
    action_dict = {a: actions[i : i + 1] for i, a in enumerate(env.possible_agents)}

    def step() -> None:
        env.step(action_dict)
        if not env.agents:
            env.reset()

    return time_steps(step, **kw)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--max-adapter-n", type=int, default=100_000)
    parser.add_argument("--min-time", type=float, default=0.5, help="seconds per timed batch")
    parser.add_argument("--repeats", type=int, default=5, help="timed batches (median reported)")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = parser.parse_args(argv)

    kw = {"min_time": args.min_time, "repeats": args.repeats}
    rows = []
    header = (
        f"{'N':>9} | {'native':>12} {'numpy ref':>12} {'pettingzoo':>12} | "
        f"{'native/numpy':>12} {'native/pz':>10}"
    )
    print(f"agent-steps/s (median of {args.repeats}); samarl threads: {samarl.get_num_threads()}")
    print(header)
    print("-" * len(header))
    for n in args.sizes:
        actions = np.random.default_rng(n).uniform(0, 1, n).astype(np.float32)
        native = n / bench_native(n, actions, **kw)
        reference = n / bench_numpy(n, actions, **kw)
        pz = n / bench_pettingzoo(n, actions, **kw) if n <= args.max_adapter_n else None
        row = {
            "num_agents": n,
            "native_agent_steps_per_s": native,
            "numpy_agent_steps_per_s": reference,
            "pettingzoo_agent_steps_per_s": pz,
            "native_over_numpy": native / reference,
            "pettingzoo_overhead": native / pz if pz else None,
        }
        rows.append(row)
        pz_text = f"{pz:12.3g}" if pz else f"{'skipped':>12}"
        overhead = f"{native / pz:9.1f}x" if pz else f"{'-':>10}"
        print(
            f"{n:>9} | {native:12.3g} {reference:12.3g} {pz_text} | "
            f"{native / reference:11.1f}x {overhead}"
        )
    result = {
        "benchmark": "env_step",
        "machine": platform.processor() or platform.machine(),
        "threads": samarl.get_num_threads(),
        "samarl_version": samarl.__version__,
        "rows": rows,
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}")
    return result


if __name__ == "__main__":
    main()
