"""Argument checks shared by the baselines' configs and trainers."""

from __future__ import annotations

from samarl.errors import ConfigError
from samarl.training import TrainConfig

__all__ = ["check_trainer_args"]


def check_trainer_args(config: object, baseline: object, kind: type) -> None:
    """Refuses a ``config`` that is not a :class:`~samarl.training.TrainConfig` and a ``baseline``
    that is not ``kind`` (or ``None``), naming the argument, before any training state is built."""
    if not isinstance(config, TrainConfig):
        raise ConfigError(f"config: expected a TrainConfig, got {config!r}")
    if baseline is not None and not isinstance(baseline, kind):
        raise ConfigError(f"baseline: expected a {kind.__name__} (or None), got {baseline!r}")
