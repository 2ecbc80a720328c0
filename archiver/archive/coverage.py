"""What the archive can show it holds: chunk states, per-interval row counts, the server's
reading of ``ending``, and the gaps a report must state.

The one module that reads the ``coverage`` table. Evidence, not assumption: an interval
counts as *walked* only when a chunk that asked for it finished its walk and the request
provably covered it (see :func:`walked_intervals`); rows per interval come from each row's
own time column (records.interval_start), not from what was asked.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from archiver.timerange import (
    DAILY,
    DAY,
    INTERVAL,
    STEP,
    Chunk,
    api_format,
    floor_day,
    format_range,
    parse_api_bound,
)

#: Chunk states, worst first.
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


def reading_of(
    dataset_type: str,
    state: str,
    request_end: str | None,
    ending_rows: int,
    has_rows: Callable[[str], bool],
) -> str:
    """What one chunk's walk showed about the server's reading of ``ending`` (the one
    definition: verify-archive's replay tallies it the same way): a finished interval walk
    that got rows at its ``ending`` interval shows an inclusive server; one that got none
    although the archive holds rows of that interval, an exclusive one."""
    if dataset_type != INTERVAL or state != "done" or not request_end:
        return UNKNOWN
    if ending_rows:
        return INCLUSIVE
    return EXCLUSIVE if has_rows(request_end) else UNKNOWN


def chunk_reading(conn: sqlite3.Connection, row: sqlite3.Row) -> str:
    """What one finished interval chunk's walk showed about the server's reading."""

    def has_rows(interval: str) -> bool:
        return bool(
            conn.execute(
                """SELECT 1 FROM records WHERE stream_id=(SELECT stream_id FROM streams
                       WHERE dataset=? AND dataset_type=?) AND interval_start=? LIMIT 1""",
                (row["dataset"], INTERVAL, interval),
            ).fetchone()
        )

    return reading_of(
        row["dataset_type"], row["state"], row["request_end"], row["ending_rows"], has_rows
    )


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


#: Why an interval counts as walked although its own chunk did not walk it: it was the
#: ``ending`` of the chunk before it, and the archive shows the server reads ``ending`` as
#: inclusive (so that request returned the interval's rows in full).
AT_ENDING = "received at the previous chunk's ending"


@dataclass(frozen=True)
class Walk:
    """What one chunk's walk provably covered (:func:`walked_intervals`)."""

    walked: list[datetime]  # its own intervals it covered
    missing: list[datetime]  # its own intervals it asked for but did not (provably) cover
    at_ending: datetime | None = None  # the interval after it, covered as its `ending`


def walked_intervals(row: sqlite3.Row, reading: str) -> Walk:
    """The one definition of *walked*, used by coverage, gaps, the GUI and bundles.

    A finished chunk asked with ``ending`` after its last interval covers all of them under
    either reading; when the archive shows the server reads ``ending`` as inclusive, that
    request also returned every row of the ``ending`` interval itself, which is therefore
    walked too (:data:`AT_ENDING`), whatever became of the chunk that owns it. Asked without
    the overlap (the overlap interval was not ready yet), the chunk's last interval is
    covered only under the inclusive reading. ``reading`` is the archive's verdict
    (:func:`server_reading`), proven by its walks, never assumed.
    """
    chunk = chunk_of(row)
    every = list(chunk.intervals())
    if row["state"] != "done":
        return Walk([], every)
    if chunk.daily:
        return Walk(every, [])
    req = row["request_end"] or row["chunk_end"]
    if req > row["chunk_end"]:
        after = parse_api_bound(req) if reading == INCLUSIVE else None
        return Walk(every, [], after)
    if reading == INCLUSIVE:
        return Walk(every, [])
    return Walk(every[:-1], every[-1:])


# -- per interval, per day ----------------------------------------------------------------
def interval_counts(
    conn: sqlite3.Connection, dataset: str, dataset_type: str, first: str, last: str
) -> dict[str, int]:
    """Records (every version) per own interval (YYYYMMDDHHmm, or day YYYYMMDD)."""
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


#: Interval (or day) states, worst first: a day shows the worst of its intervals.
NEVER_REQUESTED = "never_requested"
#: walked, then disposed of under a retention schedule (archive/retention.py)
DISPOSED = "disposed"
DAY_STATES = ("failed", "not_entitled", "pending", "in_progress", NEVER_REQUESTED, DISPOSED, "done")
#: How each state is written on every screen, in the CLI and its JSON.
STATE_WORDS = {
    "done": "done",
    "in_progress": "unfinished",
    "pending": "pending",
    "not_entitled": "not entitled",
    "failed": "failed",
    NEVER_REQUESTED: "never requested",
    DISPOSED: "disposed",
}


@dataclass
class DayCoverage:
    """One dataset stream on one UTC day, counted in intervals (daily streams: in days).

    Every interval of the day that lies in the range asked is counted once: requested (and
    then walked, pending, not entitled, failed or unfinished) or never requested."""

    dataset: str
    dataset_type: str
    day: str  # YYYY-MM-DD
    requested: int = 0
    walked: int = 0
    pending: int = 0
    not_entitled: int = 0
    failed: int = 0
    unfinished: int = 0  # in progress, or asked without overlap and not proven walked
    never_requested: int = 0
    #: walked intervals received as the previous chunk's `ending` (:data:`AT_ENDING`)
    at_ending: int = 0
    #: walked intervals whose evidence was disposed of since (counted as walked too)
    disposed: int = 0
    with_rows: int = 0
    empty: int = 0
    #: records (every version) whose own interval lies on the day's counted intervals
    records: int = 0
    messages: list[str] = field(default_factory=list)
    #: per interval (HH:MM, or "day"): state, records, and a note (AT_ENDING, or why it is
    #: not walked), for the drill-down
    intervals: dict[str, tuple[str, int, str]] = field(default_factory=dict)

    @property
    def state(self) -> str:
        """The worst state of the day's intervals (:data:`DAY_STATES`)."""
        for st, n in (
            ("failed", self.failed),
            ("not_entitled", self.not_entitled),
            ("pending", self.pending),
            ("in_progress", self.unfinished),
            (NEVER_REQUESTED, self.never_requested),
            (DISPOSED, self.disposed),
        ):
            if n:
                return st
        return "done"

    @property
    def state_words(self) -> str:
        return STATE_WORDS[self.state]

    def count(self, when: datetime, state: str, why: str, records: int, detail: bool) -> None:
        """Add one interval (or day) of the range in ``state`` with ``records`` archived."""
        shown = state
        if state == NEVER_REQUESTED:
            self.never_requested += 1
        else:
            self.requested += 1
        if state == DISPOSED:
            self.disposed += 1
            state = "done"
        if state == "done":
            self.walked += 1
            self.at_ending += why == AT_ENDING
            if records:
                self.with_rows += 1
            else:
                self.empty += 1
        elif state != NEVER_REQUESTED:
            field_name = _STATE_FIELD[state]
            setattr(self, field_name, getattr(self, field_name) + 1)
        self.records += records
        if detail:
            key = when.strftime("%H:%M") if self.dataset_type != DAILY else "day"
            self.intervals[key] = (shown, records, why)

    def as_dict(self) -> dict[str, object]:
        return {
            "dataset": self.dataset,
            "dataset_type": self.dataset_type,
            "day": self.day,
            "state": self.state_words,
            "requested": self.requested,
            "walked": self.walked,
            "walked_at_previous_ending": self.at_ending,
            "pending": self.pending,
            "not_entitled": self.not_entitled,
            "failed": self.failed,
            "unfinished": self.unfinished,
            "never_requested": self.never_requested,
            "disposed": self.disposed,
            "intervals_with_rows": self.with_rows,
            "intervals_empty": self.empty,
            "records": self.records,
            "messages": self.messages,
        }


_STATE_FIELD = {
    "pending": "pending",
    "not_entitled": "not_entitled",
    "failed": "failed",
    "in_progress": "unfinished",
}

Stream = tuple[str, str]
#: per interval start: (state, why it is not walked, or AT_ENDING)
States = dict[datetime, tuple[str, str]]
UNPROVEN = "asked without overlap; the server's reading of `ending` is not shown"
NEVER = "never requested"


def _coverage_rows(
    conn: sqlite3.Connection,
    dataset: str | None,
    dataset_type: str | None,
    start: datetime | None,
    end: datetime | None,
) -> list[sqlite3.Row]:
    """Unfiltered chunks (a filtered walk does not cover the unfiltered data) that asked for
    something in [start, end]: the chunk just before ``start`` too (its `ending` may be
    ``start``)."""
    sql = "SELECT * FROM coverage WHERE filter=''"
    params: list[str] = []
    for cond, value in (
        (" AND dataset=?", dataset),
        (" AND dataset_type=?", dataset_type),
        # 12-digit interval keys compare exactly; a daily key (8 digits) sorts before
        # every interval key of its own day, so the day before `start` is left out
        (" AND chunk_end >= ?", api_format(start - STEP, INTERVAL) if start else None),
        (" AND chunk_start <= ?", api_format(end, INTERVAL) if end else None),
    ):
        if value:
            sql += cond
            params.append(value)
    return conn.execute(sql + " ORDER BY dataset, dataset_type, chunk_start", params).fetchall()


def interval_states(
    conn: sqlite3.Connection, rows: list[sqlite3.Row]
) -> tuple[dict[Stream, States], dict[tuple[str, str, str], list[str]]]:
    """Each requested interval's state from its chunks (a walked one wins; walked by its own
    chunk wins over :data:`AT_ENDING`) and the chunks' messages per stream and day."""
    readings: dict[str, str] = {}
    states: dict[Stream, States] = {}
    messages: dict[tuple[str, str, str], list[str]] = {}
    for row in rows:
        if row["dataset"] not in readings:
            readings[row["dataset"]] = server_reading(conn, row["dataset"]).verdict
        per = states.setdefault((row["dataset"], row["dataset_type"]), {})
        walk = walked_intervals(row, readings[row["dataset"]])
        for t in walk.walked:
            per[t] = ("done", "")
        if walk.at_ending is not None and per.get(walk.at_ending, ("",))[0] != "done":
            per[walk.at_ending] = ("done", AT_ENDING)
        state, why = _not_walked(row)
        for t in walk.missing:
            if per.get(t, ("",))[0] != "done":
                per[t] = (state, why)
        if row["message"]:
            key = (row["dataset"], row["dataset_type"], chunk_of(row).day)
            if row["message"] not in messages.setdefault(key, []):
                messages[key].append(row["message"])
    for stream, per in states.items():
        _mark_disposed(per, disposed_intervals(conn, *stream), stream[1])
    return states, messages


def _mark_disposed(per: States, gone: dict[str, str], dataset_type: str) -> None:
    """Walked intervals a disposition disposed of are ``disposed``, with why."""
    for t, (state, _why) in list(per.items()):
        why = gone.get(api_format(t, dataset_type))
        if why is not None and state == "done":
            per[t] = (DISPOSED, why)


def disposed_intervals(conn: sqlite3.Connection, dataset: str, dataset_type: str) -> dict[str, str]:
    """Interval key → why it was disposed of (``disposed on DATE under schedule S
    (certificate C)``), from the retention tables (archive/retention.py) when there are any."""
    if (
        conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='disposed_intervals'"
        ).fetchone()
        is None
    ):
        return {}
    return {
        key: f"disposed on {at[:10]} under schedule {sched} (certificate {cid})"
        for key, at, sched, cid in conn.execute(
            """SELECT i.interval_start, d.applied_at, i.schedule, d.certificate_id
               FROM disposed_intervals i JOIN dispositions d ON d.entry_id = i.entry_id
               WHERE i.dataset=? AND i.dataset_type=?""",
            (dataset, dataset_type),
        )
    }


def _not_walked(row: sqlite3.Row) -> tuple[str, str]:
    """(state, why) of a chunk's intervals that it did not provably walk."""
    if row["state"] == "done":
        return "in_progress", UNPROVEN
    state = row["state"] if row["state"] in _STATE_FIELD else "in_progress"
    why = row["state"].replace("_", " ") + (f" ({row['message']})" if row["message"] else "")
    return state, why


def _units(first: datetime, last: datetime, dataset_type: str) -> Iterable[datetime]:
    """The intervals (daily streams: the days) of [first, last]."""
    if dataset_type == DAILY:
        d = first.replace(hour=0, minute=0, second=0, microsecond=0)
        while d <= last:
            yield d
            d += DAY
        return
    t = first
    while t <= last:
        yield t
        t += STEP


def streams(
    conn: sqlite3.Connection, dataset: str | None = None, dataset_type: str | None = None
) -> list[Stream]:
    """The streams coverage reports on: every one the archive ever asked for (filtered
    pulls included: their streams are shown, never requested unfiltered), and a dataset
    named but never asked for (its 15-minute stream)."""
    sql = "SELECT DISTINCT dataset, dataset_type FROM coverage WHERE 1=1"
    params: list[str] = []
    for cond, value in ((" AND dataset=?", dataset), (" AND dataset_type=?", dataset_type)):
        if value:
            sql += cond
            params.append(value)
    found = {(d, t) for d, t in conn.execute(sql, params)}
    if dataset and not found:
        found.add((dataset, dataset_type or INTERVAL))
    return sorted(found)


def day_coverage(
    conn: sqlite3.Connection,
    *,
    dataset: str | None = None,
    dataset_type: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    detail: bool = False,
) -> list[DayCoverage]:
    """Per dataset stream and UTC day of the range: what was requested and what the
    evidence shows, every interval of [start, end] counted once (days nobody asked for
    included: *never requested*).

    ``start``/``end``: the first and the last interval, both included, honoured exactly;
    either left out: the first (last) day any chunk of the streams shown asked for, its
    `ending` included, so that every stream lists the same days. ``detail`` fills each day's per-interval
    states (96 a day) for the drill-down.
    """
    chosen = streams(conn, dataset, dataset_type)
    rows = _coverage_rows(conn, dataset, dataset_type, start, end)
    states, messages = interval_states(conn, rows)
    if start is None or end is None:
        # where the requests (and the `ending`s that count as walked) begin and end
        asked = [t for s in chosen for t in states.get(s, {})]
        if not asked and start is None and end is None:
            return []
        lo, hi = (min(asked), max(asked)) if asked else (start or end, end or start)
        assert lo is not None and hi is not None
        start = start or floor_day(lo)
        end = end or floor_day(hi) + DAY - STEP
    out: list[DayCoverage] = []
    for ds, dtype in chosen:
        per = states.get((ds, dtype), {})
        counts = interval_counts(conn, ds, dtype, api_format(start, dtype), api_format(end, dtype))
        days: dict[str, DayCoverage] = {}
        for t in _units(start, end, dtype):
            day = t.strftime("%Y-%m-%d")
            if day not in days:
                days[day] = DayCoverage(ds, dtype, day, messages=messages.get((ds, dtype, day), []))
            state, why = per.get(t, (NEVER_REQUESTED, NEVER))
            days[day].count(t, state, why, counts.get(api_format(t, dtype), 0), detail)
        out.extend(days.values())
    return out


# -- gaps ---------------------------------------------------------------------------------
def stream_states(
    conn: sqlite3.Connection, dataset: str, first: datetime, last: datetime
) -> dict[datetime, tuple[str, str]]:
    """Every 15-minute interval of [first, last] of the dataset's 15-minute stream with its
    state and why (:func:`walked_intervals`): ``("done", "")``, ``("done", AT_ENDING)``, or
    a state and why it is not walked (never requested, pending, failed, …)."""
    rows = _coverage_rows(conn, dataset, INTERVAL, first, last)
    per = interval_states(conn, rows)[0].get((dataset, INTERVAL), {})
    return {t: per.get(t, (NEVER_REQUESTED, NEVER)) for t in _units(first, last, INTERVAL)}


def gap_intervals(
    conn: sqlite3.Connection, dataset: str, first: datetime, last: datetime
) -> dict[datetime, str]:
    """The 15-minute intervals of [first, last] that no finished walk covers, with why:
    never requested, pending, failed, not entitled, unfinished (:func:`stream_states`)."""
    return {
        t: why
        for t, (state, why) in stream_states(conn, dataset, first, last).items()
        if state != "done"
    }


def gaps(
    conn: sqlite3.Connection, datasets: Iterable[str], first: datetime, last: datetime
) -> list[str]:
    """Interval ranges of [first, last] (interval starts) that no finished walk covers,
    per dataset, with why (:func:`gap_intervals`, written by :func:`spans`)."""
    return [g for ds in datasets for g in spans(ds, gap_intervals(conn, ds, first, last))]


def spans(dataset: str, missing: dict[datetime, str]) -> list[str]:
    """Runs of consecutive intervals with the same why (gaps, or intervals walked at the
    previous chunk's ending), each written as an inclusive
    range (:func:`archiver.timerange.format_range`): ``queue 2025-02-01 04:00 – 05:45 UTC,
    last interval included: failed (…)``."""
    out: list[str] = []
    run: list[datetime] = []
    run_why = ""
    for t in [*sorted(missing), None]:
        why = missing[t] if t is not None else ""
        if run and (t is None or t != run[-1] + STEP or why != run_why):
            out.append(
                f"{dataset} {format_range(run[0], run[-1])}" + (f": {run_why}" if run_why else "")
            )
            run = []
        if t is not None:
            run.append(t)
            run_why = why
    return out


__all__ = [
    "AT_ENDING",
    "CONTRADICTORY",
    "DAY",
    "DAY_STATES",
    "DISPOSED",
    "EXCLUSIVE",
    "INCLUSIVE",
    "NEVER_REQUESTED",
    "STATES",
    "STATE_WORDS",
    "UNKNOWN",
    "DayCoverage",
    "Reading",
    "Walk",
    "chunk_of",
    "chunk_reading",
    "chunk_row",
    "day_coverage",
    "disposed_intervals",
    "gap_intervals",
    "gaps",
    "interval_counts",
    "last_done_end",
    "pending_chunks",
    "server_reading",
    "spans",
    "stream_states",
    "streams",
    "walked_intervals",
]
