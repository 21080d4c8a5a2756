"""Training run folders: what ``samarl train`` writes, and how a trained policy is loaded back.

A run folder holds ``config.json`` (the resolved scenario and training config), ``progress.csv`` and
``progress.jsonl`` (one row per iteration, namespaced keys), ``checkpoints/latest.safetensors``
(resumes the run exactly), ``policy.safetensors`` (the trained policy), ``training_curves.png``,
``response.json`` and ``response.png``. Every file is written atomically
(:func:`samarl._io.atomic_write`), so a killed run leaves whole files only.

Policies and checkpoints are safetensors files (:mod:`samarl._tensor_file`): loading one never runs
code, and a checksum over every weight and setting refuses a damaged or altered file. A policy
carries the world it was trained for: its population's static features, the blocks of its day and
the whole training scenario. :func:`load_run` gives back the scenario and the policy; every command
that takes ``--policy DIR`` goes through it. On another scenario it rebinds a shared-weights policy
to that scenario's agents and blocks, and refuses, in one line naming the difference, what cannot be
rebound (another step length or number of blocks; per-agent weights on other agents).

Folders written before samarl 0.2 hold pickles (``policy.pt``, ``checkpoints/latest.pt``), which
can run code when loaded: they are never loaded, but :func:`convert_run` (``samarl convert DIR``)
rewrites them once, reading them with torch's weights-only unpickler.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from samarl._io import atomic_write
from samarl._tensor_file import load_tensor_file, save_tensor_file
from samarl.errors import ConfigError, FileError
from samarl.scenario import ScenarioConfig, resolve_scenario
from samarl.training.features import population_tables
from samarl.training.policies import StateAugmentedPolicy, torch_device

__all__ = [
    "CHECKPOINT_FILE",
    "POLICY_FILE",
    "TrainedRun",
    "convert_run",
    "load_policy",
    "load_run",
    "policy_record",
    "read_checkpoint",
    "save_policy",
    "scenario_differences",
    "write_checkpoint",
    "write_config",
]

#: The trained policy of a run folder.
POLICY_FILE = "policy.safetensors"
#: The checkpoint a run resumes from (it holds the policy too).
CHECKPOINT_FILE = "checkpoints/latest.safetensors"
#: What samarl < 0.2 wrote in their place (pickles): converted, never loaded.
LEGACY_FILES = {POLICY_FILE: "policy.pt", CHECKPOINT_FILE: "checkpoints/latest.pt"}


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


def policy_record(policy: StateAugmentedPolicy, scenario: ScenarioConfig) -> dict[str, Any]:
    """What a policy file holds: :meth:`StateAugmentedPolicy.save_dict` and the world the policy
    was trained for (``world.scenario``: the training scenario; its step length and day)."""
    return {
        **policy.save_dict(),
        "world": {
            "scenario": scenario.to_dict(),
            "dt_hours": float(scenario.dt_hours),
            "steps_per_day": int(scenario.steps_per_day),
        },
    }


def save_policy(
    path: str | os.PathLike[str], policy: StateAugmentedPolicy, scenario: ScenarioConfig
) -> Path:
    """Writes ``policy`` (trained on ``scenario``) to ``path`` (``policy.safetensors``)."""
    return save_tensor_file(path, policy_record(policy, scenario), kind="policy")


def write_checkpoint(path: Path, state: dict[str, Any]) -> Path:
    """Writes a trainer's state (:meth:`~samarl.training.Trainer.state`) to ``path`` atomically:
    a run killed while it writes keeps the previous checkpoint whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_tensor_file(path, state, kind="checkpoint")


def read_checkpoint(path: Path, scenario: ScenarioConfig) -> dict[str, Any]:
    """The trainer state in the checkpoint ``path``, refused (naming what differs) unless it was
    written for ``scenario``."""
    state = load_tensor_file(path, kind="checkpoint", what="resume")
    try:
        trained = ScenarioConfig.from_dict(state["policy"]["world"]["scenario"])
    except (KeyError, TypeError, ValueError) as e:
        raise FileError(f"resume: {os.fspath(path)!r} names no valid scenario ({e})") from None
    if trained != scenario:
        raise ConfigError(
            f"resume: {os.fspath(path)!r} was written for another scenario "
            f"({scenario_differences(trained, scenario)})"
        )
    return state


def run_scenario(run_dir: str | os.PathLike[str]) -> ScenarioConfig:
    """The scenario of a run folder's ``config.json``."""
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
    train_wall_s: float | None = None
    """Seconds spent training it, when it was trained by the caller (``None``: loaded from a run
    trained earlier)."""

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

    Without ``scenario`` the policy runs on the scenario it was trained on (the one its file
    carries). ``scenario`` (a config, preset name or file) replaces it and ``num_agents`` its
    population size; a shared-weights policy is then rebound to the new agents and blocks (e.g.
    10^6 agents from a run trained on 1,000). What cannot be rebound is a
    :class:`~samarl.errors.ConfigError` naming the difference: another step length or number of
    blocks, or per-agent weights on other agents.
    """
    dev = torch_device(device)
    run = Path(run_dir)
    record, path = _read_record(run)
    trained, policy = _policy_of(record, path)
    if scenario is None:
        _check_config(run, trained, path)
        target = trained
    else:
        target = resolve_scenario(scenario)
    if num_agents is not None:
        target = target.replace(num_agents=num_agents)
    policy = _bind(policy, trained, target)
    return TrainedRun(run, target, policy.to(dev).eval())


def load_policy(
    run_dir: str | os.PathLike[str], device: str = "cpu", *, scenario: Any = None
) -> StateAugmentedPolicy:
    """The trained policy of a run folder (``policy.safetensors``, else the latest checkpoint's),
    in eval mode.

    Use it as ``policy.act(obs [N, obs_dim], mult [N, m], step_of_day, deterministic=True)``;
    ``policy.mult_max`` and ``policy.num_blocks`` describe the multiplier it expects. With
    ``scenario`` (a config, preset name or file) it is rebound to that scenario as
    :func:`load_run` does.
    """
    dev = torch_device(device)
    record, path = _read_record(Path(run_dir))
    trained, policy = _policy_of(record, path)
    if scenario is not None:
        policy = _bind(policy, trained, resolve_scenario(scenario))
    return policy.to(dev).eval()


def _read_record(run: Path) -> tuple[dict[str, Any], Path]:
    """The policy record of a run folder (:func:`policy_record`) and the file it came from."""
    for name in (POLICY_FILE, CHECKPOINT_FILE):
        path = run / name
        if path.exists():
            if name == POLICY_FILE:
                record = load_tensor_file(path, kind="policy", what="policy")
            else:
                record = load_tensor_file(path, kind="checkpoint", what="policy")
                record = record.get("policy") if isinstance(record, dict) else None
            if not isinstance(record, dict):
                raise FileError(f"policy: {os.fspath(path)!r} holds no policy")
            return record, path
    legacy = [run / old for old in LEGACY_FILES.values() if (run / old).exists()]
    if legacy:
        raise ConfigError(
            f"policy: {os.fspath(legacy[0])!r} is a pickle from samarl < 0.2, which can run code "
            f"when loaded; convert the folder once with `samarl convert {os.fspath(run)}` "
            "(it reads plain weights only), then rerun"
        )
    raise ConfigError(
        f"policy: {os.fspath(run)!r} has no {POLICY_FILE} or {CHECKPOINT_FILE} "
        "(not a `samarl train` run folder?)"
    )


def _policy_of(record: dict[str, Any], path: Path) -> tuple[ScenarioConfig, StateAugmentedPolicy]:
    """The training scenario and the policy of a record."""
    try:
        world = record["world"]
        trained = ScenarioConfig.from_dict(world["scenario"])
        policy = StateAugmentedPolicy.from_save_dict(record)
        shape = (policy.num_agents, policy.steps_per_day, policy.num_blocks)
        if shape != (trained.num_agents, trained.steps_per_day, trained.num_blocks):
            raise ValueError(
                f"{shape} agents, steps and blocks against its scenario's "
                f"{(trained.num_agents, trained.steps_per_day, trained.num_blocks)}"
            )
    except Exception as e:  # whatever a damaged record makes the constructors raise
        reason = " ".join(str(e).split())[:120] or type(e).__name__
        raise FileError(
            f"policy: {os.fspath(path)!r} is damaged, not a saved policy ({reason})"
        ) from None
    return trained, policy


def _check_config(run: Path, trained: ScenarioConfig, path: Path) -> None:
    """Refuses a folder whose ``config.json`` names another scenario than its policy's: two runs
    mixed in one folder, or a config edited after training."""
    if not (run / "config.json").exists():
        return
    written = run_scenario(run)
    if written != trained:
        raise ConfigError(
            f"policy: {os.fspath(run / 'config.json')!r} and {path.name} name different "
            f"scenarios ({scenario_differences(written, trained)}): the folder mixes two runs or was "
            "edited; to run the policy on another scenario, pass it with --scenario"
        )


def _bind(
    policy: StateAugmentedPolicy, trained: ScenarioConfig, target: ScenarioConfig
) -> StateAugmentedPolicy:
    """``policy`` (trained on ``trained``) acting for the agents and blocks of ``target``."""
    if target == trained:
        return policy
    if (target.steps_per_day, target.dt_hours) != (trained.steps_per_day, trained.dt_hours):
        raise ConfigError(
            f"scenario: the policy was trained on days of {trained.steps_per_day} steps of "
            f"{trained.dt_hours:g} h; this scenario has {target.steps_per_day} steps of "
            f"{target.dt_hours:g} h (dt_hours): train on it, or run it with dt_hours "
            f"{trained.dt_hours:g}"
        )
    if target.num_blocks != policy.num_blocks:
        raise ConfigError(
            f"scenario: the policy reads {policy.num_blocks} block prices; this scenario has "
            f"{target.num_blocks} blocks (num_blocks)"
        )
    data = target.build()
    static, prof = population_tables(data, target.dt_hours)
    blocks = np.asarray(data.block_of_step)
    same_agents = static.shape == tuple(policy.static.shape) and np.array_equal(
        static, policy.static.numpy()
    )
    same_agents = same_agents and np.array_equal(prof, policy.profile_blocks.numpy())
    if same_agents and np.array_equal(blocks, policy.block_of_step.numpy()):
        return policy
    if policy.parameterisation != "shared":
        raise ConfigError(
            f"scenario: the policy has per-agent weights for the {policy.num_agents} agents it "
            f"was trained on; this scenario's differ ({scenario_differences(trained, target)}), and "
            "per-agent weights cannot move to other agents (train shared weights to rebind)"
        )
    return policy.for_population(static, prof, block_of_step=blocks)


def scenario_differences(a: ScenarioConfig, b: ScenarioConfig, most: int = 4) -> str:
    """``field a -> b, ...``: the fields in which two scenarios differ (for error messages)."""
    da, db = a.to_dict(), b.to_dict()
    keys = [k for k in dict.fromkeys([*da, *db]) if da.get(k) != db.get(k)]
    shown = [f"{k} {_short(da.get(k))} -> {_short(db.get(k))}" for k in keys[:most]]
    more = f", and {len(keys) - most} more" if len(keys) > most else ""
    return ", ".join(shown) + more if shown else "no field"


def _short(value: Any) -> str:
    text = json.dumps(value) if value is not None else "unset"
    return text if len(text) <= 40 else text[:37] + "..."


def convert_run(run_dir: str | os.PathLike[str]) -> list[Path]:
    """Rewrites the pickled ``policy.pt`` and ``checkpoints/latest.pt`` of a run folder written
    before samarl 0.2 as ``policy.safetensors`` and ``checkpoints/latest.safetensors``; returns
    the files written (the pickles are left in place).

    The pickles are read with torch's weights-only unpickler, which accepts tensors, NumPy arrays
    and plain containers and refuses anything that would call code; the training scenario comes
    from the folder's ``config.json``.
    """
    run = Path(run_dir)
    written = []
    for name, old in LEGACY_FILES.items():
        source = run / old
        if not source.exists():
            continue
        scenario = run_scenario(run)
        obj = _load_pickle(source)
        try:
            if name == POLICY_FILE:
                policy = StateAugmentedPolicy.from_save_dict(obj)
                written.append(save_policy(run / name, policy, scenario))
            else:
                policy = StateAugmentedPolicy.from_save_dict(obj["policy"])
                obj = {**obj, "policy": policy_record(policy, scenario)}
                written.append(save_tensor_file(run / name, obj, kind="checkpoint"))
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as e:
            reason = " ".join(str(e).split())[:120] or type(e).__name__
            raise FileError(
                f"policy: {os.fspath(source)!r} is damaged, not a saved {name.split('/')[0]} "
                f"({reason})"
            ) from None
    if not written:
        raise ConfigError(f"policy: {os.fspath(run)!r} has no policy.pt or checkpoints/latest.pt")
    return written


def _load_pickle(path: Path) -> Any:
    """A file of samarl < 0.2, read with torch's weights-only unpickler (NumPy arrays allowed)."""
    import torch

    allowed: list[Any] = [
        np.ndarray,
        np.dtype,
        np.lib.format.descr_to_dtype,  # harmless; some numpy versions pickle dtypes through it
        *{type(np.dtype(t)) for t in (np.float64, np.float32, np.int64, np.int32, np.uint8, bool)},
    ]
    allowed += _numpy_reconstructors()
    try:
        with torch.serialization.safe_globals(allowed):
            return torch.load(path, map_location="cpu", weights_only=True)
    except OSError as e:
        raise FileError(f"policy: cannot read {os.fspath(path)!r}: {e.strerror or e}") from None
    except Exception as e:  # the unpickler refusing a global, a damaged zip, ...
        reason = " ".join(str(e).split()).split(" Check the")[0][:160] or type(e).__name__
        raise FileError(
            f"policy: {os.fspath(path)!r} holds more than plain weights or is damaged; "
            f"not loaded ({reason})"
        ) from None


def _numpy_reconstructors() -> list[Any]:
    """NumPy's array and scalar reconstructors (``numpy._core`` in NumPy 2, ``numpy.core`` in 1)."""
    try:
        from numpy._core import multiarray
    except ImportError:  # NumPy 1
        from numpy.core import multiarray  # type: ignore[no-redef]
    return [multiarray._reconstruct, multiarray.scalar]
