"""The columns a dataset has had in this archive, from its recorded schema changes."""

from __future__ import annotations

import json
import sqlite3


def dataset_columns(conn: sqlite3.Connection, dataset: str) -> list[str]:
    """Every column the dataset has had, in API order (later additions appended)."""
    cols: list[str] = []
    for (current,) in conn.execute(
        "SELECT current FROM schema_changes WHERE dataset=? ORDER BY change_id", (dataset,)
    ):
        for c in json.loads(current):
            if c["name"] not in cols:
                cols.append(c["name"])
    return cols
