"""A case production's scope: the interactions of one case, every interactionSegments,
workflowTrace, transcript and mpccdr row of each whatever their dates, and the coverage of
the intervals those interactions span (gaps stated through the coverage module's one
definition of *walked*, never hidden).

The bundle is the same signed bundle as a date-range export (export/bundle.py); what
differs is what is in scope (:class:`CaseScope`), how it is counted (:func:`measure`) and
how it is read, a bounded number of interactions at a time (:func:`iter_windows`), in report
order: by each interaction's first own interval, then id.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from archiver.archive.queries import bundle as reads
from archiver.archive.queries import coverage, interactions
from archiver.archive.queries.bundle import Row
from archiver.archive.queries.reader import Source
from archiver.export.scope import (
    CASE_DATASETS,
    CASE_WINDOW,
    CDR,
    SEGMENTS,
    TRACE,
    TRANSCRIPT,
    Extent,
    Interaction,
    Window,
    _number,
    gap_notes,
)
from archiver.plural import plural
from archiver.timerange import INTERVAL, STEP, api_format, format_range, parse_api_bound


@dataclass(frozen=True)
class CaseSearch:
    """A search that added interactions to the case (the cover and bag-info list them)."""

    query: str
    range: str
    searched_at: str
    searched_by: str
    hits: int
    added: int

    def describe(self) -> str:
        return (
            f"{self.query!r}, {self.range}: {plural(self.hits, 'hit')}, "
            f"{plural(self.added, 'interaction')} added "
            f"({self.searched_at[:16].replace('T', ' ')} UTC by {self.searched_by})"
        )


@dataclass(frozen=True)
class CaseScope:
    """The interactions of a case, whatever their dates. ``first``/``last``: the first and
    the last own interval of their records (what the running header and the coverage state
    speak of); ``hold``: the hold in place in words ("" when none)."""

    case: str
    reason: str
    reference: str
    interactions: tuple[str, ...]
    first: datetime
    last: datetime
    searches: tuple[CaseSearch, ...] = ()
    hold: str = ""
    holds_before: tuple[str, ...] = ()  # released holds, in words
    added_by_hand: int = 0
    state: str = "open"
    versions: str = "latest"
    redact: str = "none"
    agent: str | None = None  # (a case is not filtered: the bundle reads ask)
    queue: str | None = None
    channel: str | None = None

    def check(self) -> None:
        """Nothing to refuse: the case's interactions are what they are."""

    def window(self) -> str:
        return format_range(self.first, self.last)

    def filters(self) -> list[str]:
        return [f"case {self.case!r}"]

    def days(self) -> list[date]:
        return [self.first.date()]

    def describe(self) -> str:
        """The exact scope, in words (the report's cover and bag-info.txt)."""
        n = len(self.interactions)
        return (
            f"the {plural(n, 'interaction')} of case {self.case!r}: every "
            f"{', '.join(CASE_DATASETS[:-1])} and {CASE_DATASETS[-1]} record of each, whatever "
            f"its date (their own intervals span {self.window()}); versions: {self.versions}"
        )

    def short(self) -> str:
        n = len(self.interactions)
        return f"case {self.case} · {plural(n, 'interaction')} · {self.window()}"

    def hold_text(self) -> str:
        return self.hold or "none: no legal hold is in place on this case"

    def as_dict(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "interactions": len(self.interactions),
            "first_interval": api_format(self.first, INTERVAL),
            "last_interval": api_format(self.last, INTERVAL),
            "versions": self.versions,
            "redact": self.redact,
        }


@dataclass
class CaseExtent(Extent):
    """What a case production holds, counted before anything is written: the interactions
    in report order (first own interval, then id) and rows per dataset."""

    order: list[tuple[str, str]] = field(default_factory=list)  # (interaction, first interval)
    rows: dict[str, int] = field(default_factory=dict)

    def windows(self, limit: int | None = None) -> list[tuple[str, str]]:
        raise NotImplementedError("a case production is read by iter_windows")


def _merged(spans: list[tuple[str, str]]) -> list[tuple[datetime, datetime]]:
    """Interval ranges (inclusive) covering every span, touching ones joined."""
    out: list[list[datetime]] = []
    for a, b in sorted(spans):
        first, last = parse_api_bound(a), parse_api_bound(b)
        if out and first <= out[-1][1] + STEP:
            out[-1][1] = max(out[-1][1], last)
        else:
            out.append([first, last])
    return [(a, b) for a, b in out]


def measure(db: Source, scope: CaseScope) -> CaseExtent:
    """The case's interactions with records, their rows per dataset, and the coverage of
    the intervals they span: each interaction from its first to its last own interval (any
    of the four datasets), touching spans joined, every dataset's states read through the
    coverage module (the one definition of *walked*)."""
    found = interactions.interaction_records(
        db, scope.interactions, latest=scope.versions == "latest"
    )
    spans: dict[str, list[str]] = {}
    rows: dict[str, int] = {}
    seg_intervals: dict[str, int] = {}
    for ds in CASE_DATASETS:
        for iid, recs in found.get(ds, {}).items():
            rows[ds] = rows.get(ds, 0) + len(recs)
            spans.setdefault(iid, []).extend(k for _, k in recs if len(k) == 12)
            if ds == SEGMENTS:
                for _, k in recs:
                    seg_intervals[k] = seg_intervals.get(k, 0) + 1
    present = [
        i for i in scope.interactions if any(found.get(ds, {}).get(i) for ds in CASE_DATASETS)
    ]

    def first_key(iid: str) -> str:
        """Where the interaction sits in the report: its first segment's own interval, or
        its first record's of any dataset."""
        keys = [k for _, k in found.get(SEGMENTS, {}).get(iid, []) if k] or spans.get(iid, [])
        return min(keys) if keys else ""

    ranges = _merged([(min(v), max(v)) for v in spans.values() if v])
    states: dict[str, dict[datetime, tuple[str, str]]] = {ds: {} for ds in CASE_DATASETS}
    for first, last in ranges:
        for ds in CASE_DATASETS:
            states[ds].update(coverage.stream_states(db, ds, first, last))
    missing = {
        ds: {t: w for t, (st, w) in states[ds].items() if st != "done"} for ds in CASE_DATASETS
    }
    gaps = [g for ds in CASE_DATASETS for g in coverage.spans(ds, missing[ds])]
    at_ending = [
        g
        for ds in CASE_DATASETS
        for g in coverage.spans(
            ds, {t: "" for t, (_, w) in states[ds].items() if w == coverage.AT_ENDING}
        )
    ]
    return CaseExtent(
        interactions=len(present),
        segments=rows.get(SEGMENTS, 0),
        gaps=gaps,
        reading=coverage.server_reading(db).describe(),
        intervals=sorted(seg_intervals.items()),
        gap_intervals={
            ds: {api_format(t, INTERVAL): why for t, why in m.items()} for ds, m in missing.items()
        },
        at_ending=at_ending,
        order=sorted(((iid, first_key(iid)) for iid in present), key=lambda x: (x[1], x[0])),
        rows=rows,
    )


def span_of(db: Source, ids: tuple[str, ...], versions: str) -> tuple[datetime, datetime] | None:
    """The first and the last own interval of these interactions' records (None: none)."""
    found = interactions.interaction_records(db, ids, latest=versions == "latest")
    keys = [k for per in found.values() for recs in per.values() for _, k in recs if len(k) == 12]
    if not keys:
        return None
    return parse_api_bound(min(keys)), parse_api_bound(max(keys))


def _day(key: str) -> date:
    return date(int(key[:4]), int(key[4:6]), int(key[6:8])) if len(key) >= 8 else date(1970, 1, 1)


def iter_windows(db: Source, scope: CaseScope, extent: CaseExtent) -> Iterator[Window]:
    """The case's interactions, at most CASE_WINDOW at a time, each window of one UTC day
    (the day of its interactions' first own interval), in report order."""
    batch: list[tuple[str, str]] = []
    for item in [*extent.order, None]:
        if batch and (
            item is None or len(batch) >= CASE_WINDOW or _day(item[1]) != _day(batch[0][1])
        ):
            yield _window(db, scope, extent, batch)
            batch = []
        if item is not None:
            batch.append(item)


def _window(
    db: Source, scope: CaseScope, extent: CaseExtent, batch: list[tuple[str, str]]
) -> Window:
    ids = [iid for iid, _ in batch]
    rows = {
        ds: reads.interaction_rows(db, ds, interactions.INTERACTION_COLUMN[ds], ids, scope.versions)
        for ds in CASE_DATASETS
    }
    order = (
        interactions.message_order(db, {r.record_id: r.values for r in rows[TRANSCRIPT]})
        if rows[TRANSCRIPT]
        else []
    )
    position = {rid: n for n, rid in enumerate(order)}
    per: dict[str, dict[str, list[Row]]] = {ds: {} for ds in CASE_DATASETS}
    for ds, found in rows.items():
        column = interactions.INTERACTION_COLUMN[ds]
        for r in found:
            per[ds].setdefault(r.values.get(column, ""), []).append(r)
    out = []
    for iid in ids:
        segs = sorted(per[SEGMENTS].get(iid, []), key=lambda r: (_number(r), r.commit_ts))
        steps = sorted(
            per[TRACE].get(iid, []),
            key=lambda r: (r.values.get("UPDATEHISTORYITEM_STARTTIME", ""), r.commit_ts),
        )
        messages = sorted(per[TRANSCRIPT].get(iid, []), key=lambda r: position.get(r.record_id, 0))
        cdrs = sorted(
            per[CDR].get(iid, []), key=lambda r: (r.values.get("START_TIME", ""), r.commit_ts)
        )
        notes = gap_notes(segs, steps, extent.gap_intervals, {TRANSCRIPT: messages, CDR: cdrs})
        out.append(Interaction(iid, segs, steps, notes, messages, cdrs))
    return Window(
        _day(batch[0][1]),
        rows[SEGMENTS],
        rows[TRACE],
        out,
        {TRANSCRIPT: rows[TRANSCRIPT], CDR: rows[CDR]},
    )
