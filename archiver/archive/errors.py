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

__all__ = ["StorageError", "UnreadableArchive"]
