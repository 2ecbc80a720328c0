"""Which tables are evidence, and the triggers that keep them append-only.

Its own module, below the schema and the values tables alike: the schema creates the
triggers after each migration, the values writer when a dataset's table first appears.
"""

from __future__ import annotations

import sqlite3

from archiver.datasets import DATASETS

#: Append-only tables: triggers refuse UPDATE and DELETE (hash chains catch the rest).
EVIDENCE_TABLES = (
    "pages",
    "records",
    "quarantine",
    "audit_log",
    "conflicts",
    "schema_changes",
    "key_rules",
    "streams",
    "column_sets",
    "value_columns",
)
#: Tables created as data arrives whose rows are evidence too: the values of each dataset.
EVIDENCE_PREFIXES = ("vals_",)


def is_values_table(name: str) -> bool:
    """``vals_<dataset>`` for a dataset of the registry: a dataset's values (evidence). Other
    tables that share the prefix are not: the search index of a dataset's values is
    ``vals_<dataset>_fts`` and its shadow tables (archive/searchindex.py, local state)."""
    return name.startswith(EVIDENCE_PREFIXES) and name[len("vals_") :] in DATASETS


def evidence_tables(conn: sqlite3.Connection) -> list[str]:
    """The append-only tables this archive has (the fixed ones and each dataset's values)."""
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    dynamic = sorted(n for n in names if is_values_table(n))
    return [t for t in EVIDENCE_TABLES if t in names] + dynamic


def create_triggers(conn: sqlite3.Connection, tables: list[str] | None = None) -> None:
    for table in tables if tables is not None else evidence_tables(conn):
        for op in ("UPDATE", "DELETE"):
            conn.execute(
                f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is evidence: append-only'); END"
            )


def drop_triggers(conn: sqlite3.Connection) -> None:
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'").fetchall():
        conn.execute(f'DROP TRIGGER "{name}"')
