"""Opening an archive file by SQLite URI: the URI is built from the resolved path, so the
file named is the file opened (``#``, ``?``, ``%``, spaces and non-ASCII names included)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any


def uri(path: str | os.PathLike[str], mode: str) -> str:
    """``file:`` URI of ``path`` with ``mode`` (ro, rw, rwc); every special character of
    the name is percent-encoded (``Path.as_uri``), never read as a URI delimiter."""
    return f"{Path(path).resolve().as_uri()}?mode={mode}"


def connect(path: str | os.PathLike[str], mode: str, **kwargs: Any) -> sqlite3.Connection:
    """``sqlite3.connect`` on exactly ``path``: ro (read only), rw, or rwc (create)."""
    conn: sqlite3.Connection = sqlite3.connect(uri(path, mode), uri=True, **kwargs)
    return conn


def connect_archive(path: Path, readonly: bool = False) -> sqlite3.Connection:
    """A connection to exactly ``path`` (by URI): the writer's (WAL, full sync, explicit
    transactions) or a read-only one."""
    if readonly:
        conn = connect(path, "ro", check_same_thread=False)
    else:
        conn = connect(path, "rwc", isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.row_factory = sqlite3.Row
    return conn


def open_reader(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """A read-only connection (for browsing, reports, verification, exports)."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(
            f"No archive at {p}. Pull data first (archiver pull … --archive {p})."
        )
    conn = connect_archive(p, readonly=True)
    # browsing scans big tables: read them mapped and keep more of them cached
    conn.execute("PRAGMA mmap_size=1073741824")
    conn.execute("PRAGMA cache_size=-65536")
    conn.row_factory = sqlite3.Row
    return conn
