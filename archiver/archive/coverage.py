"""What the archive can show it holds: chunk states, per-interval row counts, the server's
reading of ``ending``, and the gaps a report must state.

The one module that reads the ``coverage`` table. Evidence, not assumption: an interval
counts as *walked* only when a chunk that asked for it finished its walk and the request
provably covered it (see :func:`walked_intervals`); rows per interval come from each row's
own time column (records.interval_start), not from what was asked.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from archiver.timerange import (
    DAILY,
    DAY,
    INTERVAL,
    STEP,
    Chunk,
    api_format,
    interval_key,
    parse_api_bound,
)

#: Chunk states, worst first (a day shows the worst of its chunks).
STATES = ("failed", "not_entitled", "pending", "in_progress", "done")
INCLUSIVE, EXCLUSIVE, UNKNOWN, CONTRADICTORY = "inclusive", "exclusive", "unknown", "contradictory"


def chunk_row(conn: sqlite3.Connection, chunk: Chunk) -> sqlite3.Row | None:
    return conn.execute(
        "SELECT * FROM coverage WHERE dataset=? AND dataset_type=? AND filter=? AND chunk_start=?",
        (chunk.dataset, chunk.dataset_type, chunk.filter, chunk.start_key),
    ).fetchone()


def chunk_of(row: sqlite3.Row) -> Chunk:
    return Chunk.from_keys(
        row["dataset"], row["dataset_type"], row["filter"], row["chunk_start"], row["chunk_end"]
    )


def pending_chunks(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT * FROM coverage WHERE state='pending' ORDER BY dataset, chunk_start"
    ).fetchall()


def last_done_end(
    conn: sqlite3.Connection, dataset: str, dataset_type: str, filter: str
) -> datetime | None:
    """End of the newest finished chunk of a stream (for incremental pulls)."""
    row = conn.execute(
        "SELECT max(chunk_end) FROM coverage WHERE dataset=? AND dataset_type=? AND filter=? AND state='done'",
        (dataset, dataset_type, filter),
    ).fetchone()
    return parse_api_bound(row[0]) if row and row[0] else None


# -- the server's reading of `ending` ----------------------------------------------------
@dataclass(frozen=True)
class Reading:
    """What the archived walks show about how the server reads an interval ``ending``."""

    inclusive: int = 0  # walks that got rows back at their `ending` interval
    exclusive: int = 0  # walks that got none there although the interval has rows
    unknown: int = 0  # walks whose `ending` interval has no rows at all

    @property
    def verdict(self) -> str:
        if self.inclusive and self.exclusive:
            return CONTRADICTORY
        if self.inclusive:
            return INCLUSIVE
        if self.exclusive:
            return EXCLUSIVE
        return UNKNOWN

    def describe(self) -> str:
        v = self.verdict
        if v == INCLUSIVE:
            return f"inclusive: rows at the requested `ending` interval came back ({self.inclusive} walks)"
        if v == EXCLUSIVE:
            return f"exclusive: no rows at the requested `ending` interval although it has rows ({self.exclusive} walks)"
        if v == CONTRADICTORY:
            return f"contradictory: {self.inclusive} walks returned rows at `ending`, {self.exclusive} did not"
        return "not shown yet (no walk's `ending` interval held rows)"


def chunk_reading(conn: sqlite3.Connection, row: sqlite3.Row) -> str:
    """What one finished interval chunk's walk showed about the server's reading."""
    if row["dataset_type"] != INTERVAL or row["state"] != "done" or not row["request_end"]:
        return UNKNOWN
    if row["ending_rows"]:
        return INCLUSIVE
    has_rows = conn.execute(
        "SELECT 1 FROM records WHERE dataset=? AND dataset_type=? AND interval_start=? LIMIT 1",
        (row["dataset"], INTERVAL, row["request_end"]),
    ).fetchone()
    return EXCLUSIVE if has_rows else UNKNOWN


def server_reading(conn: sqlite3.Connection, dataset: str | None = None) -> Reading:
    counts = {INCLUSIVE: 0, EXCLUSIVE: 0, UNKNOWN: 0}
    sql = "SELECT * FROM coverage WHERE dataset_type='interval' AND state='done'"
    params: list[str] = []
    if dataset:
        sql += " AND dataset=?"
        params.append(dataset)
    for row in conn.execute(sql, params):
        counts[chunk_reading(conn, row)] += 1
    return Reading(counts[INCLUSIVE], counts[EXCLUSIVE], counts[UNKNOWN])


def walked_intervals(row: sqlite3.Row, reading: str) -> tuple[list[datetime], list[datetime]]:
    """(intervals the finished chunk provably walked, intervals it asked for but did not).

    A chunk asked with ``ending`` after its last interval covers all of them under either
    reading. Asked without that overlap (the overlap interval was not ready yet), its last
    interval is covered only if the server reads ``ending`` as inclusive — proven by the
    archive's walks, never assumed.
    """
    chunk = chunk_of(row)
    every = list(chunk.intervals())
    if row["state"] != "done":
        return [], every
    if chunk.daily:
        return every, []
    req = row["request_end"] or row["chunk_end"]
    if req > row["chunk_end"] or reading == INCLUSIVE:
        return every, []
    return every[:-1], every[-1:]


# -- per interval, per day ----------------------------------------------------------------
def interval_counts(
    conn: sqlite3.Connection, dataset: str, dataset_type: str, first: str, last: str
) -> dict[str, int]:
    """Archived records (all versions) per own interval (YYYYMMDDHHmm, or day YYYYMMDD)."""
    return {
        k: n
        for k, n in conn.execute(
            """SELECT interval_start, count(*) FROM records
               WHERE dataset=? AND dataset_type=? AND interval_start BETWEEN ? AND ?
               GROUP BY interval_start""",
            (dataset, dataset_type, first, last),
        )
    }


@dataclass
class DayCoverage:
    """One dataset stream on one UTC day, counted in intervals (daily streams: in days)."""

    dataset: str
    dataset_type: str
    day: str  # YYYY-MM-DD
    requested: int = 0
    walked: int = 0
    pending: int = 0
    not_entitled: int = 0
    failed: int = 0
    unfinished: int = 0  # in progress, or asked without overlap and not proven walked
    with_rows: int = 0
    empty: int = 0
    rows: int = 0
    messages: list[str] = field(default_factory=list)
    #: per interval (HH:MM): state and row count, for the drill-down
    intervals: dict[str, tuple[str, int]] = field(default_factory=dict)

    @property
    def state(self) -> str:
        """The worst state of the day."""
        if self.failed:
            return "failed"
        if self.not_entitled:
            return "not_entitled"
        if self.pending:
            return "pending"
        if self.unfinished:
            return "in_progress"
        if self.walked:
            return "done"
        return "none"

    def as_dict(self) -> dict[str, object]:
        return {
            "dataset": self.dataset,
            "dataset_type": self.dataset_type,
            "day": self.day,
            "requested": self.requested,
            "walked": self.walked,
            "pending": self.pending,
            "not_entitled": self.not_entitled,
            "failed": self.failed,
            "unfinished": self.unfinished,
            "intervals_with_rows": self.with_rows,
            "intervals_empty": self.empty,
            "rows": self.rows,
            "messages": self.messages,
        }


_STATE_FIELD = {
    "pending": "pending",
    "not_entitled": "not_entitled",
    "failed": "failed",
    "in_progress": "unfinished",
}


def day_coverage(
    conn: sqlite3.Connection,
    *,
    dataset: str | None = None,
    dataset_type: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    detail: bool = False,
) -> list[DayCoverage]:
    """Per dataset stream and day: what was requested and what the evidence shows.

    Filtered pulls are left out: a filtered walk does not cover the unfiltered data.
    ``detail`` fills each day's per-interval states (96 a day) for the drill-down.
    """
    sql = "SELECT * FROM coverage WHERE filter=''"
    params: list[str] = []
    if dataset:
        sql += " AND dataset=?"
        params.append(dataset)
    if dataset_type:
        sql += " AND dataset_type=?"
        params.append(dataset_type)
    if start:
        sql += " AND chunk_end >= ?"
        params.append(api_format(start, INTERVAL)[:8])
    if end:
        sql += " AND substr(chunk_start, 1, 8) <= ?"
        params.append(api_format(end, INTERVAL)[:8])
    rows = conn.execute(sql + " ORDER BY dataset, dataset_type, chunk_start", params).fetchall()
    readings: dict[str, str] = {}
    states: dict[tuple[str, str], dict[datetime, str]] = {}
    messages: dict[tuple[str, str, str], list[str]] = {}
    for row in rows:
        stream = (row["dataset"], row["dataset_type"])
        if row["dataset"] not in readings:
            readings[row["dataset"]] = server_reading(conn, row["dataset"]).verdict
        walked, missing = walked_intervals(row, readings[row["dataset"]])
        per = states.setdefault(stream, {})
        state = row["state"] if row["state"] in _STATE_FIELD else "in_progress"
        for t in walked:
            per[t] = "done"
        for t in missing:
            if per.get(t) != "done":
                per[t] = state if row["state"] != "done" else "in_progress"
        if row["message"]:
            key = (*stream, chunk_of(row).day)
            if row["message"] not in messages.setdefault(key, []):
                messages[key].append(row["message"])
    out: list[DayCoverage] = []
    for (ds, dtype), per in sorted(states.items()):
        if not per:
            continue
        lo, hi = min(per), max(per)
        counts = interval_counts(conn, ds, dtype, api_format(lo, dtype), api_format(hi, dtype))
        days: dict[str, DayCoverage] = {}
        for t in sorted(per):
            if (start and t < start.replace(hour=0, minute=0)) or (end and t > end):
                continue
            day = t.strftime("%Y-%m-%d")
            d = days.get(day)
            if d is None:
                d = days[day] = DayCoverage(ds, dtype, day)
                d.messages = messages.get((ds, dtype, day), [])
            st = per[t]
            n = counts.get(api_format(t, dtype), 0)
            d.requested += 1
            if st == "done":
                d.walked += 1
                if n:
                    d.with_rows += 1
                else:
                    d.empty += 1
            else:
                setattr(d, _STATE_FIELD[st], getattr(d, _STATE_FIELD[st]) + 1)
            d.rows += n
            if detail:
                d.intervals[t.strftime("%H:%M") if dtype != DAILY else "day"] = (st, n)
        out.extend(days.values())
    return out


# -- gaps ---------------------------------------------------------------------------------
def gaps(
    conn: sqlite3.Connection, datasets: Iterable[str], first: datetime, last: datetime
) -> list[str]:
    """Interval ranges of [first, last] (interval starts) that no finished walk covers,
    per dataset, with why: never requested, pending, failed, not entitled, unfinished."""
    out: list[str] = []
    for ds in datasets:
        per: dict[datetime, str] = {}
        reading = server_reading(conn, ds).verdict
        for row in conn.execute(
            """SELECT * FROM coverage WHERE dataset=? AND dataset_type='interval' AND filter=''
               AND chunk_end >= ? AND chunk_start <= ?""",
            (ds, interval_key(first), interval_key(last)),
        ):
            walked, missing = walked_intervals(row, reading)
            for t in walked:
                per[t] = "done"
            why = (
                "asked without overlap; the server's reading of `ending` is not shown"
                if row["state"] == "done"
                else (
                    row["state"].replace("_", " ")
                    + (f" ({row['message']})" if row["message"] else "")
                )
            )
            for t in missing:
                if per.get(t) != "done":
                    per[t] = why
        t = first
        run_start, run_why = None, ""
        while t <= last + STEP:
            why = per.get(t, "never requested") if t <= last else None
            if why == "done":
                why = None
            if why != run_why or why is None:
                if run_start is not None and run_why:
                    out.append(_span(ds, run_start, t - STEP, run_why))
                run_start, run_why = (t, why) if why else (None, "")
            t += STEP
    return out


def _span(ds: str, a: datetime, b: datetime, why: str) -> str:
    """``ds 2025-02-01 04:00–06:00 UTC: why`` (the end is where the gap stops)."""
    stop = b + STEP
    until = (
        f"{stop:%H:%M}" if stop.date() == a.date() or stop == a + DAY else f"{stop:%Y-%m-%d %H:%M}"
    )
    if stop.hour == 0 and stop.minute == 0 and stop.date() != a.date():
        until = "24:00" if stop - a <= DAY else f"{stop:%Y-%m-%d %H:%M}"
    return f"{ds} {a:%Y-%m-%d %H:%M}–{until} UTC: {why}"


__all__ = [
    "CONTRADICTORY",
    "DAY",
    "EXCLUSIVE",
    "INCLUSIVE",
    "STATES",
    "UNKNOWN",
    "DayCoverage",
    "Reading",
    "chunk_of",
    "chunk_reading",
    "chunk_row",
    "day_coverage",
    "gaps",
    "interval_counts",
    "last_done_end",
    "pending_chunks",
    "server_reading",
    "walked_intervals",
]
