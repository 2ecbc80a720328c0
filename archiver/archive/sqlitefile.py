"""Opening an archive file by SQLite URI: the URI is built from the resolved path, so the
file named is the file opened (``#``, ``?``, ``%``, spaces and non-ASCII names included)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from archiver import outputs
from archiver.archive.errors import NotAnArchive


def uri(path: str | os.PathLike[str], mode: str) -> str:
    """``file:`` URI of ``path`` with ``mode`` (ro, rw, rwc); every special character of
    the name is percent-encoded (``Path.as_uri``), never read as a URI delimiter."""
    return f"{Path(path).resolve().as_uri()}?mode={mode}"


def connect(path: str | os.PathLike[str], mode: str, **kwargs: Any) -> sqlite3.Connection:
    """``sqlite3.connect`` on exactly ``path``: ro (read only), rw, or rwc (create)."""
    conn: sqlite3.Connection = sqlite3.connect(uri(path, mode), uri=True, **kwargs)
    return conn


def connect_archive(
    path: Path, readonly: bool = False, *, archive: bool = True
) -> sqlite3.Connection:
    """A connection to exactly ``path`` (by URI): the writer's (WAL, full sync, explicit
    transactions) or a read-only one. ``archive``: the file must be an archive already (a
    schema version), checked before anything is set or written (a new archive's temporary
    file is the one exception: store._new_archive)."""
    if readonly:
        conn = connect(path, "ro", check_same_thread=False)
    else:
        conn = connect(path, "rw", isolation_level=None, check_same_thread=False)
    if archive:
        check_schema(conn, path)
    if not readonly:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.row_factory = sqlite3.Row
    return conn


def check_archive_file(path: str | os.PathLike[str]) -> None:
    """Refuse (:class:`NotAnArchive`) a path that cannot hold an archive, before SQLite opens
    it: a FIFO, a device, a directory, an empty or non-SQLite file (outputs.archive_problem).
    A path where nothing is passes (a new archive may be made there)."""
    problem = outputs.archive_problem(path)
    if problem:
        raise NotAnArchive(problem)


def check_schema(conn: sqlite3.Connection, path: Path) -> None:
    """A SQLite database with no archive schema (version 0) is someone else's: refused."""
    if int(conn.execute("PRAGMA user_version").fetchone()[0]) == 0:
        conn.close()
        raise NotAnArchive(
            f"{path} is a SQLite database, but not an archive (it has no archive schema): "
            "archiver neither reads nor changes it; name an archive, or a new path"
        )


def open_reader(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """A read-only connection (for browsing, reports, verification, exports)."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(
            f"No archive at {p}. Pull data first (archiver pull … --archive {p})."
        )
    check_archive_file(p)
    conn = connect_archive(p, readonly=True)
    # browsing scans big tables: read them mapped and keep more of them cached
    conn.execute("PRAGMA mmap_size=1073741824")
    conn.execute("PRAGMA cache_size=-65536")
    conn.row_factory = sqlite3.Row
    return conn
