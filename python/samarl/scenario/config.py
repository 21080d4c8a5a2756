"""The scenario: the plain, validated data that defines a demand-response problem.

A :class:`ScenarioConfig` says how many households there are, how they differ (distributions of
daily demand, maximum power and waiting cost), when their demand arrives (built-in synthetic daily
profiles, or measured load profiles from a CSV or an array), the step length, the episode length and
the grid's capacity. It is a frozen dataclass validated on construction: a bad value raises
:class:`~samarl.errors.ConfigError` naming the field.

:meth:`ScenarioConfig.build` turns it into arrays (:class:`ScenarioData`): one row per agent,
sampled deterministically from ``population_seed``, plus the capacity and the expected total demand
for every step of the day. Reading and writing files is :mod:`samarl.scenario.files` (on top of
:mod:`samarl.scenario.formats`, which also reads the presets).

Units: energy in kWh, power in kW, time in hours unless a name says otherwise.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from samarl._validate import (
    MAX_AGENTS,
    MAX_SEED,
    as_f64,
    check_memory,
    config_int,
    config_number,
    config_seed,
    setting,
)
from samarl.errors import ConfigError
from samarl.scenario.distributions import (
    Constant,
    Distribution,
    LogNormal,
    Uniform,
    distribution_from,
    distribution_to,
)
from samarl.scenario.formats import preset_table
from samarl.scenario.profiles import (
    BUILTIN_PROFILES,
    builtin_profile,
    normalise_profiles,
    read_profile_csv,
    to_steps,
)

__all__ = ["MAX_SEED", "ScenarioConfig", "ScenarioData"]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: Most steps per day: one-second steps (``dt_hours >= 24 / 86400``).
MAX_STEPS_PER_DAY = 86_400
#: Most steps per episode (the engine counts steps in signed 64-bit integers).
MAX_EPISODE_STEPS = 2**62
#: Peak bytes per agent of :meth:`ScenarioConfig.build` (the draws in float64, the built arrays;
#: measured 81 at 2 million agents), checked against the machine's memory before building.
BUILD_BYTES_PER_AGENT = 96


# --------------------------------------------------------------------------------------------------
# The scenario
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScenarioData:
    """A scenario turned into arrays (from :meth:`ScenarioConfig.build`; all arrays read-only).

    Agent ``n`` has arrivals ``mean_arrival[n] * profiles[profile_id[n], t % S] * (1 +- noise)``
    per step, at most ``max_power[n]`` kW, and waiting cost
    ``cost_linear[n] * q + cost_quadratic[n] * q**2`` per step for a backlog of ``q`` kWh.
    """

    mean_arrival: F32
    """``[N]`` mean arrivals per step at profile value 1 (kWh); profiles have mean 1, so this is
    also the agent's mean arrivals per step over a day."""
    max_power: F32
    """``[N]`` maximum power (kW)."""
    cost_linear: F32
    """``[N]`` waiting cost per kWh of backlog per step."""
    cost_quadratic: F32
    """``[N]`` waiting cost per kWh**2 of backlog per step."""
    profile_id: I64
    """``[N]`` row of ``profiles`` that drives each agent."""
    profiles: F32
    """``[P, S]`` daily arrival profiles, each with mean 1."""
    daily_demand: F32
    """``[N]`` expected arrivals per day (kWh)."""
    expected_total_demand: F32
    """``[S]`` expected total arrivals as power, ``sum_n mean_arrival[n] * phi_n(t) / dt`` (kW)."""
    capacity: F32
    """``[S]`` total capacity ``C_t`` (kW) for every step of the day."""
    block_of_step: I64
    """``[S]`` the constraint block ``h(t)`` of every step of the day."""
    built_for: ScenarioConfig | None = None
    """The scenario whose :meth:`~ScenarioConfig.build` made these arrays (kept by
    ``dataclasses.replace``, so a slice of some agents still names it)."""

    @property
    def num_agents(self) -> int:
        """Number of agents ``N``."""
        return int(self.mean_arrival.shape[0])

    def check_for(self, scenario: ScenarioConfig, *, subset: bool = False) -> None:
        """Raises :class:`~samarl.errors.ConfigError`, one line naming what differs, unless these
        arrays are ``scenario``'s build: its fields that shape the build, its agent count (with
        ``subset``, at most it: some of its agents), steps per day and blocks. Settings the build
        does not read (``name``, ``seed``, ``episode_days``, ``noise``) may differ."""
        if self.built_for is not None and self.built_for is not scenario:
            for field in _BUILD_FIELDS:
                built, wanted = getattr(self.built_for, field), getattr(scenario, field)
                if built != wanted:
                    raise ConfigError(
                        f"data: built for a scenario with {field} = {built!r}, but this one has "
                        f"{field} = {wanted!r} (pass scenario.build())"
                    )
        n, want = self.num_agents, scenario.num_agents
        if n > want or (n != want and not subset):
            raise ConfigError(
                f"data: holds {n} agents, but the scenario has num_agents = {want} "
                "(pass scenario.build())"
            )
        s = scenario.steps_per_day
        for name in ("profiles", "capacity", "block_of_step", "expected_total_demand"):
            got = np.shape(getattr(self, name))[-1:]
            if got != (s,):
                raise ConfigError(
                    f"data: {name} has {got[0] if got else 0} steps a day, but the scenario has "
                    f"{s} (dt_hours = {scenario.dt_hours}) (pass scenario.build())"
                )
        if not np.array_equal(self.block_of_step, scenario.block_of_step()):
            raise ConfigError(
                f"data: its blocks of the day differ from the scenario's num_blocks = "
                f"{scenario.num_blocks} (pass scenario.build())"
            )


@dataclass(frozen=True, slots=True)
class ScenarioConfig:
    """A demand-response scenario (docs/environment.md). Frozen; validated on construction.

    Capacity is either ``capacity_kw`` (a constant, or a daily profile) or, when that is ``None``,
    ``capacity_factor``: the constant ``mean + capacity_factor * (peak - mean)`` of the expected
    total demand of the built population. With a factor in ``(0, 1)`` serving everyone requires
    moving load out of the peak hours, and is feasible.

    Profiles are either built-in synthetic ones (``profiles``, names of :data:`BUILTIN_PROFILES`) or
    measured ones (``profile_csv`` or ``profile_data``), which then replace ``profiles``. Agents are
    assigned to profiles by ``profile_assignment``.
    """

    name: str = "default"
    """Name used in run folders and plots."""
    num_agents: int = 1000
    """Number of households ``N``."""
    dt_hours: float = 0.25
    """Step length (hours); ``24 / dt_hours`` steps a day (96 at the default 15 minutes)."""
    episode_days: float = 3.0
    """Episode length (days); must be a whole number of steps."""
    num_blocks: int = 24
    """Number of constraint blocks per day ``m`` (24 = hourly, 1 = one daily constraint)."""
    daily_demand: Distribution = LogNormal(mean=10.0, sigma=0.5)
    """Each agent's expected arrivals per day (kWh)."""
    power_ratio: Distribution = Uniform(low=3.0, high=6.0)
    """Each agent's maximum power as a multiple of its mean demand power ``daily_demand / 24``."""
    waiting_cost: Distribution = Uniform(low=0.5, high=1.5)
    """Linear waiting cost per kWh of backlog per hour (scaled by ``dt_hours`` per step)."""
    waiting_cost_quadratic: Distribution = Constant(0.05)
    """Quadratic waiting cost per kWh**2 of backlog per hour (scaled by ``dt_hours`` per step)."""
    profiles: tuple[str, ...] = ("residential", "early", "late", "evening")
    """Built-in daily profiles (keys of :data:`BUILTIN_PROFILES`); unused with measured ones."""
    profile_csv: str | None = None
    """Path of a CSV of measured daily profiles (see :func:`read_profile_csv`), stored absolute: a
    relative path is resolved against the working folder here, and against the file's folder in a
    scenario file (:func:`~samarl.scenario.dump_scenario` writes it so)."""
    profile_data: tuple[tuple[float, ...], ...] | None = None
    """Measured daily profiles given inline, ``[num_profiles][values_per_day]`` (any array-like)."""
    profile_assignment: Literal["random", "cycle"] = "random"
    """How agents get profiles: ``random`` (uniform draw per agent, resampling with replacement) or
    ``cycle`` (agent ``n`` gets profile ``n % P``: one each when ``P == N``)."""
    noise: float = 0.3
    """Arrivals are uniform on ``mean * [1 - noise, 1 + noise]``; in ``[0, 1]``."""
    capacity_kw: float | tuple[float, ...] | None = None
    """Total capacity (kW): a constant, or a daily profile of ``R`` values resampled to the steps of
    the day (e.g. 24 hourly values); ``None`` = use ``capacity_factor``."""
    capacity_factor: float = 0.5
    """With ``capacity_kw = None``: capacity = ``mean + factor * (peak - mean)`` of the expected
    total demand (0 = the mean, 1 = the peak; ``>= 0``)."""
    seed: int = 0
    """Seed of the arrival noise of the first episode (``env.reset()`` without a seed)."""
    population_seed: int = 0
    """Seed of the agents' parameters and profile assignment (each parameter has its own stream, so
    the first ``n`` agents of a larger scenario equal those of a smaller one)."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"name: expected a non-empty string, got {self.name!r}")
        self._check_time()
        self._check_population()
        self._check_profiles()
        self._check_capacity()
        for name in ("seed", "population_seed"):
            _set(self, name, config_seed(name, getattr(self, name)))

    def _check_time(self) -> None:
        _set(self, "num_agents", config_int("num_agents", self.num_agents, maximum=MAX_AGENTS))
        _set(self, "dt_hours", config_number("dt_hours", self.dt_hours))
        if not 24 / MAX_STEPS_PER_DAY <= self.dt_hours <= 24:
            raise ConfigError(
                f"dt_hours: must be in [{24 / MAX_STEPS_PER_DAY:.3g}, 24] (at most "
                f"{MAX_STEPS_PER_DAY} steps a day), got {self.dt_hours}"
            )
        steps = 24.0 / self.dt_hours
        if abs(steps - round(steps)) > 1e-6 * steps:
            raise ConfigError(
                f"dt_hours: a day must be a whole number of steps, 24 / {self.dt_hours} = {steps:g}"
            )
        s = self.steps_per_day
        _set(self, "episode_days", config_number("episode_days", self.episode_days))
        episode = self.episode_days * s
        if episode > MAX_EPISODE_STEPS:  # first: beyond float's range, round(inf) raises
            raise ConfigError(
                f"episode_days: at most {MAX_EPISODE_STEPS} steps, got {self.episode_days} days "
                f"({episode:g} steps)"
            )
        if self.episode_days <= 0 or abs(episode - round(episode)) > 1e-6 * episode:
            raise ConfigError(
                f"episode_days: must be > 0 and a whole number of {s} steps a day, "
                f"got {self.episode_days} ({episode:g} steps)"
            )
        _set(self, "num_blocks", config_int("num_blocks", self.num_blocks))
        if self.num_blocks > s:
            raise ConfigError(
                f"num_blocks: at most one block per step ({s}), got {self.num_blocks}"
            )

    def _check_population(self) -> None:
        for name in ("daily_demand", "power_ratio", "waiting_cost", "waiting_cost_quadratic"):
            dist = getattr(self, name)
            if not isinstance(dist, (Constant, Uniform, LogNormal)):
                raise ConfigError(
                    f"{name}: expected Constant, Uniform or LogNormal, got {type(dist).__name__}"
                )
            dist._validate(name)
            # Plain floats (NumPy scalars would not survive a TOML round trip).
            dist = type(dist)(*(float(v) + 0.0 for v in dataclasses.astuple(dist)))  # no -0.0
            _set(self, name, dist)
            low = dist.support[0]
            # Demand and power scale everything: a zero draw would be a household that never
            # consumes or can never be served. Log-normal draws are always > 0.
            if name in ("daily_demand", "power_ratio") and not (
                isinstance(dist, LogNormal) or low > 0
            ):
                raise ConfigError(f"{name}: every draw must be > 0, but the lowest is {low}")
            if low < 0:
                raise ConfigError(f"{name}: every draw must be >= 0, but the lowest is {low}")

    def _check_profiles(self) -> None:
        if isinstance(self.profiles, str):
            _set(self, "profiles", (self.profiles,))
        elif not isinstance(self.profiles, (tuple, list)):
            raise ConfigError(
                f"profiles: expected a list of built-in profile names, got {self.profiles!r}"
            )
        else:
            _set(self, "profiles", tuple(self.profiles))
        for p in self.profiles:
            if not isinstance(p, str) or p not in BUILTIN_PROFILES:
                hint = difflib.get_close_matches(str(p), BUILTIN_PROFILES, n=1)
                raise ConfigError(
                    f"profiles: unknown built-in profile {p!r}"
                    + (f" (did you mean {hint[0]!r}?)" if hint else "")
                    + f"; choose from {sorted(BUILTIN_PROFILES)}"
                )
        if self.profile_csv is not None and self.profile_data is not None:
            raise ConfigError(
                "profile_csv: give measured profiles as a CSV or as profile_data, not both"
            )
        if self.profile_csv is not None:
            csv_path: object = self.profile_csv
            if isinstance(csv_path, os.PathLike):
                csv_path = os.fspath(csv_path)
            if not isinstance(csv_path, str):  # a PathLike may give bytes
                raise ConfigError(f"profile_csv: expected a path, got {self.profile_csv!r}")
            # Absolute: a relative path means the working folder of the moment, and a scenario is
            # built, compared and written next to results from others.
            _set(self, "profile_csv", os.path.abspath(os.path.expanduser(csv_path)))
            if not Path(self.profile_csv).is_file():
                raise ConfigError(f"profile_csv: no such file {self.profile_csv!r}")
        elif self.profile_data is not None:
            data = setting(as_f64, "profile_data", self.profile_data, shape=(None, None))
            normalise_profiles("profile_data", data, self.steps_per_day)  # validates
            _set(self, "profile_data", tuple(tuple(map(float, row)) for row in data))
        elif not self.profiles:
            raise ConfigError("profiles: give at least one built-in profile or measured profiles")
        if not isinstance(self.profile_assignment, str) or self.profile_assignment not in (
            "random",
            "cycle",
        ):
            raise ConfigError(
                f"profile_assignment: must be 'random' or 'cycle', got {self.profile_assignment!r}"
            )
        _set(self, "noise", config_number("noise", self.noise))
        if not 0 <= self.noise <= 1:
            raise ConfigError(f"noise: must be in [0, 1], got {self.noise}")

    def _check_capacity(self) -> None:
        cap = self.capacity_kw
        if cap is None:
            pass
        elif not isinstance(cap, (list, tuple, np.ndarray)):  # config_number refuses non-numbers
            value = config_number("capacity_kw", cap)
            if value <= 0:
                raise ConfigError(f"capacity_kw: must be > 0, got {value}")
            _set(self, "capacity_kw", value)
        else:
            arr = setting(as_f64, "capacity_kw", cap, shape=(None,))
            if arr.size == 0 or (arr <= 0).any():
                raise ConfigError("capacity_kw: a capacity profile needs values, all > 0")
            _set(self, "capacity_kw", tuple(map(float, arr)))
        _set(self, "capacity_factor", config_number("capacity_factor", self.capacity_factor))
        if self.capacity_factor < 0:
            raise ConfigError(
                f"capacity_factor: must be >= 0 (capacity below the mean demand is infeasible), "
                f"got {self.capacity_factor}"
            )

    # -- derived quantities -----------------------------------------------------------------------
    @property
    def steps_per_day(self) -> int:
        """Steps per day ``S = 24 / dt_hours``."""
        return round(24.0 / self.dt_hours)

    @property
    def episode_steps(self) -> int:
        """Steps per episode."""
        return round(self.episode_days * self.steps_per_day)

    @property
    def uses_measured_profiles(self) -> bool:
        """Whether the arrivals follow measured profiles rather than built-in ones."""
        return self.profile_csv is not None or self.profile_data is not None

    def block_of_step(self) -> I64:
        """``int64 [S]``: block ``h(t) = floor(t * m / S)`` of every step of the day."""
        s = self.steps_per_day
        return np.arange(s, dtype=np.int64) * self.num_blocks // s

    def profile_matrix(self) -> F64:
        """``[P, S]`` daily arrival profiles (built-in or measured), each with mean 1."""
        s = self.steps_per_day
        if self.profile_csv is not None:
            return read_profile_csv(self.profile_csv, s)
        if self.profile_data is not None:
            return normalise_profiles("profile_data", np.asarray(self.profile_data), s)
        return np.stack([builtin_profile(p, s) for p in self.profiles])

    def build(self) -> ScenarioData:
        """Samples the population and computes capacity and expected demand (O(N)).

        Deterministic in ``population_seed``. Each parameter draws from its own stream
        (``SeedSequence(population_seed).spawn``), so agent ``n``'s parameters do not depend on
        ``num_agents``.

        Raises :class:`~samarl.errors.MemoryLimitError` at once, naming ``num_agents`` and the
        bytes needed, when the population would not fit in the memory this machine has available.
        """
        check_memory("num_agents", self.num_agents, "agents", self.build_bytes())
        try:
            with np.errstate(over="ignore", under="ignore", invalid="ignore"):
                data = self._build()
        except MemoryError:
            raise ConfigError(
                f"num_agents: not enough memory to build {self.num_agents} agents"
            ) from None
        _check_built(self, data)
        return data

    def build_bytes(self) -> int:
        """An estimate of the peak memory of :meth:`build` (bytes): per agent, and the profiles
        (a measured profile file counts by its size on disk)."""
        s = self.steps_per_day
        if self.profile_data is not None:
            rows = len(self.profile_data)
        elif self.profile_csv is not None:
            try:
                rows = max(1, os.path.getsize(self.profile_csv) // max(1, 8 * s))
            except OSError:
                rows = 1
        else:
            rows = len(self.profiles)
        return self.num_agents * BUILD_BYTES_PER_AGENT + 24 * rows * s

    def _build(self) -> ScenarioData:
        n, s, dt = self.num_agents, self.steps_per_day, self.dt_hours
        profiles = self.profile_matrix()
        num_profiles = profiles.shape[0]
        streams = [
            np.random.default_rng(c) for c in np.random.SeedSequence(self.population_seed).spawn(5)
        ]
        daily = self.daily_demand.sample(streams[0], n)
        ratio = self.power_ratio.sample(streams[1], n)
        w1 = self.waiting_cost.sample(streams[2], n)
        w2 = self.waiting_cost_quadratic.sample(streams[3], n)
        if self.profile_assignment == "cycle":
            profile_id = np.arange(n, dtype=np.int64) % num_profiles
        else:
            profile_id = streams[4].integers(0, num_profiles, size=n, dtype=np.int64)

        mean_arrival = daily / s  # profiles have mean 1: mean arrivals per step
        max_power = ratio * daily / 24.0
        mu_per_profile = np.bincount(profile_id, weights=mean_arrival, minlength=num_profiles)
        expected = mu_per_profile @ profiles / dt
        capacity = self._capacity(expected)
        return ScenarioData(
            mean_arrival=_frozen(mean_arrival, np.float32),
            max_power=_frozen(max_power, np.float32),
            cost_linear=_frozen(w1 * dt, np.float32),
            cost_quadratic=_frozen(w2 * dt, np.float32),
            profile_id=_frozen(profile_id, np.int64),
            profiles=_frozen(profiles, np.float32),
            daily_demand=_frozen(daily, np.float32),
            expected_total_demand=_frozen(expected, np.float32),
            capacity=_frozen(capacity, np.float32),
            block_of_step=_frozen(self.block_of_step(), np.int64),
            built_for=self,
        )

    def dynamics_params(self, data: ScenarioData | None = None) -> dict[str, Any]:
        """The keyword arguments of the agents' dynamics (:class:`~samarl.envs.Dynamics`, and the
        NumPy reference's ``DemandResponseRef`` and ``make_step_constants``): the per-agent arrays
        of ``data`` (built when omitted), the profiles, ``dt_hours`` and ``noise``."""
        d = data if data is not None else self.build()
        return {
            "mean_arrival": d.mean_arrival,
            "max_power": d.max_power,
            "cost_linear": d.cost_linear,
            "cost_quadratic": d.cost_quadratic,
            "profile_id": d.profile_id,
            "profiles": d.profiles,
            "dt_hours": self.dt_hours,
            "noise": self.noise,
        }

    def _capacity(self, expected_total_demand: F64) -> F64:
        s = self.steps_per_day
        if self.capacity_kw is None:
            mean, peak = expected_total_demand.mean(), expected_total_demand.max()
            return np.full(s, mean + self.capacity_factor * (peak - mean))
        if isinstance(self.capacity_kw, float):
            return np.full(s, self.capacity_kw)
        return to_steps(np.asarray(self.capacity_kw, dtype=np.float64), s)

    # -- (de)serialisation ------------------------------------------------------------------------
    def replace(self, **changes: Any) -> ScenarioConfig:
        """A copy with some fields changed (validated again); an unknown field is a
        :class:`~samarl.errors.ConfigError`."""
        _check_names(type(self), changes)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (numbers, strings, lists, tables) for TOML, YAML or JSON; ``None`` omitted."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, (Constant, Uniform, LogNormal)):
                value = distribution_to(value)
            elif isinstance(value, tuple):
                value = [list(v) if isinstance(v, tuple) else v for v in value]
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScenarioConfig:
        """Inverse of :meth:`to_dict`: missing fields take defaults, unknown ones are errors."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"scenario: expected a table of fields, got {type(data).__name__}")
        _check_names(cls, data)
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key in ("daily_demand", "power_ratio", "waiting_cost", "waiting_cost_quadratic"):
                value = distribution_from(key, value)
            kwargs[key] = value  # lists become tuples in __post_init__
        return cls(**kwargs)

    @classmethod
    def preset(cls, name: str, /, **overrides: Any) -> ScenarioConfig:
        """A named preset shipped with samarl (:func:`~samarl.scenario.preset_names`), with
        optional overrides."""
        scenario = cls.from_dict(preset_table(name))
        return scenario.replace(**overrides) if overrides else scenario


# --------------------------------------------------------------------------------------------------
# Field checks
# --------------------------------------------------------------------------------------------------


def _check_names(cls: type[ScenarioConfig], changes: Mapping[Any, Any]) -> None:
    """Raises a ConfigError for a key that is not a field of ``cls``, with a close match."""
    known = {f.name for f in dataclasses.fields(cls)}
    for key in changes:
        if key not in known:
            hint = difflib.get_close_matches(str(key), known, n=1)
            raise ConfigError(
                f"{key}: unknown scenario field" + (f" (did you mean {hint[0]!r}?)" if hint else "")
            )


#: The fields :meth:`ScenarioConfig.build` reads (the others: name, seed, episode_days, noise).
_BUILD_FIELDS = (
    "num_agents",
    "dt_hours",
    "num_blocks",
    "daily_demand",
    "power_ratio",
    "waiting_cost",
    "waiting_cost_quadratic",
    "profiles",
    "profile_csv",
    "profile_data",
    "profile_assignment",
    "capacity_kw",
    "capacity_factor",
    "population_seed",
)

#: Which field to blame when a built array is degenerate: ``(array, field, must be positive)``.
_BUILT_FIELDS = (
    ("mean_arrival", "daily_demand", True),
    ("daily_demand", "daily_demand", True),
    ("max_power", "power_ratio", True),
    ("cost_linear", "waiting_cost", False),
    ("cost_quadratic", "waiting_cost_quadratic", False),
    ("profiles", "profiles", False),
    ("expected_total_demand", "daily_demand", True),
)


def _check_built(config: ScenarioConfig, data: ScenarioData) -> None:
    """Refuses a population that builds but is degenerate in float32: a draw that underflows to
    0 or overflows to inf (extreme distribution parameters), or a capacity that does."""
    for array, field, positive in _BUILT_FIELDS:
        values = getattr(data, array)
        bad = ~np.isfinite(values) | ((values <= 0) if positive else (values < 0))
        if bad.any():
            field = _profile_field(config) if field == "profiles" else field
            finite = values[np.isfinite(values)]
            span = f"[{finite.min():.3g}, {finite.max():.3g}]" if finite.size else "none finite"
            raise ConfigError(
                f"{field}: the built {array} has {int(bad.sum())} value(s) that are "
                f"{'0 or ' if positive else ''}beyond float32's range (+-3.4e38); finite values "
                f"span {span}. Use less extreme parameters"
            )
    cap = data.capacity
    if not (np.isfinite(cap).all() and (cap > 0).all()):
        field = "capacity_factor" if config.capacity_kw is None else "capacity_kw"
        raise ConfigError(
            f"{field}: the capacity is {float(cap.min()):.3g} .. {float(cap.max()):.3g} kW in "
            "float32; it must be finite and > 0 at every step"
        )


def _profile_field(config: ScenarioConfig) -> str:
    if config.profile_csv is not None:
        return "profile_csv"
    return "profile_data" if config.profile_data is not None else "profiles"


def _set(obj: object, name: str, value: object) -> None:
    """Stores a normalised value in a frozen dataclass (only from ``__post_init__``)."""
    object.__setattr__(obj, name, value)


def _frozen(values: npt.ArrayLike, dtype: type[np.generic]) -> Any:
    arr = np.ascontiguousarray(values, dtype=dtype)
    arr.flags.writeable = False
    return arr
