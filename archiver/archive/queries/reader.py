"""The handle a query reads through: a read-only connection to one archive file."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Protocol, Self

from archiver import outputs
from archiver.archive.schema import backup_to
from archiver.archive.sqlitefile import open_reader


class Source(Protocol):
    """What a query reads from: a :class:`Reader`, or the writer's own
    :class:`~archiver.archive.store.Archive` (a run's outcome is counted inside the writer,
    after its last page is committed)."""

    @property
    def conn(self) -> sqlite3.Connection: ...


class Reader:
    """One read-only connection to an archive (FileNotFoundError when there is none).

    Close it, or use it as a context manager; queries take it as their first argument."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.conn = open_reader(self.path)

    def close(self) -> None:
        self.conn.close()

    def backup_to(self, dest: Path, *, flag: str = "--out") -> None:
        """A consistent copy of the archive at ``dest``, through SQLite's online backup API
        (never a file copy: a pull may be writing meanwhile), as a new file that is never a
        file of this archive's set (archive/schema.backup_to)."""
        backup_to(self.conn, dest, protect=[outputs.ArchiveSet.of(self.path)], flag=flag)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"
