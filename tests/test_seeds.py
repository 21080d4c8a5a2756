"""One seed limit: every setting that takes a seed accepts ``MAX_SEED`` and refuses the next
integer, naming the setting, and every seed it accepts works downstream (torch, numpy, the engine,
the seeds training derives from it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from samarl._validate import MAX_SEED, MAX_U64, config_seed, seed
from samarl.errors import ConfigError, InvalidValueError
from samarl.execution import AgentRemoval, DualConfig, execute
from samarl.execution.optimum import solve_for_run
from samarl.scenario import MAX_SEED as SCENARIO_MAX_SEED
from samarl.scenario import ScenarioConfig
from samarl.training import TrainConfig, Trainer
from tiny import tiny_config, tiny_scenario


def test_one_max_seed() -> None:
    assert SCENARIO_MAX_SEED is MAX_SEED == 2**63 - 1
    # TOML integers are signed 64-bit: a scenario's seed must be one.
    assert MAX_SEED == np.iinfo(np.int64).max
    assert config_seed("x", MAX_SEED) == MAX_SEED
    assert seed(MAX_U64) == MAX_U64  # the engine takes any unsigned 64-bit seed


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("seed", lambda s: ScenarioConfig(seed=s)),
        ("population_seed", lambda s: ScenarioConfig(population_seed=s)),
        ("seed", lambda s: TrainConfig(seed=s)),
        ("graph_seed", lambda s: DualConfig(graph_seed=s)),
        ("removal seed", lambda s: AgentRemoval(1, 0.5, seed=s)),
    ],
)
def test_every_setting_takes_seeds_up_to_max_seed(name: str, make: Any) -> None:
    make(MAX_SEED)
    with pytest.raises(ConfigError, match=f"^{name}: "):
        make(MAX_SEED + 1)
    with pytest.raises(ConfigError, match=f"^{name}: "):
        make(-1)


def test_runs_and_the_optimum_take_the_same_seeds() -> None:
    scenario = tiny_scenario()

    def idle(obs: Any, mult: Any, step: Any) -> Any:
        return np.zeros(scenario.num_agents, dtype=np.float32)

    res = execute(scenario, idle, DualConfig(), mult_max=1.0, days=1, seed=MAX_SEED, progress=False)
    assert res.metrics["demand/served"] >= 0
    with pytest.raises(ConfigError, match=r"^seed: must be in \[0, 2\*\*63\)"):
        execute(scenario, idle, DualConfig(), mult_max=1.0, days=1, seed=MAX_SEED + 1)
    solve_for_run(scenario, seed=MAX_SEED, days=1)
    with pytest.raises(InvalidValueError, match=r"^seed: must be in \[0, 2\*\*63\)"):
        solve_for_run(scenario, seed=MAX_SEED + 1, days=1)


def test_seeds_derived_from_max_seed_stay_valid(tmp_path: Path) -> None:
    """Training derives seeds from its own (``seed + 1`` for torch, ``seed + 7919`` for the
    evaluation env): at MAX_SEED they are still seeds torch and the engine take. torch refuses
    2**64 (measured), the bound a limit of 2**64 - 1 would have crossed."""
    torch.Generator().manual_seed(MAX_SEED + 7919)
    with pytest.raises((RuntimeError, ValueError)):
        torch.Generator().manual_seed(MAX_U64 + 1)
    trainer = Trainer(
        tiny_scenario().replace(seed=MAX_SEED, population_seed=MAX_SEED),
        tiny_config(seed=MAX_SEED, iterations=1),
        tmp_path,
    )
    stats = trainer.iterate()
    assert np.isfinite(stats["train/policy_loss"])
