"""The archive's failures, named for what a caller does about them.

A front-end or a use case catches these, never the storage engine's own exceptions: the
archive is SQLite today (these are its exception classes, so nothing raised is missed),
and the caller need not know it.
"""

from __future__ import annotations

import sqlite3

#: The archive's storage failed: the file could not be opened, read or written (a
#: read-only medium, a full disk, a lock held too long, a damaged or foreign file).
StorageError = sqlite3.Error

#: The file could not be read as an archive: not a database, damaged, or unreadable (the
#: storage failures a reader meets; :data:`StorageError` is the wider family).
UnreadableArchive = sqlite3.DatabaseError


class CannotHold(Exception):
    """A page this archive cannot store as it is (say, more columns than one SQLite table
    can have). The page is quarantined with this reason and only its chunk fails."""


#: SQLite's primary result codes that are the medium's failure, not one page's: nothing
#: else can be stored either (permission, read-only, I/O, damaged file, full disk, cannot
#: open, not a database, busy or locked, out of memory, lock protocol)
_MEDIUM_CODES = frozenset({3, 5, 6, 7, 8, 10, 11, 13, 14, 15, 26})


def page_failure(exc: BaseException) -> bool:
    """Did storing one page fail for that page alone (it is quarantined, its chunk fails,
    the run goes on), rather than for the archive's medium (the run stops)?"""
    if isinstance(exc, CannotHold):
        return True
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        return code is None or (code & 0xFF) not in _MEDIUM_CODES
    return isinstance(exc, ValueError | OverflowError)  # a value no column can take


class NotAnArchive(UnreadableArchive, ValueError):
    """The path names no archive: a FIFO, a device, a directory, an empty (0-byte) file, a
    file that is not SQLite, or a SQLite database archiver did not make. Refused before
    anything is written; the message names the cause. (A usage error as much as an
    unreadable archive: front-ends may catch either.)"""


__all__ = ["CannotHold", "NotAnArchive", "StorageError", "UnreadableArchive", "page_failure"]
