"""Argument checks shared by the public wrappers: coerce dtypes, check shapes, reject NaN/inf.

Every check names the argument and says what was expected, so the message alone tells the user
what to fix. The Rust engine re-checks (as a last line of defence) but its errors are less specific.

Arrays of numbers may be any real dtype (bool and integer arrays convert exactly); complex arrays
(converting them would drop the imaginary part), strings, bytes and objects that are not real
numbers are refused. Wrong Python types raise :class:`~samarl.errors.ArgumentTypeError`, which is
both an :class:`~samarl.errors.InvalidValueError` and a :class:`TypeError`.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from samarl.errors import (
    ArgumentTypeError,
    ConfigError,
    InvalidValueError,
    MemoryLimitError,
    ShapeError,
)

#: Largest number of agents (graph nodes): the engine stores node indices as unsigned 32-bit ints.
MAX_AGENTS = 2**32 - 1
#: Largest seed a person sets: of a scenario, of training, of a run, of a graph, of a policy
#: (checked by :func:`config_seed`). Config files hold it and TOML's integers are signed 64-bit;
#: torch takes seeds below 2**64 and numpy any size (measured: torch 2.15 refuses 2**64), so the
#: seeds derived from one (``seed + 7919``, ``seed + 17`` in training) stay valid everywhere.
MAX_SEED = 2**63 - 1
#: Largest unsigned 64-bit value: what the engine's generators take as a seed (the seeds derived
#: inside, such as an episode's arrival seed, wrap around in it), and its counters and agent ids.
MAX_U64 = 2**64 - 1

_F32_MAX = float(np.finfo(np.float32).max)

T = TypeVar("T")


def as_real(name: str, x: object, dtype: type[np.floating[Any]] = np.float64) -> Any:
    """``x`` as a C-contiguous array of ``dtype`` (same number of dimensions; no copy when it
    already is one), refusing complex, string and non-numeric input. Values are not checked."""
    if isinstance(x, np.ndarray) and x.dtype == dtype:
        return np.asarray(x, order="C")
    try:
        raw = np.asarray(x)
    except (TypeError, ValueError, OverflowError) as e:
        raise InvalidValueError(f"{name}: expected a rectangular array of numbers ({e})") from None
    kind = raw.dtype.kind
    if kind == "c":
        raise ArgumentTypeError(
            f"{name}: expected real numbers, got complex dtype {raw.dtype} (take .real or abs() "
            "first if that is what you mean)"
        )
    if kind not in "biuf" and not (kind == "O" and raw.size):
        raise ArgumentTypeError(f"{name}: expected an array of numbers, got dtype {raw.dtype}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", np.exceptions.ComplexWarning)
            warnings.simplefilter("ignore", RuntimeWarning)  # overflow to inf: checked by callers
            return np.asarray(raw, dtype=dtype, order="C")
    except (TypeError, ValueError, OverflowError, np.exceptions.ComplexWarning):
        raise ArgumentTypeError(
            f"{name}: expected an array of real numbers, got objects such as {_first_bad(raw)!r}"
        ) from None


def as_f32(
    name: str,
    x: npt.ArrayLike,
    *,
    shape: tuple[int | None, ...] | None = None,
    finite: bool = True,
    nonnegative: bool = False,
) -> npt.NDArray[np.float32]:
    """``x`` as a C-contiguous float32 array (no copy when it already is one), validated.

    A scalar stays 0-d. With ``finite``, values beyond float32's range (``+-3.4e38``) are refused
    as well as NaN and inf.
    """
    arr = as_real(name, x, np.float32)
    check_shape(name, arr, shape)
    if finite and arr.size and not np.isfinite(arr).all():
        bad = int(np.flatnonzero(~np.isfinite(arr.ravel()))[0])
        raise InvalidValueError(
            f"{name}: must be finite, found {_source_value(x, bad, arr)} at flat index {bad}"
        )
    if nonnegative and arr.size and (arr < 0).any():
        bad = int(np.flatnonzero(arr.ravel() < 0)[0])
        raise InvalidValueError(
            f"{name}: must be >= 0, found {arr.ravel()[bad]} at flat index {bad}"
        )
    return arr


def as_f64(
    name: str,
    x: npt.ArrayLike,
    *,
    shape: tuple[int | None, ...] | None = None,
    nonnegative: bool = False,
) -> npt.NDArray[np.float64]:
    """``x`` as a finite, C-contiguous float64 array (see :func:`as_f32`)."""
    arr = as_real(name, x, np.float64)
    check_shape(name, arr, shape)
    if arr.size and not np.isfinite(arr).all():
        bad = int(np.flatnonzero(~np.isfinite(arr.ravel()))[0])
        raise InvalidValueError(
            f"{name}: must be finite, found {arr.ravel()[bad]} at flat index {bad}"
        )
    if nonnegative and arr.size and (arr < 0).any():
        bad = int(np.flatnonzero(arr.ravel() < 0)[0])
        raise InvalidValueError(
            f"{name}: must be >= 0, found {arr.ravel()[bad]} at flat index {bad}"
        )
    return arr


def as_index(name: str, x: npt.ArrayLike, *, shape: tuple[int | None, ...] | None = None) -> Any:
    """``x`` as a C-contiguous int64 array of non-negative integers."""
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError, OverflowError) as e:
        raise InvalidValueError(f"{name}: expected a rectangular array of integers ({e})") from None
    if arr.size == 0:
        arr = np.zeros(arr.shape, dtype=np.int64)
    if not np.issubdtype(arr.dtype, np.integer):
        raise ArgumentTypeError(f"{name}: expected integers, got dtype {arr.dtype}")
    if arr.dtype.kind == "u" and arr.size and arr.max() > np.iinfo(np.int64).max:
        raise InvalidValueError(f"{name}: index {arr.max()} is too large")
    arr = np.ascontiguousarray(arr, dtype=np.int64) if arr.ndim else arr.astype(np.int64)
    check_shape(name, arr, shape)
    if arr.size and arr.min() < 0:
        raise InvalidValueError(f"{name}: indices must be >= 0, found {arr.min()}")
    return arr


def as_counter(name: str, x: npt.ArrayLike) -> npt.NDArray[np.uint64]:
    """``x`` as ``uint64`` counters of the engine's random streams (agent ids, steps): integers
    in ``[0, 2**64)``, any shape (not necessarily contiguous; a scalar gives a 0-d array)."""
    if isinstance(x, bool | np.bool_):
        raise ArgumentTypeError(f"{name}: expected integers in [0, 2**64), got {x!r}")
    if isinstance(x, int | np.integer):
        if not 0 <= int(x) <= MAX_U64:
            raise InvalidValueError(f"{name}: must be in [0, 2**64), got {int(x)}")
        return np.asarray(int(x), dtype=np.uint64)
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError, OverflowError):
        raise InvalidValueError(
            f"{name}: expected a rectangular array of integers in [0, 2**64)"
        ) from None
    if arr.dtype == np.uint64:
        return arr
    if arr.dtype.kind not in "iu":
        raise ArgumentTypeError(f"{name}: expected integers in [0, 2**64), got dtype {arr.dtype}")
    if arr.dtype.kind == "i" and arr.size and int(arr.min()) < 0:
        raise InvalidValueError(f"{name}: must be in [0, 2**64), found {int(arr.min())}")
    return arr.astype(np.uint64)


def check_shape(name: str, arr: np.ndarray, shape: tuple[int | None, ...] | None) -> None:
    """Raises :class:`ShapeError` unless ``arr.shape`` matches ``shape`` (``None`` = any size)."""
    if shape is None:
        return
    if arr.ndim != len(shape) or any(
        want is not None and got != want for got, want in zip(arr.shape, shape, strict=True)
    ):
        want = "[" + ", ".join("*" if s is None else str(s) for s in shape) + "]"
        raise ShapeError(f"{name}: expected shape {want}, got {list(arr.shape)}")


def positive_int(name: str, value: int, *, minimum: int = 1, maximum: int | None = None) -> int:
    """``value`` as an int in ``[minimum, maximum]`` (a float, even a whole one, is refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ArgumentTypeError(f"{name}: expected an integer, got {value!r}")
    if value < minimum:
        raise InvalidValueError(f"{name}: must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise InvalidValueError(f"{name}: must be <= {maximum}, got {value}")
    return int(value)


def flag(name: str, value: object) -> bool:
    """``value`` as a bool (``True``/``False`` or a NumPy bool; anything else is refused rather
    than read by its truthiness)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ArgumentTypeError(f"{name}: expected True or False, got {value!r}")
    return bool(value)


def seed(value: int, name: str = "seed", *, maximum: int = MAX_U64) -> int:
    """``value`` as a seed: an integer in ``[0, maximum]`` (by default any seed the engine takes;
    a setting's seed is at most :data:`MAX_SEED`, see :func:`config_seed`)."""
    span = f"[0, 2**{maximum.bit_length()})" if maximum & (maximum + 1) == 0 else f"[0, {maximum}]"
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ArgumentTypeError(f"{name}: expected an integer in {span}, got {value!r}")
    if not 0 <= value <= maximum:
        raise InvalidValueError(f"{name}: must be in {span}, got {value}")
    return int(value)


def setting(check: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``check(*args, **kwargs)`` (a check of this module) for a configuration field or a run
    setting: its error becomes a :class:`~samarl.errors.ConfigError`, the type of every settings
    error, with the same message."""
    try:
        return check(*args, **kwargs)
    except (InvalidValueError, ShapeError) as e:
        raise ConfigError(str(e)) from None


def config_seed(name: str, value: object) -> int:
    """A setting's seed: an integer in ``[0, MAX_SEED]``, or a ConfigError naming ``name``."""
    return setting(seed, value, name, maximum=MAX_SEED)


def config_int(name: str, value: object, *, minimum: int = 1, maximum: int | None = None) -> int:
    """A setting's integer in ``[minimum, maximum]`` (:func:`positive_int`), or a ConfigError."""
    return setting(positive_int, name, value, minimum=minimum, maximum=maximum)


def config_number(name: str, value: object) -> float:
    """``value`` as a finite float for a configuration field, or a
    :class:`~samarl.errors.ConfigError` naming ``name`` (a bool, a non-number, NaN, inf or an int
    beyond float's range)."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )
    try:
        ok = ok and math.isfinite(value)  # type: ignore[arg-type]
    except OverflowError:  # an int beyond float's range
        ok = False
    if not ok:
        raise ConfigError(f"{name}: expected a finite number, got {value!r}")
    return float(value)  # type: ignore[arg-type]


def config_real(name: str, value: object, **bounds: Any) -> float:
    """A setting's finite number in range (:func:`real`), or a ConfigError naming ``name``."""
    return setting(real, name, value, **bounds)


def real(
    name: str,
    value: object,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a finite float in the given range (a Python or NumPy real number)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise ArgumentTypeError(f"{name}: expected a real number, got {value!r}")
    try:
        out = float(value)
    except OverflowError:
        raise InvalidValueError(f"{name}: {value} is too large for a float") from None
    if not math.isfinite(out):
        raise InvalidValueError(f"{name}: must be finite, got {value!r}")
    if (low is not None and (out < low or (low_open and out == low))) or (
        high is not None and (out > high or (high_open and out == high))
    ):
        lo = "(-inf" if low is None else ("(" if low_open else "[") + f"{low:g}"
        hi = "inf)" if high is None else f"{high:g}" + (")" if high_open else "]")
        raise InvalidValueError(f"{name}: must be in {lo}, {hi}, got {value!r}")
    return out


def available_memory() -> int | None:
    """Bytes of memory this machine has available for new allocations, or ``None`` when unknown.

    ``MemAvailable`` of ``/proc/meminfo`` (Linux; what can be allocated without swapping), else the
    physical memory (``os.sysconf``); at most ``SAMARL_MEMORY_LIMIT`` when that environment
    variable holds a size (bytes, or a number with a ``k``, ``M``, ``G`` or ``T`` suffix, powers of
    1000: ``8G``), which the engine honours too. A malformed limit is a
    :class:`~samarl.errors.ConfigError`.
    """
    limit = os.environ.get("SAMARL_MEMORY_LIMIT", "").strip()
    capped = None
    if limit:
        capped = _parse_size(limit)
        if capped is None:
            raise ConfigError(
                f"SAMARL_MEMORY_LIMIT: expected a size in bytes such as 8G or 500M, got {limit!r}"
            )
    system: int | None = None
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    system = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if system is None:
        try:
            system = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, OSError, ValueError):
            system = None
    if system is None or capped is None:
        return system if capped is None else capped
    return min(system, capped)


def check_memory(name: str, count: int, unit: str, nbytes: float) -> None:
    """Raises :class:`~samarl.errors.MemoryLimitError` (one line: the argument, the size, the
    bytes) when ``count`` ``unit`` of argument ``name`` need ``nbytes``, more than this machine has
    available (:func:`available_memory`). Call it before allocating: a refusal then costs nothing.
    """
    have = available_memory()
    if have is not None and nbytes > have:
        raise MemoryLimitError(
            f"{name}: {count:,} {unit} need ~{format_bytes(nbytes)} "
            f"(this machine has {format_bytes(have)} available)"
        )


def format_bytes(nbytes: float) -> str:
    """``nbytes`` for people: ``512 B``, ``3.4 kB``, ``12 MB``, ``152 GB`` (powers of 1000; one
    decimal below 10 of a unit). The engine's messages use the same form."""
    for scale, unit in ((1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
        if nbytes >= scale:
            value = nbytes / scale
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{int(nbytes)} B"


def _parse_size(text: str) -> int | None:
    """A size such as ``8G``, ``500M``, ``1.5GB`` or ``1000000`` in bytes (``None`` if not one)."""
    t = text.strip()
    if t[-1:] in ("B", "b"):
        t = t[:-1]
    scale = {"k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}.get(t[-1:].lower(), 1.0)
    if scale != 1.0:
        t = t[:-1]
    try:
        value = float(t.strip()) * scale
    except ValueError:
        return None
    return int(value) if math.isfinite(value) and 0 <= value < 1.8e19 else None


def _source_value(x: object, flat: int, arr: np.ndarray) -> str:
    """The offending value as the caller gave it (a value beyond float32 reads as itself)."""
    value = arr.ravel()[flat]
    try:
        given = np.asarray(x, dtype=np.float64).ravel()[flat]
    except (TypeError, ValueError, OverflowError, IndexError):
        return str(value)
    if np.isfinite(given):
        return f"{given:g} (beyond float32's range of +-{_F32_MAX:.3g})"
    return str(value)


def _first_bad(raw: np.ndarray) -> object:
    for item in raw.ravel():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", np.exceptions.ComplexWarning)
                float(item)
        except (TypeError, ValueError, OverflowError, np.exceptions.ComplexWarning):
            return item
        if isinstance(item, complex):
            return item
    return raw.ravel()[0]
