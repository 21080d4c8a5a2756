"""Per-agent policy construction: the engine's normals (:mod:`samarl.rng`) against the NumPy
reference's (:mod:`samarl.reference.rng`, what production drew before), in one run.

Builds the per-agent-weights policy of ``--agents`` agents of the ``default`` preset at hidden
sizes ``--hidden`` (1,000 at (64, 64) by default) ``--repeats`` times with each source of normals,
checks that both give the same weights bit for bit, and prints medians: the whole construction,
the time inside the normal draws (measured around each call), and loading the policy back from its
save dict (which draws nothing now; before, it drew every initial weight and then overwrote it).

    python benches/python/bench_agent_init.py
    python benches/python/bench_agent_init.py --agents 1000 --hidden 64 64 --repeats 3 \
        --torch-threads 1
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

import samarl.rng
from samarl.reference import rng as reference_rng
from samarl.scenario import ScenarioConfig
from samarl.training import TrainConfig
from samarl.training.policies import StateAugmentedPolicy
from samarl.training.trainer import policy_for


@contextlib.contextmanager
def normals_from(draw: Callable[..., Any], spent: list[float]) -> Iterator[None]:
    """Policies built inside draw their initial weights with ``draw`` (``samarl.rng.normal_f64``
    is looked up at every draw); the seconds of every call are appended to ``spent``."""

    def timed(*args: Any) -> Any:
        t0 = time.perf_counter()
        out = draw(*args)
        spent.append(time.perf_counter() - t0)
        return out

    saved = samarl.rng.normal_f64
    samarl.rng.normal_f64 = timed  # type: ignore[assignment]
    try:
        yield
    finally:
        samarl.rng.normal_f64 = saved  # type: ignore[assignment]


def build(
    source: Callable[..., Any], data: Any, scenario: Any, config: TrainConfig
) -> tuple[float, float, StateAugmentedPolicy]:
    """Seconds to build the policy, seconds inside the normal draws, the policy."""
    spent: list[float] = []
    with normals_from(source, spent):
        t0 = time.perf_counter()
        policy = policy_for(data, scenario, config, mult_max=1.0)
        total = time.perf_counter() - t0
    return total, sum(spent), policy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--hidden", type=int, nargs="+", default=[64, 64])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--torch-threads", type=int, default=0, help="torch's threads (0: torch's default)"
    )
    args = parser.parse_args()
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    scenario = ScenarioConfig.preset("default", num_agents=args.agents)
    data = scenario.build()
    config = TrainConfig(parameterisation="per_agent", hidden_sizes=tuple(args.hidden))
    print(
        f"{args.agents} agents, hidden {tuple(args.hidden)}, {platform.processor() or 'cpu'}, "
        f"torch threads {torch.get_num_threads()}, samarl threads {samarl.get_num_threads()}"
    )
    sources = {"reference (NumPy)": reference_rng.normal_f64, "engine": samarl.rng.normal_f64}
    rows: dict[str, list[tuple[float, float]]] = {name: [] for name in sources}
    policies: dict[str, StateAugmentedPolicy] = {}
    for _ in range(args.repeats):
        for name, draw in sources.items():  # interleaved: both see the same machine load
            total, normals, policies[name] = build(draw, data, scenario, config)
            rows[name].append((total, normals))
    a, b = (policies[name].state_dict() for name in sources)
    same = all(torch.equal(a[k], b[k]) for k in a)
    print(f"initial weights identical bit for bit: {same}")
    medians = {
        name: [float(np.median(c)) for c in zip(*r, strict=True)] for name, r in rows.items()
    }
    for name, (total, normals) in medians.items():
        print(f"{name:>18}: construction {total:8.3f} s   normal draws {normals:8.3f} s")
    (t_ref, n_ref), (t_eng, n_eng) = medians.values()
    print(
        f"{'speed-up':>18}: construction {t_ref / t_eng:7.2f}x   normal draws {n_ref / n_eng:7.2f}x"
    )

    saved = policies["engine"].save_dict()
    loads, redraws = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        StateAugmentedPolicy.from_save_dict(saved)
        loads.append(time.perf_counter() - t0)
        t0 = time.perf_counter()  # what loading did before: draw every weight, then overwrite
        hp = dict(saved["hparams"], hidden_sizes=tuple(saved["hparams"]["hidden_sizes"]))
        StateAugmentedPolicy(
            saved["static_features"], saved["profile_blocks"], saved["block_of_step"], **hp
        ).load_state_dict(saved["state_dict"])
        redraws.append(time.perf_counter() - t0)
    print(
        f"{'load saved policy':>18}: {float(np.median(loads)):8.3f} s "
        f"(drawing the weights first, as before: {float(np.median(redraws)):.3f} s)"
    )


if __name__ == "__main__":
    main()
