"""What the report and the app's Interactions tab derive from the rows, and how they show
an interaction, each rule stated once (the report's notes quote them): segment start and
duration, interaction start, end and total duration, the columns of the segments and
workflow-trace tables (names with their ids), and the summary per day, queue, agent and
channel. Qt-free: the report is rendered without a GUI, and the GUI shows the same cells.

The API delivers no segment start: a segment has END_TIME and its WAIT_TIME, HOLD_TIME and
TIME_INTERACTING (seconds). The report shows start = END_TIME − (wait + hold + talk): the
segment's waiting, holding and talking taken as consecutive and ending at END_TIME, wrap-up
following it. The vendor guide does not define a segment start, so the value is labelled as
derived wherever it is shown and the rule is printed in the report's notes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from archiver.export.scope import Interaction, Row
from archiver.plural import plural

Values = Mapping[str, str]

ABANDONED = "abandoned"

NOTES = [
    (
        "Times",
        "All timestamps are UTC exactly as the Historical API delivered them (ISO 8601 with Z), "
        "except the values marked derived. STARTTIME is the tenant's local time; ROW_DATE_UTC "
        "is the row's date in UTC.",
    ),
    (
        "Segment start (derived)",
        "The API delivers no start time for a segment. The report shows END_TIME − (WAIT_TIME "
        "+ HOLD_TIME + TIME_INTERACTING) seconds: the segment's waiting, holding and talking "
        "taken as consecutive and ending at END_TIME; wrap-up (WRAP_UP_TIME) follows END_TIME "
        "and is not part of it. Segment duration = WAIT_TIME + HOLD_TIME + TIME_INTERACTING.",
    ),
    (
        "Interaction start, end, total (derived)",
        "Start: the earliest of its segments' derived starts and its workflow steps' "
        "UPDATEHISTORYITEM_STARTTIME. End: the latest of its segments' END_TIME and its steps' "
        "UPDATEHISTORYITEM_ENDTIME; wrap-up (WRAP_UP_TIME, after END_TIME) is not included. "
        "Total: end − start. Only rows in this bundle are used.",
    ),
    (
        "Names",
        "Agents and queues are shown by name with their id beneath. Agent names are resolved "
        "from archived agent rows (AGENT_ID → AGENT_NAME, the newest archived version in the "
        "scope's days, else anywhere in the archive); where a segment's USER_ID has no "
        "archived agent row only the id is shown. Queue names are the segment's own "
        "QUEUE_NAME, else from archived queue rows (QUEUE_ID → QUEUE_NAME); the summary names "
        "a queue from archived queue rows where they exist, else from the segments.",
    ),
    (
        "Summary",
        "Interactions: counted once in every day, queue, agent and channel they have a segment "
        "in. Segments: latest records of interactionSegments (with versions 'all' too: one per "
        "segment, its newest version). Wait, "
        "talk, hold and wrap: sums of WAIT_TIME, TIME_INTERACTING, HOLD_TIME and WRAP_UP_TIME "
        "(h:mm:ss); averages per segment. Transfers: segments with a TRANSFER_LOCATION or "
        "XFER_LOC_QUEUE_ID. Abandons: segments whose STATUS is 'abandoned'. A segment without "
        "USER_ID counts under '(no agent)'. The day is the UTC day of the segments' own "
        "interval.",
    ),
]


def seconds(value: str | None) -> int:
    """A whole number of seconds from an API number string ('' or junk: 0)."""
    try:
        return round(float(value or 0))
    except ValueError:
        return 0


def parse_utc(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        t = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def handling(values: Values) -> int:
    """A segment's duration: wait + hold + talk, seconds."""
    return (
        seconds(values.get("WAIT_TIME"))
        + seconds(values.get("HOLD_TIME"))
        + seconds(values.get("TIME_INTERACTING"))
    )


def segment_start(values: Values) -> datetime | None:
    """END_TIME − (wait + hold + talk); None without a usable END_TIME."""
    end = parse_utc(values.get("END_TIME"))
    return end - timedelta(seconds=handling(values)) if end else None


def hms(total: int | float) -> str:
    """Seconds as h:mm:ss (hours unbounded)."""
    s = round(total)
    sign = "-" if s < 0 else ""
    s = abs(s)
    return f"{sign}{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def clock(t: datetime | None, ref: date | None = None) -> str:
    """HH:MM:SS, with the date in front when it is not ``ref``."""
    if t is None:
        return ""
    return f"{t:%H:%M:%S}" if ref == t.date() else f"{t:%Y-%m-%d %H:%M:%S}"


def newest(segments: Iterable[Row]) -> list[Row]:
    """One version per segment (its newest), in the given order."""
    best: dict[str, Row] = {}
    for s in segments:
        cur = best.get(s.row_key)
        if cur is None or s.order > cur.order:
            best[s.row_key] = s
    return list(best.values())


@dataclass(frozen=True)
class Span:
    start: datetime | None
    end: datetime | None

    @property
    def seconds(self) -> int | None:
        return round((self.end - self.start).total_seconds()) if self.start and self.end else None


def span(it: Interaction) -> Span:
    """Interaction start (earliest derived segment start or step start) and end (latest
    END_TIME or step end: wrap-up not included)."""
    return span_of([s.values for s in it.segments], [t.values for t in it.steps])


def span_of(segments: Sequence[Values], steps: Sequence[Values]) -> Span:
    """:func:`span` of an interaction's values (segments, workflow steps)."""
    starts = [segment_start(v) for v in segments]
    starts += [parse_utc(v.get("UPDATEHISTORYITEM_STARTTIME")) for v in steps]
    ends = [parse_utc(v.get("END_TIME")) for v in segments]
    ends += [parse_utc(v.get("UPDATEHISTORYITEM_ENDTIME")) for v in steps]
    s = [t for t in starts if t]
    e = [t for t in ends if t]
    return Span(min(s) if s else None, max(e) if e else None)


# -- how an interaction is shown (the report's pages and the Interactions tab) ------------------
@dataclass(frozen=True)
class Named:
    """A name shown with the id it stands for (either may be empty)."""

    name: str
    id: str

    def lines(self) -> list[str]:
        """Name, then id; one line when they are the same or one is missing."""
        return [x for x in dict.fromkeys((self.name, self.id)) if x]

    def __str__(self) -> str:
        return "\n".join(self.lines())


Cell = str | Named


@dataclass
class NameBook:
    """Agent and queue names for ids, resolved from archived rows (export/scope.Names)."""

    agents: dict[str, str] = field(default_factory=dict)
    queues: dict[str, str] = field(default_factory=dict)

    def agent(self, uid: str) -> str:
        return self.agents.get(uid, uid)

    def queue(self, qid: str, own: str = "") -> str:
        return own or self.queues.get(qid, qid)

    def agent_named(self, uid: str) -> Named:
        return Named(self.agents.get(uid, ""), uid)

    def queue_named(self, qid: str, own: str = "") -> Named:
        return Named(own or self.queues.get(qid, ""), qid)


@dataclass(frozen=True)
class Column:
    """A column of an interaction's table: its header (the same in the report and the
    app), the report's width, and where the value comes from (the app's tooltip)."""

    header: str
    width_mm: float
    source: str


END_RULE = "END_TIME as delivered: the end of waiting, holding and talking, before wrap-up"
SEGMENT_COLUMNS = [
    Column("#", 6, "SEGMENT_NUMBER"),
    Column("Queue", 36, "QUEUE_NAME (the segment's own, else from archived queue rows), QUEUE_ID"),
    Column("Agent", 36, "AGENT_NAME from archived agent rows for USER_ID, and USER_ID"),
    Column("Status", 16, "STATUS"),
    Column("Start (derived)", 15, "END_TIME − (WAIT_TIME + HOLD_TIME + TIME_INTERACTING)"),
    Column("End (END_TIME)", 31, END_RULE),
    Column(
        "Duration (derived)", 15, "WAIT_TIME + HOLD_TIME + TIME_INTERACTING (wrap-up not included)"
    ),
    Column("Wait s", 11, "WAIT_TIME, seconds"),
    Column("Hold s", 11, "HOLD_TIME, seconds"),
    Column("Talk s", 10, "TIME_INTERACTING, seconds"),
    Column("Wrap s", 12, "WRAP_UP_TIME, seconds (after END_TIME)"),
    Column("Transfer to", 20, "TRANSFER_LOCATION"),
    Column("Completion", 18, "COMPLETION_DISPLAY_NAME"),
    Column("COMMIT_TS", 36, "COMMIT_TS: when this version of the row was committed"),
]
#: (column, API column) of the workflow-trace table
TRACE_COLUMNS = [
    (Column("Start (UTC)", 38, "UPDATEHISTORYITEM_STARTTIME"), "UPDATEHISTORYITEM_STARTTIME"),
    (Column("Type", 24, "UPDATEHISTORYITEM_TYPE"), "UPDATEHISTORYITEM_TYPE"),
    (Column("Label", 30, "UPDATEHISTORYITEM_LABEL"), "UPDATEHISTORYITEM_LABEL"),
    (Column("Exit port", 16, "UPDATEHISTORYITEM_EXITPORT"), "UPDATEHISTORYITEM_EXITPORT"),
    (Column("Duration", 22, "FORMATTED_HISTORYITEM_DURATION"), "FORMATTED_HISTORYITEM_DURATION"),
    (Column("Prompt", 64, "UPDATEHISTORYITEM_PROMPT"), "UPDATEHISTORYITEM_PROMPT"),
    (Column("Input", 22, "UPDATEHISTORYITEM_INPUT"), "UPDATEHISTORYITEM_INPUT"),
    (Column("End event", 24, "UPDATEHISTORYITEM_ENDEVENT"), "UPDATEHISTORYITEM_ENDEVENT"),
]


def segment_cells(values: Values, commit_ts: str, day: date | None, names: NameBook) -> list[Cell]:
    """One segment's row of :data:`SEGMENT_COLUMNS` (the derived start as a clock time,
    with its date when it is not ``day``)."""
    start = segment_start(values)
    return [
        values.get("SEGMENT_NUMBER", ""),
        names.queue_named(values.get("QUEUE_ID", ""), values.get("QUEUE_NAME", "")),
        names.agent_named(values.get("USER_ID", "")),
        values.get("STATUS", ""),
        clock(start, day),
        values.get("END_TIME", ""),
        hms(handling(values)) if start else "",
        values.get("WAIT_TIME", ""),
        values.get("HOLD_TIME", ""),
        values.get("TIME_INTERACTING", ""),
        values.get("WRAP_UP_TIME", ""),
        values.get("TRANSFER_LOCATION", ""),
        values.get("COMPLETION_DISPLAY_NAME", ""),
        commit_ts,
    ]


def trace_cells(values: Values) -> list[str]:
    """One workflow step's row of :data:`TRACE_COLUMNS`."""
    return [values.get(col, "") for _, col in TRACE_COLUMNS]


def interaction_line(segments: Sequence[Values], steps: Sequence[Values], day: date) -> str:
    """Start, end and total (derived, the end defined once: before wrap-up), channel and
    counts: the line under an interaction's heading in the report and the app."""
    sp = span_of(segments, steps)
    first = segments[0] if segments else {}
    parts = []
    when = []
    if sp.start:
        when.append(f"Started {clock(sp.start, None)} UTC")
    if sp.end:
        when.append(f"ended {clock(sp.end, sp.start.date() if sp.start else day)}")
    if sp.seconds is not None:
        when.append(f"{hms(sp.seconds)} in all")
    if when:
        parts.append(", ".join(when) + " (derived; the end is the last END_TIME, before wrap-up)")
    if first.get("COMM_TYPE"):
        parts.append(first["COMM_TYPE"])
    parts.append(plural(len(segments), "segment"))
    parts.append(plural(len(steps), "workflow step"))
    return " · ".join(parts)


def interaction_people(segments: Sequence[Values]) -> str:
    """Who and what: the customer's name and the interaction's subject, as the first
    segment has them."""
    first = segments[0] if segments else {}
    return " · ".join(
        x for x in (first.get("FIRST_LAST_NAME", ""), first.get("INTERACTION_SUBJECT", "")) if x
    )


# -- the summary --------------------------------------------------------------------------------
@dataclass
class Totals:
    interactions: int = 0
    segments: int = 0
    wait: int = 0
    talk: int = 0
    hold: int = 0
    wrap: int = 0
    transfers: int = 0
    abandons: int = 0

    def add_segment(self, v: dict[str, str]) -> None:
        self.segments += 1
        self.wait += seconds(v.get("WAIT_TIME"))
        self.talk += seconds(v.get("TIME_INTERACTING"))
        self.hold += seconds(v.get("HOLD_TIME"))
        self.wrap += seconds(v.get("WRAP_UP_TIME"))
        if v.get("TRANSFER_LOCATION") or v.get("XFER_LOC_QUEUE_ID"):
            self.transfers += 1
        if (v.get("STATUS") or "").lower() == ABANDONED:
            self.abandons += 1

    def cells(self) -> list[str]:
        """Interactions, segments, then total and average of wait, talk, hold and wrap,
        transfers, abandons (the summary tables' columns)."""
        n = self.segments or 1
        out = [f"{self.interactions:,}", f"{self.segments:,}"]
        for total in (self.wait, self.talk, self.hold, self.wrap):
            out += [hms(total), hms(total / n) if self.segments else ""]
        return [*out, f"{self.transfers:,}", f"{self.abandons:,}"]


NO_AGENT = "(no agent)"


@dataclass
class Summary:
    """Totals per day, queue (QUEUE_ID), agent (USER_ID) and channel (COMM_TYPE), and overall."""

    days: dict[str, Totals] = field(default_factory=dict)
    queues: dict[str, Totals] = field(default_factory=dict)
    agents: dict[str, Totals] = field(default_factory=dict)
    channels: dict[str, Totals] = field(default_factory=dict)
    overall: Totals = field(default_factory=Totals)
    #: a name per QUEUE_ID from the segments themselves (the first seen)
    queue_names: dict[str, str] = field(default_factory=dict)

    def add(self, day: str, it: Interaction) -> None:
        tables = (self.days, self.queues, self.agents, self.channels)
        touched: tuple[set[str], ...] = (set(), set(), set(), set())
        for s in newest(it.segments):
            v = s.values
            qid = v.get("QUEUE_ID", "")
            if qid and v.get("QUEUE_NAME"):
                self.queue_names.setdefault(qid, v["QUEUE_NAME"])
            keys = (day, qid, v.get("USER_ID", "") or NO_AGENT, v.get("COMM_TYPE", ""))
            for table, key, seen in zip(tables, keys, touched, strict=True):
                table.setdefault(key, Totals()).add_segment(v)
                seen.add(key)
            self.overall.add_segment(v)
        for table, seen in zip(tables, touched, strict=True):
            for key in seen:
                table[key].interactions += 1
        self.overall.interactions += 1
