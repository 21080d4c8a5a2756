"""Training run folders: what ``samarl train`` writes, and how a trained policy is loaded back.

A run folder holds ``config.json`` (the resolved scenario and training config), ``progress.csv`` and
``progress.jsonl`` (one row per iteration, namespaced keys), ``checkpoints/latest.pt`` (resumes the run
exactly), ``policy.pt`` (the trained policy), ``training_curves.png``, ``response.json`` and
``response.png``. Every file is written atomically (:func:`samarl._io.atomic_write`), so a killed
run leaves whole files only. :func:`load_run` gives back the scenario and the policy; every command
that takes ``--policy DIR`` goes through it, and a damaged file is a :class:`~samarl._io.FileError`
naming it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from samarl._io import FileError, atomic_write, load_torch
from samarl.errors import ConfigError
from samarl.scenario import ScenarioConfig, resolve_scenario
from samarl.training.policies import StateAugmentedPolicy, population_tables, torch_device

__all__ = ["TrainedRun", "load_policy", "load_run", "write_config"]


def write_config(
    out: Path, scenario: ScenarioConfig, train: dict[str, Any], resolved: dict[str, Any]
) -> Path:
    """Writes ``config.json``: the scenario, the training config and the values resolved from them."""
    text = json.dumps(
        {"scenario": scenario.to_dict(), "train": train, "resolved": resolved},
        indent=2,
        default=str,
    )
    return atomic_write(out / "config.json", text + "\n")


def run_scenario(run_dir: str | os.PathLike[str]) -> ScenarioConfig:
    """The scenario a run folder was trained on (its ``config.json``)."""
    run = Path(run_dir)
    config_file = run / "config.json"
    if not config_file.is_file():
        raise ConfigError(
            f"policy: {os.fspath(run)!r} has no config.json (not a `samarl train` run folder)"
        )
    try:
        data = json.loads(config_file.read_text(encoding="utf-8"))
        return ScenarioConfig.from_dict(data["scenario"])
    except OSError as e:
        raise FileError(f"policy: cannot read {os.fspath(config_file)!r}: {e.strerror}") from None
    except (ValueError, KeyError, TypeError) as e:  # also UnicodeDecodeError: a binary file
        reason = " ".join(str(e).split())[:120]
        raise FileError(
            f"policy: {os.fspath(config_file)!r} is damaged, not a run config ({reason})"
        ) from None


@dataclass(frozen=True)
class TrainedRun:
    """A trained policy and the scenario it runs on."""

    run_dir: Path
    """The training run folder."""
    scenario: ScenarioConfig
    """The scenario the policy acts on: the training scenario, or the one it was rebound to."""
    policy: StateAugmentedPolicy
    """The policy (eval mode)."""

    @property
    def mult_max(self) -> float:
        """Top of the multiplier range the policy was trained on."""
        return float(self.policy.mult_max)


def load_run(
    run_dir: str | os.PathLike[str],
    *,
    scenario: ScenarioConfig | str | os.PathLike[str] | None = None,
    num_agents: int | None = None,
    device: str = "cpu",
) -> TrainedRun:
    """The policy of a run folder and the scenario to run it on.

    ``scenario`` (a config, preset name or file) replaces the training scenario and ``num_agents``
    its population size; a shared-weights policy is then rebound to the new population (e.g. 10^6
    agents from a run trained on 1,000).
    """
    torch_device(device)
    base = run_scenario(run_dir) if scenario is None else resolve_scenario(scenario)
    if num_agents is not None:
        base = base.replace(num_agents=num_agents)
    rebind = base if (scenario is not None or num_agents is not None) else None
    return TrainedRun(Path(run_dir), base, load_policy(run_dir, device, scenario=rebind))


def load_policy(
    run_dir: str | os.PathLike[str], device: str = "cpu", *, scenario: Any = None
) -> StateAugmentedPolicy:
    """The trained policy of a run folder (``policy.pt``, else the latest checkpoint), in eval mode.

    Use it as ``policy.act(obs [N, obs_dim], mult [N, m], step_of_day, deterministic=True)``;
    ``policy.mult_max`` and ``policy.num_blocks`` describe the multiplier it expects. With
    ``scenario`` (a config, preset name or file), a shared-weights policy is rebound to that
    scenario's population (e.g. 10,000 agents from a run trained on 1,000).
    """
    dev = torch_device(device)
    run = Path(run_dir)
    path = run / "policy.pt"
    if not path.exists():
        path = run / "checkpoints" / "latest.pt"
        if not path.exists():
            raise ConfigError(
                f"policy: {os.fspath(run)!r} has no policy.pt or checkpoints/latest.pt "
                "(not a `samarl train` run folder?)"
            )
    saved = load_torch(path, what="policy")
    try:
        if path.name == "latest.pt":
            saved = saved["policy"]
        policy = StateAugmentedPolicy.from_save_dict(saved)
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as e:
        reason = " ".join(str(e).split())[:120] or type(e).__name__
        raise FileError(
            f"policy: {os.fspath(path)!r} is damaged, not a saved policy ({reason})"
        ) from None
    if scenario is not None:
        sc = resolve_scenario(scenario)
        static, prof = population_tables(sc.build(), sc.dt_hours)
        same = static.shape == tuple(policy.static.shape) and np.array_equal(
            static, policy.static.numpy()
        )
        if not same:
            policy = policy.for_population(static, prof)
    return policy.to(dev).eval()
