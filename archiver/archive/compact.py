"""Schema version 4: a compact archive that stays fast at a year of data.

- Raw pages are stored zlib-compressed (``pages.encoding = 'zlib'``); their SHA-256 stays
  over the exact bytes received, and verify-archive decompresses and checks.
- Values move out of ``records.values_json`` (a JSON object per row, column names and all)
  into one table per dataset with a real column per API column (:mod:`archive.values`).
- ``records`` keeps identity and provenance only: the stream (``streams``), the key, the
  row's own interval, the first 8 bytes of its SHA-256 (the full digest is recomputed from
  its values wherever it is shown or checked), its column set, page and position.
- "Latest version only" is ``records`` minus ``superseded`` (record ids a newer version of
  their row replaced: a few percent of an archive), instead of a second table of every key.
"""

from __future__ import annotations

import json
import sqlite3
import zlib
from collections.abc import Iterator

from archiver.archive import auditlog
from archiver.archive.derive import Member, group_of, replaced, sha8
from archiver.archive.identity import NATURAL, ROW_ID
from archiver.archive.rekey import abandoned_rules
from archiver.archive.values import (
    ValueWriter,
    col,
    create_record_values_view,
    table,
    table_columns,
)
from archiver.datasets import DATASETS

#: zlib level for page bodies: most of the gain of 9 at a third of its CPU.
ZLIB_LEVEL = 6

V4 = """
CREATE TABLE streams (
    stream_id    INTEGER PRIMARY KEY,
    dataset      TEXT NOT NULL,
    dataset_type TEXT NOT NULL,          -- interval | daily
    UNIQUE (dataset, dataset_type)
);
CREATE TABLE column_sets (
    columns_id   INTEGER PRIMARY KEY,
    dataset      TEXT NOT NULL,
    names        TEXT NOT NULL,          -- JSON array of column names, in API order
    UNIQUE (dataset, names)
);
CREATE TABLE records4 (
    record_id    INTEGER PRIMARY KEY,
    stream_id    INTEGER NOT NULL REFERENCES streams(stream_id),
    row_key      TEXT NOT NULL,          -- the key (U+001F joins a multi-column key)
    key_kind     TEXT NOT NULL,          -- ROW_ID | natural | hash
    interval_start TEXT NOT NULL,        -- the row's own interval, YYYYMMDDHHmm (daily: YYYYMMDD)
    sha8         INTEGER NOT NULL,       -- first 8 bytes of the SHA-256 of the canonical JSON
    columns_id   INTEGER NOT NULL REFERENCES column_sets(columns_id),
    page_id      INTEGER NOT NULL REFERENCES pages(page_id),
    row_index    INTEGER NOT NULL,       -- position in the page's records
    conflict     INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE superseded (
    record_id    INTEGER PRIMARY KEY,    -- a version a newer version of its row replaced
    by_id        INTEGER NOT NULL        -- the newer version
);
"""

V4_AFTER = """
CREATE INDEX records_identity ON records(stream_id, sha8);
CREATE INDEX records_key ON records(stream_id, row_key);
CREATE INDEX records_interval ON records(stream_id, interval_start);
CREATE INDEX records_page ON records(page_id, row_index);
CREATE VIEW records_view AS
    SELECT r.*, s.dataset, s.dataset_type FROM records r JOIN streams s USING (stream_id);
CREATE VIEW latest AS
    SELECT r.*, s.dataset, s.dataset_type FROM records r JOIN streams s USING (stream_id)
    WHERE NOT EXISTS (SELECT 1 FROM superseded x WHERE x.record_id = r.record_id);
"""


def stream_ids(conn: sqlite3.Connection) -> dict[tuple[str, str], int]:
    return {(d, t): sid for sid, d, t in conn.execute("SELECT * FROM streams")}


def stream_id(
    conn: sqlite3.Connection, dataset: str, dataset_type: str, create: bool
) -> int | None:
    row = conn.execute(
        "SELECT stream_id FROM streams WHERE dataset=? AND dataset_type=?", (dataset, dataset_type)
    ).fetchone()
    if row is not None:
        return int(row[0])
    if not create:
        return None
    cur = conn.execute(
        "INSERT INTO streams(dataset, dataset_type) VALUES (?, ?)", (dataset, dataset_type)
    )
    return int(cur.lastrowid or 0)


def commit_ts_expr(conn: sqlite3.Connection, dataset: str) -> str:
    """SQL for a record's COMMIT_TS from its values table aliased ``v`` ('' without one)."""
    return f"v.{col('COMMIT_TS')}" if "COMMIT_TS" in table_columns(conn, dataset) else "''"


def rebuild_superseded(conn: sqlite3.Connection, stream: tuple[str, str] | None = None) -> None:
    """Recompute ``superseded`` (for one stream, or all) from the records, their COMMIT_TS
    and the stream's key fallbacks (:func:`expected_superseded`)."""
    ids = stream_ids(conn)
    for s in [stream] if stream else list(ids):
        sid = ids.get(s)
        if sid is None:
            continue
        conn.execute(
            "DELETE FROM superseded WHERE record_id IN (SELECT record_id FROM records WHERE stream_id=?)",
            (sid,),
        )
        conn.executemany(
            "INSERT INTO superseded(record_id, by_id) VALUES (?, ?)", expected_superseded(conn, s)
        )


def expected_superseded(
    conn: sqlite3.Connection, stream: tuple[str, str]
) -> Iterator[tuple[int, int]]:
    """(record_id, newest record_id of its group) for every version a newer one replaced:
    the stream's records grouped and ordered by archive/derive.py's rules (a group is a
    (key rule, key) under the rules the stream still holds; the newest is the greatest
    COMMIT_TS as a time, then receipt). Streams without a fallback are read in key order,
    one row at a time (memory stays flat)."""
    sid = stream_ids(conn).get(stream)
    if sid is None:
        return
    gone = abandoned_rules(conn).get(stream, set())
    rows = _stream_rows(conn, stream[0], sid, ordered=not gone)
    if gone:
        groups: dict[tuple[str, str], list[Member]] = {}
        for kind, key, natural, s8, member in rows:
            groups.setdefault(group_of(gone, kind, key, natural, s8), []).append(member)
        for members in groups.values():
            yield from replaced(members)
        return
    current: tuple[str, str] | None = None
    run: list[Member] = []
    for kind, key, _natural, _s8, member in rows:
        if (kind, key) != current:
            yield from replaced(run)
            current, run = (kind, key), []
        run.append(member)
    yield from replaced(run)


def _stream_rows(
    conn: sqlite3.Connection, dataset: str, sid: int, *, ordered: bool
) -> Iterator[tuple[str, str, str, int, Member]]:
    """(kind, key, natural key, sha8, the version) of each of a stream's records."""
    cols = table_columns(conn, dataset)
    if not cols:
        return
    ts = f"v.{col('COMMIT_TS')}" if "COMMIT_TS" in cols else "''"
    ds = DATASETS.get(dataset)
    nat_cols = ds.key if ds and ds.key != ("ROW_ID",) and set(ds.key) <= set(cols) else ()
    natural = " || char(31) || ".join(f"v.{col(c)}" for c in nat_cols) if nat_cols else "''"
    order = " ORDER BY r.row_key, r.key_kind" if ordered else ""
    for kind, key, nat, s8, commit, rid, pid, ri in conn.execute(
        f"""SELECT r.key_kind, r.row_key, {natural}, r.sha8, {ts}, r.record_id, r.page_id,
                   r.row_index
            FROM records r JOIN {table(dataset)} v ON v.record_id = r.record_id
            WHERE r.stream_id = ?{order}""",
        (sid,),
    ):
        yield (
            kind,
            key,
            nat or "",
            s8,
            Member(rid, (pid, ri), commit or "", s8, kind, key, nat or ""),
        )


def migrate_to_4(conn: sqlite3.Connection, *, record: bool = True) -> None:
    """Version 3 → 4 (inside migrate()'s transaction, triggers dropped, file backed up);
    ``record``: write the ``migrate`` audit entry (not for a file just created)."""
    for stmt in _split(V4):
        conn.execute(stmt)
    writer = ValueWriter(conn)
    sids: dict[tuple[str, str], int] = {}
    n = 0
    for row in conn.execute(
        "SELECT record_id, dataset, dataset_type, row_key, key_kind, interval_start, values_json,"
        " sha256, page_id, row_index, conflict FROM records ORDER BY record_id"
    ).fetchall():
        rid, ds, dtype, key, kind, interval, values_json, digest, pid, ri, conflict = row
        stream = (ds, dtype)
        if stream not in sids:
            sids[stream] = stream_id(conn, ds, dtype, create=True) or 0
        try:
            values: dict[str, str] = json.loads(values_json)
        except ValueError:
            raise sqlite3.DatabaseError(
                f"record {rid}'s values are not valid JSON: the archive was edited outside "
                "archiver. Check it with verify-archive of the version that wrote it (the "
                "backup next to this file is unchanged)."
            ) from None
        names = list(values)
        writer.ensure(ds, names)
        cid = writer.column_set(ds, names)
        writer.insert(ds, names, [(rid, list(values.values()))])
        conn.execute(
            "INSERT INTO records4 VALUES (?,?,?,?,?,?,?,?,?,?)",
            (rid, sids[stream], key, kind, interval, sha8(digest), cid, pid, ri, conflict),
        )
        n += 1
    conn.execute("DROP VIEW IF EXISTS latest")
    conn.execute("DROP TABLE IF EXISTS latest_records")
    conn.execute("DROP TABLE records")
    conn.execute("ALTER TABLE records4 RENAME TO records")
    for stmt in _split(V4_AFTER):
        conn.execute(stmt)
    create_record_values_view(conn)
    rebuild_superseded(conn)
    compressed = compress_pages(conn)
    if not record:
        return
    auditlog.append(
        conn,
        "migrate",
        {"from": 3, "to": 4, "records": n, "pages_compressed": compressed},
        None,
    )


def compress_pages(conn: sqlite3.Connection) -> int:
    """Store every uncompressed page body zlib-compressed (its SHA-256, over the bytes as
    received, and its chain do not change)."""
    done = 0
    ids = [r[0] for r in conn.execute("SELECT page_id FROM pages WHERE encoding='identity'")]
    for pid in ids:
        (body,) = conn.execute("SELECT body FROM pages WHERE page_id=?", (pid,)).fetchone()
        conn.execute(
            "UPDATE pages SET body=?, encoding='zlib' WHERE page_id=?",
            (zlib.compress(bytes(body), ZLIB_LEVEL), pid),
        )
        done += 1
    return done


def _split(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


__all__ = [
    "NATURAL",
    "ROW_ID",
    "V4",
    "ZLIB_LEVEL",
    "commit_ts_expr",
    "compress_pages",
    "migrate_to_4",
    "rebuild_superseded",
    "sha8",
    "stream_id",
    "stream_ids",
]
