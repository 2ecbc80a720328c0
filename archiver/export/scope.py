"""What a bundle holds: interactionSegments rows in scope, the workflowTrace rows of the same
interactions, and the coverage of that scope (gaps stated, never hidden)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from archiver.pull.chunks import parse_api_bound

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
    coverage: list[dict[str, Any]] = field(default_factory=list)  # chunks that are not done
    days_without_data: list[str] = field(default_factory=list)

    def interactions(self) -> list[str]:
        seen: dict[str, None] = {}
        for r in self.segments:
            seen.setdefault(r.values.get("INTERACTION_ID", ""), None)
        return list(seen)

    @property
    def gaps(self) -> list[str]:
        out = [
            f"{c['dataset']} {c['chunk_start']}–{c['chunk_end']}: {c['state']}"
            + (f" ({c['message']})" if c["message"] else "")
            for c in self.coverage
        ]
        out += [f"{d}: not archived" for d in self.days_without_data]
        return out


def _rows(
    conn: sqlite3.Connection, dataset: str, scope: Scope, where: str, params: list[Any]
) -> list[Row]:
    src = "latest" if scope.versions == "latest" else "records"
    sql = f"""SELECT r.record_id, r.row_key, r.commit_ts, r.values_json, r.sha256, r.page_id, r.conflict,
                     p.sha256 AS page_sha256, p.received_at
              FROM {src} r JOIN pages p ON p.page_id = r.page_id
              WHERE r.dataset = ? {where}
              ORDER BY r.row_date, r.row_key, r.commit_ts, r.record_id"""
    return [
        Row(
            dataset,
            r["record_id"],
            r["row_key"],
            r["commit_ts"],
            json.loads(r["values_json"]),
            r["sha256"],
            r["page_id"],
            r["page_sha256"],
            r["received_at"],
            bool(r["conflict"]),
        )
        for r in conn.execute(sql, [dataset, *params])
    ]


def select(conn: sqlite3.Connection, scope: Scope) -> Selection:
    conn.row_factory = sqlite3.Row
    where = " AND r.row_date BETWEEN ? AND ?"
    params: list[Any] = [scope.start.isoformat(), scope.end.isoformat()]
    for col, value in (
        ("USER_ID", scope.agent),
        ("QUEUE_ID", scope.queue),
        ("COMM_TYPE", scope.channel),
    ):
        if value:
            where += f" AND json_extract(r.values_json, '$.{col}') = ?"
            params.append(value)
    if scope.interactions:
        where += f" AND json_extract(r.values_json, '$.INTERACTION_ID') IN ({','.join('?' * len(scope.interactions))})"
        params += list(scope.interactions)
    segments = _rows(conn, SEGMENTS, scope, where, params)
    # interactions are ordered by their first segment's end time, segments by number
    wanted = {r.values.get("INTERACTION_ID", "") for r in segments}
    # a session's steps carry the day it started: look one day around the range
    t_where = " AND r.row_date BETWEEN ? AND ?"
    t_params = [
        (scope.start - timedelta(days=1)).isoformat(),
        (scope.end + timedelta(days=1)).isoformat(),
    ]
    traces = [
        r
        for r in _rows(conn, TRACE, scope, t_where, t_params)
        if r.values.get("WORKFLOWSESSION_INTERACTIONID") in wanted
    ]
    sel = Selection(scope, segments, traces)
    _coverage(conn, sel)
    return sel


def _coverage(conn: sqlite3.Connection, sel: Selection) -> None:
    """Chunks in scope that are not done, and time ranges no done chunk covers."""
    s, e = sel.scope.start, sel.scope.end
    rows = conn.execute(
        """SELECT dataset, dataset_type, filter, chunk_start, chunk_end, state, message FROM coverage
           WHERE dataset IN (?, ?) AND substr(chunk_start, 1, 8) BETWEEN ? AND ?
           ORDER BY dataset, chunk_start""",
        (SEGMENTS, TRACE, s.strftime("%Y%m%d"), e.strftime("%Y%m%d")),
    ).fetchall()
    sel.coverage = [dict(r) for r in rows if r["state"] != "done"]
    step = timedelta(minutes=15)
    first = datetime.combine(s, datetime.min.time(), UTC)
    last = datetime.combine(e, datetime.min.time(), UTC) + timedelta(days=1) - step
    for ds in (SEGMENTS, TRACE):
        spans = []
        for r in rows:
            if r["dataset"] != ds or r["state"] != "done" or r["filter"]:
                continue  # a filtered pull does not cover the unfiltered scope
            a, b = parse_api_bound(r["chunk_start"]), parse_api_bound(r["chunk_end"])
            if len(r["chunk_end"]) == 8:
                b = b + timedelta(days=1) - step
            spans.append((a, b))
        spans.sort()
        t = first
        for a, b in spans:
            if a > t:
                sel.days_without_data.append(_range(ds, t, min(a - step, last)))
            t = max(t, b + step)
            if t > last:
                break
        if t <= last:
            sel.days_without_data.append(_range(ds, t, last))


def _range(ds: str, a: datetime, b: datetime) -> str:
    return f"{ds} {a:%Y-%m-%d %H:%M}–{b:%Y-%m-%d %H:%M} UTC"
