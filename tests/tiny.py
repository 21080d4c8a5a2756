"""Tiny training runs shared by the training and baseline tests."""

from __future__ import annotations

from typing import Any

from samarl.scenario import ScenarioConfig
from samarl.training import TrainConfig

#: A few agents, short rollouts and episodes that end mid-iteration (so checkpoints land inside
#: episodes), tiny networks: each run takes about a second.
TINY = {
    "iterations": 4,
    "num_steps": 16,
    "agent_copies": 2,
    "episode_days": 0.25,
    "update_epochs": 2,
    "num_minibatches": 2,
    "hidden_sizes": (16, 16),
    "checkpoint_every": 0,
    "progress": False,
}


def tiny_scenario(num_agents: int = 4) -> ScenarioConfig:
    """The small preset resized to ``num_agents``."""
    return ScenarioConfig.preset("small", num_agents=num_agents)


def tiny_config(**changes: Any) -> TrainConfig:
    """:data:`TINY` with ``changes``."""
    return TrainConfig(**{**TINY, **changes})
