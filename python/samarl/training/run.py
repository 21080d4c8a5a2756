"""A training run: the run folder around a :class:`~samarl.training.trainer.Trainer`.

:func:`train` is the life of one run (``samarl train``): it holds the folder (one writer at a time),
clears what an earlier run left or resumes from its checkpoint, writes ``config.json``, then
iterates the trainer, logging every iteration (:class:`~samarl.logging.KVLogger`), showing a
progress bar, running the periodic flat-multiplier check (:func:`quick_check`) and writing
checkpoints; :func:`finish_run` writes the policy, the training curves and the final evaluation
(``response.json``). The trainer itself only collects rollouts, updates and hands over its state;
the files are those of :mod:`samarl.training.run_folder`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from samarl import plots
from samarl._io import atomic_write, folder_owner, remove_temporaries
from samarl.errors import ConfigError
from samarl.logging import KVLogger
from samarl.training.config import TrainConfig
from samarl.training.policies import StateAugmentedPolicy
from samarl.training.run_folder import (
    CHECKPOINT_FILE,
    LEGACY_FILES,
    POLICY_FILE,
    save_policy,
    write_config,
)
from samarl.training.sweep import response_sweep
from samarl.training.trainer import Trainer

__all__ = [
    "TrainResult",
    "clear_run_folder",
    "finish_run",
    "progress_postfix",
    "quick_check",
    "train",
]


def quick_check(trainer: Trainer) -> dict[str, float]:
    """A 3-point flat-multiplier check during training (``constraint/sweep_*``)."""
    cfg = trainer.config
    res = response_sweep(
        trainer.policy,
        trainer.scenario,
        [0.0, 0.5 * trainer.mult_max, trainer.mult_max],
        days=cfg.eval_days,
        seed=cfg.seed + 7919,
        device=trainer.device,
    )
    cap = max(res["capacity"], 1e-12)
    return {
        "constraint/sweep_load_at_zero": res["total_load"][0] / cap,
        "constraint/sweep_load_at_half": res["total_load"][1] / cap,
        "constraint/sweep_load_at_max": res["total_load"][2] / cap,
        "constraint/sweep_served_at_zero": res["served_at_zero"],
    }


def progress_postfix(stats: dict[str, Any]) -> dict[str, str]:
    """What a training progress bar shows after an iteration's logged ``stats``."""
    postfix = {
        "lag": f"{stats['rollout/lagrangian_reward']:.3g}",
        "served": f"{stats['constraint/served_over_arrived']:.3f}",
    }
    if "train/approx_kl" in stats:
        postfix["kl"] = f"{stats['train/approx_kl']:.3f}"
    postfix["sps"] = f"{stats['time/agent_steps_per_s']:.3g}"
    return postfix


@dataclass(frozen=True, slots=True)
class TrainResult:
    """What :func:`train` returns."""

    policy: StateAugmentedPolicy
    """The trained policies (all agents)."""
    out_dir: Path
    """The run folder."""
    history: list[dict[str, float]] = field(repr=False)
    """One logged row per iteration."""
    response: dict[str, Any] | None
    """The contents of ``response.json`` (None when evaluation was skipped)."""
    wall_time_s: float
    """Seconds spent in this call."""
    iterations: int
    """Iterations completed (in total, counting a resumed run's earlier ones)."""


def clear_run_folder(out: Path, *, keep_checkpoint: bool) -> None:
    """Removes what writes killed half-way left in ``out``, and (unless ``keep_checkpoint``, a
    resumed run) an earlier run's checkpoint, policy and ``response.*`` (and the pickles samarl <
    0.2 wrote in their place), so that none of them is taken for this run's."""
    ckpt = out / CHECKPOINT_FILE
    for folder in (out, ckpt.parent):
        remove_temporaries(folder)
    if not keep_checkpoint:
        stale = (CHECKPOINT_FILE, POLICY_FILE, *LEGACY_FILES.values(), "response.json")
        for name in (*stale, "response.png"):
            (out / name).unlink(missing_ok=True)


def train(
    scenario: Any,
    config: TrainConfig | None = None,
    out_dir: str | os.PathLike[str] = "runs/train",
    *,
    resume: bool = False,
    stop_after: int | None = None,
    evaluate: bool = True,
    callback: Callable[[Trainer, dict[str, float]], None] | None = None,
) -> TrainResult:
    """Trains state-augmented policies for every agent of ``scenario``; writes the run to ``out_dir``.

    Parameters
    ----------
    scenario
        A :class:`samarl.scenario.ScenarioConfig`.
    config
        Training settings (default :class:`TrainConfig`).
    out_dir
        Run folder (created).
    resume
        Continue from ``out_dir/checkpoints/latest.safetensors`` when it exists. Without it (or
        without a checkpoint) the run starts afresh, and first removes a previous run's
        checkpoint, policy and ``response.*`` from ``out_dir``, so that none of them is taken for this
        run's (a fresh run killed before its first checkpoint cannot resume the old one).
    stop_after
        Stop (with a checkpoint) once this many iterations are done in total, without evaluating:
        an interrupted run that :func:`train` with ``resume=True`` continues exactly. (Ctrl-C, or
        a killed process, keeps the last periodic checkpoint, every ``checkpoint_every``
        iterations: checkpoints are written atomically, and resuming from one gives the same
        weights, bit for bit, as a run never interrupted.)
    evaluate
        Run the flat-multiplier sweep at the end (``response.json``, ``response.png``).
    callback
        Called after every iteration with the trainer and the logged row.

    Raises
    ------
    TrainingDivergedError
        When an iteration produces a non-finite loss or weights; the run folder keeps the last
        checkpoint written before it (and no policy file of the diverged weights).
    FolderInUseError
        When another process is writing into ``out_dir`` (a run folder has one writer at a
        time).
    """
    if config is not None and not isinstance(config, TrainConfig):
        raise ConfigError(
            f"config: expected a TrainConfig (or None for the defaults), got {config!r}; "
            "TrainConfig.from_dict() reads a table of settings"
        )
    config = config or TrainConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with folder_owner(out, "samarl.training.train"):  # one writer at a time
        return _train(scenario, config, out, resume, stop_after, evaluate, callback)


def _train(
    scenario: Any,
    config: TrainConfig,
    out: Path,
    resume: bool,
    stop_after: int | None,
    evaluate: bool,
    callback: Callable[[Trainer, dict[str, float]], None] | None,
) -> TrainResult:
    """:func:`train` in a folder it holds."""
    start = time.perf_counter()
    trainer = Trainer(scenario, config, out)
    scenario = trainer.scenario
    ckpt = out / CHECKPOINT_FILE
    legacy = out / LEGACY_FILES[CHECKPOINT_FILE]
    if resume and legacy.exists() and not ckpt.exists():
        raise ConfigError(
            f"resume: {os.fspath(legacy)!r} is a pickle from samarl < 0.2, which can run code when "
            f"loaded; convert the folder once with `samarl convert {os.fspath(out)}`, then resume"
        )
    resumed = resume and ckpt.exists()
    clear_run_folder(out, keep_checkpoint=resumed)
    if resumed:
        trainer.load_checkpoint(ckpt)
    write_config(out, scenario, config.to_dict(), trainer.facts())
    logger = KVLogger(out, resume_iteration=trainer.iteration if resumed else None)
    last = config.iterations if stop_after is None else min(stop_after, config.iterations)
    bar = None
    if config.progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.iterations, initial=trainer.iteration, desc="train", unit="it")
    try:
        while trainer.iteration < last:
            stats = trainer.iterate()
            if config.eval_every and trainer.iteration % config.eval_every == 0:
                stats |= quick_check(trainer)
            stats["time/elapsed_s"] = time.perf_counter() - start
            for key, value in stats.items():
                logger.record(key, value)
            row = logger.dump(trainer.iteration)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(progress_postfix(stats))
            if callback is not None:
                callback(trainer, row)
            if config.checkpoint_every and trainer.iteration % config.checkpoint_every == 0:
                trainer.save_checkpoint()
    finally:
        # Interrupted inside an iteration, the state is half-updated: the last checkpoint (and the
        # log rows up to it, which a resumed run keeps) is what survives.
        if bar is not None:
            bar.close()
        logger.close()
    trainer.save_checkpoint()
    return finish_run(
        trainer.policy,
        scenario,
        config,
        out,
        logger.rows,
        iterations=trainer.iteration,
        evaluate=evaluate,
        start=start,
    )


def finish_run(
    policy: StateAugmentedPolicy,
    scenario: Any,
    config: TrainConfig,
    out: Path,
    rows: list[dict[str, float]],
    *,
    iterations: int,
    evaluate: bool,
    start: float,
) -> TrainResult:
    """The end of a training run (:func:`train`, or the shards of
    :mod:`samarl.distributed.shards`): ``policy.safetensors``, the training curves and, when ``evaluate``
    and every iteration is done, the flat-multiplier sweep (``response.json``, ``response.png``)."""
    save_policy(out / POLICY_FILE, policy, scenario)
    plots.plot_training_curves(rows, out / "training_curves.png")
    response = None
    mult_max = float(policy.mult_max)
    if evaluate and iterations >= config.iterations:
        values = np.linspace(0.0, mult_max, config.eval_points)
        response = response_sweep(
            policy,
            scenario,
            values,
            days=config.eval_days,
            seed=config.seed + 7919,
            device=policy.static.device,
        )
        response["mult_max"] = mult_max
        response["iterations"] = iterations
        response["train_wall_time_s"] = time.perf_counter() - start
        atomic_write(out / "response.json", json.dumps(response, indent=2) + "\n")
        plots.plot_response(response, out / "response.png")
    return TrainResult(policy, out, rows, response, time.perf_counter() - start, iterations)
