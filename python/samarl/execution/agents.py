"""A group of agents at run time: all of a run's in one process, or one part of a split run.

:class:`AgentGroup` holds what belongs to its agents and nothing global: their environment rows,
the policy they act with, their multiplier copies with their use per block
(:class:`~samarl.execution.dual.DualRows`) and their per-agent metrics
(:class:`~samarl.execution.metrics.AgentMetrics`). The run's loop
(:class:`~samarl.execution.loop.Execution`) drives every group alike and sees only sums, whether
the group is an object in its own process or sits in a Ray actor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from samarl.execution.dual import DualRows, DualStep
from samarl.execution.metrics import POSTPONE_DAYS, POSTPONE_SLOPE, AgentMetrics

__all__ = ["MAX_BACKLOG_VALUES", "AgentGroup"]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
#: Most backlog values (agents x steps) a run keeps for the figure of its most-loaded agents.
MAX_BACKLOG_VALUES = 50_000_000
#: ``(obs [n, obs_dim], mult [n, m], step_of_day) -> actions [n]`` (:data:`samarl.execution.ActFn`).
ActFn = Callable[[F32, F32, "int | I64"], F32]


class AgentGroup:
    """The agents ``agents`` (global ids, ascending) of a run.

    Parameters
    ----------
    env
        Their dynamics: ``reset(seed) -> obs``, ``step(actions)`` (``obs``, ``reward``,
        ``resource_use``, ``served``, ``arrived``) and ``backlog`` (:class:`samarl.envs.Dynamics`
        over their ids).
    act
        Their policy.
    rule
        The dual step and projection of the run (:class:`~samarl.execution.dual.DualStep`).
    agents
        ``[n]`` their global ids.
    block_of_step
        ``[S]`` the block of every step of the day.
    total_steps, warmup_steps
        The run's length and warm-up (for the per-agent metrics).
    offsets
        ``[n]`` their staggered block boundaries (steps), or None.
    keep_backlog
        Keep every step's backlog (``[total_steps, n]``) for the backlog figure.
    record_actions
        Keep every step's actions (for tests and small runs).
    """

    def __init__(
        self,
        env: Any,
        act: ActFn,
        rule: DualStep,
        *,
        agents: I64,
        block_of_step: I64,
        total_steps: int,
        warmup_steps: int,
        offsets: I64 | None = None,
        keep_backlog: bool = False,
        record_actions: bool = False,
    ) -> None:
        n = int(agents.size)
        self.agents = agents
        self.env = env
        self.act = act
        self.block_of_step = block_of_step
        self.steps_per_day = steps_per_day = int(block_of_step.size)
        self.offsets = offsets
        self.dual = DualRows(rule, n, tracking=rule.config.mode == "tracking")
        self.metrics = AgentMetrics(
            np.asarray(env.params["mean_arrival"], dtype=np.float32),
            steps_per_day=steps_per_day,
            total_steps=total_steps,
            warmup_steps=warmup_steps,
            initial_backlog=np.zeros(n, dtype=np.float32),
            postpone_slope=POSTPONE_SLOPE,
            postpone_days=POSTPONE_DAYS,
        )
        self.backlog = np.zeros((total_steps, n), dtype=np.float32) if keep_backlog else None
        self.actions: list[F32] | None = [] if record_actions else None
        self.obs: F32 | None = None
        self.t = 0

    def reset(self, seed: int) -> None:
        """Starts the agents' arrivals from ``seed`` (at midnight, empty backlogs)."""
        self.obs = self.env.reset(seed)

    def step(self, tod: int, price_block: int) -> tuple[float, ...]:
        """One step at step of day ``tod``: act on the current multipliers, step the dynamics.

        Returns the sums over the agents (float64) of the power drawn, the energy served and
        arrived and the backlog after the step, and, when ``price_block >= 0`` (a block that
        starts now), the sum and count of its multipliers over the participating agents.
        """
        assert self.obs is not None, "reset() first"
        price = self.dual.price(price_block) if price_block >= 0 else (0.0, 0)
        sod = tod if self.offsets is None else (self.offsets + tod) % self.steps_per_day
        actions = self.act(self.obs, self.dual.mult, sod)
        if self.actions is not None:
            self.actions.append(actions)
        out = self.env.step(actions)
        self.obs = out.obs
        backlog = self.env.backlog
        self.dual.use[:, self.block_of_step[tod]] += out.resource_use
        self.metrics.record(out.reward, backlog)
        if self.backlog is not None:
            self.backlog[self.t] = backlog
        self.t += 1
        return (
            float(out.resource_use.sum(dtype=np.float64)),
            float(out.served.sum(dtype=np.float64)),
            float(out.arrived.sum(dtype=np.float64)),
            float(backlog.sum(dtype=np.float64)),
            *price,
        )

    def remove(self, gone: I64) -> None:
        """The agents ``gone`` (global ids; those of other groups are ignored) stop taking part
        in the dual dynamics."""
        self.dual.remove(np.flatnonzero(np.isin(self.agents, gone)))

    def finish(self, top_k: int) -> dict[str, Any]:
        """What the run keeps of these agents at its end: their ids, multipliers, per-agent metric
        sums, their ``top_k`` largest final backlogs (local order, largest first) with those
        agents' backlog over the run, and the recorded actions."""
        final = self.env.backlog
        top = np.argsort(final)[::-1][:top_k]
        return {
            "agents": self.agents,
            "mult": self.dual.mult,
            "metric_sums": self.metrics.sums(),
            "top_final": final[top].astype(np.float64),
            "top_backlog": None if self.backlog is None else self.backlog[:, top],
            "actions": np.stack(self.actions) if self.actions else None,
        }
