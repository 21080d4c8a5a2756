"""Reading the files a user hands to samarl (scenario files, profile CSVs, graphs).

:func:`read_user_file` is the one way their bytes come in: only a regular file (never a device, a
pipe or a folder, which would block or never end), refused before it is read when it is larger
than the limit its kind allows, so that no parser, NumPy or SciPy sees a file it could not handle
in memory. The readers then validate the contents themselves before anything third-party builds
objects from them.
"""

from __future__ import annotations

import os
import stat

from samarl._validate import check_memory
from samarl.errors import FileError, SamarlError

__all__ = ["read_user_file", "show_line"]


def read_user_file(
    path: str | os.PathLike[str], *, what: str, limit: int, error: type[SamarlError]
) -> bytes:
    """The bytes of the regular file at ``path``, which must hold at most ``limit`` of them.

    ``what`` names the argument in errors. A file that is missing, not a regular file or too large
    raises ``error`` (the argument is wrong); one that is there but cannot be read (permissions,
    I/O) raises :class:`~samarl.errors.FileError`.
    """
    name = os.fspath(path)
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise error(f"{what}: no such file {name!r}") from None
    except (OSError, ValueError) as e:  # a name too long, with a NUL byte, a loop of links, ...
        raise error(f"{what}: cannot read {name!r}: {getattr(e, 'strerror', None) or e}") from None
    if stat.S_ISDIR(info.st_mode):
        raise error(f"{what}: {name!r} is a folder, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise error(f"{what}: {name!r} is not a regular file (a device, a pipe or a socket)")
    if info.st_size > limit:
        raise error(_too_large(what, name, info.st_size, limit))
    check_memory(what, info.st_size, f"bytes of {name!r}", info.st_size)
    try:
        with open(path, "rb") as f:  # read() allocates what it is asked for: the file's size
            data = f.read(info.st_size + 1)
    except OSError as e:  # the file is there but the disk or its permissions fail: a failure
        raise FileError(f"{what}: cannot read {name!r}: {e.strerror or e}") from None
    if len(data) > info.st_size:  # it grew since
        raise error(f"{what}: {name!r} grew while it was read (another process writes it?)")
    return data


def show_line(line: bytes | str, width: int = 60) -> str:
    """A line of a file quoted for an error message: decoded, shortened to ``width`` characters."""
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    text = text.strip()
    return repr(text if len(text) <= width else text[: width - 3] + "...")


def _too_large(what: str, name: str, size: int, limit: int) -> str:
    return f"{what}: {name!r} holds {size:,} bytes, more than the {limit:,} such a file may hold"
