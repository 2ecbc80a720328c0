"""Retention, as the screens and the command line ask for it: the schedules, and the plan of
what is past retention on a date and what is kept despite it (and why).

**Age is measured from each record's own interval** (a 15-minute interval, or a day for
daily rows), never from when it was received: an interval is past a schedule of 6y on a
date when the interval *ends* at least six years before that date's midnight (UTC). The
unit disposed is the page (a body goes whole): a page is due when every record it holds,
and every interval its request asked for (its `ending` included), is past retention.

Nothing an interaction under legal hold touches is disposed: a page holding any record of a
held interaction is kept (*legal hold*, naming the case), and so is every page holding a
record of the same stream and interval as a held record (*interval shared with a held
interaction*). An interval counts as disposed only when every page holding its records is
disposed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from archiver.archive import retention, values
from archiver.archive.hashing import canonical_json
from archiver.archive.queries import interactions
from archiver.archive.queries.reader import Source
from archiver.plural import plural
from archiver.timerange import DAILY, DAY, INTERVAL, STEP, api_format, parse_api_bound

LEGAL_HOLD = "legal hold"
SHARED = "interval shared with a held interaction"
_BOUND = re.compile(r"\b(\d{12}|\d{8})\b")


def schedules(db: Source) -> list[retention.Schedule]:
    state = retention.state(db.conn)
    return [s for _k, s in sorted(state.schedules.items())]


def cutoff(as_of: date, period: str) -> datetime:
    """The moment an interval must have ended by to be past ``period`` on ``as_of`` (its
    midnight, UTC): six years, eighteen months (the day kept, the month's last day when it
    has fewer), ninety days."""
    n, unit = retention.parse_period(period)
    if unit == "d":
        day = as_of - timedelta(days=n)
    else:
        months = n * 12 if unit == "y" else n
        y, m = divmod(as_of.year * 12 + (as_of.month - 1) - months, 12)
        m += 1
        last = (date(y + (m == 12), m % 12 + 1, 1) - timedelta(days=1)).day
        day = date(y, m, min(as_of.day, last))
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def last_due(cut: datetime, dataset_type: str) -> str:
    """The last interval key (or day) that has ended by ``cut``."""
    if dataset_type == DAILY:
        return api_format(cut - DAY, DAILY)
    return api_format(cut - STEP, INTERVAL)


@dataclass
class Kept:
    """Due pages kept despite their schedule, and why."""

    dataset: str
    dataset_type: str
    reason: str  # LEGAL_HOLD | SHARED
    cases: list[str]
    interactions: list[str]
    pages: list[int] = field(default_factory=list)
    records: int = 0
    intervals: int = 0

    def describe(self) -> str:
        cases = ", ".join(repr(c) for c in self.cases)
        who = f"case {cases}" if len(self.cases) == 1 else f"cases {cases}"
        if self.reason == LEGAL_HOLD:
            return f"legal hold: {who} ({plural(len(self.interactions), 'held interaction')})"
        return f"interval shared with a held interaction of {who}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "dataset_type": self.dataset_type,
            "reason": self.reason,
            "cases": self.cases,
            "interactions": sorted(self.interactions),
            "pages": len(self.pages),
            "records": self.records,
            "intervals": self.intervals,
            "why": self.describe(),
        }


@dataclass
class StreamPlan:
    """One dataset stream's part of a plan."""

    dataset: str
    dataset_type: str
    schedule: retention.Schedule
    cutoff: datetime
    last_due: str
    pages: list[int] = field(default_factory=list)
    records: int = 0
    bytes: int = 0
    intervals: list[str] = field(default_factory=list)
    kept: list[Kept] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "dataset_type": self.dataset_type,
            "schedule": self.schedule.describe(),
            "period": self.schedule.period,
            "schedule_entry": self.schedule.entry.entry_id,
            "past_retention_before": self.cutoff.strftime("%Y-%m-%dT%H:%MZ"),
            "intervals": len(self.intervals),
            "first_interval": self.intervals[0] if self.intervals else None,
            "last_interval": self.intervals[-1] if self.intervals else None,
            "pages": len(self.pages),
            "records": self.records,
            "bytes": self.bytes,
            "kept": [k.as_dict() for k in self.kept],
        }


@dataclass
class Plan:
    as_of: date
    streams: list[StreamPlan]
    #: held interaction → the cases holding it (what the plan honoured)
    held: dict[str, list[str]]
    chain: dict[str, Any]
    plan_id: str = ""

    @property
    def pages(self) -> list[int]:
        return sorted(p for s in self.streams for p in s.pages)

    @property
    def records(self) -> int:
        return sum(s.records for s in self.streams)

    @property
    def bytes(self) -> int:
        return sum(s.bytes for s in self.streams)

    @property
    def intervals(self) -> int:
        return sum(len(s.intervals) for s in self.streams)

    @property
    def kept(self) -> list[Kept]:
        return [k for s in self.streams for k in s.kept]

    def content(self) -> dict[str, Any]:
        """The plan's canonical content: what its id is the hash of (the archive's chain
        heads included, so any change since makes the id stale)."""
        return {
            "as_of": self.as_of.isoformat(),
            "schedules": [
                {
                    "dataset": s.schedule.dataset,
                    "dataset_type": s.schedule.dataset_type,
                    "period": s.schedule.period,
                    "entry": s.schedule.entry.entry_id,
                }
                for s in self.streams
            ],
            "streams": [s.as_dict() for s in self.streams],
            "pages": retention.runs(self.pages),
            "intervals": [
                [s.dataset, s.dataset_type, retention.interval_runs(s.intervals)]
                for s in self.streams
                if s.intervals
            ],
            "held": {k: v for k, v in sorted(self.held.items())},
            "chain": self.chain,
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "plan_id": self.plan_id,
            "as_of": self.as_of.isoformat(),
            "pages": len(self.pages),
            "records": self.records,
            "bytes": self.bytes,
            "intervals": self.intervals,
            "datasets": [s.as_dict() for s in self.streams],
            "chain": self.chain,
        }


def chain_heads(db: Source) -> dict[str, Any]:
    row = db.conn.execute(
        "SELECT pages_chain, pages, audit_chain, audit_entries FROM chain_head"
    ).fetchone()
    return {
        "pages_chain": row[0],
        "pages": row[1],
        "audit_chain": row[2],
        "audit_entries": row[3],
    }


def _request_last(query: str) -> str:
    """The last interval (or day) a page's request asked for as its own: the interval
    before its `ending` (a daily request's last day)."""
    found = sorted(_BOUND.findall(query or ""))
    if len(found) >= 2 and len(found[-1]) == 12:
        # an interval request's `ending` is the start of the next chunk: its own rows, where
        # a server returns them, are records of that interval and counted as such
        return api_format(parse_api_bound(found[-1]) - STEP, INTERVAL)
    return found[-1] if found else ""


def _held_records(
    db: Source, held: Mapping[str, Sequence[str]]
) -> list[tuple[int, int, int, str, str]]:
    """(record_id, page_id, stream_id, interval_start, interaction) of every record of a
    held interaction."""
    if not held:
        return []
    out: list[tuple[int, int, int, str, str]] = []
    ids = json.dumps(sorted(held))
    for dataset in interactions.INTERACTION_COLUMN:
        column = interactions.id_column(db, dataset)
        if column is None:
            continue
        out += db.conn.execute(
            f"""SELECT r.record_id, r.page_id, r.stream_id, r.interval_start, v.{values.quote(column)}
                FROM {values.table(dataset)} v CROSS JOIN records r ON r.record_id = v.record_id
                WHERE v.{values.quote(column)} IN (SELECT value FROM json_each(?))""",
            (ids,),
        ).fetchall()
    return out


Marks = dict[Any, tuple[set[str], set[str]]]  # page or (stream, interval) → (cases, interactions)


def _holds(db: Source, held: Mapping[str, Sequence[str]]) -> tuple[Marks, Marks]:
    """The pages holding a record of a held interaction, and the (stream, interval)s of
    those records: each with the cases and the interactions."""
    pages: Marks = {}
    intervals: Marks = {}
    for _rid, pid, sid, interval, iid in _held_records(db, held):
        cases = set(held.get(str(iid), ()))
        for marks, key in ((pages, pid), (intervals, (sid, interval))):
            found = marks.setdefault(key, (set(), set()))
            found[0].update(cases)
            found[1].add(str(iid))
    return pages, intervals


def plan(db: Source, as_of: date, held: Mapping[str, Sequence[str]]) -> Plan:
    """What is past retention on ``as_of`` and what is kept despite it (``held``: each
    interaction under legal hold → the cases holding it, from services/cases)."""
    conn = db.conn
    state = retention.state(conn)
    done = set(state.pages)
    held_pages, held_intervals = _holds(db, held)
    out: list[StreamPlan] = []
    for sid, ds, dtype in conn.execute(
        "SELECT stream_id, dataset, dataset_type FROM streams ORDER BY dataset, dataset_type"
    ).fetchall():
        sched = state.schedule_for(ds, dtype)
        if sched is None:
            continue
        cut = cutoff(as_of, sched.period)
        sp = StreamPlan(ds, dtype, sched, cut, last_due(cut, dtype))
        mine = {iv: v for (s, iv), v in held_intervals.items() if s == sid}
        _plan_stream(conn, sp, sid, done, held_pages, mine)
        if sp.pages or sp.kept:
            out.append(sp)
    made = Plan(as_of, out, {k: sorted(set(v)) for k, v in held.items()}, chain_heads(db))
    made.plan_id = hashlib.sha256(canonical_json(made.content()).encode()).hexdigest()[:20]
    return made


def _plan_stream(
    conn: Any, sp: StreamPlan, sid: int, done: set[int], held_pages: Marks, mine: Marks
) -> None:
    """One stream's due pages, split into disposed and kept (``mine``: this stream's held
    intervals)."""
    per_page = {
        pid: (last, n)
        for pid, last, n in conn.execute(
            "SELECT page_id, max(interval_start), count(*) FROM records WHERE stream_id=? GROUP BY page_id",
            (sid,),
        )
    }
    due: list[tuple[int, int, str]] = []
    for pid, size, query in conn.execute(
        """SELECT page_id, length(body), query FROM pages
           WHERE dataset=? AND dataset_type=? AND http_status=200 AND encoding != ?
           ORDER BY page_id""",
        (sp.dataset, sp.dataset_type, retention.DISPOSED),
    ):
        last = max(_request_last(query), per_page.get(pid, ("", 0))[0] or "")
        if pid not in done and last and len(last) == len(sp.last_due) and last <= sp.last_due:
            due.append((pid, size, query))
    if not due:
        return
    shared: Marks = {}  # pages sharing an interval with a held record of this stream
    if mine:
        for pid, interval in conn.execute(
            """SELECT DISTINCT page_id, interval_start FROM records WHERE stream_id=?
               AND interval_start IN (SELECT value FROM json_each(?))""",
            (sid, json.dumps(sorted(mine))),
        ):
            entry = shared.setdefault(pid, (set(), set()))
            entry[0].update(mine[interval][0])
            entry[1].update(mine[interval][1])
    kept_by: dict[tuple[str, tuple[str, ...]], Kept] = {}
    dispose: list[tuple[int, int, str]] = []
    for pid, size, query in due:
        reason = LEGAL_HOLD if pid in held_pages else SHARED if pid in shared else None
        if reason is None:
            dispose.append((pid, size, query))
            continue
        cs, ii = (held_pages if reason == LEGAL_HOLD else shared)[pid]
        k = kept_by.setdefault(
            (reason, tuple(sorted(cs))), Kept(sp.dataset, sp.dataset_type, reason, sorted(cs), [])
        )
        k.pages.append(pid)
        k.interactions = sorted(set(k.interactions) | ii)
    sp.kept = list(kept_by.values())
    sp.pages = [p for p, _s, _q in dispose]
    sp.bytes = sum(int(s or 0) for _p, s, _q in dispose)
    sp.records = sum(per_page.get(p, ("", 0))[1] for p in sp.pages)
    sp.intervals = _disposed_intervals(conn, sid, sp.dataset_type, dispose, done, sp.last_due)
    for k in sp.kept:
        k.records = sum(per_page.get(p, ("", 0))[1] for p in k.pages)
        (k.intervals,) = conn.execute(
            """SELECT count(DISTINCT interval_start) FROM records WHERE stream_id=?
               AND interval_start <= ? AND page_id IN (SELECT value FROM json_each(?))""",
            (sid, sp.last_due, json.dumps(k.pages)),
        ).fetchone()


def _disposed_intervals(
    conn: Any,
    sid: int,
    dtype: str,
    dispose: list[tuple[int, int, str]],
    done: set[int],
    due_key: str,
) -> list[str]:
    """The due intervals the disposed pages hold or asked for, less those with a record on
    a page that stays."""
    gone = [p for p, _s, _q in dispose]
    candidates: set[str] = set()
    for (iv,) in conn.execute(
        """SELECT DISTINCT interval_start FROM records
           WHERE page_id IN (SELECT value FROM json_each(?))""",
        (json.dumps(gone),),
    ):
        candidates.add(iv)
    for _pid, _size, query in dispose:
        bounds = sorted(_BOUND.findall(query or ""))
        if len(bounds) >= 2:
            first, last = parse_api_bound(bounds[0]), parse_api_bound(bounds[-1])
            step = DAY if dtype == DAILY else STEP
            t = first
            while t < last:
                candidates.add(api_format(t, dtype))
                t += step
        elif bounds:
            candidates.add(bounds[0])
    candidates = {c for c in candidates if len(c) == len(due_key) and c <= due_key}
    if not candidates:
        return []
    staying = {
        iv
        for (iv,) in conn.execute(
            """SELECT DISTINCT interval_start FROM records WHERE stream_id=? AND interval_start <= ?
               AND page_id NOT IN (SELECT value FROM json_each(?))""",
            (sid, due_key, json.dumps(sorted(set(gone) | done))),
        )
    }
    return sorted(candidates - staying)


def disposed_intervals(db: Source, dataset: str, dataset_type: str) -> dict[str, int]:
    """interval key → the disposition entry that disposed it (one stream)."""
    if not retention.has_tables(db.conn):
        return {}
    return dict(
        db.conn.execute(
            "SELECT interval_start, entry_id FROM disposed_intervals WHERE dataset=? AND dataset_type=?",
            (dataset, dataset_type),
        ).fetchall()
    )


@dataclass(frozen=True)
class Disposition:
    entry_id: int
    plan_id: str
    certificate_id: str
    as_of: str
    applied_at: str
    applied_by: str
    reason: str
    pages: int
    records: int
    bytes: int
    intervals: int
    schedules: str

    def describe(self) -> str:
        return (
            f"disposed on {self.applied_at[:10]} under schedule {self.schedules} "
            f"(certificate {self.certificate_id})"
        )


def dispositions(db: Source) -> list[Disposition]:
    if not retention.has_tables(db.conn):
        return []
    cols = ", ".join(retention.COLUMNS["dispositions"])
    return [
        Disposition(*row)
        for row in db.conn.execute(f"SELECT {cols} FROM dispositions ORDER BY entry_id")
    ]


def disposition_of_record(db: Source, record_id: int) -> Disposition | None:
    """The disposition that removed a record's values (None: not disposed)."""
    if not retention.has_tables(db.conn):
        return None
    row = db.conn.execute(
        """SELECT d.entry_id FROM records r JOIN disposed_pages d ON d.page_id = r.page_id
           WHERE r.record_id = ?""",
        (record_id,),
    ).fetchone()
    if row is None:
        return None
    return next((d for d in dispositions(db) if d.entry_id == row[0]), None)


def disposed_page_ids(db: Source) -> set[int]:
    if not retention.has_tables(db.conn):
        return set()
    return {r[0] for r in db.conn.execute("SELECT page_id FROM disposed_pages")}


def entry_time(db: Source, entry_id: int) -> tuple[str, str]:
    """(at, os_user) of an audit entry."""
    row = db.conn.execute(
        "SELECT at, os_user FROM audit_log WHERE entry_id=?", (entry_id,)
    ).fetchone()
    return (str(row[0]), str(row[1])) if row else ("", "")
