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


def _trigger_sql(table: str, op: str, if_not_exists: bool = False) -> str:
    maybe = "IF NOT EXISTS " if if_not_exists else ""
    return (
        f"CREATE TRIGGER {maybe}{table}_no_{op.lower()} BEFORE {op} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is evidence: append-only'); END"
    )


def create_triggers(conn: sqlite3.Connection, tables: list[str] | None = None) -> None:
    for table in tables if tables is not None else evidence_tables(conn):
        for op in ("UPDATE", "DELETE"):
            conn.execute(_trigger_sql(table, op, if_not_exists=True))


def foreign_triggers(conn: sqlite3.Connection) -> list[str]:
    """Each trigger that is not one archiver creates, or whose definition is not archiver's
    (the append-only ones only): a trigger is code the archive runs on archiver's next
    write, e.g. one that silently drops rows of later pulls (RAISE(IGNORE))."""
    want = {
        f"{t}_no_{op.lower()}": _trigger_sql(t, op)
        for t in evidence_tables(conn)
        for op in ("UPDATE", "DELETE")
    }
    out = []
    for name, table, sql in conn.execute(
        "SELECT name, tbl_name, sql FROM sqlite_master WHERE type='trigger' ORDER BY name"
    ):
        if name not in want:
            out.append(
                f"trigger {name} (on {table}): not one archiver creates (a trigger runs on "
                "archiver's next write and can change or drop what it stores)"
            )
        elif " ".join(str(sql).split()) != want[name]:
            out.append(
                f"trigger {name} (on {table}): its definition is not the one archiver "
                f"creates: {' '.join(str(sql).split())[:160]!r}"
            )
    return out


def drop_triggers(conn: sqlite3.Connection) -> None:
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'").fetchall():
        conn.execute(f'DROP TRIGGER "{name}"')
