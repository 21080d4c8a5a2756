"""Files samarl writes and reads back: every write is atomic, every damaged file a one-line error.

:func:`atomic_write` is the only way results reach the disk: it writes a temporary file in the
target's folder, flushes it to the disk and renames it over the target (``os.replace``, atomic on
POSIX and Windows). A process killed at any moment leaves either the previous file or the new one,
never half of one, so a run folder always holds its last good checkpoint. Policies and checkpoints
are read back by :mod:`samarl._tensor_file`, and :class:`FileError` says which file is damaged.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from samarl.errors import FileError, FolderInUseError

__all__ = [
    "LOCK_FILE",
    "FileError",
    "atomic_write",
    "folder_owner",
    "is_temporary",
    "own_folder",
    "remove_temporaries",
    "scoped_holds",
]

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


def is_temporary(name: str) -> bool:
    """Whether ``name`` is that of a temporary file :func:`atomic_write` makes."""
    return _TEMPORARY.fullmatch(name) is not None


def remove_temporaries(folder: str | os.PathLike[str], *, recursive: bool = False) -> int:
    """Removes the temporary files that writes killed half-way left in ``folder`` (and, with
    ``recursive``, in its subfolders); returns how many. A run folder that is resumed or
    overwritten calls it."""
    removed = 0
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return 0
    for entry in entries:
        if recursive and entry.is_dir() and not entry.is_symlink():
            removed += remove_temporaries(entry, recursive=True)
        elif is_temporary(entry.name) and entry.is_file():
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


#: The file in a run folder that its writer holds a lock on (it stays; the lock goes with its holder).
LOCK_FILE = ".samarl.lock"
#: Folders this process holds: real path -> [descriptor of the lock file, depth of holds].
_HELD: dict[str, list[int]] = {}


@contextlib.contextmanager
def folder_owner(folder: str | os.PathLike[str], command: str) -> Iterator[Path]:
    """Holds ``folder`` (created) for this process while the block runs: see :func:`own_folder`.
    Holding a folder this process already holds is allowed (the outer hold stays)."""
    path = own_folder(folder, command)
    try:
        yield path
    finally:
        _release(path)


def own_folder(folder: str | os.PathLike[str], command: str) -> Path:
    """Makes this process the one writer of ``folder`` (which must exist) until it exits, until
    the :func:`folder_owner` block that took it ends, or until the :func:`scoped_holds` block
    around the call ends (each command of the command line runs in one).

    The hold is an advisory lock (``flock``; ``msvcrt.locking`` on Windows) on ``LOCK_FILE`` in
    the folder, which the operating system drops when the holder exits, even when it is killed.
    A second process is refused with a :class:`~samarl.errors.FolderInUseError` naming the
    holder. On a file system without locks the folder is used without one.
    """
    path = Path(folder)
    key = os.path.realpath(path)
    if key in _HELD:
        _HELD[key][1] += 1
        return path
    try:
        fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise FileError(f"out: cannot write into {os.fspath(path)!r}: {e.strerror or e}") from None
    try:
        locked = _lock(fd)
    except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        raise FolderInUseError(
            f"out: {os.fspath(path)!r} is in use by another samarl command ({holder}); wait for "
            "it to finish or choose another --out"
        ) from None
    if not locked:
        os.close(fd)
        return path
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        info = f"`{command}`, pid {os.getpid()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}"
        os.write(fd, info.encode())
    _HELD[key] = [fd, 1]
    return path


@contextlib.contextmanager
def scoped_holds() -> Iterator[None]:
    """Releases, when the block ends, every folder :func:`own_folder` took inside it (a command
    run in-process, e.g. by tests or a notebook, lets its folders go when it returns)."""
    before = set(_HELD)
    try:
        yield
    finally:
        for key in set(_HELD) - before:
            os.close(_HELD.pop(key)[0])


def _release(path: Path) -> None:
    key = os.path.realpath(path)
    held = _HELD.get(key)
    if held is None:
        return
    held[1] -= 1
    if held[1] == 0:
        del _HELD[key]
        os.close(held[0])  # closing the descriptor drops the lock


def _lock(fd: int) -> bool:
    """Locks ``fd`` without waiting: True when locked, False where the file system has no locks;
    :class:`BlockingIOError` when another process holds it."""
    try:
        if sys.platform == "win32":
            import msvcrt

            try:
                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            except PermissionError:
                raise BlockingIOError from None
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise
    except OSError as e:
        if e.errno in (errno.EAGAIN, errno.EACCES):
            raise BlockingIOError from None
        return False  # ENOLCK, EOPNOTSUPP, ...: no locks on this file system
    return True


def _holder(fd: int) -> str:
    """What the holder of a lock file wrote about itself."""
    try:
        text = os.read(fd, 400).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    return " ".join(text.split()) or "unknown"
