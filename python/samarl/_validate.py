"""Argument checks shared by the public wrappers: coerce dtypes, check shapes, reject NaN/inf.

Every check names the argument and says what was expected, so the message alone tells the user
what to fix. The Rust engine re-checks (as a last line of defence) but its errors are less specific.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from samarl.errors import InvalidValueError, ShapeError


def as_f32(
    name: str,
    x: npt.ArrayLike,
    *,
    shape: tuple[int | None, ...] | None = None,
    finite: bool = True,
    nonnegative: bool = False,
) -> npt.NDArray[np.float32]:
    """``x`` as a C-contiguous float32 array (no copy when it already is one), validated."""
    try:
        arr = np.ascontiguousarray(x, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise InvalidValueError(f"{name}: expected an array of numbers ({e})") from None
    check_shape(name, arr, shape)
    if finite and arr.size and not np.isfinite(arr).all():
        bad = np.flatnonzero(~np.isfinite(arr.ravel()))[0]
        raise InvalidValueError(
            f"{name}: must be finite, found {arr.ravel()[bad]} at flat index {bad}"
        )
    if nonnegative and arr.size and (arr < 0).any():
        bad = np.flatnonzero(arr.ravel() < 0)[0]
        raise InvalidValueError(
            f"{name}: must be >= 0, found {arr.ravel()[bad]} at flat index {bad}"
        )
    return arr


def as_index(name: str, x: npt.ArrayLike, *, shape: tuple[int | None, ...] | None = None) -> Any:
    """``x`` as a C-contiguous int64 array of non-negative integers."""
    arr = np.asarray(x)
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise InvalidValueError(f"{name}: expected integers, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.int64)
    check_shape(name, arr, shape)
    if arr.size and arr.min() < 0:
        raise InvalidValueError(f"{name}: indices must be >= 0, found {arr.min()}")
    return arr


def check_shape(name: str, arr: np.ndarray, shape: tuple[int | None, ...] | None) -> None:
    """Raises :class:`ShapeError` unless ``arr.shape`` matches ``shape`` (``None`` = any size)."""
    if shape is None:
        return
    if arr.ndim != len(shape) or any(
        want is not None and got != want for got, want in zip(arr.shape, shape, strict=True)
    ):
        want = "[" + ", ".join("*" if s is None else str(s) for s in shape) + "]"
        raise ShapeError(f"{name}: expected shape {want}, got {list(arr.shape)}")


def positive_int(name: str, value: int, *, minimum: int = 1) -> int:
    """``value`` as an int ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidValueError(f"{name}: expected an integer, got {value!r}")
    if value < minimum:
        raise InvalidValueError(f"{name}: must be >= {minimum}, got {value}")
    return int(value)
