"""An audit bundle's reads: interactionSegments rows whose own interval lies in a window,
the workflowTrace rows of the same interactions, agent and queue names, the raw pages the
rows came from, and the archive's facts a bundle states (its id, tenants, columns).

The bundle's scope (:class:`archiver.export.scope.Scope`) is any :class:`BundleScope`: the
window and the filters are all a query needs of it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from archiver.archive import values
from archiver.archive.columns import dataset_columns
from archiver.archive.compact import commit_ts_expr
from archiver.archive.hashing import canonical_record, sha256_hex
from archiver.archive.queries.reader import Source
from archiver.archive.rekey import DISPOSED
from archiver.archive.store import page_body
from archiver.archive.versions import OrderKey, order_key
from archiver.timerange import api_format

SEGMENTS = "interactionSegments"
TRACE = "workflowTrace"


class BundleScope(Protocol):
    """What the queries read of a bundle's scope."""

    @property
    def first(self) -> datetime: ...  # the first interval start in scope (UTC)

    @property
    def last(self) -> datetime: ...  # the last one, inclusive

    @property
    def interactions(self) -> tuple[str, ...]: ...

    @property
    def agent(self) -> str | None: ...  # USER_ID of a segment

    @property
    def queue(self) -> str | None: ...  # QUEUE_ID of a segment

    @property
    def channel(self) -> str | None: ...  # COMM_TYPE of a segment

    @property
    def versions(self) -> str: ...  # latest | all


@dataclass(slots=True)
class Row:
    dataset: str
    record_id: int
    row_key: str
    commit_ts: str
    values: dict[str, str]
    sha256: str
    page_id: int
    page_sha256: str
    received_at: str
    conflict: bool
    interval: str = ""  # its own interval (YYYYMMDDHHmm)
    row_index: int = 0  # its position in its page

    @property
    def order(self) -> OrderKey:
        """Where it stands among its row's versions (archive/versions.py: COMMIT_TS as a
        time, then receipt)."""
        return order_key(self.commit_ts, (self.page_id, self.row_index))


@dataclass
class SegmentCounts:
    """What the scope holds, counted: interactions, segment rows per interval, and the
    segment rows of the scope's days that have no own interval (they cannot be placed)."""

    interactions: int = 0
    unplaced: int = 0
    #: (interval YYYYMMDDHHmm, segment rows) of every interval in scope that has rows
    intervals: list[tuple[str, int]] = field(default_factory=list)


def _source(scope: BundleScope) -> str:
    """Records (with their dataset and type) of every version, or the latest of each row."""
    return "latest" if scope.versions == "latest" else "records_view"


def _filters(scope: BundleScope) -> tuple[str, list[Any]]:
    """The scope's filters on a segment's values (its values table aliased ``v``)."""
    where, params = "", []
    for col, value in (
        ("USER_ID", scope.agent),
        ("QUEUE_ID", scope.queue),
        ("COMM_TYPE", scope.channel),
    ):
        if value:
            where += f" AND v.{values.col(col)} = ?"
            params.append(value)
    if scope.interactions:
        where += ' AND v."INTERACTION_ID" IN (SELECT value FROM json_each(?))'
        params.append(json.dumps(list(scope.interactions)))
    return where, params


def _has(conn: sqlite3.Connection, dataset: str, *columns: str) -> bool:
    """The dataset has a values table with these columns (an archive without the dataset,
    or without a column a query names, has no row of it in scope)."""
    have = set(values.table_columns(conn, dataset))
    return bool(have) and set(columns) <= have


def _segment_columns(scope: BundleScope) -> tuple[str, ...]:
    cols = [c for c, v in (("USER_ID", scope.agent), ("QUEUE_ID", scope.queue)) if v]
    cols += ["COMM_TYPE"] if scope.channel else []
    return ("INTERACTION_ID", *cols)


def segment_counts(db: Source, scope: BundleScope) -> SegmentCounts:
    """Interactions and segment rows in scope, per interval, and unplaceable rows."""
    conn = db.conn
    if not _has(conn, SEGMENTS, *_segment_columns(scope)):
        return SegmentCounts()
    where, params = _filters(scope)
    src = f"""FROM {_source(scope)} r JOIN {values.table(SEGMENTS)} v ON v.record_id = r.record_id
              WHERE r.dataset = ? AND r.dataset_type = 'interval'"""
    window = [SEGMENTS, api_format(scope.first, "interval"), api_format(scope.last, "interval")]
    intervals = conn.execute(
        f"""SELECT r.interval_start, count(*) {src} AND r.interval_start BETWEEN ? AND ? {where}
            GROUP BY r.interval_start ORDER BY r.interval_start""",
        [*window, *params],
    ).fetchall()
    (n_int,) = conn.execute(
        f"""SELECT count(DISTINCT v."INTERACTION_ID") {src}
            AND r.interval_start BETWEEN ? AND ? {where}""",
        [*window, *params],
    ).fetchone()
    # rows without an own interval, by the day they were pulled for
    (unplaced,) = conn.execute(
        f"""SELECT count(*) FROM {_source(scope)} r
            JOIN {values.table(SEGMENTS)} v ON v.record_id = r.record_id
            JOIN pages p ON p.page_id = r.page_id
            WHERE r.dataset = ? AND r.dataset_type = 'interval' AND r.interval_start = ''
            AND substr(p.chunk_start, 1, 8) BETWEEN ? AND ? {where}""",
        [SEGMENTS, api_format(scope.first, "daily"), api_format(scope.last, "daily"), *params],
    ).fetchone()
    return SegmentCounts(n_int, unplaced, [(k, n) for k, n in intervals])


_COLUMNS = """r.record_id, r.row_key, r.page_id, r.conflict, r.interval_start, r.row_index,
              p.sha256 AS page_sha256, p.received_at"""


def _rows(conn: sqlite3.Connection, dataset: str, sql: str, params: list[Any]) -> list[Row]:
    """Rows as exported: values from the dataset's table in the record's own column order,
    the record's SHA-256 recomputed from them (its canonical form); archive order: the row's
    ROW_DATE_UTC, key and COMMIT_TS."""
    cur = conn.cursor()
    cur.row_factory = sqlite3.Row
    found = cur.execute(sql, params).fetchall()
    vals = values.fetch(conn, dataset, [r["record_id"] for r in found])
    out = []
    for r in found:
        v = vals.get(r["record_id"], {})
        out.append(
            Row(
                dataset,
                r["record_id"],
                r["row_key"],
                v.get("COMMIT_TS", ""),
                v,
                sha256_hex(canonical_record(list(v), list(v.values())).encode()),
                r["page_id"],
                r["page_sha256"],
                r["received_at"],
                bool(r["conflict"]),
                r["interval_start"],
                r["row_index"],
            )
        )
    out.sort(key=lambda row: (row.values.get("ROW_DATE_UTC", ""), row.row_key, row.order))
    return out


def segments(db: Source, scope: BundleScope, first: str, last: str) -> list[Row]:
    """The scope's segment rows whose own interval lies in [first, last] (interval keys)."""
    where, params = _filters(scope)
    sql = f"""SELECT {_COLUMNS} FROM {_source(scope)} r JOIN pages p ON p.page_id = r.page_id
              JOIN {values.table(SEGMENTS)} v ON v.record_id = r.record_id
              WHERE r.dataset = ? AND r.dataset_type = 'interval'
              AND r.interval_start BETWEEN ? AND ? {where}"""
    return _rows(db.conn, SEGMENTS, sql, [SEGMENTS, first, last, *params])


def traces(db: Source, scope: BundleScope, ids: list[str]) -> list[Row]:
    """The trace steps of these interactions, through the values table's index on
    WORKFLOWSESSION_INTERACTIONID: a session's steps carry the day it started, so their own
    interval is searched one day either side of the scope."""
    if not ids or not _has(db.conn, TRACE, "WORKFLOWSESSION_INTERACTIONID"):
        return []
    one = timedelta(days=1)
    sql = f"""SELECT {_COLUMNS} FROM {values.table(TRACE)} v
              JOIN {_source(scope)} r ON r.record_id = v.record_id
              JOIN pages p ON p.page_id = r.page_id
              WHERE v."WORKFLOWSESSION_INTERACTIONID" IN (SELECT value FROM json_each(?))
              AND r.dataset = ? AND r.dataset_type = 'interval'
              AND r.interval_start >= ? AND r.interval_start < ?"""
    return _rows(
        db.conn,
        TRACE,
        sql,
        [
            json.dumps(ids),
            TRACE,
            api_format(scope.first.date() - one, "daily"),
            api_format(scope.last.date() + 2 * one, "daily"),
        ],
    )


def interaction_rows(
    db: Source, dataset: str, column: str, ids: list[str], versions: str
) -> list[Row]:
    """Every record of ``dataset`` whose ``column`` names one of these interactions (a case
    production: whatever their dates), latest versions or all, in archive order."""
    if not ids or not _has(db.conn, dataset, column):
        return []
    source = "latest" if versions == "latest" else "records_view"
    sql = f"""SELECT {_COLUMNS} FROM {values.table(dataset)} v
              JOIN {source} r ON r.record_id = v.record_id
              JOIN pages p ON p.page_id = r.page_id
              WHERE v.{values.col(column)} IN (SELECT value FROM json_each(?))
              AND r.dataset = ? AND r.dataset_type = 'interval'"""
    return _rows(db.conn, dataset, sql, [json.dumps(ids), dataset])


def names(
    db: Source,
    dataset: str,
    id_col: str,
    name_col: str,
    days: tuple[str, str] | None,
    ids: list[str] | None = None,
) -> dict[str, str]:
    """id → name from the dataset's newest version (COMMIT_TS) of each id: rows whose own
    interval or day lies within ``days`` (YYYY-MM-DD, inclusive), or anywhere."""
    conn = db.conn
    if not _has(conn, dataset, id_col, name_col):
        return {}
    where, params = "", [dataset]
    if days:
        first = days[0].replace("-", "")
        after = (date.fromisoformat(days[1]) + timedelta(days=1)).strftime("%Y%m%d")
        # YYYYMMDD (daily rows) and YYYYMMDDHHmm (interval rows) both sort within the day
        where += " AND r.interval_start >= ? AND r.interval_start < ?"
        params += [first, after]
    if ids is not None:
        where += f" AND v.{values.col(id_col)} IN (SELECT value FROM json_each(?))"
        params.append(json.dumps(ids))
    sql = f"""SELECT v.{values.col(id_col)} AS id, v.{values.col(name_col)} AS name,
                     {commit_ts_expr(conn, dataset)}, r.page_id, r.row_index
              FROM records_view r JOIN {values.table(dataset)} v ON v.record_id = r.record_id
              WHERE r.dataset = ? {where}"""
    best: dict[str, tuple[OrderKey, str]] = {}
    for i, n, ts, pid, ri in conn.execute(sql, params):
        if not (i and n):
            continue
        key = order_key(ts, (pid, ri))  # COMMIT_TS as a time, never as text
        if i not in best or key > best[i][0]:
            best[i] = (key, n)
    return {i: n for i, (_, n) in best.items()}


# -- the archive's facts ------------------------------------------------------------------
def columns(db: Source, dataset: str) -> list[str]:
    """Every column the dataset has had in this archive, in API order ([] when none)."""
    return dataset_columns(db.conn, dataset) or []


def archive_id(db: Source) -> str:
    (value,) = db.conn.execute("SELECT value FROM meta WHERE key='archive_id'").fetchone()
    return str(value)


def tenants(db: Source) -> list[str]:
    """The tenants the archive's runs pulled from, in the order they first appear."""
    return [t for (t,) in db.conn.execute("SELECT DISTINCT tenant FROM runs ORDER BY started_at")]


def simulated_runs(db: Source) -> int:
    """Runs of the archive pulled from the embedded simulator: their `pull started` entry
    (hash-chained with the rest of the audit log) says ``simulated``. One is enough for the
    archive's bundles to say DEMO: simulated rows sit beside whatever else it holds."""
    return sum(
        1
        for (details,) in db.conn.execute(
            "SELECT details FROM audit_log WHERE event='pull started'"
        )
        if (json.loads(details).get("params") or {}).get("simulated") is True
    )


def raw_pages(db: Source, page_ids: list[int]) -> Iterator[tuple[str, bytes]]:
    """(stored SHA-256, body as received) of these archived pages, read 500 at a time; the
    caller checks each body against its SHA-256."""
    for start in range(0, len(page_ids), 500):
        part = page_ids[start : start + 500]
        for sha, encoding, body in db.conn.execute(
            f"SELECT sha256, encoding, body FROM pages WHERE page_id IN ({','.join('?' * len(part))})",
            part,
        ):
            if encoding == DISPOSED:
                continue  # its body was disposed of (archive/retention.py): nothing to copy
            yield sha, page_body(encoding, body)


def day_rows_by_rule(db: Source, day: date) -> int:
    """The rows a latest-versions bundle of ``day`` holds, counted here by the scope's rule
    (docs/audit-bundle.md) and not by the exporter's queries: the day's segments, and the
    trace steps of their interactions, which carry the day their session started (one day
    around). The self-test compares the bundle with it."""
    key = f"{day:%Y%m%d}"
    before, after = f"{day - timedelta(1):%Y%m%d}", f"{day + timedelta(2):%Y%m%d}"
    (segments,) = db.conn.execute(
        """SELECT count(*) FROM latest WHERE dataset=? AND dataset_type='interval'
           AND substr(interval_start, 1, 8) = ?""",
        (SEGMENTS, key),
    ).fetchone()
    (traces,) = db.conn.execute(
        """SELECT count(*) FROM latest t JOIN vals_workflowTrace tv ON tv.record_id = t.record_id
           WHERE t.dataset=? AND t.dataset_type='interval'
           AND t.interval_start >= ? AND t.interval_start < ?
           AND tv.WORKFLOWSESSION_INTERACTIONID IN (
               SELECT sv.INTERACTION_ID FROM latest s
               JOIN vals_interactionSegments sv ON sv.record_id = s.record_id
               WHERE s.dataset=? AND s.dataset_type='interval'
               AND substr(s.interval_start, 1, 8) = ?)""",
        (TRACE, before, after, SEGMENTS, key),
    ).fetchone()
    return int(segments) + int(traces)
