"""Files samarl writes and reads back: every write is atomic, every damaged file a one-line error.

:func:`atomic_write` is the only way results reach the disk: it writes a temporary file in the
target's folder, flushes it to the disk and renames it over the target (``os.replace``, atomic on
POSIX and Windows). A process killed at any moment leaves either the previous file or the new one,
never half of one, so a run folder always holds its last good checkpoint. :func:`load_torch` reads
a checkpoint or policy back, and :class:`FileError` says which file is damaged.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from samarl.errors import FileError

__all__ = ["FileError", "atomic_write", "load_torch", "remove_temporaries"]

#: The name :func:`atomic_write` gives its temporary files: ``.STEM.XXXXXXXX.tmpSUFFIX``.
_TEMPORARY = re.compile(r"\..+\.[0-9a-f]{8}\.tmp(\.[^.]*)?")


def atomic_write(
    path: str | os.PathLike[str], content: str | bytes | Callable[[Path], object]
) -> Path:
    """Writes ``content`` to ``path`` atomically; returns ``path``.

    ``content`` is the text (UTF-8) or bytes of the file, or a writer called with a temporary path
    in the same folder (``lambda tmp: torch.save(obj, tmp)``). The temporary name keeps the
    target's suffix, so writers that add one (``np.savez``) or read it (``savefig``) behave. The
    file is flushed to the disk before it replaces ``path``; on any error the temporary is removed
    and ``path`` is left as it was.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{secrets.token_hex(4)}.tmp{path.suffix}")
    try:
        if isinstance(content, str):
            tmp.write_text(content, encoding="utf-8")
        elif isinstance(content, bytes):
            tmp.write_bytes(content)
        else:
            content(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(e, OSError) and e.errno is not None:  # name the file, not its temporary
            raise OSError(e.errno, e.strerror, os.fspath(path)) from e
        raise
    _sync_folder(path.parent)
    return path


def remove_temporaries(folder: str | os.PathLike[str]) -> int:
    """Removes the temporary files that writes killed half-way left in ``folder`` (not its
    subfolders); returns how many. A run folder that is resumed or overwritten calls it."""
    removed = 0
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return 0
    for entry in entries:
        if _TEMPORARY.fullmatch(entry.name) and entry.is_file():
            with contextlib.suppress(OSError):
                entry.unlink()
                removed += 1
    return removed


def _sync_folder(folder: Path) -> None:
    """Flushes the rename to the disk too (POSIX; folders cannot be opened on Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def load_torch(path: str | os.PathLike[str], *, what: str) -> Any:
    """The object of a file written with ``torch.save`` (on the CPU).

    ``what`` names the argument the file came from in errors. Raises :class:`FileError` when the
    file cannot be read or is not a complete torch file (e.g. truncated by a full disk).
    """
    import torch

    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except OSError as e:
        raise FileError(f"{what}: cannot read {os.fspath(path)!r}: {e.strerror or e}") from None
    except Exception as e:  # pickle, zip and torch each raise their own class for a damaged file
        reason = " ".join(str(e).split()) or type(e).__name__
        if len(reason) > 120:
            reason = reason[:117] + "..."
        raise FileError(
            f"{what}: {os.fspath(path)!r} is damaged or not a samarl torch file ({reason})"
        ) from None
