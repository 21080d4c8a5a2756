"""Wrappers around :class:`~samarl.envs.DemandResponseEnv`: what the env core leaves out.

:class:`AutoReset` starts the next episode on the step that ends one, as vectorised RL loops expect
(JaxMARL's ``step`` vs ``step_env``): the returned ``obs`` is the new episode's first observation
and ``final_obs`` the old episode's last, for bootstrapping a truncated return. A step whose
``final_obs`` is set is the one where every row reset (episodes of a batched env end together):
the caller reacts to it (bootstraps, draws new multipliers), the wrapper never calls back into it.
Each episode's arrival seed and initial backlogs come from :class:`EpisodeStarts`, the random
episode starts the wrapper owns.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from samarl.envs.copies import CopyEnvs
from samarl.envs.demand_response import DemandResponseEnv, EnvStep
from samarl.errors import ArgumentTypeError
from samarl.rng import STREAM_BACKLOG, uniform_f64

__all__ = ["AutoReset", "EpisodeStarts", "ResetFn"]

F32 = npt.NDArray[np.float32]
#: Called at every reset: ``() -> (arrival_seed, initial_backlog [rows] or None)``.
ResetFn = Callable[[], tuple[int, "npt.ArrayLike | None"]]


class EpisodeStarts:
    """Random episode starts of a batched env, the ``reset_fn`` of :class:`AutoReset`: each
    call draws the next episode's arrival seed from ``rng`` and every row's initial backlog
    ``u**2 * backlog_days * steps_per_day * mean_arrival`` (kWh; ``u`` uniform, so most rows
    start near empty and a few with up to ``backlog_days`` of their mean arrivals waiting).

    ``u`` comes from ``rng`` too, unless ``streams = (seed, row_ids)``: then row ``i`` draws its
    ``u`` of episode ``k`` from the counter-based stream ``(seed, STREAM_BACKLOG, row_ids[i], k)``
    (:mod:`samarl.rng`), the same whichever other rows are stepped with it.
    """

    def __init__(
        self,
        rng: np.random.Generator,
        mean_arrival: npt.NDArray[np.float64],
        *,
        backlog_days: float,
        steps_per_day: int,
        streams: tuple[int, npt.NDArray[np.uint64]] | None = None,
    ) -> None:
        self.rng = rng
        self.mean_arrival = mean_arrival
        """``[rows]`` each row's mean arrivals per step (kWh)."""
        self.backlog_days = backlog_days
        self.steps_per_day = steps_per_day
        self.streams = streams
        self.started = 0
        """Episodes started so far (the counter of the per-row streams)."""

    def __call__(self) -> tuple[int, F32]:
        """The next episode's ``(arrival_seed, initial_backlog [rows])``."""
        seed = int(self.rng.integers(2**62))
        if self.streams is not None:
            stream_seed, row_ids = self.streams
            u = uniform_f64(stream_seed, STREAM_BACKLOG, row_ids, self.started)
        else:
            u = self.rng.random(int(self.mean_arrival.shape[0]))
        self.started += 1
        backlog = u**2 * self.backlog_days * self.steps_per_day
        return seed, (backlog * self.mean_arrival).astype(np.float32)


class AutoReset:
    """``env`` that resets itself when an episode ends.

    ``reset_fn`` chooses each new episode's arrival seed and initial backlogs (an
    :class:`EpisodeStarts`, drawing from a generator so that a run reproduces from one seed).
    :meth:`reset` starts the first one; :meth:`step` the others, on the step that ends the last.
    """

    def __init__(self, env: DemandResponseEnv | CopyEnvs, reset_fn: ResetFn) -> None:
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
