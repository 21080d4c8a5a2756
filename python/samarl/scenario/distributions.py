"""Distributions of per-agent parameters: a constant, a uniform or a log-normal draw per agent.

Scenario files write them as a number (a constant) or a table (``{ low = .., high = .. }`` for a
uniform, ``{ mean = .., sigma = .. }`` for a log-normal whose mean is ``mean``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Union

import numpy as np
import numpy.typing as npt

from samarl._validate import config_number
from samarl.errors import ConfigError

__all__ = [
    "Constant",
    "Distribution",
    "LogNormal",
    "Uniform",
    "distribution_from",
    "distribution_to",
]

F64 = npt.NDArray[np.float64]

#: Largest log-normal ``sigma``: beyond it ``exp(log(mean) - sigma**2 / 2 + sigma z)`` is 0 or inf
#: for practically every draw.
MAX_SIGMA = 100.0


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
        config_number(f"{name}.value", self.value)


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
        config_number(f"{name}.low", self.low)
        config_number(f"{name}.high", self.high)
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
        config_number(f"{name}.mean", self.mean)
        config_number(f"{name}.sigma", self.sigma)
        if self.mean <= 0:
            raise ConfigError(f"{name}: lognormal mean must be > 0, got {self.mean}")
        if not 0 <= self.sigma <= MAX_SIGMA:
            raise ConfigError(
                f"{name}: lognormal sigma must be in [0, {MAX_SIGMA:g}] (a larger one makes "
                f"every draw 0 or inf), got {self.sigma}"
            )


Distribution = Union[Constant, Uniform, LogNormal]  # noqa: UP007 (a runtime alias, py3.10 needs Union)
"""A distribution of one per-agent parameter."""

_DISTRIBUTIONS: dict[str, type[Uniform] | type[LogNormal] | type[Constant]] = {
    "constant": Constant,
    "uniform": Uniform,
    "lognormal": LogNormal,
}


def distribution_from(name: str, raw: object) -> Distribution:
    """A distribution from its config-file form: a number, a table with ``dist``, an instance."""
    if isinstance(raw, (Constant, Uniform, LogNormal)):
        return raw
    if isinstance(raw, (int, float, np.integer, np.floating)) and not isinstance(
        raw, (bool, np.bool_)
    ):
        config_number(f"{name}.value", raw)
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
        config_number(f"{name}.{key}", value)
    return cls(**{k: float(v) for k, v in params.items()})


def distribution_to(d: Distribution) -> float | dict[str, Any]:
    """The config-file form of a distribution (inverse of :func:`distribution_from`)."""
    if isinstance(d, Constant):
        return d.value
    kind = next(k for k, cls in _DISTRIBUTIONS.items() if isinstance(d, cls))
    return {"dist": kind, **dataclasses.asdict(d)}
