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
