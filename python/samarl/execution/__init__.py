"""Execution: trained policies run with dual dynamics and consensus on their multipliers.

- :mod:`~samarl.execution.dual`: :class:`DualConfig`, the dual rule (each agent's multiplier copy,
  the local step, the projection; :class:`~samarl.execution.dual.DualUpdate` runs it in every mode);
- :mod:`~samarl.execution.mixing`: the consensus rounds between the copies of one process, and
  :class:`DualState` (the dual dynamics of N agents on their own);
- :mod:`~samarl.execution.calendar`, :mod:`~samarl.execution.agents`,
  :mod:`~samarl.execution.loop`: the blocks of the day, a group of agents, the one execution loop;
- :mod:`~samarl.execution.executor`: :func:`execute`, the loop on all agents in one process;
- :mod:`~samarl.execution.metrics`: what a run measures;
- :mod:`~samarl.execution.run_folder`: what a run writes.
"""

from __future__ import annotations

from samarl.execution.dual import MODES, DualConfig, Mode
from samarl.execution.executor import (
    ActFn,
    AgentRemoval,
    ExecutionResult,
    execute,
    torch_act_fn,
)
from samarl.execution.metrics import Metrics
from samarl.execution.mixing import DualState
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
