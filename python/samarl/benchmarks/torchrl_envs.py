"""Agent-steps per second through every env front (``samarl bench envs``), same scenario, one run.

For each N it times, with the same actions:

- ``engine``: :meth:`samarl.envs.DemandResponseEnv.step` (validation + one Rust call, in place);
- ``pettingzoo``: :class:`samarl.envs.DemandResponseParallelEnv` with a prebuilt action dict;
- ``torchrl_pz``: TorchRL's ``PettingZooWrapper`` around that adapter (what a TorchRL user gets
  without samarl's native env); skipped above ``max_wrapper_n`` agents, where it takes minutes;
- ``torchrl``: :class:`samarl.envs.torchrl.DemandResponseTorchRLEnv`, stepped as TorchRL's
  collectors and ``rollout`` do (``step_and_maybe_reset``).

Every figure is the median over ``repeats`` timed batches of steps; the ratios printed are the
native TorchRL env's rate over the engine's and over the wrapper's. Episodes are 100 days long, so
resets are not what is measured. Needs ``samarl[torchrl]``.

With ``num_envs = B > 1`` the engine steps ``B`` copies of the population in one call
(``copies=B``) and the native env holds ``B`` populations (``num_envs=B``, TorchRL's batch
dimension), so both do ``B * N`` agent-steps per call; the PettingZoo paths have one population
and are skipped. torch runs one intra-op thread while timing (its threads would compete with the
engine's for the cores; see :mod:`samarl.envs.torchrl`).
"""

from __future__ import annotations

import platform
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from samarl.benchmarks.kernels import time_batched
from samarl.envs import DemandResponseEnv, DemandResponseParallelEnv
from samarl.scenario import ScenarioConfig

__all__ = ["DEFAULT_SIZES", "report", "run_env_benchmarks"]

DEFAULT_SIZES = (16, 256, 4_096, 65_536)
PATHS = ("engine", "pettingzoo", "torchrl_pz", "torchrl")


def steps_per_second(step: Callable[[], object], *, repeats: int, min_time: float) -> float:
    """Median steps per second of ``step()`` (:func:`~samarl.benchmarks.kernels.time_batched`)."""
    return 1.0 / time_batched(step, repeats=repeats, min_time=min_time)


def scenario(n: int) -> ScenarioConfig:
    """The default scenario with ``n`` households and 100-day episodes."""
    return ScenarioConfig.preset("default", num_agents=n, episode_days=100.0, name=f"bench-{n}")


def _engine(n: int, actions: np.ndarray, num_envs: int) -> Callable[[], object]:
    env = DemandResponseEnv(scenario(n), copies=num_envs)
    env.reset(seed=0)

    def step() -> None:
        if env.step(actions).truncated:
            env.reset()

    return step


def _pettingzoo(n: int, actions: np.ndarray, num_envs: int) -> Callable[[], object]:
    env = DemandResponseParallelEnv(scenario(n))
    env.reset(seed=0)
    action_dict = {a: actions[i : i + 1] for i, a in enumerate(env.possible_agents)}

    def step() -> None:
        env.step(action_dict)
        if not env.agents:
            env.reset(seed=0)

    return step


def _torchrl_loop(env: Any, actions: np.ndarray) -> Callable[[], object]:
    import torch

    action = torch.from_numpy(actions).view(*env.batch_size, -1, 1)
    td = env.reset()
    state = [td]

    def step() -> None:
        td = state[0]
        td.set(("household", "action"), action)
        _, state[0] = env.step_and_maybe_reset(td)

    return step


def _torchrl_pz(n: int, actions: np.ndarray, num_envs: int) -> Callable[[], object]:
    from torchrl.envs import PettingZooWrapper

    with warnings.catch_warnings():  # TorchRL's note that it tests another PettingZoo version
        warnings.filterwarnings("ignore", "PettingZoo in TorchRL is tested", UserWarning)
        env = PettingZooWrapper(
            env=DemandResponseParallelEnv(scenario(n)), use_mask=False, categorical_actions=False
        )
    return _torchrl_loop(env, actions)


def _torchrl(n: int, actions: np.ndarray, num_envs: int) -> Callable[[], object]:
    from samarl.envs.torchrl import DemandResponseTorchRLEnv

    batch = None if num_envs == 1 else num_envs
    return _torchrl_loop(DemandResponseTorchRLEnv(scenario(n), num_envs=batch, seed=0), actions)


#: Paths with one population (skipped with ``num_envs > 1``).
_ONE_POPULATION = ("pettingzoo", "torchrl_pz")
_MAKERS = {
    "engine": _engine,
    "pettingzoo": _pettingzoo,
    "torchrl_pz": _torchrl_pz,
    "torchrl": _torchrl,
}


def run_env_benchmarks(
    sizes: tuple[int, ...] = DEFAULT_SIZES,
    *,
    repeats: int = 5,
    min_time: float = 0.3,
    max_wrapper_n: int = 256,
    max_adapter_n: int = 65_536,
    num_envs: int = 1,
) -> dict[str, Any]:
    """Agent-steps/s of every path for every N, with the ratios; see the module docstring."""
    import torch

    rows = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for n in sizes:
            rows.append(_row(n, repeats, min_time, max_wrapper_n, max_adapter_n, num_envs))
    finally:
        torch.set_num_threads(threads)
    import samarl

    return {
        "benchmark": "envs",
        "machine": platform.processor() or platform.machine(),
        "samarl_threads": samarl.get_num_threads(),
        "torch_threads": 1,
        "num_envs": num_envs,
        "repeats": repeats,
        "max_wrapper_n": max_wrapper_n,
        "max_adapter_n": max_adapter_n,
        "rows": rows,
    }


def _row(
    n: int, repeats: int, min_time: float, max_wrapper_n: int, max_adapter_n: int, num_envs: int
) -> dict[str, Any]:
    """One N: every path's agent-steps/s and the ratios."""
    actions = np.random.default_rng(n).uniform(0, 1, n * num_envs).astype(np.float32)
    row: dict[str, Any] = {"num_agents": n}
    for path in PATHS:
        limit = {"torchrl_pz": max_wrapper_n, "pettingzoo": max_adapter_n}.get(path)
        if (limit is not None and n > limit) or (path in _ONE_POPULATION and num_envs > 1):
            row[path] = None
            continue
        step = _MAKERS[path](n, actions, num_envs)
        row[path] = n * num_envs * steps_per_second(step, repeats=repeats, min_time=min_time)
    native = row["torchrl"]
    row["torchrl_over_engine"] = native / row["engine"]
    row["torchrl_over_torchrl_pz"] = native / row["torchrl_pz"] if row["torchrl_pz"] else None
    return row


def report(result: dict[str, Any]) -> str:
    """The table ``samarl bench envs`` prints."""

    def rate(x: float | None) -> str:
        return f"{x:12.3g}" if x else f"{'skipped':>12}"

    def ratio(x: float | None) -> str:
        return f"{x:10.2f}x" if x else f"{'-':>11}"

    b = result.get("num_envs", 1)
    lines = [
        f"agent-steps/s, median of {result['repeats']} timed batches "
        f"(samarl threads {result['samarl_threads']}, torch threads {result['torch_threads']})"
        + (f"; {b} populations of N per call (engine copies, TorchRL num_envs)" if b > 1 else ""),
        f"{'N':>7} | {'engine':>12} {'pettingzoo':>12} {'TorchRL(PZ)':>12} {'TorchRL':>12} | "
        f"{'TorchRL/engine':>14} {'TorchRL/TorchRL(PZ)':>19}",
    ]
    lines.append("-" * len(lines[-1]))
    for r in result["rows"]:
        lines.append(
            f"{r['num_agents']:>7} | {rate(r['engine'])} {rate(r['pettingzoo'])} "
            f"{rate(r['torchrl_pz'])} {rate(r['torchrl'])} | {ratio(r['torchrl_over_engine']):>14} "
            f"{ratio(r['torchrl_over_torchrl_pz']):>19}"
        )
    if b > 1:
        lines.append("pettingzoo, TorchRL(PZ): one population per env, not timed with --num-envs")
        return "\n".join(lines)
    skipped = [str(r["num_agents"]) for r in result["rows"] if r["torchrl_pz"] is None]
    if skipped:
        lines.append(
            f"TorchRL(PZ) = TorchRL's PettingZooWrapper over the PettingZoo adapter: skipped at "
            f"N = {', '.join(skipped)} (above --max-wrapper-n {result['max_wrapper_n']}: its "
            "per-agent specs and dicts make it take minutes there)"
        )
    skipped = [str(r["num_agents"]) for r in result["rows"] if r["pettingzoo"] is None]
    if skipped:
        lines.append(
            f"pettingzoo: skipped at N = {', '.join(skipped)} "
            f"(above --max-adapter-n {result['max_adapter_n']})"
        )
    return "\n".join(lines)
