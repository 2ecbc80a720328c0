"""A disposition's writer side: what its entry states that only the bodies can tell (read
before they go), and the removal itself — bodies, values, salts, search index entries — in the
caller's transaction (archive/retention.py holds the entries, the tables and the rules;
this module is apart from it because it drives the search index and the version
bookkeeping, which verification reaches through the replay)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from archiver.archive import auditlog, searchindex, values
from archiver.archive.compact import rebuild_superseded
from archiver.archive.retention import (
    APPLIED,
    DISPOSED,
    RetentionRefused,
    ensure_tables,
    entries,
    fold,
    refusal,
    rewrite,
)
from archiver.archive.triggers import create_triggers
from archiver.timerange import INTERVAL


def page_evidence(conn: sqlite3.Connection, page_ids: Sequence[int]) -> dict[str, list[int]]:
    """page id → [rows at its request's `ending`, rows outside its request] of each disposed
    15-minute page with any (the evidence of the server's reading of `ending` its coverage
    row counts), read from the bodies before they go: what a replay can no longer derive."""
    from archiver.api.pages import load_json
    from archiver.archive.chunks import query_ending
    from archiver.archive.identity import PageKeyer
    from archiver.archive.rekey import page_body

    out: dict[str, list[int]] = {}
    for pid in page_ids:
        row = conn.execute(
            """SELECT dataset, dataset_type, chunk_start, query, encoding, body FROM pages
               WHERE page_id=? AND http_status=200""",
            (pid,),
        ).fetchone()
        if row is None or row[1] != INTERVAL or row[4] == DISPOSED:
            continue
        body = load_json(page_body(row[4], row[5]))
        names = [c["name"] for c in body["columnHeaders"]]
        keyer = PageKeyer(row[0], row[1], names)  # only each row's interval is needed
        at_end, outside = _evidence(
            [keyer.interval(row_values) for row_values in body["records"]],
            row[2],
            query_ending(row[3]),
        )
        if at_end or outside:
            out[str(pid)] = [at_end, outside]
    return out


def key_rules_at(conn: sqlite3.Connection, page_ids: Sequence[int]) -> list[list[Any]]:
    """The key fallbacks recorded at these pages ([dataset_type, rule, fallback, page_id,
    reason, detected_at], in order): what their bodies showed, stated in the disposition's
    entry since no replay can read it from them again."""
    return [
        list(r)
        for r in conn.execute(
            """SELECT dataset_type, rule, fallback, page_id, reason, detected_at FROM key_rules
               WHERE page_id IN (SELECT value FROM json_each(?)) ORDER BY change_id""",
            (json.dumps(list(page_ids)),),
        )
    ]


def salts_on(conn: sqlite3.Connection, page_ids: Sequence[int]) -> int:
    """How many record salts the rows of these pages still have: what the disposition will
    destroy (an erased row's salt is gone already), stated in its entry."""
    if not _has_salts(conn):
        return 0
    (n,) = conn.execute(
        "SELECT count(*) FROM record_salts WHERE page_id IN (SELECT value FROM json_each(?))",
        (json.dumps(list(page_ids)),),
    ).fetchone()
    return int(n)


def _has_salts(conn: sqlite3.Connection) -> bool:
    return (
        conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='record_salts'"
        ).fetchone()
        is not None
    )


def _evidence(intervals: list[str], chunk_start: str, ending: str) -> tuple[int, int]:
    """(rows at the request's `ending`, rows outside the request), as the writer counts them
    (rekey.ending_evidence, over the rows' intervals)."""
    if not ending or len(ending) != 12:
        return 0, 0
    at_end = sum(1 for i in intervals if i == ending)
    outside = sum(1 for i in intervals if i and i != ending and not chunk_start <= i < ending)
    return at_end, outside


def dispose(conn: sqlite3.Connection, page_ids: Sequence[int]) -> dict[str, int]:
    """Remove the bodies of these pages, their records' values, their rows' salts and their
    search index entries, in the caller's transaction (the append-only triggers of the
    tables touched are lifted for it and made again before it commits); returns what was
    removed. The salts go because, with a salt and the kept commitment, anyone could confirm
    a guess of a disposed value (archive/commitments.py): without them the commitments keep
    the pages' roots whole and confirm nothing."""
    conn.execute("DROP TABLE IF EXISTS temp.disposal_pages")
    conn.execute("CREATE TEMP TABLE disposal_pages(page_id INTEGER PRIMARY KEY)")
    conn.executemany("INSERT INTO temp.disposal_pages VALUES (?)", [(p,) for p in page_ids])
    touched = [
        (ds, dtype)
        for ds, dtype in conn.execute(
            """SELECT DISTINCT dataset, dataset_type FROM pages
               WHERE page_id IN (SELECT page_id FROM temp.disposal_pages)"""
        )
    ]
    removed = {"values": 0, "index": 0, "salts": 0}
    lifted = ["pages"]
    for ds in sorted({d for d, _ in touched}):
        t = values.table(ds)
        if (
            conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (t,)
            ).fetchone()
            is None
        ):
            continue
        lifted.append(t)
    for t in lifted:
        conn.execute(f'DROP TRIGGER IF EXISTS "{t}_no_update"')
        conn.execute(f'DROP TRIGGER IF EXISTS "{t}_no_delete"')
    where = "record_id IN (SELECT record_id FROM records WHERE page_id IN (SELECT page_id FROM temp.disposal_pages))"
    for ds in sorted({d for d, _ in touched}):
        t = values.table(ds)
        if t not in lifted:
            continue
        fts = searchindex.fts_table(ds)
        cols = searchindex.fts_columns(conn, ds)
        if cols:
            quoted = ", ".join(values.quote(c) for c in cols)
            cur = conn.execute(
                f"INSERT INTO {values.quote(fts)}({values.quote(fts)}, rowid, {quoted}) "
                f"SELECT 'delete', record_id, {quoted} FROM {t} WHERE {where}"
            )
            removed["index"] += max(cur.rowcount, 0)
            # merged at once: the index's segments keep no trace of what was deleted (and
            # the VACUUM after the disposition gives their pages back)
            conn.execute(
                f"INSERT INTO {values.quote(fts)}({values.quote(fts)}) VALUES ('optimize')"
            )
        cur = conn.execute(f"DELETE FROM {t} WHERE {where}")
        removed["values"] += max(cur.rowcount, 0)
    conn.execute(
        "UPDATE pages SET body = X'', encoding = ? WHERE page_id IN (SELECT page_id FROM temp.disposal_pages)",
        (DISPOSED,),
    )
    if _has_salts(conn):
        cur = conn.execute(
            "DELETE FROM record_salts WHERE page_id IN (SELECT page_id FROM temp.disposal_pages)"
        )
        removed["salts"] = max(cur.rowcount, 0)
    create_triggers(conn, lifted)
    for stream in touched:
        rebuild_superseded(conn, stream)
    index = searchindex.SearchIndex(conn)
    for ds in sorted({d for d, _ in touched}):
        if searchindex.decisions(conn, ds):
            # the pages that decided a column's field may be gone: decided again from the
            # first page that still has values (the index is remade if its columns change)
            conn.execute("DELETE FROM search_columns WHERE dataset=?", (ds,))
            index.ensure(ds)
    conn.execute("DROP TABLE IF EXISTS temp.disposal_pages")
    return removed


def write_disposition(
    conn: sqlite3.Connection, details: dict[str, Any], page_ids: Sequence[int]
) -> tuple[int, str, dict[str, int]]:
    """The disposition in the caller's transaction: its entry appended, the bodies, values,
    salts and index entries removed, the tables made again. Returns (entry id, its chain, what was
    removed)."""
    ensure_tables(conn)
    before, _ = fold(entries(conn))
    why = refusal(before, APPLIED, details)
    if why is not None:
        raise RetentionRefused(why)
    chain = auditlog.append(conn, APPLIED, details, None)
    (entry_id,) = conn.execute("SELECT max(entry_id) FROM audit_log").fetchone()
    removed = dispose(conn, page_ids)
    stated = details.get("salts_destroyed")
    if stated is not None and stated != removed["salts"]:
        # the entry would state what was not done: nothing is committed
        raise RetentionRefused(
            f"the disposition states {stated} record salts destroyed, but {removed['salts']} "
            "were: plan again"
        )
    rewrite(conn, fold(entries(conn))[0])
    return int(entry_id), chain, removed
