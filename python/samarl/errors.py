"""Exceptions raised by samarl.

Every class derives from :class:`ValueError`: bad input is a value problem, and callers that only
catch ``ValueError`` keep working. The engine raises the same classes (they are defined in
``samarl._core`` and re-exported here).
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
    "ConfigError",
    "DisconnectedGraphError",
    "GraphError",
    "InvalidValueError",
    "SamarlError",
    "ShapeError",
]


class ConfigError(SamarlError):
    """A configuration (scenario, training or execution settings) has an invalid field."""
