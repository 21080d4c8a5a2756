"""Daily arrival profiles: the built-in synthetic ones and measured ones read from a CSV.

Every profile is resampled to the steps of the day and normalised to mean 1, so an agent's
``mean_arrival`` is its mean arrivals per step over a day.
"""

from __future__ import annotations

import csv
import io
import os
import re

import numpy as np
import numpy.typing as npt

from samarl._userfiles import read_user_file, show_line
from samarl.errors import ConfigError

__all__ = [
    "BUILTIN_PROFILES",
    "MAX_PROFILE_CSV_BYTES",
    "MAX_PROFILE_ROWS",
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

    Format: UTF-8 (a byte-order mark is skipped), comma-separated, one column per profile
    (household) and one row per time of day, at any uniform resolution, starting at midnight.

    - Lines starting with ``#`` and blank lines are skipped, and so are rows of empty cells at the
      end of the file (spreadsheets write them); a row of empty cells among the data is an error.
    - A first row that is not all numbers (beside a time label) is a header.
    - A first column of times of day (``00:15``, ``23:45:00``, ``2024-01-01 00:15``, or an
      interval, ``00:00-00:15``) is dropped once checked: the rows must make one day at uniform
      steps, labelled by their start (``00:00``, ...) or their end (``00:15``, ..., ``24:00`` or
      ``00:00``).
    - A first column holding a step index is dropped too: one headed ``step``, ``index``, ``t``,
      ``time``, ``hour``, ``interval``, ``timestamp``, ``datetime``, ``date``, ``slot`` or
      ``period`` (or with an empty header, as pandas writes an index), or, without a header, one
      that counts ``0, 1, 2, ...`` down three or more rows (when there are other columns; a first
      profile cannot start at 0 and rise by exactly 1 a row, but ``1, 2, 3, ...`` can be one).
    - Every other cell is a plain decimal number (``12``, ``0.5``, ``1e-3``; no thousands
      separators, no decimal commas, no Unicode digits or minus signs), finite and >= 0.

    Values are power or energy per interval (only the shape matters: every profile is scaled to mean
    1, and the scenario's ``daily_demand`` sets each agent's scale). ``R`` rows become ``S`` steps
    by holding each value (``S`` a multiple of ``R``), averaging (``R`` a multiple of ``S``) or
    periodic linear interpolation (otherwise). A file holds at most
    :data:`MAX_PROFILE_CSV_BYTES` and :data:`MAX_PROFILE_ROWS` rows.

    Raises
    ------
    ConfigError
        Naming ``profile_csv``, the file and the line, for a missing, binary or too large file,
        ragged rows, a cell that is not a number, negative or non-finite values, times that are not
        one uniform day, or an all-zero profile.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise ConfigError(f"profile_csv: expected a path, got {path!r}")
    steps_per_day = _steps("steps_per_day", steps_per_day)
    name = os.fspath(path)
    raw = read_user_file(path, what="profile_csv", limit=MAX_PROFILE_CSV_BYTES, error=ConfigError)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise ConfigError(f"profile_csv: {name!r} is not a UTF-8 text file (line {line})") from None
    rows = _csv_rows(text, name)
    header: list[str] | None = None
    if rows and _is_header(rows[0][1]):
        header_line, header = rows.pop(0)
    if not rows:
        raise ConfigError(f"profile_csv: {name!r} has no data rows")
    if len(rows) > MAX_PROFILE_ROWS:
        raise ConfigError(
            f"profile_csv: {name!r} has {len(rows)} rows, more than {MAX_PROFILE_ROWS} (one a "
            "second) for one day"
        )
    width = len(rows[0][1])
    if header is not None and len(header) != width:
        raise ConfigError(
            f"profile_csv: {name!r} line {header_line} (the header) has {len(header)} names, but "
            f"line {rows[0][0]} has {width} values"
        )
    for lineno, row in rows:
        if len(row) != width:
            raise ConfigError(
                f"profile_csv: {name!r} line {lineno} has {len(row)} values, "
                f"expected {width} (one per profile)"
            )
    role = _first_column(header, rows, name)
    if role == "time":
        _check_times(rows, name)
    skip = int(role != "profile")
    if width - skip == 0:
        raise ConfigError(f"profile_csv: {name!r} has no profile columns")
    values = _numbers([(lineno, row[skip:]) for lineno, row in rows], skip, name)
    return normalise_profiles("profile_csv", values.T, steps_per_day)


#: Largest profile CSV read (about 10^7 values).
MAX_PROFILE_CSV_BYTES = 64 * 2**20
#: Most rows (values per day) of a profile CSV: one a second.
MAX_PROFILE_ROWS = 86_400

#: Header names of a first column that holds a step index or a time of day, not a profile.
_INDEX_HEADERS = frozenset(
    {
        "",
        "step",
        "steps",
        "index",
        "idx",
        "i",
        "t",
        "time",
        "hour",
        "interval",
        "timestamp",
        "datetime",
        "date",
        "slot",
        "period",
    }
)
#: A number as a profile CSV may write it: ASCII, no thousands separators (``inf`` and ``nan``
#: are numbers, refused as non-finite with their line).
_NUMBER = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?:inf|infinity|nan)"
_IS_NUMBER = re.compile(_NUMBER, re.IGNORECASE)
_ALL_NUMBERS = re.compile(rf"(?:(?:{_NUMBER})\n)*(?:{_NUMBER})", re.IGNORECASE)
#: A time of day, maybe after a date and before a time zone; or an interval of two.
_CLOCK = r"(?:[0-9]{4}-[0-9]{2}-[0-9]{2}[ T])?([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}(?:\.[0-9]*)?))?"
_ZONE = r"(?:Z|[+-][0-9]{2}:?[0-9]{2})?"
_TIME = re.compile(
    rf"{_CLOCK}{_ZONE}(?:\s*[-\u2013/]\s*(?:[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}[ T])?"
    rf"[0-9]{{1,2}}:[0-9]{{2}}(?::[0-9]{{2}}(?:\.[0-9]*)?)?{_ZONE})?"
)


def _csv_rows(text: str, name: str) -> list[tuple[int, list[str]]]:
    """``(line, cells)`` of every row that is not a comment or blank; rows of empty cells only at
    the end."""
    rows: list[tuple[int, list[str]]] = []
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # a blank line
            if row[0].lstrip().startswith("#"):
                continue
            rows.append((reader.line_num, row))
    except csv.Error as e:
        raise ConfigError(f"profile_csv: {name!r} line {reader.line_num}: {e}") from None
    while rows and not any(c.strip() for c in rows[-1][1]):
        rows.pop()  # spreadsheets end with rows of empty cells
    for lineno, row in rows:
        if not any(c.strip() for c in row):
            raise ConfigError(
                f"profile_csv: {name!r} line {lineno} has only empty cells (a missing time of "
                "day? fill it in or remove it)"
            )
    return rows


def _is_header(row: list[str]) -> bool:
    """Whether the first row is a header: not all numbers, beside a first-column time label."""
    first, rest = row[0].strip(), row[1:]
    return not (
        all(_IS_NUMBER.fullmatch(c.strip()) for c in rest)
        and (_IS_NUMBER.fullmatch(first) or _TIME.fullmatch(first))
    )


def _first_column(header: list[str] | None, rows: list[tuple[int, list[str]]], name: str) -> str:
    """What the first column holds: ``"time"`` (times of day), ``"index"`` (a step index) or
    ``"profile"`` (see :func:`read_profile_csv`)."""
    if len(rows[0][1]) < 2:
        return "profile"  # a single column is the profile itself
    cells = [row[0].strip() for _, row in rows]
    times = [_TIME.fullmatch(c) is not None for c in cells]
    if all(times):
        return "time"
    if header is not None and header[0].strip().lower() in _INDEX_HEADERS:
        return "index"
    for (lineno, _), cell, is_time in zip(rows, cells, times, strict=True):
        if any(times):
            if not is_time:
                raise ConfigError(
                    f"profile_csv: {name!r} line {lineno}: the first column holds times of day, "
                    f"but here {show_line(cell, 20)}"
                )
        elif not _IS_NUMBER.fullmatch(cell):
            raise ConfigError(
                f"profile_csv: {name!r} line {lineno}, column 1: "
                f"{_not_a_number(cell, 'a number or a time of day')}"
            )
    if header is None and len(rows) >= 3:
        first = np.array([float(c) for c in cells])
        if np.array_equal(first, np.arange(len(rows), dtype=np.float64)):
            return "index"
    return "profile"


def _check_times(rows: list[tuple[int, list[str]]], name: str) -> None:
    """Refuses time labels that are not one day at uniform steps from midnight (labelled by the
    start or the end of each interval)."""
    seconds = []
    for lineno, row in rows:
        clock = _TIME.fullmatch(row[0].strip())
        assert clock is not None  # _first_column matched every one
        h, m, s = int(clock[1]), int(clock[2]), float(clock[3] or 0)
        if h > 24 or m > 59 or s >= 60 or (h == 24 and (m or s)):
            raise ConfigError(
                f"profile_csv: {name!r} line {lineno}: {show_line(row[0], 20)} is not a time of day"
            )
        seconds.append(h * 3600 + m * 60 + s)
    step = 86_400 / len(rows)
    start = seconds[0]
    if len(seconds) > 1 and start == step and seconds[-1] == 0:
        seconds[-1] = 86_400  # the end of the last interval, written 00:00
    if not (abs(start) < 0.5 or abs(start - step) < 0.5):
        raise ConfigError(
            f"profile_csv: {name!r} line {rows[0][0]}: the day starts at {_clock(start)}, but the "
            f"rows must start at midnight (labelled 00:00, or {_clock(step)} by the end of the "
            "first interval)"
        )
    for (lineno, row), got, i in zip(rows, seconds, range(len(rows)), strict=True):
        want = start + i * step
        if abs(got - want) >= 0.5:
            raise ConfigError(
                f"profile_csv: {name!r} line {lineno}: time {show_line(row[0], 20)} where "
                f"{_clock(want)} belongs: the {len(rows)} rows must be one day at uniform steps "
                f"of {_clock(step)}"
            )


def _clock(seconds: float) -> str:
    h, rest = divmod(round(seconds), 3600)
    m, s = divmod(rest, 60)
    return f"{h:02d}:{m:02d}" + (f":{s:02d}" if s else "")


def _numbers(rows: list[tuple[int, list[str]]], skipped: int, name: str) -> F64:
    """The ``[R, P]`` values of the profile cells, each a plain number, finite and >= 0."""
    cells = [c.strip() for _, row in rows for c in row]
    width = len(rows[0][1])
    if not _ALL_NUMBERS.fullmatch("\n".join(cells)):
        for i, cell in enumerate(cells):
            if not _IS_NUMBER.fullmatch(cell):
                raise ConfigError(
                    f"profile_csv: {name!r} {_where(rows, i, width, skipped)}: {_not_a_number(cell)}"
                )
    values = np.array(cells, dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
    if bad.size:
        i = int(bad[0])
        problem = "values must be finite" if not np.isfinite(values[i]) else "values must be >= 0"
        raise ConfigError(
            f"profile_csv: {name!r} {_where(rows, i, width, skipped)}: {problem}, got {cells[i]}"
        )
    return values.reshape(len(rows), width)


def _where(rows: list[tuple[int, list[str]]], i: int, width: int, skipped: int) -> str:
    """``line L, column C`` of the ``i``-th profile cell (columns as in the file)."""
    row, column = divmod(i, width)
    return f"line {rows[row][0]}, column {column + 1 + skipped}"


def _not_a_number(cell: str, kind: str = "a number") -> str:
    """Why ``cell`` is not ``kind``, with a hint at what the file meant."""
    if not cell:
        return "the cell is empty (a missing value? fill it in)"
    hints = [
        ("\u2212", "a Unicode minus sign; values must be >= 0 anyway"),
        (";", "columns are separated by commas"),
        ("\t", "columns are separated by commas"),
        (",", "the decimal separator is a point"),
        ("_", "write numbers without separators"),
    ]
    hint = next((text for char, text in hints if char in cell), "")
    if not hint and not cell.isascii():
        hint = "write ASCII digits"
    return f"{show_line(cell, 20)} is not {kind}" + (f" ({hint})" if hint else "")


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
