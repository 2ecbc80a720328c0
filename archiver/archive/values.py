"""Row values: one table per dataset, a column per API column.

``vals_<dataset>`` holds each record's exact API strings, keyed by ``record_id``: the columns
are every column the dataset has had in this archive, in the order first seen; a record's own
columns (and their order, which its canonical JSON and SHA-256 follow) are the column set
``records.columns_id`` names in ``column_sets``; columns it lacks are NULL. Real columns make
sorting, filtering and lookups plain SQL (no JSON parsing per row) and store no column name
per row. The view ``record_values(record_id, values_json)`` gives a JSON object per record
for readers that want one (outsiders, tests); the canonical form is
:func:`canonical`, which verify-archive compares with the raw page.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Sequence

from archiver.archive.hashing import canonical_record
from archiver.archive.triggers import create_triggers
from archiver.datasets import DATASETS

#: Columns looked up by value (an interaction's rows), indexed in their dataset's table.
LOOKUP_COLUMNS: dict[str, tuple[str, ...]] = {
    "interactionSegments": ("INTERACTION_ID",),
    "workflowTrace": ("WORKFLOWSESSION_INTERACTIONID",),
    "mpccdr": ("INTERACTION_ID",),
    "transcript": ("INTERACTION_ID",),
}

_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def table(dataset: str) -> str:
    """The values table of a dataset (registry names are plain identifiers)."""
    if not _IDENT.match(dataset):
        raise ValueError(f"not a dataset name: {dataset!r}")
    return f"vals_{dataset}"


def quote(column: str) -> str:
    """A column name as an SQL identifier (API names are not always plain)."""
    return '"' + column.replace('"', '""') + '"'


def table_columns(conn: sqlite3.Connection, dataset: str) -> list[str]:
    """The value columns of a dataset's table, in order ([] when there is none yet)."""
    rows = conn.execute(f"PRAGMA table_info({table(dataset)})").fetchall()
    return [r[1] for r in rows if r[1] != "record_id"]


def natural_columns(dataset: str) -> tuple[str, ...]:
    """The registry's natural key of a dataset ((): none besides ROW_ID)."""
    ds = DATASETS.get(dataset)
    if ds is None or ds.key == ("ROW_ID",):
        return ()
    return ds.key


class ValueWriter:
    """The writer's side: tables, columns and column sets created as pages bring them."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._columns: dict[str, list[str]] = {}
        self._sets: dict[tuple[str, str], int] = {}

    def columns(self, dataset: str) -> list[str]:
        if dataset not in self._columns:
            self._columns[dataset] = table_columns(self.conn, dataset)
        return self._columns[dataset]

    def ensure(self, dataset: str, names: Sequence[str]) -> None:
        """The dataset's table exists and has every column in ``names``."""
        have = self.columns(dataset)
        missing = [n for n in dict.fromkeys(names) if n not in have]
        if not missing:
            return
        t = table(dataset)
        if not have:
            cols = ", ".join(f"{quote(n)} TEXT" for n in missing)
            self.conn.execute(f"CREATE TABLE {t} (record_id INTEGER PRIMARY KEY, {cols})")
            create_triggers(self.conn, [t])  # values are evidence: append-only
        else:
            for n in missing:
                self.conn.execute(f"ALTER TABLE {t} ADD COLUMN {quote(n)} TEXT")
        have.extend(missing)
        self._index(dataset)
        create_record_values_view(self.conn)

    def _index(self, dataset: str) -> None:
        have = set(self.columns(dataset))
        t = table(dataset)
        wanted = [
            ("natural", natural_columns(dataset)),
            ("lookup", LOOKUP_COLUMNS.get(dataset, ())),
        ]
        for kind, cols in wanted:
            if cols and set(cols) <= have:
                self.conn.execute(
                    f"CREATE INDEX IF NOT EXISTS {t}_{kind} ON {t}({', '.join(map(quote, cols))})"
                )

    def column_set(self, dataset: str, names: Sequence[str]) -> int:
        """The id of this ordered list of columns (one row per distinct list)."""
        text = json.dumps(list(names), separators=(",", ":"))
        key = (dataset, text)
        if key not in self._sets:
            row = self.conn.execute(
                "SELECT columns_id FROM column_sets WHERE dataset=? AND names=?", key
            ).fetchone()
            if row is None:
                cur = self.conn.execute(
                    "INSERT INTO column_sets(dataset, names) VALUES (?, ?)", key
                )
                self._sets[key] = int(cur.lastrowid or 0)
            else:
                self._sets[key] = int(row[0])
        return self._sets[key]

    def insert(
        self, dataset: str, names: Sequence[str], rows: Iterable[tuple[int, Sequence[str]]]
    ) -> None:
        """Insert ``(record_id, values)`` rows whose values follow ``names``."""
        cols = ", ".join(map(quote, names))
        marks = ", ".join("?" * (len(names) + 1))
        self.conn.executemany(
            f"INSERT INTO {table(dataset)} (record_id, {cols}) VALUES ({marks})",
            ((rid, *values) for rid, values in rows),
        )


def column_sets(conn: sqlite3.Connection, dataset: str | None = None) -> dict[int, list[str]]:
    """columns_id → the ordered column names (of one dataset, or all)."""
    sql, args = "SELECT columns_id, names FROM column_sets", []
    if dataset is not None:
        sql, args = sql + " WHERE dataset=?", [dataset]
    return {cid: json.loads(names) for cid, names in conn.execute(sql, args)}


def fetch(
    conn: sqlite3.Connection, dataset: str, record_ids: Sequence[int]
) -> dict[int, dict[str, str]]:
    """Each record's values as ``{column: value}`` in its own column order."""
    return {
        rid: {k: v or "" for k, v in row.items()}
        for rid, row in fetch_strict(conn, dataset, record_ids).items()
    }


def fetch_strict(
    conn: sqlite3.Connection, dataset: str, record_ids: Sequence[int]
) -> dict[int, dict[str, str | None]]:
    """As :func:`fetch`, but a value missing from the table (only an edit does that) is
    None: what verify-archive compares with the page."""
    out: dict[int, dict[str, str | None]] = {}
    cols = table_columns(conn, dataset) if record_ids else []
    if not cols:
        return out
    sets = column_sets(conn, dataset)
    select = ", ".join(f"v.{quote(c)}" for c in cols)
    for n in range(0, len(record_ids), 500):
        part = list(record_ids[n : n + 500])
        marks = ",".join("?" * len(part))
        for row in conn.execute(
            f"""SELECT r.record_id, r.columns_id, {select} FROM {table(dataset)} v
                JOIN records r ON r.record_id = v.record_id
                WHERE v.record_id IN ({marks})""",
            part,
        ):
            by_name = dict(zip(cols, row[2:], strict=True))
            out[row[0]] = {name: by_name.get(name) for name in sets.get(row[1], cols)}
    return out


def canonical(values: dict[str, str | None]) -> str | None:
    """The record's canonical JSON (what its SHA-256 is over) from its stored values; None
    when a value is missing (the table was edited)."""
    if any(v is None for v in values.values()):
        return None
    return canonical_record(list(values), [v or "" for v in values.values()])


def create_record_values_view(conn: sqlite3.Connection) -> None:
    """``record_values(record_id, dataset, values_json)``: every record's values as a JSON
    object (columns a record lacks left out) — for readers; not the canonical form."""
    conn.execute("DROP VIEW IF EXISTS record_values")
    parts = []
    for (name,) in conn.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name LIKE 'vals\\_%' ESCAPE '\\'"
    ).fetchall():
        dataset = name[len("vals_") :]
        cols = table_columns(conn, dataset)
        pairs = ", ".join(f"'{c.replace(chr(39), chr(39) * 2)}', {quote(c)}" for c in cols)
        parts.append(
            f"SELECT record_id, '{dataset}' AS dataset, "
            f"json_patch('{{}}', json_object({pairs})) AS values_json FROM {name}"
        )
    body = " UNION ALL ".join(parts) or (
        "SELECT NULL AS record_id, NULL AS dataset, NULL AS values_json WHERE 0"
    )
    conn.execute(f"CREATE VIEW record_values AS {body}")
