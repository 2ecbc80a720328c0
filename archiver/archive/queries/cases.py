"""Cases and legal holds, as the screens, the command line and the exports ask for them:
the cases, one case's interactions with how each came in, its searches, holds and history,
and which holds cover an interaction, a record or an interval (naming the case: what the
retention and erasure work asks before it disposes of anything).

The tables are made on demand by the first case change (archive/cases.py); an archive
without them has no case and no hold, and every question here says so."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from archiver.archive import values
from archiver.archive.cases import EVENTS, has_tables, name_key
from archiver.archive.queries import interactions
from archiver.archive.queries.audit import _ENTRY, AuditEntry
from archiver.archive.queries.reader import Source
from archiver.timerange import api_format


@dataclass(frozen=True)
class Hold:
    """A legal hold: the case it is on, why, who placed it and when (its audit entry); and
    its release, when released."""

    case: str
    reason: str
    placed_at: str
    placed_by: str
    entry: int
    released_at: str | None = None
    released_by: str | None = None
    released_reason: str | None = None
    released_entry: int | None = None

    @property
    def in_place(self) -> bool:
        return self.released_entry is None

    def describe(self) -> str:
        """``case 'Smith complaint' (placed 2025-03-01 10:00 UTC by alice)``"""
        return f"case {self.case!r} (placed {_minute(self.placed_at)} by {self.placed_by})"


def _minute(at: str) -> str:
    return at[:16].replace("T", " ") + " UTC" if at else ""


@dataclass(frozen=True)
class CaseSummary:
    name: str
    reason: str
    reference: str
    created_at: str
    created_by: str
    closed_at: str | None
    closed_by: str | None
    closed_reason: str | None
    interactions: int
    searches: int
    hold: Hold | None  # the hold in place

    @property
    def state(self) -> str:
        return "closed" if self.closed_at else "open"


@dataclass(frozen=True)
class Search:
    """A search that added interactions to a case."""

    entry: int
    query: str
    first: str | None
    last: str | None
    range: str
    searched_at: str
    searched_by: str
    hits: int
    found: int
    added: int


@dataclass(frozen=True)
class Member:
    """An interaction of a case: who added it, when, and by hand or by which search."""

    interaction: str
    added_at: str
    added_by: str
    added_entry: int
    search: Search | None  # None: added by hand


@dataclass
class CaseDetail:
    summary: CaseSummary
    members: list[Member] = field(default_factory=list)
    searches: list[Search] = field(default_factory=list)
    holds: list[Hold] = field(default_factory=list)  # every hold, oldest first
    history: list[AuditEntry] = field(default_factory=list)  # entries naming the case

    @property
    def name(self) -> str:
        return self.summary.name

    @property
    def ids(self) -> list[str]:
        return [m.interaction for m in self.members]


_HOLD = """placed_entry, case_name, reason, placed_at, placed_by, released_entry,
           released_at, released_by, released_reason"""


def _hold(row: Sequence[object]) -> Hold:
    entry, case, reason, at, by, rel_entry, rel_at, rel_by, rel_reason = row
    return Hold(
        str(case),
        str(reason),
        str(at),
        str(by),
        int(entry),  # type: ignore[call-overload]
        None if rel_at is None else str(rel_at),
        None if rel_by is None else str(rel_by),
        None if rel_reason is None else str(rel_reason),
        None if rel_entry is None else int(rel_entry),  # type: ignore[call-overload]
    )


def _summaries(db: Source, where: str = "", params: Sequence[object] = ()) -> list[CaseSummary]:
    if not has_tables(db.conn):
        return []
    held = {h.case: h for h in holds(db, in_place=True)}
    out = []
    for row in db.conn.execute(
        f"""SELECT c.name, c.reason, c.reference, c.created_at, c.created_by, c.closed_at,
                   c.closed_by, c.closed_reason,
                   (SELECT count(*) FROM case_interactions i WHERE i.case_name = c.name),
                   (SELECT count(*) FROM case_searches s WHERE s.case_name = c.name)
            FROM cases c {where} ORDER BY c.created_entry""",
        list(params),
    ):
        name, reason, ref, at, by, closed_at, closed_by, closed_reason, n, searches = row
        out.append(
            CaseSummary(
                name,
                reason,
                ref,
                at,
                by,
                closed_at,
                closed_by,
                closed_reason,
                n,
                searches,
                held.get(name),
            )
        )
    return out


def case_list(db: Source) -> list[CaseSummary]:
    """Every case, oldest first."""
    return _summaries(db)


def find_case(db: Source, name: str) -> CaseSummary | None:
    """The case of that name (any case of its letters), or None."""
    found = _summaries(db, "WHERE c.key = ?", (name_key(name),))
    return found[0] if found else None


def _searches(db: Source, name: str) -> list[Search]:
    return [
        Search(*row)
        for row in db.conn.execute(
            """SELECT entry, query, first, last, range, searched_at, searched_by, hits, found,
                      added FROM case_searches WHERE case_name = ? ORDER BY entry""",
            (name,),
        )
    ]


def case_detail(db: Source, name: str) -> CaseDetail | None:
    """One case whole: its interactions (in the order added), searches, holds and the audit
    entries that name it (oldest first); None when there is no such case."""
    summary = find_case(db, name)
    if summary is None:
        return None
    searches = _searches(db, summary.name)
    by_entry = {s.entry: s for s in searches}
    members = [
        Member(iid, at, by, entry, by_entry.get(search) if search is not None else None)
        for iid, at, by, entry, search in db.conn.execute(
            """SELECT interaction_id, added_at, added_by, added_entry, search_entry
               FROM case_interactions WHERE case_name = ? ORDER BY added_entry, interaction_id""",
            (summary.name,),
        )
    ]
    return CaseDetail(
        summary,
        members,
        searches,
        [h for h in holds(db) if h.case == summary.name],
        case_history(db, summary.name),
    )


def case_history(db: Source, name: str) -> list[AuditEntry]:
    """Every audit entry that names the case (its changes, holds, productions, views),
    oldest first."""
    return [
        AuditEntry(*row)
        for row in db.conn.execute(
            f"""SELECT {_ENTRY} FROM audit_log
                WHERE json_valid(details) AND json_extract(details, '$.case') = ?
                ORDER BY entry_id""",
            (name,),
        )
    ]


# -- holds ---------------------------------------------------------------------------------
def holds(db: Source, *, in_place: bool = False) -> list[Hold]:
    """Every hold, oldest first (only those in place when ``in_place``)."""
    if not has_tables(db.conn):
        return []
    where = " WHERE released_entry IS NULL" if in_place else ""
    return [
        _hold(r)
        for r in db.conn.execute(f"SELECT {_HOLD} FROM case_holds{where} ORDER BY placed_entry")
    ]


def held_interactions(db: Source) -> dict[str, list[Hold]]:
    """Every interaction under a legal hold now → the holds (one per case) that cover it:
    what a screen marks with a hold badge (a small set, loaded once)."""
    if not has_tables(db.conn):
        return {}
    out: dict[str, list[Hold]] = {}
    for row in db.conn.execute(
        f"""SELECT i.interaction_id, {", ".join("h." + c.strip() for c in _HOLD.split(","))}
            FROM case_interactions i JOIN case_holds h ON h.case_name = i.case_name
            WHERE h.released_entry IS NULL ORDER BY h.placed_entry"""
    ):
        out.setdefault(str(row[0]), []).append(_hold(row[1:]))
    return out


def holds_on_interactions(db: Source, ids: Sequence[str]) -> dict[str, list[Hold]]:
    """Of ``ids``, those under a legal hold → the holds that cover each (naming the case)."""
    held = held_interactions(db)
    return {i: held[i] for i in dict.fromkeys(ids) if i in held}


def holds_on_records(db: Source, record_ids: Sequence[int]) -> dict[int, list[Hold]]:
    """Of these records (any dataset, any version), those of a held interaction → the holds
    that cover them. A record of a dataset without interactions is never held."""
    held = held_interactions(db)
    if not held:
        return {}
    owners = interactions.record_interactions(db, record_ids)
    return {rid: held[iid] for rid, iid in owners.items() if iid in held}


@dataclass(frozen=True)
class HoldCover:
    """A hold covering records of an interval: the hold (its case), the interaction, and
    how many of its records of each dataset lie in the interval."""

    hold: Hold
    interaction: str
    records: dict[str, int]


def holds_in_interval(
    db: Source, first: datetime, last: datetime, datasets: Sequence[str] | None = None
) -> list[HoldCover]:
    """The holds covering records whose own interval lies in [first, last] (interval
    starts, inclusive; a daily record counts for its day): one :class:`HoldCover` per hold
    and held interaction with such records, oldest hold first."""
    held = held_interactions(db)
    if not held:
        return []
    lo, hi = api_format(first, "daily"), api_format(last, "interval")
    lo_interval = api_format(first, "interval")
    counts: dict[str, dict[str, int]] = {}
    for dataset in interactions.INTERACTION_COLUMN:
        if datasets is not None and dataset not in datasets:
            continue
        stored = interactions.id_column(db, dataset)
        if stored is None:
            continue
        for iid, interval, n in db.conn.execute(
            f"""SELECT v.{values.quote(stored)}, r.interval_start, count(*)
                FROM {values.table(dataset)} v CROSS JOIN records r ON r.record_id = v.record_id
                WHERE v.{values.quote(stored)} IN (SELECT value FROM json_each(?))
                  AND r.interval_start >= ? AND r.interval_start <= ?
                GROUP BY 1, 2""",
            (json.dumps(sorted(held)), lo, hi),
        ):
            if len(interval) > 8 and interval < lo_interval:
                continue  # an interval of the first day before ``first``
            per = counts.setdefault(iid, {})
            per[dataset] = per.get(dataset, 0) + n
    out = [HoldCover(h, iid, per) for iid, per in counts.items() for h in held[iid]]
    out.sort(key=lambda c: (c.hold.entry, c.interaction))
    return out


# -- the access log ------------------------------------------------------------------------
def entries_about(db: Source, text: str, kinds: Sequence[str] | None = None) -> list[int]:
    """Ids of the audit entries (newest first) about ``text``: those that mention it in their
    details — an interaction id, a phone number a search asked for, a case's name —; when it
    is an interaction id, the case and hold entries of every case that has held it and the
    date-range exports whose window held one of its segments; only of the events ``kinds``
    when given. "Who looked at this customer's interactions, and when"."""
    like = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    cases: list[str] = []
    if has_tables(db.conn):
        cases = [
            r[0]
            for r in db.conn.execute(
                """SELECT DISTINCT json_extract(details, '$.case') FROM audit_log
                   WHERE event = 'case changed' AND details LIKE ? ESCAPE '\\'""",
                (like,),
            )
            if r[0]
        ]
    own = interactions.interaction_records(db, [text]).get("interactionSegments", {})
    intervals = sorted({k for _, k in own.get(text, []) if k})
    marks = ",".join("?" * len(EVENTS))
    sql = f"""SELECT entry_id FROM audit_log
              WHERE (details LIKE ? ESCAPE '\\'
                     OR (event IN ({marks}) AND json_extract(details, '$.case')
                         IN (SELECT value FROM json_each(?)))
                     OR (event = 'export' AND json_valid(details)
                         AND json_extract(details, '$.case') IS NULL
                         AND coalesce(json_array_length(details, '$.scope.interactions'), 0) = 0
                         AND EXISTS (SELECT 1 FROM json_each(?) i WHERE i.value BETWEEN
                             json_extract(details, '$.scope.first_interval') AND
                             json_extract(details, '$.scope.last_interval'))))"""
    params: list[object] = [like, *EVENTS, json.dumps(cases), json.dumps(intervals)]
    if kinds is not None:
        sql += " AND event IN (SELECT value FROM json_each(?))"
        params.append(json.dumps(list(kinds)))
    return [r[0] for r in db.conn.execute(sql + " ORDER BY entry_id DESC", params)]


def entry_ids(db: Source, kinds: Sequence[str]) -> list[int]:
    """Ids of the audit entries of these events, newest first."""
    return [
        r[0]
        for r in db.conn.execute(
            """SELECT entry_id FROM audit_log WHERE event IN (SELECT value FROM json_each(?))
               ORDER BY entry_id DESC""",
            (json.dumps(list(kinds)),),
        )
    ]


def events(db: Source) -> list[str]:
    """The events the audit log holds, in the order each first appears."""
    return [
        r[0]
        for r in db.conn.execute(
            "SELECT event FROM audit_log GROUP BY event ORDER BY min(entry_id)"
        )
    ]
