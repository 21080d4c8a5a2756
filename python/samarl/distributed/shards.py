"""Training shards: per-agent weights trained in S Ray tasks, one policy file in the end.

With per-agent weights (``TrainConfig.parameterisation = "per_agent"``) an agent's update depends
on its own samples only, and the trainer draws every agent's randomness from streams keyed by its
global id (:class:`~samarl.training.Trainer`). So the agents split into S contiguous ranges
(shards), each trained by its own Ray task (its own engine env with ``first_agent = a``, its slice
of the weights), and the driver only gathers each iteration's logged statistics and, at the end, the
shards' weights: joined along the agents (:func:`join_agent_shards`),
they are the weights of the serial run over all N agents, bit for bit (with one torch thread per
shard, ``num_threads = 1``, the default; tests/test_ray_shards.py).

The run folder is the serial run's (``config.json``, ``progress.csv``/``.jsonl``, ``policy.pt``,
curves, ``response.json``); its logged rows combine the shards' (below). Not supported: resuming
and checkpoints (``checkpoints/`` stays empty), ``target_kl`` (its early stop reads the KL averaged
over all agents, which couples them) and shared weights (one network learns from every agent).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from samarl.errors import ConfigError, SamarlError
from samarl.logging import KVLogger
from samarl.scenario import ScenarioConfig, resolve_scenario
from samarl.training.config import TrainConfig
from samarl.training.run import TrainResult, progress_postfix

__all__ = ["ShardError", "check_shards", "join_agent_shards", "plan_shards", "train_shards"]

#: Seconds a shard may take to start or to run one iteration before the run is declared stuck.
ANSWER_TIMEOUT_S = 3600.0
#: Logged keys summed over shards (counts); the others are averaged, weighted by agents.
_SUMMED = frozenset({"rollout/episodes"})


class ShardError(SamarlError):
    """A shard's task failed, or its worker died; the message names the shard and its agents."""

    exit_status = 1


def check_shards(shards: object, num_agents: int, config: TrainConfig, *, resume: bool) -> int:
    """``shards`` checked against the scenario and the settings; raises
    :class:`~samarl.errors.ConfigError` naming ``--shards`` (or the setting in the way)."""
    if isinstance(shards, bool) or not isinstance(shards, int | np.integer):
        raise ConfigError(f"--shards: must be an integer, got {shards!r}")
    if not 1 <= int(shards) <= num_agents:
        raise ConfigError(f"--shards: must be in [1, {num_agents}] (the agents), got {shards}")
    if config.parameterisation != "per_agent":
        raise ConfigError(
            "--shards: shards train per-agent weights (--parameterisation per_agent); shared "
            "weights learn from every agent at once"
        )
    if config.target_kl is not None:
        raise ConfigError(
            "--shards: target_kl stops epochs on the KL averaged over all agents, which couples "
            "the shards; leave it unset"
        )
    if config.device != "cpu":
        raise ConfigError("--shards: each shard trains on its worker's CPU (--device cpu)")
    if resume:
        raise ConfigError("--shards: resuming is not supported with shards (no checkpoints)")
    return int(shards)


def plan_shards(num_agents: int, shards: int) -> list[tuple[int, int]]:
    """``shards`` contiguous ranges ``(a, b)`` of the agents ``0..num_agents``, sizes within one."""
    bounds = np.linspace(0, num_agents, shards + 1).round().astype(np.int64)
    return [(int(a), int(b)) for a, b in itertools.pairwise(bounds)]


def _train_shard(scenario: ScenarioConfig, config: TrainConfig, agents: tuple[int, int]) -> Any:
    """One shard, as a streaming Ray task: yields ``(worker pid, run facts)``, then each
    iteration's logged row, then the weights (:meth:`StateAugmentedPolicy.save_dict`). A task
    rather than an actor: Ray reuses its worker processes, torch already imported."""
    from samarl.training import Trainer

    trainer = Trainer(scenario, config, tempfile.gettempdir(), agents=agents)
    yield os.getpid(), trainer.facts()
    for _ in range(config.iterations):
        yield trainer.iterate()
    yield trainer.policy.save_dict()


class _Shards:
    """The shards of a run, one streaming task each, and the one way of waiting for their next
    answers (a failed or dead shard is named, a silent one times out)."""

    def __init__(
        self, ray: Any, scenario: ScenarioConfig, config: TrainConfig, shards: int
    ) -> None:
        self.ray = ray
        self.plan = plan_shards(scenario.num_agents, shards)
        # A CPU each where the cluster has them; shares of its CPUs otherwise (never more CPUs
        # than the cluster has: the last shards would wait for the first ones to finish).
        cpus = min(1.0, float(ray.cluster_resources().get("CPU", 1.0)) / shards)
        task = ray.remote(num_cpus=cpus, max_retries=0, num_returns="streaming")(_train_shard)
        self.streams = [task.remote(scenario, config, agents) for agents in self.plan]
        self.pids: list[int] = []

    def next(self, what: str) -> list[Any]:
        """The next answer of every shard, in shard order."""
        out = []
        for s, stream in enumerate(self.streams):
            a, b = self.plan[s]
            name = f"shard {s} of {len(self.streams)} (agents {a}..{b})"
            ready, _ = self.ray.wait([stream], timeout=ANSWER_TIMEOUT_S)
            if not ready:
                raise ShardError(f"{name} did not answer {what} within {ANSWER_TIMEOUT_S:g} s")
            try:
                out.append(self.ray.get(next(stream)))
            except Exception as e:
                raise ShardError(f"{name} failed {what}: {_reason(e)}") from None
        return out

    def cancel(self) -> None:
        """Stops the shards still running (after one failed, or Ctrl-C)."""
        for stream in self.streams:
            if not stream.is_finished():
                with contextlib.suppress(Exception):
                    self.ray.cancel(stream, force=True)


def _reason(error: Exception) -> str:
    """One line on why a shard failed: the exception raised in it, else Ray's error type."""
    cause = getattr(error, "cause", None)
    if isinstance(cause, Exception):
        return f"{type(cause).__name__}: {' '.join(str(cause).split())}"
    return type(error).__name__


def combine(rows: list[dict[str, float]], sizes: list[int]) -> dict[str, float]:
    """One logged row from the shards' rows: counts summed, times the slowest shard's, the rest
    averaged weighted by the shards' agents (exact for per-row means such as
    ``rollout/reward``; ratios such as ``constraint/served_over_arrived`` become the weighted mean
    of the shards' ratios)."""
    weights = np.asarray(sizes, dtype=np.float64) / float(sum(sizes))
    out: dict[str, float] = {}
    for key in rows[0]:
        values = [float(r[key]) for r in rows]
        if key in _SUMMED:
            out[key] = float(sum(values))
        elif key.startswith("time/") and key != "time/agent_steps_per_s":
            out[key] = max(values)
        elif key == "time/agent_steps_per_s":
            out[key] = float(sum(values))
        else:
            out[key] = float(np.dot(weights, values))
    return out


#: Entries of a per-agent policy's state dict that are not indexed by agent (every shard has them).
_GLOBAL_KEYS = frozenset(
    {"block_of_step", "block_position", "_roll", "obs_rms.count", "value_rms.count"}
)


def join_agent_shards(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One :meth:`StateAugmentedPolicy.save_dict` of per-agent weights from those of consecutive
    agent ranges (``a..b``, ``b..c``, ...), in order: every per-agent entry concatenated along the
    agents; the entries shared by all agents (normaliser counts, the day's blocks) must be equal
    in every part and are taken once."""
    if not parts:
        raise ValueError("parts: expected at least one policy")
    first = parts[0]
    if first["hparams"]["parameterisation"] != "per_agent":
        raise ValueError("parts: only per-agent weights are joined along the agents")
    for i, part in enumerate(parts[1:], 1):
        if part["hparams"] != first["hparams"] or set(part["state_dict"]) != set(
            first["state_dict"]
        ):
            raise ValueError(f"parts: part {i} was built with other settings than part 0")
    state: dict[str, Tensor] = {}
    for key, value in first["state_dict"].items():
        values = [p["state_dict"][key] for p in parts]
        if key in _GLOBAL_KEYS:
            if not all(torch.equal(value, v) for v in values[1:]):
                raise ValueError(f"parts: {key} differs between parts (not the same run?)")
            state[key] = value
        else:
            state[key] = torch.cat(values, dim=0)
    return {
        "hparams": dict(first["hparams"]),
        "static_features": np.concatenate([p["static_features"] for p in parts]),
        "profile_blocks": np.concatenate([p["profile_blocks"] for p in parts]),
        "block_of_step": first["block_of_step"],
        "state_dict": state,
    }


def train_shards(
    ray: Any,
    scenario: Any,
    config: TrainConfig,
    out_dir: str | Path,
    *,
    shards: int,
    evaluate: bool = True,
) -> TrainResult:
    """:func:`samarl.training.train` on ``shards`` Ray tasks (``ray``: the connected module,
    :func:`samarl.distributed.connect`): the same run folder and, bit for bit, the same
    ``policy.pt`` as the serial run of ``config`` (per-agent weights only; see the module doc).

    Raises
    ------
    ConfigError
        ``shards`` outside ``[1, N]``, shared weights, ``target_kl`` or a GPU device.
    ShardError
        A shard's worker died or its training raised (named with its agents), e.g. training
        that diverged.
    """
    from samarl.training.policies import StateAugmentedPolicy
    from samarl.training.run import clear_run_folder, finish_run
    from samarl.training.run_folder import write_config

    scenario = resolve_scenario(scenario)
    shards = check_shards(shards, scenario.num_agents, config, resume=False)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    clear_run_folder(out, keep_checkpoint=False)
    run = _Shards(ray, scenario, config, shards)
    sizes = [b - a for a, b in run.plan]
    bar = None
    logger = None
    done = False
    try:
        started = run.next("while starting")
        run.pids = [pid for pid, _ in started]
        facts = started[0][1]
        write_config(out, scenario, config.to_dict(), facts | {"shards": shards})
        logger = KVLogger(out)
        if config.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=config.iterations, desc=f"train ({shards} shards)", unit="it")
        for iteration in range(1, config.iterations + 1):
            stats = combine(run.next(f"at iteration {iteration}"), sizes)
            stats["time/elapsed_s"] = time.perf_counter() - start
            for key, value in stats.items():
                logger.record(key, value)
            logger.dump(iteration)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(progress_postfix(stats))
        parts = run.next("while handing back its weights")
        done = True
    finally:
        if bar is not None:
            bar.close()
        if logger is not None:
            logger.close()
        if not done:
            run.cancel()
    policy = StateAugmentedPolicy.from_save_dict(join_agent_shards(parts))
    rows = logger.rows if logger is not None else []
    return finish_run(
        policy,
        scenario,
        config,
        out,
        rows,
        iterations=config.iterations,
        evaluate=evaluate,
        start=start,
    )
