"""Seconds per training iteration vs the number of agents (state-augmented PPO; docs/engine.md, performance).

Every N gets the same per-agent batch (``num_steps`` steps of each agent per iteration, one copy of
each agent) and the same update (``update_epochs`` passes of ``num_minibatches`` minibatches), so the
work per iteration is proportional to N and the time should be too: the script prints
``t(10 N) / t(N)`` for consecutive sizes (target <= 11) and the fitted log-log slope.

    python benches/python/bench_training.py                       # N = 100, 1,000, 10,000
    python benches/python/bench_training.py --agents 100 1000 --json runs/bench/training.json

Each size: one warm-up iteration, then the median of ``--repeats`` timed iterations (rollout and
update separately, too). Agents come from the ``default`` preset (its population is nested, so the
first 100 agents of N = 1,000 are those of N = 100).
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from samarl.scenario import ScenarioConfig
from samarl.training import TrainConfig, Trainer


def time_iterations(n: int, config: TrainConfig, repeats: int) -> dict[str, Any]:
    """Median seconds per iteration (and per rollout / update) for ``n`` agents."""
    scenario = ScenarioConfig.preset("default", num_agents=n)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(scenario, config, tmp)
        trainer.iterate()  # warm-up: allocations, first-call overheads
        rows = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            stats = trainer.iterate()
            rows.append((time.perf_counter() - t0, stats["time/rollout_s"], stats["time/update_s"]))
    total, rollout, update = (float(np.median(c)) for c in zip(*rows, strict=True))
    return {
        "agents": n,
        "iteration_s": total,
        "rollout_s": rollout,
        "update_s": update,
        "agent_steps_per_s": n * config.num_steps / total,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, nargs="+", default=[100, 1_000, 10_000])
    parser.add_argument("--num-steps", type=int, default=96, help="steps per agent per iteration")
    parser.add_argument("--repeats", type=int, default=3, help="timed iterations per size")
    parser.add_argument("--parameterisation", choices=["shared", "per_agent"], default="shared")
    parser.add_argument(
        "--hidden-sizes",
        type=int,
        nargs="+",
        default=None,
        help="default (64, 64); per-agent (16,)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)

    hidden = args.hidden_sizes or ((16,) if args.parameterisation == "per_agent" else (64, 64))
    config = TrainConfig(
        num_steps=args.num_steps,
        agent_copies=1,
        parameterisation=args.parameterisation,
        hidden_sizes=tuple(hidden),
        num_threads=args.threads,
        device=args.device,
        checkpoint_every=0,
        progress=False,
    )
    results = []
    for n in sorted(args.agents):
        r = time_iterations(n, config, args.repeats)
        results.append(r)
        print(
            f"N = {n:>7,}: {r['iteration_s']:8.3f} s/iteration (rollout {r['rollout_s']:.3f} s, "
            f"update {r['update_s']:.3f} s), {r['agent_steps_per_s']:,.0f} agent-steps/s"
        )
    ratios = []
    for a, b in itertools.pairwise(results):
        factor = b["agents"] / a["agents"]
        ratio = b["iteration_s"] / a["iteration_s"]
        ratios.append(
            {"from": a["agents"], "to": b["agents"], "agents_ratio": factor, "time_ratio": ratio}
        )
        ok = "ok" if ratio <= 1.1 * factor else "ABOVE TARGET"
        print(
            f"t({b['agents']:,}) / t({a['agents']:,}) = {ratio:.2f}  (N ratio {factor:g}, target "
            f"<= {1.1 * factor:g}: {ok})"
        )
    slope = None
    if len(results) >= 2:
        x = np.log([r["agents"] for r in results])
        y = np.log([r["iteration_s"] for r in results])
        slope = float(np.polyfit(x, y, 1)[0])
        print(f"log-log slope of time vs N: {slope:.3f} (1 = linear)")
    out = {
        "benchmark": "training_iteration",
        "config": config.to_dict(),
        "results": results,
        "ratios": ratios,
        "loglog_slope": slope,
        "machine": {
            "platform": platform.platform(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
        },
    }
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
