"""Exceptions raised by samarl.

Every class derives from :class:`ValueError`: bad input is a value problem, and callers that only
catch ``ValueError`` keep working. The engine raises the same classes (they are defined in
``samarl._core`` and re-exported here). An argument of the wrong type (a float seed, a complex
array, a string where a number belongs) raises :class:`ArgumentTypeError`, which is also a
:class:`TypeError`. A size that needs more memory than the machine has available (agents, nodes,
days) raises :class:`MemoryLimitError`, an :class:`InvalidValueError`, before anything is allocated.
"""

from __future__ import annotations

from samarl._core import (
    DisconnectedGraphError,
    GraphError,
    InvalidValueError,
    MemoryLimitError,
    SamarlError,
    ShapeError,
)

__all__ = [
    "ArgumentTypeError",
    "ConfigError",
    "DisconnectedGraphError",
    "FileError",
    "FolderInUseError",
    "GraphError",
    "InvalidValueError",
    "MemoryLimitError",
    "SamarlError",
    "ShapeError",
    "TrainingDivergedError",
]


class ConfigError(SamarlError):
    """A configuration (scenario, training or execution settings) has an invalid field."""


class ArgumentTypeError(InvalidValueError, TypeError):
    """An argument has the wrong type: a float where an integer belongs, a complex or string array
    where real numbers belong. Both an :class:`InvalidValueError` and a :class:`TypeError`."""


class FileError(SamarlError):
    """A file could not be written or read back, or holds damaged data: the command was right, the
    disk or the file was not."""

    exit_status = 1
    """The command line's exit status: 1, a failure (2 is for a wrong command line)."""


class FolderInUseError(SamarlError):
    """Another samarl command (or process) is writing into the same run folder: a folder has one
    writer at a time, so that two runs never mix their files."""

    exit_status = 1
    """The command line's exit status: 1, a failure (2 is for a wrong command line)."""


class TrainingDivergedError(InvalidValueError):
    """Training produced a non-finite loss, gradient or weights (e.g. a learning rate far too
    large). :func:`~samarl.training.train` stops at once, and the run folder keeps its last good
    checkpoint."""

    exit_status = 1
    """The command line's exit status: 1, a failure (2 is for a wrong command line)."""
