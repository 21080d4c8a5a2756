"""Scenarios: the plain, validated data that defines a demand-response problem.

A :class:`ScenarioConfig` says how many households there are, how they differ (distributions of
daily demand, maximum power and waiting cost), when their demand arrives (built-in synthetic daily
profiles, or measured load profiles from a CSV or an array), the step length, the episode length and
the grid's capacity. It is a frozen dataclass validated on construction: a bad value raises
:class:`~samarl.errors.ConfigError` naming the field.

:meth:`ScenarioConfig.build` turns it into arrays (:class:`ScenarioData`): one row per agent,
sampled deterministically from ``population_seed``, plus the capacity and the expected total demand
for every step of the day.

Scenarios load from TOML (``tomllib``), YAML (PyYAML, when installed) or JSON, and are written back
as TOML or JSON next to every run's results (:func:`dump_scenario`). Named presets ship as files in
``samarl/scenarios/`` (:func:`preset_names`): ``small`` (16 agents, for tests), ``default`` (1,000
agents, the demo), ``large`` (100,000 agents, benchmarks) and ``measured`` (the ``default``
population driven by the example measured profiles of ``measured_example.csv``).

Units: energy in kWh, power in kW, time in hours unless a name says otherwise.
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import importlib
import io
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Union

import numpy as np
import numpy.typing as npt

from samarl.errors import ConfigError

__all__ = [
    "BUILTIN_PROFILES",
    "Constant",
    "Distribution",
    "LogNormal",
    "ScenarioConfig",
    "ScenarioData",
    "Uniform",
    "builtin_profile",
    "dump_scenario",
    "load_scenario",
    "preset_names",
    "read_profile_csv",
]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: Largest seed: TOML integers are signed 64-bit, and every scenario must survive a TOML round trip.
MAX_SEED = 2**63 - 1


# --------------------------------------------------------------------------------------------------
# Distributions of per-agent parameters
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Constant:
    """Every agent gets ``value``. Written in a config file as a bare number."""

    value: float
    """The value."""

    def sample(self, rng: np.random.Generator, n: int) -> F64:
        """``n`` copies of ``value``."""
        return np.full(n, self.value, dtype=np.float64)

    @property
    def mean(self) -> float:
        """Expected value."""
        return self.value

    @property
    def support(self) -> tuple[float, float]:
        """Smallest and largest value a draw can take."""
        return (self.value, self.value)

    def _validate(self, name: str) -> None:
        _check_finite(name, self.value, "value")


@dataclass(frozen=True, slots=True)
class Uniform:
    """Uniform on ``[low, high]``. In a config file: ``{ dist = "uniform", low = 3, high = 6 }``."""

    low: float
    """Lower end."""
    high: float
    """Upper end (``>= low``)."""

    def sample(self, rng: np.random.Generator, n: int) -> F64:
        """``n`` independent draws."""
        return rng.uniform(self.low, self.high, size=n)

    @property
    def mean(self) -> float:
        """Expected value."""
        return 0.5 * (self.low + self.high)

    @property
    def support(self) -> tuple[float, float]:
        """Smallest and largest value a draw can take."""
        return (self.low, self.high)

    def _validate(self, name: str) -> None:
        _check_finite(name, self.low, "low")
        _check_finite(name, self.high, "high")
        if self.low > self.high:
            raise ConfigError(
                f"{name}: uniform needs low <= high, got low={self.low}, high={self.high}"
            )


@dataclass(frozen=True, slots=True)
class LogNormal:
    """Log-normal with arithmetic mean ``mean`` and log-space standard deviation ``sigma``.

    ``log X ~ Normal(log(mean) - sigma**2 / 2, sigma)``, so ``E[X] = mean`` whatever ``sigma`` is.
    In a config file: ``{ dist = "lognormal", mean = 10, sigma = 0.5 }``.
    """

    mean: float
    """Expected value (``> 0``)."""
    sigma: float
    """Standard deviation of ``log X`` (``>= 0``); 0.5 gives a 5-95% range of about 0.4x-2.1x."""

    def sample(self, rng: np.random.Generator, n: int) -> F64:
        """``n`` independent draws."""
        return rng.lognormal(math.log(self.mean) - 0.5 * self.sigma**2, self.sigma, size=n)

    @property
    def support(self) -> tuple[float, float]:
        """Smallest and largest value a draw can take (``0`` excluded, unbounded above)."""
        return (0.0, math.inf)

    def _validate(self, name: str) -> None:
        _check_finite(name, self.mean, "mean")
        _check_finite(name, self.sigma, "sigma")
        if self.mean <= 0:
            raise ConfigError(f"{name}: lognormal mean must be > 0, got {self.mean}")
        if self.sigma < 0:
            raise ConfigError(f"{name}: lognormal sigma must be >= 0, got {self.sigma}")


Distribution = Union[Constant, Uniform, LogNormal]  # noqa: UP007 (a runtime alias, py3.10 needs Union)
"""A distribution of one per-agent parameter."""

_DISTRIBUTIONS: dict[str, type[Uniform] | type[LogNormal] | type[Constant]] = {
    "constant": Constant,
    "uniform": Uniform,
    "lognormal": LogNormal,
}


def _check_finite(name: str, value: object, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name}: {what} must be a finite number, got {value!r}")


def _distribution_from(name: str, raw: object) -> Distribution:
    """A distribution from its config-file form: a number, a table with ``dist``, an instance."""
    if isinstance(raw, (Constant, Uniform, LogNormal)):
        return raw
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return Constant(float(raw))
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"{name}: expected a number or a table like {{ dist = 'uniform', low = 1, high = 2 }}, "
            f"got {raw!r}"
        )
    params = dict(raw)
    kind = params.pop("dist", None)
    if kind not in _DISTRIBUTIONS:
        raise ConfigError(f"{name}: 'dist' must be one of {sorted(_DISTRIBUTIONS)}, got {kind!r}")
    cls = _DISTRIBUTIONS[kind]
    wanted = {f.name for f in dataclasses.fields(cls)}
    if set(params) != wanted:
        raise ConfigError(
            f"{name}: a {kind} distribution takes exactly {sorted(wanted)}, got {sorted(params)}"
        )
    for key, value in params.items():
        _check_finite(name, value, key)
    return cls(**{k: float(v) for k, v in params.items()})


def _distribution_to(d: Distribution) -> float | dict[str, Any]:
    """The config-file form of a distribution (inverse of :func:`_distribution_from`)."""
    if isinstance(d, Constant):
        return d.value
    kind = next(k for k, cls in _DISTRIBUTIONS.items() if isinstance(d, cls))
    return {"dist": kind, **dataclasses.asdict(d)}


# --------------------------------------------------------------------------------------------------
# Daily arrival profiles
# --------------------------------------------------------------------------------------------------

#: Built-in synthetic daily profiles: ``(base, ((centre_hour, width_hours, height), ...))``. Each is
#: a constant base plus periodic Gaussian bumps (morning and evening peaks), evaluated at step
#: midpoints and scaled to mean 1 over the day. Peak-to-mean: about 2.4, and 3.4 for "evening".
BUILTIN_PROFILES: dict[str, tuple[float, tuple[tuple[float, float, float], ...]]] = {
    # A household: breakfast peak, larger evening peak (cooking, laundry, lighting).
    "residential": (0.4, ((7.5, 1.2, 0.9), (19.0, 1.8, 1.6))),
    # Early risers / shift workers: both peaks an hour or so earlier.
    "early": (0.4, ((6.5, 1.0, 1.0), (18.0, 1.8, 1.5))),
    # Late households: a weak late morning, a late evening peak.
    "late": (0.45, ((9.0, 1.5, 0.6), (21.0, 1.8, 1.6))),
    # Evening-dominated demand (e.g. EV charging after the commute): a sharp evening peak.
    "evening": (0.3, ((8.0, 1.0, 0.4), (19.5, 1.6, 2.0))),
    # No peaks: constant arrivals (a control case).
    "flat": (1.0, ()),
}


def builtin_profile(name: str, steps_per_day: int) -> F64:
    """A built-in profile sampled at the midpoints of ``steps_per_day`` steps, mean 1.

    Raises
    ------
    ConfigError
        If ``name`` is not a key of :data:`BUILTIN_PROFILES`.
    """
    if name not in BUILTIN_PROFILES:
        raise ConfigError(
            f"profiles: unknown built-in profile {name!r}; choose from {sorted(BUILTIN_PROFILES)}"
        )
    base, bumps = BUILTIN_PROFILES[name]
    hours = (np.arange(steps_per_day) + 0.5) * (24.0 / steps_per_day)
    phi = np.full(steps_per_day, base)
    for centre, width, height in bumps:
        # Circular distance, so a bump near midnight wraps around the day.
        dist = np.abs((hours - centre + 12.0) % 24.0 - 12.0)
        phi += height * np.exp(-0.5 * (dist / width) ** 2)
    return phi / phi.mean()


def read_profile_csv(path: str | os.PathLike[str], steps_per_day: int) -> F64:
    """Measured daily load profiles from a CSV, as ``[num_profiles, steps_per_day]`` with mean 1.

    Format: one column per profile (household), one row per time of day at any uniform resolution
    starting at midnight. Lines starting with ``#`` are comments; a first row that is not numeric is
    a header; a first column that is not numeric (e.g. ``"00:15"``) is a time label and is dropped.
    Values are power or energy per interval (only the shape matters: every profile is scaled to mean
    1, and the scenario's ``daily_demand`` sets each agent's scale). ``R`` rows become ``S`` steps
    by holding each value (``S`` a multiple of ``R``), averaging (``R`` a multiple of ``S``) or
    periodic linear interpolation (otherwise).

    Raises
    ------
    ConfigError
        Naming ``profile_csv`` and the line, for a missing file, ragged or non-numeric rows,
        negative or non-finite values, or an all-zero profile.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"profile_csv: cannot read {os.fspath(path)!r}: {e.strerror}") from None
    rows = [
        (lineno, row)
        for lineno, row in enumerate(csv.reader(io.StringIO(text)), start=1)
        if row and not row[0].lstrip().startswith("#") and any(c.strip() for c in row)
    ]
    if rows and not all(_is_number(c) for c in rows[0][1]):
        rows = rows[1:]  # header
    if not rows:
        raise ConfigError(f"profile_csv: {os.fspath(path)!r} has no data rows")
    if not all(_is_number(row[0]) for _, row in rows):
        rows = [(lineno, row[1:]) for lineno, row in rows]  # time-label column
    width = len(rows[0][1])
    values = np.empty((len(rows), width), dtype=np.float64)
    for i, (lineno, row) in enumerate(rows):
        if len(row) != width:
            raise ConfigError(
                f"profile_csv: line {lineno} has {len(row)} values, "
                f"expected {width} (one per profile)"
            )
        try:
            values[i] = [float(c) for c in row]
        except ValueError:
            raise ConfigError(f"profile_csv: line {lineno} is not numeric: {row!r}") from None
    if width == 0:
        raise ConfigError(f"profile_csv: {os.fspath(path)!r} has no profile columns")
    return _normalise_profiles("profile_csv", values.T, steps_per_day)


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _to_steps(values: F64, steps_per_day: int) -> F64:
    """Resamples the last axis (``R`` values over one day) to ``steps_per_day`` values."""
    r = values.shape[-1]
    if r == steps_per_day:
        return values
    if steps_per_day % r == 0:
        return np.repeat(values, steps_per_day // r, axis=-1)
    if r % steps_per_day == 0:
        return values.reshape(*values.shape[:-1], steps_per_day, r // steps_per_day).mean(axis=-1)
    # Periodic linear interpolation at the step midpoints, in units of the input's intervals.
    x_out = (np.arange(steps_per_day) + 0.5) * (r / steps_per_day) - 0.5
    x_in = np.arange(-1, r + 1)
    padded = np.concatenate([values[..., -1:], values, values[..., :1]], axis=-1)
    flat = padded.reshape(-1, r + 2)
    out = np.stack([np.interp(x_out, x_in, row) for row in flat])
    return out.reshape(*values.shape[:-1], steps_per_day)


def _normalise_profiles(name: str, values: F64, steps_per_day: int) -> F64:
    """``[P, R]`` measured profiles -> ``[P, S]``, each scaled to mean 1, validated."""
    if values.ndim != 2 or values.shape[0] == 0 or values.shape[1] == 0:
        raise ConfigError(
            f"{name}: expected [num_profiles, values_per_day], got {list(values.shape)}"
        )
    if not np.isfinite(values).all():
        raise ConfigError(f"{name}: values must be finite")
    if (values < 0).any():
        p, t = np.argwhere(values < 0)[0]
        raise ConfigError(f"{name}: values must be >= 0, profile {p} has {values[p, t]} at {t}")
    out = _to_steps(values, steps_per_day)
    means = out.mean(axis=1)
    if (means <= 0).any():
        raise ConfigError(f"{name}: profile {int(np.argmax(means <= 0))} is all zeros")
    return out / means[:, None]


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

    @property
    def num_agents(self) -> int:
        """Number of agents ``N``."""
        return int(self.mean_arrival.shape[0])


@dataclass(frozen=True, slots=True)
class ScenarioConfig:
    """A demand-response scenario (DESIGN.md section 4). Frozen; validated on construction.

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
    """Path of a CSV of measured daily profiles (see :func:`read_profile_csv`); relative paths in a
    scenario file are resolved against the file's folder when it is loaded."""
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
            _set(self, name, _int_field(name, getattr(self, name), minimum=0, maximum=MAX_SEED))

    def _check_time(self) -> None:
        _set(self, "num_agents", _int_field("num_agents", self.num_agents, minimum=1))
        _set(self, "dt_hours", _float_field("dt_hours", self.dt_hours))
        if not 0 < self.dt_hours <= 24:
            raise ConfigError(f"dt_hours: must be in (0, 24], got {self.dt_hours}")
        steps = 24.0 / self.dt_hours
        if abs(steps - round(steps)) > 1e-6 * steps:
            raise ConfigError(
                f"dt_hours: a day must be a whole number of steps, 24 / {self.dt_hours} = {steps:g}"
            )
        s = self.steps_per_day
        _set(self, "episode_days", _float_field("episode_days", self.episode_days))
        episode = self.episode_days * s
        if self.episode_days <= 0 or abs(episode - round(episode)) > 1e-6 * episode:
            raise ConfigError(
                f"episode_days: must be > 0 and a whole number of {s} steps a day, "
                f"got {self.episode_days} ({episode:g} steps)"
            )
        _set(self, "num_blocks", _int_field("num_blocks", self.num_blocks, minimum=1))
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
        elif not isinstance(self.profiles, tuple):
            _set(self, "profiles", tuple(self.profiles))
        for p in self.profiles:
            if p not in BUILTIN_PROFILES:
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
            if not isinstance(self.profile_csv, (str, os.PathLike)):
                raise ConfigError(f"profile_csv: expected a path, got {self.profile_csv!r}")
            _set(self, "profile_csv", os.fspath(self.profile_csv))
            if not Path(self.profile_csv).is_file():
                raise ConfigError(f"profile_csv: no such file {self.profile_csv!r}")
        elif self.profile_data is not None:
            data = _float_array("profile_data", self.profile_data, ndim=2)
            _normalise_profiles("profile_data", data, self.steps_per_day)  # validates
            _set(self, "profile_data", tuple(tuple(map(float, row)) for row in data))
        elif not self.profiles:
            raise ConfigError("profiles: give at least one built-in profile or measured profiles")
        if self.profile_assignment not in ("random", "cycle"):
            raise ConfigError(
                f"profile_assignment: must be 'random' or 'cycle', got {self.profile_assignment!r}"
            )
        _set(self, "noise", _float_field("noise", self.noise))
        if not 0 <= self.noise <= 1:
            raise ConfigError(f"noise: must be in [0, 1], got {self.noise}")

    def _check_capacity(self) -> None:
        cap = self.capacity_kw
        if cap is None:
            pass
        elif np.ndim(cap) == 0:
            value = _float_field("capacity_kw", cap)
            if value <= 0:
                raise ConfigError(f"capacity_kw: must be > 0, got {value}")
            _set(self, "capacity_kw", value)
        else:
            arr = _float_array("capacity_kw", cap, ndim=1)
            if arr.size == 0 or (arr <= 0).any():
                raise ConfigError("capacity_kw: a capacity profile needs values, all > 0")
            _set(self, "capacity_kw", tuple(map(float, arr)))
        _set(self, "capacity_factor", _float_field("capacity_factor", self.capacity_factor))
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
            return _normalise_profiles("profile_data", np.asarray(self.profile_data), s)
        return np.stack([builtin_profile(p, s) for p in self.profiles])

    def build(self) -> ScenarioData:
        """Samples the population and computes capacity and expected demand (O(N)).

        Deterministic in ``population_seed``. Each parameter draws from its own stream
        (``SeedSequence(population_seed).spawn``), so agent ``n``'s parameters do not depend on
        ``num_agents``.
        """
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
        return _to_steps(np.asarray(self.capacity_kw, dtype=np.float64), s)

    # -- (de)serialisation ------------------------------------------------------------------------
    def replace(self, **changes: Any) -> ScenarioConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (numbers, strings, lists, tables) for TOML, YAML or JSON; ``None`` omitted."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, (Constant, Uniform, LogNormal)):
                value = _distribution_to(value)
            elif isinstance(value, tuple):
                value = [list(v) if isinstance(v, tuple) else v for v in value]
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScenarioConfig:
        """Inverse of :meth:`to_dict`: missing fields take defaults, unknown ones are errors."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"scenario: expected a table of fields, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                hint = difflib.get_close_matches(str(key), known, n=1)
                raise ConfigError(
                    f"{key}: unknown scenario field"
                    + (f" (did you mean {hint[0]!r}?)" if hint else "")
                )
            if key in ("daily_demand", "power_ratio", "waiting_cost", "waiting_cost_quadratic"):
                value = _distribution_from(key, value)
            kwargs[key] = value  # lists become tuples in __post_init__
        return cls(**kwargs)

    @classmethod
    def preset(cls, name: str, /, **overrides: Any) -> ScenarioConfig:
        """A named preset shipped with samarl (:func:`preset_names`), with optional overrides."""
        names = preset_names()
        if name not in names:
            raise ConfigError(f"preset: unknown preset {name!r}; choose from {names}")
        resource = resources.files("samarl") / "scenarios" / f"{name}.toml"
        scenario = _from_text(resource.read_text(encoding="utf-8"), ".toml", Path(str(resource)))
        return scenario.replace(**overrides) if overrides else scenario


# --------------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------------


def preset_names() -> list[str]:
    """Names of the scenarios shipped in ``samarl/scenarios/`` (``small``, ``default``, ...)."""
    folder = resources.files("samarl") / "scenarios"
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_scenario(source: str | os.PathLike[str], /, **overrides: Any) -> ScenarioConfig:
    """A scenario from a preset name or a ``.toml`` / ``.yaml`` / ``.yml`` / ``.json`` file.

    The file holds the fields of :class:`ScenarioConfig` at top level (or under a ``[scenario]``
    table, so a scenario can live in a larger experiment file). ``overrides`` replace fields.

    Raises
    ------
    ConfigError
        For an unknown preset, an unreadable or malformed file, or an invalid field.
    """
    if isinstance(source, str) and source in preset_names():
        return ScenarioConfig.preset(source, **overrides)
    path = Path(source)
    if not path.is_file():
        raise ConfigError(
            f"scenario: {os.fspath(source)!r} is neither a preset ({preset_names()}) nor a file"
        )
    scenario = _from_text(path.read_text(encoding="utf-8"), path.suffix.lower(), path)
    return scenario.replace(**overrides) if overrides else scenario


def _from_text(text: str, suffix: str, path: Path) -> ScenarioConfig:
    data: Any
    try:
        if suffix == ".toml":
            data = _toml_module().loads(text)
        elif suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ModuleNotFoundError:
                raise ConfigError(
                    f"scenario: reading {path.name} needs PyYAML (pip install pyyaml); "
                    "or write the scenario as TOML"
                ) from None
            data = yaml.safe_load(text)
        elif suffix == ".json":
            data = json.loads(text)
        else:
            raise ConfigError(f"scenario: unknown file type {suffix!r} (use .toml, .yaml or .json)")
    except ConfigError:
        raise
    except Exception as e:  # each parser has its own error class; all mean "malformed file"
        raise ConfigError(f"scenario: cannot parse {path}: {e}") from None
    if isinstance(data, Mapping) and "scenario" in data and isinstance(data["scenario"], Mapping):
        data = data["scenario"]
    if isinstance(data, Mapping) and isinstance(data.get("profile_csv"), str):
        csv_path = Path(data["profile_csv"]).expanduser()
        if not csv_path.is_absolute():
            data = {**data, "profile_csv": os.fspath(path.parent / csv_path)}
    return ScenarioConfig.from_dict(data)


def dump_scenario(scenario: ScenarioConfig, path: str | os.PathLike[str]) -> Path:
    """Writes ``scenario`` as TOML (``.toml``) or JSON (``.json``); returns the path.

    Loading the file back with :func:`load_scenario` gives an equal scenario.
    """
    path = Path(path)
    data = scenario.to_dict()
    if path.suffix.lower() == ".toml":
        text = _toml_dumps(data)
    elif path.suffix.lower() == ".json":
        text = json.dumps(data, indent=2) + "\n"
    else:
        raise ConfigError(f"scenario: cannot write {path.suffix!r} files (use .toml or .json)")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _toml_module() -> Any:
    """``tomllib`` (Python >= 3.11) or its backport ``tomli``."""
    for name in ("tomllib", "tomli"):
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError:
            continue
    raise ConfigError("scenario: reading TOML on Python 3.10 needs tomli (pip install tomli)")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # finite (validated): repr round-trips exactly and is valid TOML
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _toml_dumps(data: Mapping[str, Any]) -> str:
    """TOML for the flat tables :meth:`ScenarioConfig.to_dict` produces (inline sub-tables)."""
    lines = ["# samarl scenario (written by samarl.config.dump_scenario)"]
    lines += [f"{key} = {_toml_value(value)}" for key, value in data.items()]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------
# Field checks
# --------------------------------------------------------------------------------------------------


def _set(obj: object, name: str, value: object) -> None:
    """Stores a normalised value in a frozen dataclass (only from ``__post_init__``)."""
    object.__setattr__(obj, name, value)


def _int_field(name: str, value: object, *, minimum: int, maximum: int | None = None) -> int:
    """``value`` as an int in ``[minimum, maximum]``, or a ConfigError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"{name}: expected an integer, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and <= {maximum}" if maximum is not None else ""
        raise ConfigError(f"{name}: must be >= {minimum}{upper}, got {value}")
    return int(value)


def _float_field(name: str, value: object) -> float:
    """``value`` as a finite float, or a ConfigError naming ``name``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not math.isfinite(value)
    ):
        raise ConfigError(f"{name}: expected a finite number, got {value!r}")
    return float(value)


def _float_array(name: str, value: object, *, ndim: int) -> F64:
    """A finite ``ndim``-D float64 array (rectangular), or a ConfigError naming ``name``."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: expected a rectangular array of numbers") from None
    if arr.ndim != ndim:
        raise ConfigError(
            f"{name}: expected a {ndim}-D array of numbers, got shape {list(arr.shape)}"
        )
    if not np.isfinite(arr).all():
        raise ConfigError(f"{name}: values must be finite")
    return arr


def _frozen(values: npt.ArrayLike, dtype: type[np.generic]) -> Any:
    arr = np.ascontiguousarray(values, dtype=dtype)
    arr.flags.writeable = False
    return arr
