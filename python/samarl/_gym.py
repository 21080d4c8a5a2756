"""samarl's entry in Gymnasium's registry, made on ``import samarl`` without importing the env."""

from __future__ import annotations

import importlib.util

__all__ = ["GYM_ENV_ID", "register_envs"]

#: The id of :class:`samarl.envs.HouseholdEnv` in Gymnasium's registry.
GYM_ENV_ID = "samarl/DemandResponse-v0"


def register_envs() -> None:
    """Registers ``"samarl/DemandResponse-v0"`` with Gymnasium, if Gymnasium is installed.

    Idempotent. Runs on ``import samarl``; the env's module loads on ``gymnasium.make``.
    """
    if importlib.util.find_spec("gymnasium") is None:
        return
    import gymnasium

    if GYM_ENV_ID not in gymnasium.registry:
        gymnasium.register(id=GYM_ENV_ID, entry_point="samarl.envs.gymnasium:HouseholdEnv")
