"""A full disk, a read-only medium and a refused permission, named as such.

A write that fails because of where it goes is not an unexpected error nor a failed
chunk: the message says which path, what is wrong with it (how much room is left), that
nothing archived was lost (every write is a transaction, an output a temporary file until
it is complete) and what to do. :func:`named` recognises one in an ``OSError`` (by its
errno) or in a storage error of the archive (SQLite's result code, read without importing
SQLite: only ``archiver.archive`` may); :func:`naming` turns those raised inside a block
into an :class:`IOFailure`; every command ends with exit code 1 and its message.
"""

from __future__ import annotations

import errno
import getpass
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

FULL = "full"
READ_ONLY = "read-only"
DENIED = "permission"

_FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_DENIED_ERRNOS = {errno.EACCES, errno.EPERM}
#: SQLite's primary result codes: SQLITE_FULL; and those a medium or file that cannot be
#: written gives (SQLITE_PERM, SQLITE_READONLY, SQLITE_IOERR, SQLITE_CANTOPEN)
_SQLITE_FULL = 13
_SQLITE_UNWRITABLE = {3, 8, 10, 14}


class IOFailure(OSError):
    """A write refused by the medium at ``path``: ``kind`` is FULL, READ_ONLY or DENIED.
    Its text is the whole message (the path, the cause, what to do)."""

    def __init__(self, kind: str, path: Path, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.path = path

    def __str__(self) -> str:
        return str(self.args[0])


def free_mb(path: Path) -> float:
    """Megabytes (MiB) free to this user on the disk holding ``path``."""
    return shutil.disk_usage(_existing(path)).free / 1_048_576


def named(
    exc: BaseException, path: Path | str, *, output: bool = False, done: str = ""
) -> IOFailure | None:
    """The named failure ``exc`` is for a write at ``path`` (None: not one of these).

    ``output``: ``path`` is what the command was asked to write (named whatever file beside
    or under it failed; the advice is another place for it), not the archive; otherwise the
    file the error names is named, else ``path``. ``done``: what to say instead of "nothing archived was
    lost" when more is true (e.g. that a partial output was removed)."""
    if isinstance(exc, IOFailure):
        return exc
    where = Path(path) if output or not isinstance(exc, OSError) else _written(exc, path)
    kind = _kind(exc, where)
    if kind is None:
        return None
    lost = done or "nothing archived was lost"
    if kind == FULL:
        text = (
            f"the disk holding {where} is full ({free_mb(where):,.1f} MB free): {lost}; "
            "free space and rerun"
        )
    elif kind == READ_ONLY:
        todo = (
            "choose a place on writable storage and rerun"
            if output
            else "copy it to writable storage (or mount the disk read-write) and rerun"
        )
        text = f"the disk holding {where} is read-only: {lost}; {todo}"
    else:
        folder = where.parent if not where.is_dir() else where
        user = _user()
        also = f" and to {where}" if where.exists() and where != folder else ""
        todo = (
            f"give {user} write access to {folder}, or choose another place, and rerun"
            if output
            else f"give {user} write access to {folder}{also}, and rerun"
        )
        text = f"permission denied: {user} may not write {where}: {lost}; {todo}"
    return IOFailure(kind, where, text)


@contextmanager
def naming(path: Path | str, *, output: bool = False, done: str = "") -> Iterator[None]:
    """Raise :class:`IOFailure` (from the original) for a full disk, a read-only medium or
    a refused permission met inside the block; anything else passes through unchanged."""
    try:
        yield
    except Exception as exc:
        failure = named(exc, path, output=output, done=done) if _io_like(exc) else None
        if failure is None or failure is exc:
            raise
        raise failure from exc


def _written(exc: OSError, path: Path | str) -> Path:
    """The path an OSError was writing: the destination of a two-path call (a copy, a
    rename), else its file, else ``path``."""
    name = exc.filename2 or exc.filename
    if isinstance(name, bytes):
        name = os.fsdecode(name)
    return Path(name) if isinstance(name, str | os.PathLike) and name else Path(path)


def _io_like(exc: BaseException) -> bool:
    return isinstance(exc, OSError) or hasattr(exc, "sqlite_errorcode")


def _kind(exc: BaseException, path: Path) -> str | None:
    if isinstance(exc, OSError):
        if exc.errno in _FULL_ERRNOS:
            return FULL
        if exc.errno == errno.EROFS:
            return READ_ONLY
        if exc.errno in _DENIED_ERRNOS:
            return DENIED
        return None
    code = getattr(exc, "sqlite_errorcode", None)
    if not isinstance(code, int):
        return None
    if code & 0xFF == _SQLITE_FULL:
        return FULL
    if code & 0xFF in _SQLITE_UNWRITABLE:
        if _read_only(path):
            return READ_ONLY
        if not _writable(path):
            return DENIED
    return None


def _existing(path: Path) -> Path:
    """``path`` or its nearest existing parent."""
    for p in (path, *path.parents):
        if p.exists():
            return p
    return Path(os.sep)


def _read_only(path: Path) -> bool:
    """Is the file system holding ``path`` mounted read-only?"""
    if not hasattr(os, "statvfs"):
        return False
    try:
        return bool(os.statvfs(_existing(path)).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _writable(path: Path) -> bool:
    """May this process (its effective user) write ``path`` and create files next to it
    (an archive's -wal and -shm, a temporary output)?"""
    folder = _existing(path.parent)
    mine = [folder] + ([path] if path.exists() else [])
    try:
        return all(os.access(p, os.W_OK, effective_ids=True) for p in mine)
    except NotImplementedError:  # effective_ids: not on every platform
        return all(os.access(p, os.W_OK) for p in mine)


def _user() -> str:
    if hasattr(os, "geteuid"):
        try:
            import pwd

            return pwd.getpwuid(os.geteuid()).pw_name
        except (ImportError, KeyError):
            pass
    try:
        return getpass.getuser()
    except Exception:  # no name for this uid
        return "this user"
