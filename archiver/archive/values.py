"""Row values: one table per dataset, a column per API column.

``vals_<dataset>`` holds each record's exact API strings, keyed by ``record_id``: the columns
are every column the dataset has had in this archive, in the order first seen; a record's own
columns (and their order, which its canonical JSON and SHA-256 follow) are the column set
``records.columns_id`` names in ``column_sets``; columns it lacks are NULL. Real columns make
sorting, filtering and lookups plain SQL (no JSON parsing per row) and store no column name
per row. The view ``record_values(record_id, values_json)`` gives a JSON object per record
for readers that want one (outsiders, tests); the canonical form is
:func:`canonical`, which verify-archive compares with the raw page.

A column of a values table is named by us, not by the server (schema version 5): an API
name that is a plain upper-case identifier (``INTERACTION_ID``: every column the guide
names) is its own column name; any other (``row_id`` beside ``ROW_ID``, ``RECORD_ID``,
``record_id``, a control character or NUL, a very long name) is stored in a column named
``_`` and the SHA-256 of the name (:func:`stored_name`), so whatever a server calls a column
never clashes with another, with ``record_id`` or with SQL. ``value_columns`` maps each
dataset's API names to their columns; it is re-derived from the pages' columnHeaders by
the same rule (:func:`replay_check`).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from hashlib import sha256
from typing import Any

from archiver.archive.errors import CannotHold
from archiver.archive.hashing import canonical_record
from archiver.archive.triggers import create_triggers, is_values_table
from archiver.datasets import DATASETS

#: Columns looked up by value (an interaction's rows), indexed in their dataset's table.
LOOKUP_COLUMNS: dict[str, tuple[str, ...]] = {
    "interactionSegments": ("INTERACTION_ID",),
    "workflowTrace": ("WORKFLOWSESSION_INTERACTIONID",),
    "mpccdr": ("INTERACTION_ID",),
    "transcript": ("INTERACTION_ID",),
}

_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
#: an API column name kept as its own column name: an upper-case identifier, at most 64
_PLAIN = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
#: names SQLite or this table gives a meaning (compared without case, as SQLite does)
_RESERVED = frozenset({"RECORD_ID", "ROWID", "OID", "_ROWID_"})

#: The table that maps each dataset's API column names to their columns (schema 5).
VALUE_COLUMNS_DDL = """CREATE TABLE IF NOT EXISTS value_columns (
    dataset TEXT NOT NULL,
    name    TEXT NOT NULL,   -- the API's column name, exactly as columnHeaders gave it
    stored  TEXT NOT NULL,   -- the column of vals_<dataset> that holds it (stored_name)
    PRIMARY KEY (dataset, stored)
)"""

#: How verify-archive's table registry (issue 18 §1) classifies the table this module adds.
TABLES = {
    "value_columns": (
        "replayed",
        "each dataset's API column names (from the pages' columnHeaders) and their columns "
        "by stored_name; values.replay_check re-derives and compares it",
    ),
}

#: json_object takes at most 127 arguments (SQLite's default): pairs per call in the view
_PAIRS_PER_CALL = 60


def table(dataset: str) -> str:
    """The values table of a dataset (registry names are plain identifiers)."""
    if not _IDENT.match(dataset):
        raise ValueError(f"not a dataset name: {dataset!r}")
    return f"vals_{dataset}"


def stored_name(name: str) -> str:
    """The values-table column that holds the API column ``name``: the name itself when it
    is a plain upper-case identifier that means nothing else to SQLite, else ``_`` and the
    SHA-256 of its UTF-8 bytes (which no plain name can equal, whatever the case)."""
    if _PLAIN.fullmatch(name) and name not in _RESERVED:
        return name
    return "_" + sha256(name.encode("utf-8", "surrogatepass")).hexdigest()


def col(name: str) -> str:
    """The column holding API column ``name``, as an SQL identifier (``v.`` + this)."""
    return f'"{stored_name(name)}"'


def any_like(names: Sequence[str]) -> str:
    """``(v.A LIKE ? OR v.B LIKE ? …)`` over the API columns ``names`` (one parameter
    each), nested in groups so that two thousand columns stay within SQLite's limit on an
    expression's depth (1,000)."""
    terms = [f"v.{col(n)} LIKE ?" for n in names]
    while len(terms) > 50:
        terms = ["(" + " OR ".join(terms[i : i + 50]) + ")" for i in range(0, len(terms), 50)]
    return "(" + " OR ".join(terms or ["0"]) + ")"


def quote(identifier: str) -> str:
    """An identifier (a stored column, an index table) as SQL: double-quoted, quotes doubled."""
    return '"' + identifier.replace('"', '""') + '"'


def stored_columns(conn: sqlite3.Connection, dataset: str) -> list[str]:
    """The columns of a dataset's values table, in order ([] when there is none yet)."""
    rows = conn.execute(f"PRAGMA table_info({table(dataset)})").fetchall()
    return [r[1] for r in rows if r[1] != "record_id"]


def column_names(conn: sqlite3.Connection, dataset: str) -> dict[str, str]:
    """The dataset's values columns, in table order: stored column → API name (a column
    the mapping does not name is its own API name, as before schema version 5)."""
    stored = stored_columns(conn, dataset)
    if not stored:
        return {}
    try:
        names = dict(
            conn.execute("SELECT stored, name FROM value_columns WHERE dataset=?", (dataset,))
        )
    except sqlite3.OperationalError:  # no mapping yet (an archive being migrated)
        names = {}
    return {s: names.get(s, s) for s in stored}


def table_columns(conn: sqlite3.Connection, dataset: str) -> list[str]:
    """The API names of the dataset's values columns, in table order ([] when none yet)."""
    return list(column_names(conn, dataset).values())


def stored_names(conn: sqlite3.Connection, dataset: str) -> dict[str, str]:
    """API column name → the column of the dataset's values table that holds it. Code that
    names a values column in SQL of its own (the search index) asks here, never spells the
    API name itself."""
    return {name: stored for stored, name in column_names(conn, dataset).items()}


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
        #: dataset → {API name: stored column}, in table order
        self._columns: dict[str, dict[str, str]] = {}
        self._sets: dict[tuple[str, str], int] = {}

    def forget(self) -> None:
        """Drop what is cached: a failed page rolled back what it had created."""
        self._columns.clear()
        self._sets.clear()

    def columns(self, dataset: str) -> dict[str, str]:
        if dataset not in self._columns:
            names = column_names(self.conn, dataset)
            self._columns[dataset] = {name: stored for stored, name in names.items()}
        return self._columns[dataset]

    def ensure(self, dataset: str, names: Sequence[str]) -> None:
        """The dataset's table exists and has a column for every API name in ``names``.
        :class:`CannotHold` when the table would have more columns than SQLite allows."""
        have = self.columns(dataset)
        missing = {n: stored_name(n) for n in dict.fromkeys(names) if n not in have}
        if not missing:
            return
        limit = self.conn.getlimit(sqlite3.SQLITE_LIMIT_COLUMN)
        total = len(have) + len(missing)
        if total + 1 > limit:
            what = (
                f"{dataset} would have {total:,} columns ({len(missing):,} of them new on this "
                "page)"
                if have
                else f"the page has {total:,} columns"
            )
            raise CannotHold(
                f"{what}, more than one SQLite table can hold ({limit - 1:,} besides the record id)"
            )
        t = table(dataset)
        if not have:
            cols = ", ".join(f'"{s}" TEXT' for s in missing.values())
            self.conn.execute(f"CREATE TABLE {t} (record_id INTEGER PRIMARY KEY, {cols})")
            create_triggers(self.conn, [t])  # values are evidence: append-only
        else:
            for s in missing.values():
                self.conn.execute(f'ALTER TABLE {t} ADD COLUMN "{s}" TEXT')
        self.conn.execute(VALUE_COLUMNS_DDL)  # (a file migrated to version 4 gets it here)
        self.conn.executemany(
            "INSERT INTO value_columns(dataset, name, stored) VALUES (?, ?, ?)",
            [(dataset, n, s) for n, s in missing.items()],
        )
        have.update(missing)
        self._index(dataset)
        create_record_values_view(self.conn)

    def _index(self, dataset: str) -> None:
        have = self.columns(dataset)
        t = table(dataset)
        for kind, cols in value_indexes(dataset):
            if set(cols) <= set(have):
                self.conn.execute(value_index_sql(t, kind, cols, if_not_exists=True))

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
        """Insert ``(record_id, values)`` rows whose values follow ``names`` (API names)."""
        cols = ", ".join(map(col, names))
        marks = ", ".join("?" * (len(names) + 1))
        self.conn.executemany(
            f"INSERT INTO {table(dataset)} (record_id, {cols}) VALUES ({marks})",
            ((rid, *values) for rid, values in rows),
        )


def value_indexes(dataset: str) -> list[tuple[str, tuple[str, ...]]]:
    """The indexes of a dataset's values table: (kind, API columns), when it has them."""
    wanted = [
        ("natural", natural_columns(dataset)),
        ("lookup", LOOKUP_COLUMNS.get(dataset, ())),
    ]
    return [(kind, tuple(cols)) for kind, cols in wanted if cols]


def value_index_sql(t: str, kind: str, cols: Sequence[str], if_not_exists: bool = False) -> str:
    maybe = "IF NOT EXISTS " if if_not_exists else ""
    return f"CREATE INDEX {maybe}{t}_{kind} ON {t}({', '.join(map(col, cols))})"


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
    names = column_names(conn, dataset) if record_ids else {}
    if not names:
        return out
    cols = list(names.values())
    sets = column_sets(conn, dataset)
    select = ", ".join(f'v."{s}"' for s in names)
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
    object keyed by API column names (columns a record lacks left out) — for readers; not
    the canonical form."""
    conn.execute("DROP VIEW IF EXISTS record_values")
    conn.execute(record_values_sql(conn))


def record_values_sql(conn: sqlite3.Connection) -> str:
    """The definition of the view ``record_values`` over the values tables the archive has
    (verify-archive compares the stored one with it)."""
    parts = []
    for (name,) in conn.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name LIKE 'vals\\_%' ESCAPE '\\'"
    ).fetchall():
        if not is_values_table(name):
            continue  # a dataset's search index (archive/searchindex.py)
        dataset = name[len("vals_") :]
        pairs = [f"{_text(api)}, {quote(s)}" for s, api in column_names(conn, dataset).items()]
        obj = "'{}'"
        for n in range(0, len(pairs), _PAIRS_PER_CALL):  # json_object's argument limit
            obj = f"json_patch({obj}, json_object({', '.join(pairs[n : n + _PAIRS_PER_CALL])}))"
        parts.append(f"SELECT record_id, '{dataset}' AS dataset, {obj} AS values_json FROM {name}")
    body = " UNION ALL ".join(parts) or (
        "SELECT NULL AS record_id, NULL AS dataset, NULL AS values_json WHERE 0"
    )
    return f"CREATE VIEW record_values AS {body}"


def _text(value: str) -> str:
    """``value`` as an SQL string expression; a NUL (which no statement may hold) is
    ``char(0)``."""
    parts = ["'" + p.replace("'", "''") + "'" for p in value.split("\x00")]
    return " || char(0) || ".join(parts)


# -- schema version 5 and the replay ------------------------------------------------------
def migrate_to_5(conn: sqlite3.Connection) -> dict[str, Any]:
    """Version 4 → 5 (inside migrate()'s transaction, triggers dropped): every values
    column gets its row in ``value_columns``; a column whose API name is not plain is
    renamed to its stored name (values unchanged). Returns what the migration did."""
    conn.execute(VALUE_COLUMNS_DDL)
    conn.execute("DROP VIEW IF EXISTS record_values")
    mapped = renamed = 0
    for (t,) in conn.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name LIKE 'vals\\_%' ESCAPE '\\'"
    ).fetchall():
        if not is_values_table(t):
            continue  # a dataset's search index (archive/searchindex.py), not values
        dataset = t[len("vals_") :]
        known = {
            s
            for (s,) in conn.execute("SELECT stored FROM value_columns WHERE dataset=?", (dataset,))
        }
        for name in stored_columns(conn, dataset):
            if name in known:
                continue  # mapped by the writer of this version
            stored = stored_name(name)
            if stored != name:
                conn.execute(f'ALTER TABLE {t} RENAME COLUMN {quote(name)} TO "{stored}"')
                renamed += 1
            conn.execute(
                "INSERT INTO value_columns(dataset, name, stored) VALUES (?, ?, ?)",
                (dataset, name, stored),
            )
            mapped += 1
    create_record_values_view(conn)
    return {"value_columns": mapped, "renamed": renamed}


def expected_columns(pages: Iterable[tuple[str, Sequence[str]]]) -> dict[str, set[str]]:
    """The API column names each dataset's values table must hold: those of every archived
    page with records ((dataset, columnHeaders names) of each, from the raw pages)."""
    out: dict[str, set[str]] = {}
    for dataset, names in pages:
        out.setdefault(dataset, set()).update(names)
    return out


def compare_columns(conn: sqlite3.Connection, expected: Mapping[str, set[str]]) -> list[str]:
    """Differences between ``value_columns`` (and the values tables' columns) and what the
    pages re-derive: the dataset, the API name and what differs, first ones first."""
    problems: list[str] = []
    mapped: dict[str, dict[str, str]] = {}
    for dataset, name, stored in conn.execute(
        "SELECT dataset, name, stored FROM value_columns ORDER BY dataset, stored"
    ):
        mapped.setdefault(dataset, {})[stored] = name
        if stored != stored_name(name):
            problems.append(
                f"value_columns: {dataset} column {name!r} is mapped to {stored!r}, "
                f"the rule gives {stored_name(name)!r}"
            )
    for dataset in sorted(set(mapped) | set(expected)):
        have = set(mapped.get(dataset, {}).values())
        want = expected.get(dataset, set())
        for name in sorted(want - have):
            problems.append(
                f"value_columns: {dataset} lacks column {name!r}, which its pages carry"
            )
        for name in sorted(have - want):
            problems.append(f"value_columns: {dataset} column {name!r} is on no archived page")
        table_cols = set(stored_columns(conn, dataset))
        for stored in sorted(table_cols ^ set(mapped.get(dataset, {}))):
            where = "vals_" + dataset if stored in table_cols else "value_columns"
            problems.append(f"value_columns: {dataset} column {stored!r} is only in {where}")
    return problems


def replay_check(conn: sqlite3.Connection, entries: object = None) -> list[str]:
    """verify-archive's check of ``value_columns``: re-derived from the columnHeaders of
    every archived 200 page with records (``entries``, the custody entries, are not needed:
    no person changes this table). Returns the differences found."""
    pages = (
        (dataset, [c["name"] for c in json.loads(columns)])
        for dataset, columns in conn.execute(
            "SELECT dataset, columns FROM pages WHERE http_status=200 AND record_count > 0"
        )
    )
    return compare_columns(conn, expected_columns(pages))
