"""Daily arrival profiles: the built-in synthetic ones and measured ones read from a CSV.

Every profile is resampled to the steps of the day and normalised to mean 1, so an agent's
``mean_arrival`` is its mean arrivals per step over a day.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np
import numpy.typing as npt

from samarl.errors import ConfigError

__all__ = [
    "BUILTIN_PROFILES",
    "builtin_profile",
    "normalise_profiles",
    "read_profile_csv",
    "to_steps",
]

F64 = npt.NDArray[np.float64]


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
    steps_per_day = _steps("steps_per_day", steps_per_day)
    if not isinstance(name, str) or name not in BUILTIN_PROFILES:
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
    a header; a first column that is not numeric (e.g. ``"00:15"``) is a time label and is dropped,
    and so is a step index: a first column headed ``step``, ``index``, ``t``, ``time``, ``hour`` or
    ``interval`` (or with an empty header, as pandas writes an index), or, without a header, one
    that counts ``0, 1, 2, ...`` down three or more rows (when there are other columns; a first
    profile cannot start at 0 and rise by exactly 1 a row, but ``1, 2, 3, ...`` can be one).
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
    if not isinstance(path, (str, os.PathLike)):
        raise ConfigError(f"profile_csv: expected a path, got {path!r}")
    steps_per_day = _steps("steps_per_day", steps_per_day)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"profile_csv: {os.fspath(path)!r} is not a UTF-8 text file") from None
    except (OSError, ValueError) as e:
        reason = getattr(e, "strerror", None) or str(e)
        raise ConfigError(f"profile_csv: cannot read {os.fspath(path)!r}: {reason}") from None
    rows = [
        (lineno, row)
        for lineno, row in enumerate(csv.reader(io.StringIO(text)), start=1)
        if row and not row[0].lstrip().startswith("#") and any(c.strip() for c in row)
    ]
    header: list[str] | None = None
    if rows and not all(_is_number(c) for c in rows[0][1]):
        header = rows[0][1]
        rows = rows[1:]
    if not rows:
        raise ConfigError(f"profile_csv: {os.fspath(path)!r} has no data rows")
    if not all(_is_number(row[0]) for _, row in rows) or _is_step_index(header, rows):
        rows = [(lineno, row[1:]) for lineno, row in rows]  # time-label or step-index column
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
    return normalise_profiles("profile_csv", values.T, steps_per_day)


#: Header names of a first column that holds a step index or a time of day, not a profile.
_INDEX_HEADERS = frozenset(
    {"", "step", "steps", "index", "idx", "i", "t", "time", "hour", "interval"}
)


def _is_step_index(header: list[str] | None, rows: list[tuple[int, list[str]]]) -> bool:
    """Whether the first column is a step index (see :func:`read_profile_csv`)."""
    if any(len(row) < 2 for _, row in rows):
        return False  # a single column is the profile itself
    if header is not None:
        return bool(header) and header[0].strip().lower() in _INDEX_HEADERS
    try:
        first = np.array([float(row[0]) for _, row in rows])
    except ValueError:
        return False
    return len(rows) >= 3 and np.array_equal(first, np.arange(len(rows), dtype=np.float64))


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _steps(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"{name}: expected an integer, got {value!r}")
    if not 1 <= value <= 86_400:
        raise ConfigError(f"{name}: must be in [1, 86400], got {value}")
    return int(value)


def to_steps(values: F64, steps_per_day: int) -> F64:
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


def normalise_profiles(name: str, values: F64, steps_per_day: int) -> F64:
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
    peaks = values.max(axis=1)
    if (peaks <= 0).any():
        raise ConfigError(f"{name}: profile {int(np.argmax(peaks <= 0))} is all zeros")
    # Scale by each profile's peak first: only the shape matters, and sums of values near
    # float64's limit would overflow to inf.
    out = to_steps(values / peaks[:, None], steps_per_day)
    means = out.mean(axis=1)
    if (means <= 0).any():
        raise ConfigError(
            f"{name}: profile {int(np.argmax(means <= 0))} resamples to all zeros at "
            f"{steps_per_day} steps a day"
        )
    return out / means[:, None]
