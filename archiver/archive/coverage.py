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
    parse_api_bound,
)

#: Chunk states, worst first (a day shows the worst of its chunks).
STATES = ("failed", "not_entitled", "pending", "in_progress", "done")
INCLUSIVE, EXCLUSIVE, UNKNOWN, CONTRADICTORY = "inclusive", "exclusive", "unknown", "contradictory"


def chunk_row(conn: sqlite3.Connection, chunk: Chunk) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM coverage WHERE dataset=? AND dataset_type=? AND filter=? AND chunk_start=?",
        (chunk.dataset, chunk.dataset_type, chunk.filter, chunk.start_key),
    ).fetchone()
    return row


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

    def plain(self) -> str:
        """The same in plain words (a report's cover): what the server does with the
        15-minute interval that starts at the end time a request names."""
        v = self.verdict
        where = "the 15-minute interval that starts at a request's end time"
        if v == INCLUSIVE:
            return (
                f"The server includes {where} (seen in {self.inclusive:,} requests); archiver's "
                "requests overlap by that interval, and a row received twice is stored once."
            )
        if v == EXCLUSIVE:
            return (
                f"The server leaves out {where} (seen in {self.exclusive:,} requests); archiver's "
                "requests meet there, so no interval falls between them."
            )
        if v == CONTRADICTORY:
            return (
                f"The server was inconsistent about {where}: {self.inclusive:,} requests "
                f"included it, {self.exclusive:,} left it out."
            )
        return f"Not yet known whether the server includes {where} (none held rows)."


def chunk_reading(conn: sqlite3.Connection, row: sqlite3.Row) -> str:
    """What one finished interval chunk's walk showed about the server's reading."""
    if row["dataset_type"] != INTERVAL or row["state"] != "done" or not row["request_end"]:
        return UNKNOWN
    if row["ending_rows"]:
        return INCLUSIVE
    has_rows = conn.execute(
        """SELECT 1 FROM records WHERE stream_id=(SELECT stream_id FROM streams
               WHERE dataset=? AND dataset_type=?) AND interval_start=? LIMIT 1""",
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
               WHERE stream_id=(SELECT stream_id FROM streams WHERE dataset=? AND dataset_type=?)
                 AND interval_start BETWEEN ? AND ?
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

    def count(self, when: datetime, state: str, rows: int, detail: bool) -> None:
        """Add one requested interval (or day) in ``state`` with ``rows`` archived."""
        self.requested += 1
        if state == "done":
            self.walked += 1
            if rows:
                self.with_rows += 1
            else:
                self.empty += 1
        else:
            field_name = _STATE_FIELD[state]
            setattr(self, field_name, getattr(self, field_name) + 1)
        self.rows += rows
        if detail:
            self.intervals[when.strftime("%H:%M") if self.dataset_type != DAILY else "day"] = (
                state,
                rows,
            )

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

Stream = tuple[str, str]
#: per stream and interval start: (state, why it is not walked)
IntervalStates = dict[Stream, dict[datetime, tuple[str, str]]]
UNPROVEN = "asked without overlap; the server's reading of `ending` is not shown"


def _coverage_rows(
    conn: sqlite3.Connection,
    dataset: str | None,
    dataset_type: str | None,
    start: datetime | None,
    end: datetime | None,
) -> list[sqlite3.Row]:
    """Unfiltered chunks (a filtered walk does not cover the unfiltered data)."""
    sql = "SELECT * FROM coverage WHERE filter=''"
    params: list[str] = []
    for cond, value in (
        (" AND dataset=?", dataset),
        (" AND dataset_type=?", dataset_type),
        (" AND chunk_end >= ?", api_format(start, DAILY) if start else None),  # day prefix
        (" AND chunk_start <= ?", api_format(end, INTERVAL) if end else None),
    ):
        if value:
            sql += cond
            params.append(value)
    return conn.execute(sql + " ORDER BY dataset, dataset_type, chunk_start", params).fetchall()


def interval_states(
    conn: sqlite3.Connection, rows: list[sqlite3.Row]
) -> tuple[IntervalStates, dict[tuple[str, str, str], list[str]]]:
    """Each requested interval's state from its chunks (a walked one wins) and the
    chunks' messages per stream and day."""
    readings: dict[str, str] = {}
    states: IntervalStates = {}
    messages: dict[tuple[str, str, str], list[str]] = {}
    for row in rows:
        if row["dataset"] not in readings:
            readings[row["dataset"]] = server_reading(conn, row["dataset"]).verdict
        per = states.setdefault((row["dataset"], row["dataset_type"]), {})
        walked, missing = walked_intervals(row, readings[row["dataset"]])
        for t in walked:
            per[t] = ("done", "")
        state, why = _not_walked(row)
        for t in missing:
            if per.get(t, ("",))[0] != "done":
                per[t] = (state, why)
        if row["message"]:
            key = (row["dataset"], row["dataset_type"], chunk_of(row).day)
            if row["message"] not in messages.setdefault(key, []):
                messages[key].append(row["message"])
    return states, messages


def _not_walked(row: sqlite3.Row) -> tuple[str, str]:
    """(state, why) of a chunk's intervals that it did not provably walk."""
    if row["state"] == "done":
        return "in_progress", UNPROVEN
    state = row["state"] if row["state"] in _STATE_FIELD else "in_progress"
    why = row["state"].replace("_", " ") + (f" ({row['message']})" if row["message"] else "")
    return state, why


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

    ``detail`` fills each day's per-interval states (96 a day) for the drill-down.
    """
    rows = _coverage_rows(conn, dataset, dataset_type, start, end)
    states, messages = interval_states(conn, rows)
    first = start.replace(hour=0, minute=0) if start else None
    out: list[DayCoverage] = []
    for (ds, dtype), per in sorted(states.items()):
        if not per:
            continue
        lo, hi = min(per), max(per)
        counts = interval_counts(conn, ds, dtype, api_format(lo, dtype), api_format(hi, dtype))
        days: dict[str, DayCoverage] = {}
        for t in sorted(per):
            if (first and t < first) or (end and t > end):
                continue
            day = t.strftime("%Y-%m-%d")
            if day not in days:
                days[day] = DayCoverage(ds, dtype, day, messages=messages.get((ds, dtype, day), []))
            days[day].count(t, per[t][0], counts.get(api_format(t, dtype), 0), detail)
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
        rows = _coverage_rows(conn, ds, INTERVAL, first, last)
        per = interval_states(conn, rows)[0].get((ds, INTERVAL), {})
        run_start: datetime | None = None
        run_why = ""
        t = first
        while t <= last + STEP:
            state, why = per.get(t, ("", "never requested")) if t <= last else ("done", "")
            if state == "done":
                why = ""
            if why != run_why:
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
