"""Wrappers around :class:`~samarl.envs.DemandResponseEnv`: what the env core leaves out.

:class:`AutoReset` starts the next episode on the step that ends one, as vectorised RL loops expect
(JaxMARL's ``step`` vs ``step_env``): the returned ``obs`` is the new episode's first observation
and ``final_obs`` the old episode's last, for bootstrapping a truncated return.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from samarl.envs.demand_response import DemandResponseEnv, EnvStep
from samarl.errors import ArgumentTypeError

__all__ = ["AutoReset", "ResetFn"]

F32 = npt.NDArray[np.float32]
#: Called at every reset: ``() -> (arrival_seed, initial_backlog [rows] or None)``.
ResetFn = Callable[[], tuple[int, "npt.ArrayLike | None"]]


class AutoReset:
    """``env`` that resets itself when an episode ends.

    ``reset_fn`` chooses each new episode's arrival seed and initial backlogs (e.g. drawn from the
    trainer's generator, so a run reproduces from one seed). :meth:`reset` starts the first one.
    """

    def __init__(self, env: DemandResponseEnv, reset_fn: ResetFn) -> None:
        missing = [a for a in ("num_agents", "obs_dim", "reset", "step") if not hasattr(env, a)]
        if missing:
            raise ArgumentTypeError(
                f"env: expected a batched env such as samarl.envs.DemandResponseEnv, but "
                f"{type(env).__name__} has no {', '.join(missing)}"
            )
        if not callable(reset_fn):
            raise ArgumentTypeError(
                "reset_fn: expected a function () -> (arrival_seed, initial_backlog or None), got "
                f"{reset_fn!r}"
            )
        self.env = env
        self.reset_fn = reset_fn
        self._final = np.zeros((env.num_agents, env.obs_dim), dtype=np.float32)

    def reset(self) -> F32:
        """Starts an episode with :attr:`reset_fn`'s seed and backlogs; returns the obs view."""
        drawn = self.reset_fn()
        if not (isinstance(drawn, tuple) and len(drawn) == 2):
            raise ArgumentTypeError(
                f"reset_fn: must return (arrival_seed, initial_backlog or None), got {drawn!r}"
            )
        seed, backlog = drawn
        return self.env.reset(seed, backlog)

    def step(self, actions: npt.ArrayLike) -> EnvStep:
        """One step; on an episode's last step, ``final_obs`` holds its final observation (a
        buffer of the wrapper, overwritten at the next episode end) and ``obs`` the next's first."""
        out = self.env.step(actions)
        if not out.truncated:
            return out
        np.copyto(self._final, out.obs)
        obs = self.reset()
        return dataclasses.replace(out, obs=obs, final_obs=self._final)

    @property
    def step_of_day(self) -> int:
        """Step of the day of the coming step."""
        return self.env.step_of_day
