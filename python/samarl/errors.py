"""Exceptions raised by samarl.

Every class derives from :class:`ValueError`: bad input is a value problem, and callers that only
catch ``ValueError`` keep working. The engine raises the same classes (they are defined in
``samarl._core`` and re-exported here). An argument of the wrong type (a float seed, a complex
array, a string where a number belongs) raises :class:`ArgumentTypeError`, which is also a
:class:`TypeError`.
"""

from __future__ import annotations

from samarl._core import (
    DisconnectedGraphError,
    GraphError,
    InvalidValueError,
    SamarlError,
    ShapeError,
)

__all__ = [
    "ArgumentTypeError",
    "ConfigError",
    "DisconnectedGraphError",
    "GraphError",
    "InvalidValueError",
    "SamarlError",
    "ShapeError",
]


class ConfigError(SamarlError):
    """A configuration (scenario, training or execution settings) has an invalid field."""


class ArgumentTypeError(InvalidValueError, TypeError):
    """An argument has the wrong type: a float where an integer belongs, a complex or string array
    where real numbers belong. Both an :class:`InvalidValueError` and a :class:`TypeError`."""
