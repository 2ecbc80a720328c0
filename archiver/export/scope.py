"""What a bundle holds: interactionSegments rows in scope, the workflowTrace rows of the same
interactions, and the coverage of that scope (gaps stated, never hidden)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from archiver.archive import coverage, values
from archiver.archive.hashing import canonical_record, sha256_hex
from archiver.timerange import DAY, STEP

SEGMENTS = "interactionSegments"
TRACE = "workflowTrace"


@dataclass(frozen=True)
class Scope:
    start: date  # ROW_DATE_UTC, inclusive
    end: date
    interactions: tuple[str, ...] = ()
    agent: str | None = None  # USER_ID of a segment
    queue: str | None = None  # QUEUE_ID of a segment
    channel: str | None = None  # COMM_TYPE of a segment (voice, chat, email, …)
    versions: str = "latest"  # latest | all
    redact: str = "none"

    def describe(self) -> str:
        parts = [f"ROW_DATE_UTC {self.start} to {self.end} (inclusive)"]
        if self.interactions:
            parts.append(f"interactions {', '.join(self.interactions)}")
        if self.agent:
            parts.append(f"agent (USER_ID) {self.agent}")
        if self.queue:
            parts.append(f"queue (QUEUE_ID) {self.queue}")
        if self.channel:
            parts.append(f"channel (COMM_TYPE) {self.channel}")
        parts.append(f"versions: {self.versions}")
        return "; ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "interactions": list(self.interactions),
            "agent": self.agent,
            "queue": self.queue,
            "channel": self.channel,
            "versions": self.versions,
            "redact": self.redact,
        }


@dataclass
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


@dataclass
class Selection:
    scope: Scope
    segments: list[Row]
    traces: list[Row]
    #: interval ranges in scope no finished walk covers, with why (archive/coverage.py)
    gap_list: list[str] = field(default_factory=list)
    #: the server's reading of an interval `ending`, as the archive's walks show it
    reading: str = ""

    def interactions(self) -> list[str]:
        seen: dict[str, None] = {}
        for r in self.segments:
            seen.setdefault(r.values.get("INTERACTION_ID", ""), None)
        return list(seen)

    @property
    def gaps(self) -> list[str]:
        return self.gap_list


def _rows(
    conn: sqlite3.Connection, dataset: str, scope: Scope, where: str, params: list[Any]
) -> list[Row]:
    """The dataset's rows in scope; ``where`` may use ``v."COL"`` (its values table)."""
    src = "latest" if scope.versions == "latest" else "records_view"
    if not values.table_columns(conn, dataset):
        return []
    sql = f"""SELECT r.record_id, r.row_key, r.page_id, r.conflict,
                     p.sha256 AS page_sha256, p.received_at
              FROM {src} r JOIN pages p ON p.page_id = r.page_id
              JOIN {values.table(dataset)} v ON v.record_id = r.record_id
              WHERE r.dataset = ? AND r.dataset_type = 'interval' {where}
              ORDER BY r.interval_start, r.row_key, r.record_id"""
    found = conn.execute(sql, [dataset, *params]).fetchall()
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
            )
        )
    out.sort(key=lambda row: (row.values.get("ROW_DATE_UTC", ""), row.row_key, row.commit_ts))
    return out


def select(conn: sqlite3.Connection, scope: Scope) -> Selection:
    conn.row_factory = sqlite3.Row
    where = " AND r.interval_start >= ? AND r.interval_start < ?"
    params: list[Any] = [f"{scope.start:%Y%m%d}", f"{scope.end + timedelta(days=1):%Y%m%d}"]
    for col, value in (
        ("USER_ID", scope.agent),
        ("QUEUE_ID", scope.queue),
        ("COMM_TYPE", scope.channel),
    ):
        if value:
            where += f' AND v."{col}" = ?'
            params.append(value)
    if scope.interactions:
        where += f' AND v."INTERACTION_ID" IN ({",".join("?" * len(scope.interactions))})'
        params += list(scope.interactions)
    segments = _rows(conn, SEGMENTS, scope, where, params)
    # interactions are ordered by their first segment's end time, segments by number
    wanted = {r.values.get("INTERACTION_ID", "") for r in segments}
    # a session's steps carry the day it started: look one day around the range
    t_where = " AND r.interval_start >= ? AND r.interval_start < ?"
    t_params = [
        f"{scope.start - timedelta(days=1):%Y%m%d}",
        f"{scope.end + timedelta(days=2):%Y%m%d}",
    ]
    traces = [
        r
        for r in _rows(conn, TRACE, scope, t_where, t_params)
        if r.values.get("WORKFLOWSESSION_INTERACTIONID") in wanted
    ]
    sel = Selection(scope, segments, traces)
    first = datetime.combine(scope.start, datetime.min.time(), UTC)
    last = datetime.combine(scope.end, datetime.min.time(), UTC) + DAY - STEP
    sel.gap_list = coverage.gaps(conn, (SEGMENTS, TRACE), first, last)
    sel.reading = coverage.server_reading(conn).describe()
    return sel
