"""Execution: trained policies run with dual dynamics and consensus on their multipliers.

- :mod:`~samarl.execution.dual`: :class:`DualConfig`, :class:`DualState` (each agent's multiplier
  copy, the local dual step, consensus, projection);
- :mod:`~samarl.execution.executor`: :func:`execute`, the simulation loop;
- :mod:`~samarl.execution.metrics`: what a run measures;
- :mod:`~samarl.execution.run_folder`: what a run writes.
"""

from __future__ import annotations

from samarl.execution.dual import MODES, DualConfig, DualState, Mode
from samarl.execution.executor import (
    ActFn,
    AgentRemoval,
    ExecutionResult,
    execute,
    torch_act_fn,
)
from samarl.execution.metrics import Metrics
from samarl.execution.run_folder import save_run

__all__ = [
    "MODES",
    "ActFn",
    "AgentRemoval",
    "DualConfig",
    "DualState",
    "ExecutionResult",
    "Metrics",
    "Mode",
    "execute",
    "save_run",
    "torch_act_fn",
]
