"""What a bundle holds: interactionSegments rows whose own 15-minute interval lies in the
scope's window, the workflowTrace rows of the same interactions, and the coverage of that
window (gaps stated, never hidden).

The selection is read a window at a time (:func:`iter_windows`): whole 15-minute intervals of
one UTC day, at most ``WINDOW_ROWS`` segment rows (a single busier interval is a window of its
own), so an export holds a window's rows, however long its range. The reads themselves are
:mod:`archiver.archive.queries.bundle`'s.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from archiver.archive.queries import bundle as reads
from archiver.archive.queries import coverage
from archiver.archive.queries.bundle import SEGMENTS, TRACE, Row
from archiver.archive.queries.reader import Source
from archiver.timerange import DAY, INTERVAL, STEP, api_format, format_range, parse_api_bound

WINDOW_ROWS = 2000  # segment rows per window read at once
DATASETS = (SEGMENTS, TRACE)
TRANSCRIPT, CDR = "transcript", "mpccdr"
#: what a case production holds of each interaction: every row of these datasets
CASE_DATASETS = (SEGMENTS, TRACE, TRANSCRIPT, CDR)
CASE_WINDOW = 200  # interactions of a case production read at once
AGENTS = "agent"
QUEUES = "queue"


class ScopeError(ValueError):
    """A scope that cannot be exported as given; the message says how to fix it."""


def _aligned(t: datetime) -> bool:
    return t.minute % 15 == 0 and t.second == 0 and t.microsecond == 0


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


@dataclass(frozen=True)
class Scope:
    """``start``/``end``: dates (whole UTC days: from ``start`` 00:00 through ``end``'s last
    interval, 23:45) or UTC datetimes on a 15-minute mark (the first and the last interval
    start, both inclusive: the vocabulary of ``archiver pull``). A segment is in scope when
    its own interval (records.interval_start, from STARTTIME_UTC) lies in that window."""

    start: date
    end: date
    interactions: tuple[str, ...] = ()
    agent: str | None = None  # USER_ID of a segment
    queue: str | None = None  # QUEUE_ID of a segment
    channel: str | None = None  # COMM_TYPE of a segment (voice, chat, email, …)
    versions: str = "latest"  # latest | all
    redact: str = "none"

    # -- the window ---------------------------------------------------------------------
    @property
    def first(self) -> datetime:
        """The first interval start in scope (UTC)."""
        s = self.start
        return _utc(s) if isinstance(s, datetime) else datetime(s.year, s.month, s.day, tzinfo=UTC)

    @property
    def last(self) -> datetime:
        """The last interval start in scope (UTC), inclusive."""
        e = self.end
        if isinstance(e, datetime):
            return _utc(e)
        return datetime(e.year, e.month, e.day, tzinfo=UTC) + DAY - STEP

    @property
    def stop(self) -> datetime:
        """Where the window ends (the end of its last interval)."""
        return self.last + STEP

    def check(self) -> None:
        """Refuse times off the 15-minute marks and an inverted range."""
        for name, value in (("start", self.start), ("end", self.end)):
            if isinstance(value, datetime) and not _aligned(_utc(value)):
                raise ScopeError(
                    f"the {name} {_utc(value):%Y-%m-%d %H:%M:%S} UTC is not on a 15-minute mark: "
                    "the archive holds rows per 15-minute interval, so an export starts and ends "
                    "on one (give :00, :15, :30 or :45)."
                )
        if self.first > self.last:
            raise ScopeError("the start is after the end")

    def days(self) -> list[date]:
        out, d = [], self.first.date()
        while d <= self.last.date():
            out.append(d)
            d += timedelta(days=1)
        return out

    def window(self) -> str:
        """``2025-02-01 00:00 – 23:45 UTC, last interval included``: the first and the last
        interval, as entered (:func:`archiver.timerange.format_range`)."""
        return format_range(self.first, self.last)

    def intervals(self) -> int:
        return int((self.stop - self.first) / STEP)

    def filters(self) -> list[str]:
        parts = []
        if self.interactions:
            parts.append(f"interactions {', '.join(self.interactions)}")
        if self.agent:
            parts.append(f"agent (USER_ID) {self.agent}")
        if self.queue:
            parts.append(f"queue (QUEUE_ID) {self.queue}")
        if self.channel:
            parts.append(f"channel (COMM_TYPE) {self.channel}")
        return parts

    def describe(self) -> str:
        """The exact scope, in words (the report's cover and bag-info.txt)."""
        n = self.intervals()
        parts = [
            f"interactionSegments records whose own 15-minute interval (STARTTIME_UTC) is one "
            f"of the {n:,} interval{'s' if n != 1 else ''} {self.window()}",
            *self.filters(),
            f"versions: {self.versions}",
        ]
        return "; ".join(parts)

    def short(self) -> str:
        """The running header's form."""
        return "; ".join([self.window(), *self.filters()])

    def as_dict(self) -> dict[str, Any]:
        def iso(v: date) -> str:
            return f"{_utc(v):%Y-%m-%dT%H:%MZ}" if isinstance(v, datetime) else v.isoformat()

        return {
            "start": iso(self.start),
            "end": iso(self.end),
            "first_interval": api_format(self.first, "interval"),
            "last_interval": api_format(self.last, "interval"),
            "interactions": list(self.interactions),
            "agent": self.agent,
            "queue": self.queue,
            "channel": self.channel,
            "versions": self.versions,
            "redact": self.redact,
        }


@dataclass(slots=True)
class Interaction:
    """One interaction's rows in scope: segments by number, trace steps by start (and, in a
    case production, its transcript messages in order and its call detail records);
    ``gaps``: what its page says about rows of it that lie in a stated coverage gap;
    ``holds``: the legal holds that cover it (its page shows the badge)."""

    id: str
    segments: list[Row]
    steps: list[Row]
    gaps: list[str] = field(default_factory=list)
    messages: list[Row] = field(default_factory=list)
    cdrs: list[Row] = field(default_factory=list)
    holds: list[str] = field(default_factory=list)


@dataclass
class Window:
    """Consecutive intervals of one UTC day. ``segments`` and ``traces`` are in archive
    order (the CSV and JSONL order); ``interactions`` in report order (first segment's
    STARTTIME_UTC, then id). ``others``: a case production's transcript and mpccdr rows."""

    day: date
    segments: list[Row]
    traces: list[Row]
    interactions: list[Interaction]
    others: dict[str, list[Row]] = field(default_factory=dict)

    def rows(self) -> dict[str, list[Row]]:
        """Every row of the window by dataset, in archive order."""
        return {SEGMENTS: self.segments, TRACE: self.traces, **self.others}


@dataclass
class Extent:
    """What the scope holds, counted before anything is written."""

    interactions: int = 0
    segments: int = 0
    #: segment rows of the scope's days with no own interval (no usable STARTTIME_UTC): they
    #: cannot be placed in a window and are not exported; stated on the cover
    unplaced: int = 0
    gaps: list[str] = field(default_factory=list)
    reading: str = ""
    #: (interval YYYYMMDDHHmm, segment rows) of every interval in scope that has rows
    intervals: list[tuple[str, int]] = field(default_factory=list)
    #: per dataset: the scope's intervals (YYYYMMDDHHmm) that lie in a stated gap, and why
    gap_intervals: dict[str, dict[str, str]] = field(default_factory=dict)
    #: the scope's intervals walked as the previous chunk's `ending` (coverage.AT_ENDING)
    at_ending: list[str] = field(default_factory=list)

    @property
    def segments_in_gaps(self) -> int:
        """Segment records in scope whose own interval lies in a stated gap (they are in the
        bundle, marked on their interactions' pages)."""
        keys = self.gap_intervals.get(SEGMENTS, {})
        return sum(n for k, n in self.intervals if k in keys)

    #: the server's reading in plain words (the report's cover): coverage.Reading.plain
    reading_words: str = ""

    def windows(self, limit: int | None = None) -> list[tuple[str, str]]:
        """(first, last) interval keys: whole intervals of one day, at most ``limit`` rows
        (default WINDOW_ROWS) unless one interval alone has more."""
        limit = limit or WINDOW_ROWS
        out: list[tuple[str, str]] = []
        rows = 0
        for key, n in self.intervals:
            if out and out[-1][0][:8] == key[:8] and rows + n <= limit:
                out[-1] = (out[-1][0], key)
                rows += n
            else:
                out.append((key, key))
                rows = n
        return out


def measure(db: Source, scope: Scope) -> Extent:
    """Interactions and segment rows in scope, unplaceable rows, coverage gaps of the window."""
    states = {ds: coverage.stream_states(db, ds, scope.first, scope.last) for ds in DATASETS}
    missing = {ds: {t: w for t, (st, w) in states[ds].items() if st != "done"} for ds in DATASETS}
    gaps = [g for ds in DATASETS for g in coverage.spans(ds, missing[ds])]
    at_ending = [
        g
        for ds in DATASETS
        for g in coverage.spans(
            ds, {t: "" for t, (_, w) in states[ds].items() if w == coverage.AT_ENDING}
        )
    ]
    in_gaps = {
        ds: {api_format(t, INTERVAL): why for t, why in m.items()} for ds, m in missing.items()
    }
    server = coverage.server_reading(db)
    reading = server.describe()
    found = reads.segment_counts(db, scope)
    return Extent(
        found.interactions,
        sum(n for _, n in found.intervals),
        found.unplaced,
        gaps,
        reading,
        found.intervals,
        in_gaps,
        at_ending,
        server.plain(),
    )


def _number(r: Row) -> int:
    try:
        return int(r.values.get("SEGMENT_NUMBER") or 0)
    except ValueError:
        return 0


def group(
    segments: list[Row], traces: list[Row], gap_intervals: dict[str, dict[str, str]] | None = None
) -> list[Interaction]:
    """Interactions in report order (first segment's STARTTIME_UTC, then id); segments by
    number, steps by start; each marked with the stated gaps its rows lie in."""
    steps: dict[str, list[Row]] = {}
    for t in traces:
        steps.setdefault(t.values.get("WORKFLOWSESSION_INTERACTIONID", ""), []).append(t)
    segs: dict[str, list[Row]] = {}
    for s in segments:
        segs.setdefault(s.values.get("INTERACTION_ID", ""), []).append(s)
    out = []
    for iid, rows in segs.items():
        rows.sort(key=lambda r: (_number(r), r.order))
        st = sorted(
            steps.get(iid, []),
            key=lambda r: (r.values.get("UPDATEHISTORYITEM_STARTTIME", ""), r.order),
        )
        out.append(Interaction(iid, rows, st, gap_notes(rows, st, gap_intervals or {})))
    out.sort(key=lambda x: (x.segments[0].values.get("STARTTIME_UTC", ""), x.id))
    return out


ROW_WORDS = {
    SEGMENTS: "segment",
    TRACE: "workflow step",
    TRANSCRIPT: "transcript message",
    CDR: "call detail record",
}


def gap_notes(
    segments: list[Row],
    steps: list[Row],
    gap_intervals: dict[str, dict[str, str]],
    others: dict[str, list[Row]] | None = None,
) -> list[str]:
    """What an interaction's page says about its rows that lie in a stated coverage gap:
    one line per dataset, interval and why. Such rows are real archived evidence and stay in
    the bundle; the mark says the archive may not hold every row of that interval."""
    found: dict[tuple[str, str, str], int] = {}
    for ds, rows in ((SEGMENTS, segments), (TRACE, steps), *(others or {}).items()):
        keys = gap_intervals.get(ds, {})
        for r in rows:
            if r.interval in keys:
                k = (ds, r.interval, keys[r.interval])
                found[k] = found.get(k, 0) + 1
    out = []
    for (ds, key, why), n in sorted(found.items()):
        what = ROW_WORDS.get(ds, "row")
        when = format_range(parse_api_bound(key), parse_api_bound(key))
        state = why.split(" (", 1)[0]  # the cover lists the whole reason
        out.append(
            f"{n} {what}{'s' if n != 1 else ''} of this interaction lie{'s' if n == 1 else ''} "
            f"in {ds} {when}, a stated gap ({state}; see the cover): the archive may not hold "
            "every row of that interval, so this interaction may be incomplete."
        )
    return out


def iter_windows(db: Source, scope: Scope, extent: Extent) -> Iterator[Window]:
    """The selection, a window at a time (see :meth:`Extent.windows`), in time order."""
    for first, last in extent.windows():
        segments = reads.segments(db, scope, first, last)
        if not segments:
            continue
        ids = sorted({s.values.get("INTERACTION_ID", "") for s in segments})
        traces = reads.traces(db, scope, ids)
        day = date(int(first[:4]), int(first[4:6]), int(first[6:8]))
        yield Window(day, segments, traces, group(segments, traces, extent.gap_intervals))


# -- names ------------------------------------------------------------------------------------
@dataclass
class Names:
    """Agent and queue names from the archive's own ``agent`` (AGENT_ID → AGENT_NAME) and
    ``queue`` (QUEUE_ID → QUEUE_NAME) rows: the newest archived version within the scope's
    days, else anywhere in the archive. An id without such a row stays unresolved."""

    agents: dict[str, str] = field(default_factory=dict)
    queues: dict[str, str] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)  # ids looked up and not found

    @classmethod
    def load(cls, db: Source, scope: Scope) -> Names:
        days = (scope.first.date().isoformat(), scope.last.date().isoformat())
        return cls(
            reads.names(db, AGENTS, "AGENT_ID", "AGENT_NAME", days),
            reads.names(db, QUEUES, "QUEUE_ID", "QUEUE_NAME", days),
        )

    def complete(self, db: Source, agent_ids: set[str], queue_ids: set[str]) -> None:
        """Look up ids not named within the scope's days anywhere in the archive (once)."""
        for table, dataset, id_col, name_col, ids in (
            (self.agents, AGENTS, "AGENT_ID", "AGENT_NAME", agent_ids),
            (self.queues, QUEUES, "QUEUE_ID", "QUEUE_NAME", queue_ids),
        ):
            wanted = sorted(i for i in ids if i and i not in table and i not in self.missing)
            if wanted:
                table.update(reads.names(db, dataset, id_col, name_col, None, wanted))
                self.missing.update(i for i in wanted if i not in table)


__all__ = [
    "SEGMENTS",
    "TRACE",
    "Extent",
    "Interaction",
    "Names",
    "Row",
    "Scope",
    "ScopeError",
    "Window",
    "group",
    "iter_windows",
    "measure",
]
