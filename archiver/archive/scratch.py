"""A table on disk for work that outgrows memory: the bundle report's entries (one per
interaction), read back in another order for its index and outline.

Not the archive, and not evidence: a private file in the caller's work directory, removed
with it. It is SQLite, so it lives here, the one package that uses SQLite.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

_NAME = re.compile(r"[a-z_][a-z0-9_]*")


class ScratchTable:
    """Rows of named columns appended in order (each gets a sequence number, ``seq``) and
    read back sorted by any of them, a batch at a time."""

    def __init__(self, path: Path, columns: Sequence[tuple[str, str]]) -> None:
        """``columns``: (name, SQLite type) pairs, e.g. ``("day", "TEXT")``."""
        for name, kind in columns:
            if not _NAME.fullmatch(name) or kind not in ("TEXT", "INTEGER", "REAL"):
                raise ValueError(f"scratch column {name!r} {kind!r}")
        self.columns = tuple(name for name, _ in columns)
        self.db = sqlite3.connect(path)
        cols = ", ".join(f"{name} {kind}" for name, kind in columns)
        self.db.execute(f"CREATE TABLE entries (seq INTEGER PRIMARY KEY, {cols})")

    def _names(self, names: Iterable[str]) -> str:
        known = ("seq", *self.columns)
        picked = list(names)
        for n in picked:
            if n not in known:
                raise ValueError(f"no scratch column {n!r}")
        return ", ".join(picked)

    def append(self, rows: Iterable[Sequence[Any]]) -> None:
        """Rows of values in the order of ``columns``."""
        marks = ",".join("?" * len(self.columns))
        self.db.executemany(
            f"INSERT INTO entries ({self._names(self.columns)}) VALUES ({marks})", rows
        )

    def commit(self) -> None:
        """Write what was appended so far to the file."""
        self.db.commit()

    def rows(self, columns: Sequence[str], order: Sequence[str]) -> Iterator[tuple[Any, ...]]:
        """The rows' ``columns``, sorted by ``order`` (column names; ``seq`` is the order
        they were appended in), read a thousand at a time."""
        cur = self.db.execute(
            f"SELECT {self._names(columns)} FROM entries ORDER BY {self._names(order)}"
        )
        while batch := cur.fetchmany(1000):
            yield from batch

    def close(self) -> None:
        self.db.close()
