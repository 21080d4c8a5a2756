"""The batched demand-response dynamics: N agents stepped by the Rust engine in one call.

This is the transition core only (docs/environment.md; no episodes, no auto-reset, no multiplier).
Outputs live in buffers allocated once and overwritten by every step, so a training loop allocates
nothing per step and torch can view them with ``torch.from_numpy`` without a copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from samarl import _core
from samarl._validate import (
    MAX_AGENTS,
    MAX_U64,
    as_counter,
    as_f32,
    as_index,
    check_memory,
    check_shape,
    positive_int,
    real,
)
from samarl._validate import seed as seed_
from samarl.errors import ArgumentTypeError, InvalidValueError, ShapeError

if TYPE_CHECKING:
    from samarl.scenario import ScenarioConfig, ScenarioData

__all__ = ["OBS_FIELDS", "Dynamics", "StepResult"]

F32 = npt.NDArray[np.float32]

#: Bytes per agent (row) that :class:`Dynamics` allocates: the engine's copy of the parameters and
#: its state (28), the output buffers (44), the per-agent arrays broadcast or tiled for it (24).
ROW_BYTES = 96

#: Steps of arrivals that may wait unserved before backlogs, observations and rewards must still be
#: finite float32 (2^20: 30 years of 15-minute steps). Parameters that would overflow sooner are
#: refused when the dynamics are built, rather than met as inf or NaN mid-run.
MAX_WAITING_STEPS = 2**20
_F32_MAX = float(np.finfo(np.float32).max)

#: Names of the observation columns, in order.
OBS_FIELDS = (
    "backlog",  # kWh waiting to be served
    "arrived",  # kWh that arrived in the step just taken
    "tod_sin",  # sin(2 pi time-of-day) of the coming step
    "tod_cos",  # cos(2 pi time-of-day) of the coming step
    "expected_arrival",  # mean arrivals of the coming step (kWh)
    "max_energy",  # largest energy servable in one step, max_power * dt (kWh)
    "mean_arrival",  # the agent's mean arrivals per step at profile value 1 (kWh)
)


@dataclass(frozen=True, slots=True)
class StepResult:
    """Per-agent outputs of one step (views of the env's buffers: copy what you keep)."""

    obs: F32
    """``[N, obs_dim]`` observation for the coming step."""
    reward: F32
    """``[N]`` negative waiting cost of the backlog after the step."""
    resource_use: F32
    """``[N]`` power drawn from the grid (kW): the agent's use of the shared capacity."""
    served: F32
    """``[N]`` energy served this step (kWh)."""
    arrived: F32
    """``[N]`` energy that arrived this step (kWh)."""


class Dynamics:
    """Demand-response dynamics for N heterogeneous agents.

    Parameters
    ----------
    mean_arrival, max_power, cost_linear, cost_quadratic
        Per-agent parameters, shape ``[N]`` (scalars broadcast): mean arrivals per step at profile
        value 1 (kWh), maximum power (kW), and the weights of the waiting cost
        ``cost_linear * q + cost_quadratic * q**2`` of backlog ``q`` (kWh).
    profile_id
        ``[N]`` row of ``profiles`` that drives each agent's arrivals.
    profiles
        ``[P, S]`` daily arrival profiles (``S`` steps per day, values >= 0).
    dt_hours
        Step length in hours.
    noise
        Arrivals are uniform on ``mean * [1 - noise, 1 + noise]``; in ``[0, 1]``.
    first_agent
        Agent id of row 0: row ``i`` draws the arrivals of agent ``first_agent + i`` (an integer in
        ``[0, 2**64 - N)``). Dynamics over the agents ``a..b`` of a population with
        ``first_agent=a`` reproduce rows ``a..b`` of the dynamics over all of them bit for bit (a
        partition of a distributed run is one).
    agent_ids
        The agent id of every row, for any set of a population's agents (``[N]`` integers in
        ``[0, 2**64)``, in any order): row ``i`` draws the arrivals of agent ``agent_ids[i]``, so
        dynamics over the agents ``ids`` (their parameters, in that order) reproduce those rows of
        the dynamics over all of them bit for bit. A part of a distributed run whose agents are
        scattered (``order="locality"``) is ``Dynamics(**params_of_its_rows,
        agent_ids=part.agents)``. Give ``first_agent`` or ``agent_ids``, not both.
    """

    def __init__(
        self,
        *,
        mean_arrival: npt.ArrayLike,
        max_power: npt.ArrayLike,
        cost_linear: npt.ArrayLike,
        cost_quadratic: npt.ArrayLike = 0.0,
        profile_id: npt.ArrayLike = 0,
        profiles: npt.ArrayLike,
        dt_hours: float = 0.25,
        noise: float = 0.3,
        first_agent: int = 0,
        agent_ids: npt.ArrayLike | None = None,
    ) -> None:
        per_agent = {
            "mean_arrival": as_f32("mean_arrival", mean_arrival, nonnegative=True),
            "max_power": as_f32("max_power", max_power, nonnegative=True),
            "cost_linear": as_f32("cost_linear", cost_linear, nonnegative=True),
            "cost_quadratic": as_f32("cost_quadratic", cost_quadratic, nonnegative=True),
            "profile_id": as_index("profile_id", profile_id),
        }
        # N is the length of the first per-agent array; scalars broadcast to it.
        n = next((int(v.shape[0]) for v in per_agent.values() if v.ndim), 1)
        if not 1 <= n <= MAX_AGENTS:
            raise InvalidValueError(f"mean_arrival: expected 1 to {MAX_AGENTS} agents, got {n}")
        check_memory("mean_arrival", n, "agents", n * ROW_BYTES)
        arrays = {k: _per_agent(k, v, n) for k, v in per_agent.items()}
        ids = arrays.pop("profile_id")
        prof = as_f32("profiles", profiles, nonnegative=True)
        if prof.ndim == 1:
            prof = prof[None, :]
        check_shape("profiles", prof, (None, None))
        if prof.size == 0:
            raise ShapeError(
                f"profiles: expected [num_profiles >= 1, steps_per_day >= 1], got {list(prof.shape)}"
            )
        if ids.max() >= prof.shape[0]:
            raise InvalidValueError(
                f"profile_id: must be < num_profiles = {prof.shape[0]}, found {int(ids.max())}"
            )
        dt = real("dt_hours", dt_hours, low=0.0, low_open=True)
        noise = real("noise", noise, low=0.0, high=1.0)
        _check_range(arrays, ids, prof, noise, dt)
        first = positive_int("first_agent", first_agent, minimum=0, maximum=MAX_U64 - n)
        listed = None
        if agent_ids is not None:
            if first:
                raise InvalidValueError("first_agent: give first_agent or agent_ids, not both")
            listed = np.ascontiguousarray(as_counter("agent_ids", agent_ids))
            check_shape("agent_ids", listed, (n,))
            first = int(listed[0])
        self._core = _core.DemandResponseCore(
            **arrays,
            profile_id=ids,
            profiles=np.ascontiguousarray(prof),
            dt_hours=dt,
            noise=noise,
            first_agent=0 if listed is not None else first,
            agent_ids=listed,
        )
        self.num_agents: int = self._core.num_agents
        self.first_agent: int = first
        """Agent id of row 0 (the arrivals of row ``i`` are agent ``first_agent + i``'s, unless
        :attr:`agent_ids` lists the rows' ids)."""
        self.agent_ids: npt.NDArray[np.uint64] | None = listed
        """The agent id of every row, when given (``None``: the rows are ``first_agent + i``)."""
        self.obs_dim: int = _core.DemandResponseCore.obs_dim
        self.steps_per_day: int = self._core.steps_per_day
        self.dt_hours: float = dt
        self.params = arrays | {"profile_id": ids}
        self.profiles = prof
        self._obs = np.zeros((n, self.obs_dim), dtype=np.float32)
        self._bufs = [np.zeros(n, dtype=np.float32) for _ in range(4)]
        self._result = StepResult(self._obs, *self._bufs)

    @classmethod
    def from_scenario(
        cls,
        scenario: ScenarioConfig | str,
        data: ScenarioData | None = None,
        *,
        agents: npt.ArrayLike | None = None,
        copies: int = 1,
        first_agent: int = 0,
        agent_ids: npt.ArrayLike | None = None,
    ) -> Dynamics:
        """The dynamics of a scenario's agents (``data``: its built arrays, built when omitted).
        ``scenario`` is a :class:`~samarl.scenario.ScenarioConfig`, a preset name or a scenario
        file, as :class:`~samarl.envs.DemandResponseEnv` takes.

        ``agents`` selects a subset (in that order); ``copies`` repeats them (row ``r * n + i`` is
        agent ``i``'s ``r``-th copy, with its own arrivals and backlog). ``first_agent`` or
        ``agent_ids`` number the rows' arrivals (see the class): with ``agents=range(a, b)`` and
        ``first_agent=a``, or ``agents=ids`` and ``agent_ids=ids`` (any ids), the rows are exactly
        those agents of the whole scenario.
        """
        from samarl.scenario import ScenarioData, resolve_scenario

        scenario = resolve_scenario(scenario)  # a preset name or a file, as the envs take
        if data is not None:
            if not isinstance(data, ScenarioData):
                raise ArgumentTypeError(
                    f"data: expected the scenario's ScenarioData (scenario.build()), got "
                    f"{type(data).__name__}"
                )
            data.check_for(scenario, subset=True)
        params = scenario.dynamics_params(data)
        reps = positive_int("copies", copies, maximum=MAX_AGENTS)
        rows: Any = slice(None)
        if agents is not None:
            rows = as_index("agents", agents, shape=(None,))
            total = params["mean_arrival"].shape[0]
            if rows.size and rows.max() >= total:
                raise InvalidValueError(
                    f"agents: indices must be < num_agents = {total}, found {int(rows.max())}"
                )
        agents = len(params["mean_arrival"][rows])
        if agents * reps > MAX_AGENTS:
            raise InvalidValueError(f"copies: at most {MAX_AGENTS} rows in all, got {reps} copies")
        if reps > 1:
            check_memory(
                "copies", agents * reps, "rows (agents x copies)", agents * reps * ROW_BYTES
            )
        else:
            check_memory("num_agents", agents, "agents", agents * ROW_BYTES)
        for key in ("mean_arrival", "max_power", "cost_linear", "cost_quadratic", "profile_id"):
            params[key] = np.tile(params[key][rows], reps)
        return cls(**params, first_agent=first_agent, agent_ids=agent_ids)

    def reset(self, seed: int, initial_backlog: npt.ArrayLike | None = None) -> F32:
        """Starts an episode at midnight with the arrivals of ``seed`` (an integer in
        ``[0, 2**64)``); returns the obs view."""
        backlog = None
        if initial_backlog is not None:
            backlog = as_f32(
                "initial_backlog", initial_backlog, shape=(self.num_agents,), nonnegative=True
            )
        self._core.reset(seed_(seed), self._obs, backlog)
        return self._obs

    def step(self, actions: npt.ArrayLike, *, out: StepResult | None = None) -> StepResult:
        """Advances every agent one step.

        ``actions`` (``[N]``, fraction of max power) is clipped to ``[0, 1]``; NaN or inf raise
        :class:`~samarl.errors.InvalidValueError` and change nothing.

        The outputs go to :attr:`buffers`, or to ``out`` (C-contiguous float32 arrays of the same
        shapes, e.g. NumPy views of fresh torch tensors: the engine then writes straight into
        memory the caller keeps, with no copy).
        """
        if isinstance(actions, np.ndarray) and actions.dtype == np.float32:
            a = np.ascontiguousarray(actions)  # the engine checks the values
        else:
            a = as_f32("actions", actions)
        check_shape("actions", a, (self.num_agents,))
        if out is None:
            out = self._result
        else:
            self._check_out(out)
        self._core.step(a, out.obs, out.reward, out.resource_use, out.served, out.arrived)
        return out

    def _step_into(self, actions: F32, out: StepResult) -> None:
        """:meth:`step` without its Python checks, for callers that built ``actions`` (C-contiguous
        float32 ``[N]``) and ``out`` themselves; the engine still checks lengths and values."""
        self._core.step(actions, out.obs, out.reward, out.resource_use, out.served, out.arrived)

    def _check_out(self, out: StepResult) -> None:
        n = self.num_agents
        for name, shape in (
            ("obs", (n, self.obs_dim)),
            ("reward", (n,)),
            ("resource_use", (n,)),
            ("served", (n,)),
            ("arrived", (n,)),
        ):
            arr = getattr(out, name)
            if not isinstance(arr, np.ndarray) or arr.dtype != np.float32:
                raise ArgumentTypeError(f"out.{name}: expected a float32 NumPy array")
            check_shape(f"out.{name}", arr, shape)
            if not arr.flags.c_contiguous or not arr.flags.writeable:
                raise ShapeError(f"out.{name}: must be C-contiguous and writeable")

    @property
    def buffers(self) -> StepResult:
        """The buffers every :meth:`step` writes in place and returns (views: copy what you keep)."""
        return self._result

    @property
    def step_count(self) -> int:
        """Steps since the last reset."""
        return self._core.step_count

    @property
    def backlog(self) -> F32:
        """Backlog of every agent (kWh), a copy."""
        return self._core.backlog()

    def get_state(self) -> dict[str, Any]:
        """Everything needed to continue the run exactly (for checkpoints)."""
        seed, step, backlog, last = self._core.get_state()
        return {"seed": seed, "step_count": step, "backlog": backlog, "last_arrival": last}

    def set_state(self, state: dict[str, Any]) -> F32:
        """Restores :meth:`get_state`'s output; returns the observation view."""
        n = self.num_agents
        keys = ("seed", "step_count", "backlog", "last_arrival")
        if not isinstance(state, dict) or not all(k in state for k in keys):
            raise ArgumentTypeError(f"state: expected get_state()'s dict with keys {list(keys)}")
        self._core.set_state(
            seed_(state["seed"], "state['seed']"),
            positive_int("state['step_count']", state["step_count"], minimum=0, maximum=MAX_U64),
            as_f32("backlog", state["backlog"], shape=(n,), nonnegative=True),
            as_f32("last_arrival", state["last_arrival"], shape=(n,), nonnegative=True),
        )
        self._core.observe(self._obs)
        return self._obs


def _check_range(
    arrays: dict[str, np.ndarray], ids: np.ndarray, profiles: np.ndarray, noise: float, dt: float
) -> None:
    """Refuses parameters whose backlog, observations or waiting cost would leave float32's range
    once :data:`MAX_WAITING_STEPS` steps of an agent's largest arrivals wait unserved, naming the
    parameter and the first agent concerned."""
    with np.errstate(over="ignore", invalid="ignore"):
        peak = profiles.astype(np.float64).max(axis=1)[ids]
        arrival = arrays["mean_arrival"].astype(np.float64) * peak * (1.0 + noise)
        backlog = arrival * MAX_WAITING_STEPS
        linear = arrays["cost_linear"].astype(np.float64) * backlog
        quadratic = arrays["cost_quadratic"].astype(np.float64) * backlog**2
        energy = arrays["max_power"].astype(np.float64) * dt
    limit = _F32_MAX / 2
    for name, values, what in (
        ("mean_arrival", backlog, "backlog"),
        ("max_power", energy, "energy a step (max_power * dt_hours)"),
        ("cost_linear", linear, "linear waiting cost"),
        ("cost_quadratic", quadratic, "quadratic waiting cost"),
    ):
        bad = np.flatnonzero(~(values <= limit))
        if bad.size:
            i = int(bad[0])
            raise InvalidValueError(
                f"{name}: agent {i}'s {what} would exceed float32's range (+-3.4e38) once "
                f"{MAX_WAITING_STEPS:,} steps of its arrivals wait (it may draw up to "
                f"{arrival[i]:.3g} kWh a step); use smaller units"
            )


def _per_agent(name: str, x: np.ndarray, n: int) -> np.ndarray:
    """Broadcasts a scalar to ``[n]`` and checks a vector's length."""
    if x.ndim == 0:
        return np.full(n, x, dtype=x.dtype)
    check_shape(name, x, (n,))
    return np.ascontiguousarray(x)
