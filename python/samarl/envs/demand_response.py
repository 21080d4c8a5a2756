"""The demand-response environment: N households sharing a grid's capacity (native batched API).

:class:`DemandResponseEnv` turns a :class:`~samarl.scenario.ScenarioConfig` into an environment
with episodes. Every array is ``[N, ...]`` float32, C-contiguous, and written in place by the Rust
engine: ``step`` returns views of buffers allocated once (copy what you keep), so a training loop
allocates nothing per step and torch can wrap them with ``torch.from_numpy`` without a copy.

The shared resource is first-class: every step returns each agent's ``resource_use`` (kW), and
:attr:`DemandResponseEnv.constraints` declares what it must satisfy (total use <= capacity, per
block of the day). The Lagrange multiplier is *not* part of the env: augmented policies append it
(docs/method.md, training), and the executor runs the dual dynamics (section 3).

Episodes start at midnight and are truncated after ``episode_steps`` steps (the scenario's, unless
given; households never terminate). The env does not auto-reset: stepping a finished episode is an
error, and auto-reset is the :class:`~samarl.envs.AutoReset` wrapper (as in JaxMARL). The trainer
runs copies of the population under that wrapper; the executor runs one long episode.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from samarl._validate import MAX_U64, as_f32, as_index, positive_int, real
from samarl._validate import seed as seed_
from samarl.envs.dynamics import OBS_FIELDS, Dynamics, StepResult
from samarl.errors import ArgumentTypeError, InvalidValueError, ShapeError
from samarl.scenario import ScenarioConfig, ScenarioData, resolve_scenario

__all__ = [
    "CapacityConstraint",
    "DemandResponseEnv",
    "EnvStep",
    "lagrangian_reward",
    "observation_bounds",
]

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class EnvStep:
    """What one :meth:`DemandResponseEnv.step` returns. Arrays are views of the env's buffers."""

    obs: F32
    """``[N, obs_dim]`` observation for the coming step (columns: :data:`OBS_FIELDS`)."""
    reward: F32
    """``[N]`` reward: minus the waiting cost of each agent's backlog after the step."""
    resource_use: F32
    """``[N]`` power each agent drew (kW): its use of the shared capacity."""
    served: F32
    """``[N]`` energy served this step (kWh)."""
    arrived: F32
    """``[N]`` energy that arrived this step (kWh)."""
    terminated: bool
    """Always ``False``: households never stop."""
    truncated: bool
    """``True`` on the episode's last step."""
    final_obs: F32 | None = None
    """With :class:`~samarl.envs.AutoReset`, on the last step of an episode: its final
    observation (``obs`` is then the next episode's first); ``None`` otherwise."""


@dataclass(frozen=True, slots=True)
class CapacityConstraint:
    """The global constraint: ``sum_n resource_use[n, t] <= capacity[t % S]``, on average per block.

    Formally (docs/method.md) for every block ``h``: the long-run average over days of
    ``sum_{t in block h} (sum_n resource_use[n, t] - capacity[t % S])`` is ``<= 0``.
    """

    capacity: F32
    """``[S]`` total capacity ``C_t`` (kW) for every step of the day."""
    block_of_step: I64
    """``[S]`` block ``h(t)`` of every step of the day."""
    num_blocks: int
    """Number of blocks (constraints) per day ``m``."""
    name: str = "capacity"
    """Name of the resource."""
    units: str = "kW"
    """Units of ``capacity`` and of the agents' ``resource_use``."""

    def __post_init__(self) -> None:
        capacity = as_f32("capacity", self.capacity, shape=(None,))
        if capacity.size == 0 or (capacity <= 0).any():
            raise InvalidValueError(
                "capacity: expected the capacity (kW) of every step of the day, all > 0"
            )
        blocks = as_index("block_of_step", self.block_of_step, shape=(capacity.size,))
        num_blocks = positive_int("num_blocks", self.num_blocks)
        if blocks.max() >= num_blocks:
            raise InvalidValueError(
                f"block_of_step: blocks must be < num_blocks = {num_blocks}, found {blocks.max()}"
            )
        for name in ("name", "units"):
            if not isinstance(getattr(self, name), str):
                raise ArgumentTypeError(f"{name}: expected a string, got {getattr(self, name)!r}")
        object.__setattr__(self, "capacity", capacity)
        object.__setattr__(self, "block_of_step", blocks)
        object.__setattr__(self, "num_blocks", num_blocks)

    def excess(self, total_use: float, step_of_day: int) -> float:
        """``total_use - C_t`` at one step (positive = over capacity)."""
        return float(total_use) - float(self.capacity[step_of_day])


class DemandResponseEnv:
    """N heterogeneous households with deferrable demand (docs/environment.md), batched.

    Parameters
    ----------
    scenario
        A :class:`~samarl.scenario.ScenarioConfig`, a preset name (``"small"``, ``"default"``, ...)
        or a scenario file path.
    **overrides
        Scenario fields to change, e.g. ``num_agents=64``.

    Example::

        env = DemandResponseEnv("small")
        obs = env.reset(seed=0)                                   # float32 [N, 7]
        out = env.step(np.full(env.num_agents, 0.5, np.float32))
        over = out.resource_use.sum() - env.capacity[0]           # kW above capacity at t = 0
    """

    #: Names of the observation columns, in order.
    obs_fields: tuple[str, ...] = OBS_FIELDS

    def __init__(
        self,
        scenario: ScenarioConfig | str = "default",
        *,
        data: ScenarioData | None = None,
        copies: int = 1,
        episode_steps: int | None = None,
        first_agent: int = 0,
        **overrides: Any,
    ) -> None:
        scenario = resolve_scenario(scenario, **overrides)
        self.scenario: ScenarioConfig = scenario
        """The (validated) scenario."""
        if data is not None:
            if not isinstance(data, ScenarioData):
                raise ArgumentTypeError(
                    f"data: expected the scenario's ScenarioData (scenario.build()), got "
                    f"{type(data).__name__}"
                )
            data.check_for(scenario, subset=True)  # a slice of its agents is a partition
        self.data: ScenarioData = scenario.build() if data is None else data
        """The scenario's arrays: per-agent parameters, profiles, capacity, expected demand."""
        d = self.data
        self.copies: int = positive_int("copies", copies)
        """Independent copies of the population side by side (row ``r * N + n`` is agent ``n``'s
        ``r``-th copy, with its own arrivals and backlog); each copy shares the capacity."""
        self.dynamics = Dynamics.from_scenario(
            scenario, d, copies=self.copies, first_agent=first_agent
        )
        """The Rust transition core."""
        self.first_agent: int = self.dynamics.first_agent
        """Agent id of row 0: row ``i`` draws the arrivals of agent ``first_agent + i``. A
        partition of a larger population (``data`` holding its agents ``a..b``, the others' arrays
        left out) passes ``first_agent=a`` and then steps exactly as those rows of the whole."""
        self.num_agents: int = d.num_agents * self.copies
        """Rows of every array: the population size times ``copies``."""
        self.obs_dim: int = self.dynamics.obs_dim
        self.steps_per_day: int = scenario.steps_per_day
        self.episode_steps: int = (
            scenario.episode_steps
            if episode_steps is None
            else positive_int("episode_steps", episode_steps)
        )
        self.num_blocks: int = scenario.num_blocks
        self.dt_hours: float = scenario.dt_hours
        self.constraints: tuple[CapacityConstraint, ...] = (
            CapacityConstraint(d.capacity, d.block_of_step, self.num_blocks),
        )
        """The global constraints (one: the grid's capacity)."""
        cap_share = d.capacity / np.float32(d.num_agents)
        cap_share.flags.writeable = False
        self._capacity_per_agent: F32 = cap_share
        self._base_seed = scenario.seed
        self._episode = -1
        self._arrival_seed: int | None = None

    @classmethod
    def from_preset(cls, name: str, /, **overrides: Any) -> DemandResponseEnv:
        """An env on a shipped preset (see :func:`samarl.scenario.preset_names`)."""
        return cls(ScenarioConfig.preset(name, **overrides))

    # -- the API -----------------------------------------------------------------------------------
    def reset(self, seed: int | None = None, initial_backlog: npt.ArrayLike | None = None) -> F32:
        """Starts an episode at midnight; returns the observation view ``[N, obs_dim]``.

        ``reset(seed=s)`` draws the episode's arrivals from seed ``s`` (bit-identical every time);
        ``reset()`` continues the sequence ``s + 1, s + 2, ...`` (the first is ``scenario.seed``).
        ``initial_backlog`` (``[N]`` kWh, default zeros) starts agents with waiting demand.
        """
        if seed is None:
            base, episode = self._base_seed, self._episode + 1
        else:
            base, episode = seed_(seed), 0
        arrival_seed = (base + episode) & MAX_U64
        obs = self.dynamics.reset(arrival_seed, initial_backlog)  # validates initial_backlog
        self._base_seed, self._episode, self._arrival_seed = base, episode, arrival_seed
        return obs

    def step(self, actions: npt.ArrayLike, *, out: StepResult | None = None) -> EnvStep:
        """Advances every agent one step.

        ``actions`` is ``[N]`` float32 (other dtypes are converted), the fraction of each agent's
        maximum power to draw, clipped to ``[0, 1]``. A wrong shape raises
        :class:`~samarl.errors.ShapeError`, NaN or inf :class:`~samarl.errors.InvalidValueError`,
        and the state is then unchanged. ``out`` names arrays for the engine to write instead of
        the env's buffers (see :meth:`Dynamics.step <samarl.envs.Dynamics.step>`).
        """
        t = self._check_running()
        out = self.dynamics.step(actions, out=out)
        return EnvStep(
            out.obs,
            out.reward,
            out.resource_use,
            out.served,
            out.arrived,
            terminated=False,
            truncated=t + 1 == self.episode_steps,
        )

    def _step_into(self, actions: F32, out: StepResult) -> bool:
        """:meth:`step` for callers that built ``actions`` (C-contiguous float32 ``[N]``) and
        ``out`` themselves (the TorchRL env): no Python checks of the arrays (the engine checks
        lengths and values) and no :class:`EnvStep`; returns whether the episode is truncated."""
        t = self._check_running()
        self.dynamics._step_into(actions, out)
        return t + 1 == self.episode_steps

    def _check_running(self) -> int:
        """The step count, after checking that an episode is running."""
        t = self.t
        if self._arrival_seed is None:
            raise RuntimeError("DemandResponseEnv.step: call reset() first")
        if t >= self.episode_steps:
            raise RuntimeError(
                f"DemandResponseEnv.step: the episode ended after {self.episode_steps} steps; "
                "call reset()"
            )
        return t

    # -- where the episode is ----------------------------------------------------------------------
    @property
    def t(self) -> int:
        """Steps since the last reset."""
        return self.dynamics.step_count

    @property
    def step_of_day(self) -> int:
        """Step of the day of the coming step, ``t % S``."""
        return self.t % self.steps_per_day

    @property
    def block(self) -> int:
        """Constraint block of the coming step, ``h(t % S)``."""
        return int(self.data.block_of_step[self.step_of_day])

    @property
    def episode(self) -> int:
        """Episodes since the last seeded reset (0 for the seeded one)."""
        return self._episode

    @property
    def arrival_seed(self) -> int | None:
        """Seed of the current episode's arrivals (``None`` before the first reset)."""
        return self._arrival_seed

    @property
    def backlog(self) -> F32:
        """``[N]`` kWh waiting to be served, a copy."""
        return self.dynamics.backlog

    # -- the constraint ----------------------------------------------------------------------------
    @property
    def block_of_step(self) -> I64:
        """``int64 [S]`` block ``h(t)`` of every step of the day (read-only)."""
        return self.data.block_of_step

    @property
    def capacity(self) -> F32:
        """``float32 [S]`` total capacity ``C_t`` (kW) for every step of the day (read-only)."""
        return self.data.capacity

    @property
    def capacity_per_agent(self) -> F32:
        """``float32 [S]`` each agent's share ``C_t / N`` (kW): the Lagrangian reward's offset."""
        return self._capacity_per_agent

    @property
    def expected_total_demand(self) -> F32:
        """``float32 [S]`` expected total arrivals as power (kW) for every step of the day."""
        return self.data.expected_total_demand

    def observation_bounds(self, initial_backlog: float = 0.0) -> tuple[F32, F32]:
        """``(low, high)`` bounds of every agent's observation; see :func:`observation_bounds`."""
        return observation_bounds(self.scenario, self.data, initial_backlog=initial_backlog)

    # -- checkpoints -------------------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        """Everything needed to continue this env exactly (with the same scenario)."""
        return {
            "dynamics": self.dynamics.get_state(),
            "base_seed": self._base_seed,
            "episode": self._episode,
            "arrival_seed": self._arrival_seed,
        }

    def set_state(self, state: dict[str, Any]) -> F32:
        """Restores :meth:`get_state`'s output; returns the observation view. A state that is not
        one raises a :class:`~samarl.errors.InvalidValueError` naming what is wrong, and changes
        nothing."""
        keys = ("dynamics", "base_seed", "episode", "arrival_seed")
        if not isinstance(state, dict) or not all(k in state for k in keys):
            got = sorted(map(str, state)) if isinstance(state, dict) else type(state).__name__
            raise ArgumentTypeError(
                f"state: expected get_state()'s dict with keys {list(keys)}, got {got}"
            )
        base = seed_(state["base_seed"], "state['base_seed']")
        episode = positive_int("state['episode']", state["episode"], minimum=-1)
        seed = state["arrival_seed"]
        arrival = None if seed is None else seed_(seed, "state['arrival_seed']")
        obs = self.dynamics.set_state(state["dynamics"])  # validates, then restores
        self._base_seed, self._episode, self._arrival_seed = base, episode, arrival
        return obs

    def __repr__(self) -> str:
        s = self.scenario
        return (
            f"DemandResponseEnv(scenario={s.name!r}, num_agents={self.num_agents}, "
            f"episode_steps={self.episode_steps}, num_blocks={self.num_blocks})"
        )


def observation_bounds(
    scenario: ScenarioConfig, data: ScenarioData, *, initial_backlog: float = 0.0
) -> tuple[F32, F32]:
    """``(low, high)``, each ``float32 [7]``: bounds every agent's observation satisfies.

    Backlog and arrivals are bounded by the largest possible arrivals (``mean * peak of profile *
    (1 + noise)``) over an episode, so the bounds are finite; they hold for episodes that start
    with at most ``initial_backlog`` kWh waiting (finite, ``>= 0``). A 1% margin absorbs float32
    rounding.
    """
    initial_backlog = real("initial_backlog", initial_backlog, low=0.0)
    peak_phi = data.profiles.max(axis=1)[data.profile_id]
    max_expected = float((data.mean_arrival * peak_phi).max())
    max_arrival = max_expected * (1.0 + scenario.noise)
    margin = 1.01
    low = np.array([0.0, 0.0, -1.0, -1.0, 0.0, 0.0, 0.0], dtype=np.float32)
    high = np.array(
        [
            (float(initial_backlog) + scenario.episode_steps * max_arrival) * margin,
            max_arrival * margin,
            1.0,
            1.0,
            max_expected * margin,
            float((data.max_power * np.float32(scenario.dt_hours)).max()) * margin,
            float(data.mean_arrival.max()) * margin,
        ],
        dtype=np.float64,
    )
    # A bound beyond float32's range is no bound at all: the largest float32 stands for it.
    return low, np.minimum(high, np.finfo(np.float32).max).astype(np.float32)


def lagrangian_reward(
    reward: Any, resource_use: Any, mult: Any, capacity_per_agent: Any, *, out: Any = None
) -> Any:
    """``reward - mult * (resource_use - capacity_per_agent)``: each agent's reward at a price.

    The one definition of the Lagrangian reward in samarl (docs/method.md): the trainer, the
    PettingZoo adapter and the Gymnasium view all call it. ``mult`` is each agent's multiplier for
    the current block (a scalar or ``[N]``) and ``capacity_per_agent`` is ``C_t / N`` of the step
    taken (``0`` drops the constant term, which leaves the optimal policy unchanged). Works on
    Python floats, NumPy arrays (``out`` may name a buffer to write) and torch tensors alike.

    Raises :class:`~samarl.errors.InvalidValueError` naming the argument when an input is NaN or
    inf (or the result overflows), :class:`~samarl.errors.ShapeError` when the shapes do not
    broadcast, and :class:`~samarl.errors.ArgumentTypeError` for complex or non-numeric input.
    """
    args = {
        "reward": reward,
        "resource_use": resource_use,
        "mult": mult,
        "capacity_per_agent": capacity_per_agent,
    }
    for name, value in args.items():
        if _is_complex(value) or isinstance(value, (str, bytes, bool)):
            raise ArgumentTypeError(f"{name}: expected real numbers, got {type(value).__name__}")
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            if out is None:
                result = reward - mult * (resource_use - capacity_per_agent)
            else:
                np.subtract(resource_use, capacity_per_agent, out=out)
                np.multiply(out, mult, out=out)
                np.subtract(reward, out, out=out)
                result = out
    except TypeError as e:
        raise ArgumentTypeError(f"lagrangian_reward: expected numbers or arrays ({e})") from None
    except OverflowError as e:  # a Python int beyond float's range
        raise InvalidValueError(f"lagrangian_reward: a value is too large ({e})") from None
    except (ValueError, RuntimeError):  # NumPy's and torch's broadcast errors
        raise _broadcast_error(args, out) from None
    if _is_complex(result):
        raise ArgumentTypeError(f"lagrangian_reward: expected real numbers, got {type(result)}")
    if not _all_finite(result):
        for name, value in args.items():
            if not _all_finite(value):
                raise InvalidValueError(f"{name}: must be finite, got a NaN or inf")
        raise InvalidValueError("lagrangian_reward: the result overflows (inputs too large)")
    return result


def _broadcast_error(args: dict[str, Any], out: Any) -> ShapeError:
    """The :class:`ShapeError` naming the first argument whose shape does not broadcast with the
    ones before it (or ``out``, when it cannot hold the result)."""
    shape: tuple[int, ...] = ()
    seen: list[str] = []
    for name, value in args.items():
        own = tuple(getattr(value, "shape", np.shape(value)))
        try:
            shape = np.broadcast_shapes(shape, own)
        except ValueError:
            return ShapeError(
                f"{name}: shape {list(own)} does not broadcast with the shape {list(shape)} of "
                f"{' and '.join(seen)}"
            )
        seen.append(name)
    got = list(getattr(out, "shape", np.shape(out)))
    return ShapeError(f"out: shape {got} cannot hold the result, of shape {list(shape)}")


def _all_finite(x: Any) -> bool:
    if hasattr(x, "isfinite"):  # a torch tensor
        return bool(x.isfinite().all())
    try:
        return bool(np.isfinite(x).all())
    except TypeError:
        raise ArgumentTypeError(f"expected numbers or arrays, got {type(x).__name__}") from None


def _is_complex(x: Any) -> bool:
    if hasattr(x, "is_complex"):  # a torch tensor
        return bool(x.is_complex())
    if isinstance(x, np.ndarray | np.generic):
        return x.dtype.kind == "c"
    return isinstance(x, complex)
