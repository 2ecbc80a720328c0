"""Cases and legal holds: the use cases behind ``archiver case …``, ``archiver hold …`` and
the Cases tab; and the question the retention and erasure work asks before it disposes of
anything: which holds cover this interaction, these records, this interval.

A case holds interaction ids, each with how it came in (by hand, or the search that found
it: query, time, hit count), who added it and when. Every change is a custody entry of the
audit log (archive/cases.py: the case tables are made from those entries, and
verify-archive makes them again); who and when are the entry's own. A change that makes no
sense is refused with the reason and what to do, and nothing is written: an unknown
interaction id (named), a closed case changed, a name used twice, an interaction removed
from a held case, a hold placed twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from archiver.archive import cases as store
from archiver.archive.cases import ADDED, BY_HAND, BY_SEARCH, NAME_MAX, REMOVED, CaseRefused
from archiver.archive.errors import StorageError, UnreadableArchive
from archiver.archive.queries import cases as q
from archiver.archive.queries import interactions as iq
from archiver.archive.queries.cases import CaseDetail, CaseSummary, Hold, HoldCover, Member, Search
from archiver.archive.queries.interactions import Summary
from archiver.archive.queries.reader import Reader
from archiver.archive.store import Archive
from archiver.plural import plural
from archiver.services import search as searching
from archiver.timerange import utc_now

__all__ = [
    "CaseDetail",
    "CaseInputError",
    "CaseRefused",
    "CaseSummary",
    "CaseView",
    "Change",
    "Held",
    "Hold",
    "HoldCover",
    "Member",
    "NoSuchCase",
    "NothingAdded",
    "Search",
    "StorageError",
    "Summary",
    "UnknownInteractions",
    "UnreadableArchive",
    "add_by_search",
    "add_interactions",
    "close",
    "create",
    "detail",
    "held_interactions",
    "holds_in_interval",
    "holds_on_interactions",
    "holds_on_records",
    "list_cases",
    "place_hold",
    "refuse_if_held",
    "release_hold",
    "remove",
    "show",
]

#: the access log's event for an interaction's rows shown (WAVE2 decision 5)
OPENED = "interaction opened"


class CaseInputError(ValueError):
    """A name, reason or id that cannot be used as given (a usage error)."""


class NoSuchCase(CaseRefused):
    """No case has that name."""


class UnknownInteractions(CaseRefused):
    """Interaction ids no archived record names: nothing was added."""

    def __init__(self, ids: list[str], path: Path) -> None:
        self.ids = ids
        shown = ", ".join(ids[:20]) + (f" and {len(ids) - 20} more" if len(ids) > 20 else "")
        super().__init__(
            f"no record of {path} names {'this interaction' if len(ids) == 1 else 'these interactions'}: "
            f"{shown}. Nothing was added: check the ids (`archiver search interaction:ID` "
            "finds one), or pull the interval they lie in first."
        )


class NothingAdded(Exception):
    """Every interaction found is in the case already, or the search found none: the case
    is unchanged (the search itself is in the access log)."""


class Held(Exception):
    """Refused because a legal hold covers what was to be disposed of or erased (the
    message names the case and the hold)."""

    def __init__(self, message: str, holds: list[Hold]) -> None:
        self.holds = holds
        super().__init__(message)


# -- checking what is given ----------------------------------------------------------------
def _name(name: str) -> str:
    text = name.strip()
    if not text:
        raise CaseInputError("a case needs a name")
    if len(text) > NAME_MAX:
        raise CaseInputError(f"a case name has at most {NAME_MAX} characters")
    if not text.isprintable():
        raise CaseInputError("a case name cannot hold control characters or line breaks")
    return text


def _named(name: str) -> None:
    """An empty name is a usage error (exit 2), not a case that is not found."""
    if not name.strip():
        raise CaseInputError("a case needs a name")


def _text(value: str | None, what: str, required: bool = True) -> str:
    text = (value or "").strip()
    if required and not text:
        raise CaseInputError(f"give {what} (it is recorded in the audit log with the change)")
    if len(text) > 2000:
        raise CaseInputError(f"{what} has at most 2000 characters")
    return text


def _exists(path: Path) -> None:
    if not path.exists():
        raise FileNotFoundError(f"No archive at {path}.")


def _case(path: Path, name: str) -> CaseSummary:
    _named(name)
    _exists(path)
    with Reader(path) as r:
        found = q.find_case(r, name)
    if found is None:
        raise NoSuchCase(
            f"there is no case named {name!r} in {path} (`archiver case list` lists them)"
        )
    return found


def _record(path: Path, event: str, details: dict[str, Any]) -> None:
    with Archive(path, create=False) as a:
        a.case_event(event, details)


# -- cases ---------------------------------------------------------------------------------
def create(
    path: Path, name: str, reason: str, reference: str | None = None, *, via: str = "cli"
) -> CaseSummary:
    """A new open case (custody entry ``case created``)."""
    _exists(path)
    name = _name(name)
    details = {
        "case": name,
        "reason": _text(reason, "a reason"),
        "reference": _text(reference, "the reference", required=False),
        "via": via,
    }
    _record(path, store.CREATED, details)
    return _case(path, name)


@dataclass(frozen=True)
class Change:
    """What an add or remove did: the case, the interactions it changed, those that were
    in the case already (an add), and the search that found them (an add by search)."""

    case: str
    change: str  # added | removed
    interactions: list[str]
    already: list[str] = field(default_factory=list)
    query: str | None = None
    hits: int = 0
    found: int = 0


def add_interactions(path: Path, name: str, ids: Sequence[str], *, via: str = "cli") -> Change:
    """Add interactions by hand. UnknownInteractions (naming them) when an id is not in the
    archive; NothingAdded when all are in the case already."""
    case = _case(path, name)
    wanted = list(dict.fromkeys(i.strip() for i in ids if i.strip()))
    if not wanted:
        raise CaseInputError("name at least one interaction (--interaction ID)")
    _refuse_closed(case)
    with Reader(path) as r:
        known = iq.known_interactions(r, wanted)
        detail = q.case_detail(r, case.name)
    unknown = [i for i in wanted if i not in known]
    if unknown:
        raise UnknownInteractions(unknown, path)
    there = set(detail.ids if detail else [])
    new = [i for i in wanted if i not in there]
    already = [i for i in wanted if i in there]
    if not new:
        raise NothingAdded(
            f"case {case.name!r} holds {'it' if len(already) == 1 else 'them'} already: "
            f"{', '.join(already)}; nothing was changed"
        )
    _record(
        path,
        store.CHANGED,
        {"case": case.name, "change": ADDED, "interactions": new, "via": BY_HAND, "by": via},
    )
    return Change(case.name, ADDED, new, already)


def add_by_search(
    path: Path,
    name: str,
    query: str,
    *,
    first: datetime | None = None,
    last: datetime | None = None,
    via: str = "cli",
) -> Change:
    """Add the interactions a search finds (the search use case: their ids and its hit
    count; the search is in the access log like any other). The case records the search
    (query, range, time, hits) with each interaction it added. NothingAdded when it found
    no interaction, or only ones the case holds already."""
    case = _case(path, name)
    _refuse_closed(case)
    searched_at = utc_now()
    ids, hits = searching.interaction_ids(path, query, first=first, last=last, via=f"case:{via}")
    if not ids:
        raise NothingAdded(
            f"the search {query!r} found no interaction ({plural(hits, 'hit')} of records "
            f"without one); case {case.name!r} is unchanged"
        )
    with Reader(path) as r:
        detail = q.case_detail(r, case.name)
    there = set(detail.ids if detail else [])
    new = [i for i in ids if i not in there]
    already = [i for i in ids if i in there]
    if not new:
        raise NothingAdded(
            f"the search {query!r} found {plural(len(ids), 'interaction')}, all in case "
            f"{case.name!r} already; nothing was changed"
        )
    _record(
        path,
        store.CHANGED,
        {
            "case": case.name,
            "change": ADDED,
            "interactions": new,
            "via": BY_SEARCH,
            "by": via,
            "search": {
                "query": query,
                "from": first.isoformat() if first else None,
                "to": last.isoformat() if last else None,
                "range": searching.describe_range(first, last),
                "searched_at": searched_at,
                "hits": hits,
                "found": len(ids),
            },
        },
    )
    return Change(case.name, ADDED, new, already, query, hits, len(ids))


def remove(
    path: Path, name: str, interaction: str, reason: str | None = None, *, via: str = "cli"
) -> Change:
    """Take an interaction out of a case (refused while the case is under hold)."""
    case = _case(path, name)
    iid = interaction.strip()
    if not iid:
        raise CaseInputError("name the interaction to remove (--interaction ID)")
    details: dict[str, Any] = {
        "case": case.name,
        "change": REMOVED,
        "interactions": [iid],
        "by": via,
    }
    if reason:
        details["reason"] = _text(reason, "the reason")
    _record(path, store.CHANGED, details)
    return Change(case.name, REMOVED, [iid])


def close(path: Path, name: str, reason: str | None = None, *, via: str = "cli") -> CaseSummary:
    """Close a case: it can no longer change (refused while under hold)."""
    case = _case(path, name)
    details: dict[str, Any] = {"case": case.name, "by": via}
    if reason:
        details["reason"] = _text(reason, "the reason")
    _record(path, store.CLOSED, details)
    return _case(path, case.name)


def _refuse_closed(case: CaseSummary) -> None:
    """Said before a search is run for a closed case (the writer checks it again)."""
    if case.closed_at:
        raise CaseRefused(
            f"case {case.name!r} was closed {case.closed_at[:19]} by {case.closed_by}: a "
            "closed case cannot be changed"
        )


def list_cases(path: Path) -> list[CaseSummary]:
    _exists(path)
    with Reader(path) as r:
        return q.case_list(r)


def detail(path: Path, name: str) -> CaseDetail:
    """The case whole (NoSuchCase): what the Cases tab shows of it. A read: no interaction's
    rows are shown, so nothing is logged."""
    _named(name)
    _exists(path)
    with Reader(path) as r:
        found = q.case_detail(r, name)
    if found is None:
        raise NoSuchCase(
            f"there is no case named {name!r} in {path} (`archiver case list` lists them)"
        )
    return found


@dataclass(frozen=True)
class CaseView:
    """A case with what each of its interactions is (from their records)."""

    detail: CaseDetail
    interactions: dict[str, Summary]
    #: the holds covering each of its interactions now (this case's, and any other case's)
    holds: dict[str, list[Hold]] = field(default_factory=dict)


def show(path: Path, name: str, *, via: str = "cli") -> CaseView:
    """The case whole, with each interaction's summary from its records: their rows are
    shown, so the access log records it (``interaction opened``, naming the case and every
    interaction shown)."""
    found = detail(path, name)
    with Reader(path) as r:
        summaries = iq.summaries(r, found.ids)
        held = q.holds_on_interactions(r, found.ids)
    if found.ids:
        with Archive(path, create=False) as a:
            a.audit(
                OPENED,
                {"case": found.name, "interactions": found.ids, "via": via, "by": "case show"},
            )
    return CaseView(found, summaries, held)


# -- holds ---------------------------------------------------------------------------------
def place_hold(path: Path, name: str, reason: str, *, via: str = "cli") -> CaseSummary:
    """Place a legal hold on a case: while it is in place nothing of the case's interactions
    may be disposed of or erased (:func:`refuse_if_held`), and none may leave the case."""
    case = _case(path, name)
    with Reader(path) as r:
        found = q.case_detail(r, case.name)
    _record(
        path,
        store.HOLD_PLACED,
        {
            "case": case.name,
            "reason": _text(reason, "a reason"),
            "interactions": found.ids if found else [],
            "by": via,
        },
    )
    return _case(path, case.name)


def release_hold(path: Path, name: str, reason: str, *, via: str = "cli") -> CaseSummary:
    case = _case(path, name)
    _record(
        path,
        store.HOLD_RELEASED,
        {"case": case.name, "reason": _text(reason, "a reason"), "by": via},
    )
    return _case(path, case.name)


def held_interactions(path: Path) -> dict[str, list[Hold]]:
    """Every interaction under a legal hold → its holds (the screens' hold badges)."""
    if not path.exists():
        return {}
    with Reader(path) as r:
        return q.held_interactions(r)


def holds_on_interactions(path: Path, ids: Sequence[str]) -> dict[str, list[Hold]]:
    """Which holds cover these interactions, naming the case (held ones only)."""
    _exists(path)
    with Reader(path) as r:
        return q.holds_on_interactions(r, ids)


def holds_on_records(path: Path, record_ids: Sequence[int]) -> dict[int, list[Hold]]:
    """Which holds cover these records (of any dataset, any version), naming the case."""
    _exists(path)
    with Reader(path) as r:
        return q.holds_on_records(r, record_ids)


def holds_in_interval(
    path: Path, first: datetime, last: datetime, datasets: Sequence[str] | None = None
) -> list[HoldCover]:
    """Which holds cover records whose own interval lies in [first, last], naming the case
    and the held interaction."""
    _exists(path)
    with Reader(path) as r:
        return q.holds_in_interval(r, first, last, datasets)


def refuse_if_held(
    path: Path,
    *,
    interactions: Sequence[str] = (),
    records: Sequence[int] = (),
    interval: tuple[datetime, datetime] | None = None,
    what: str = "disposed of or erased",
) -> None:
    """Raise :class:`Held` (naming each case and hold) when a legal hold covers any of these
    interactions, records or the interval: what a disposition or an erasure asks first."""
    found: list[Hold] = []
    lines: list[str] = []
    if interactions:
        for iid, hs in holds_on_interactions(path, interactions).items():
            found += hs
            lines += [f"interaction {iid}: {h.describe()}" for h in hs]
    if records:
        for rid, hs in holds_on_records(path, records).items():
            found += hs
            lines += [f"record {rid}: {h.describe()}" for h in hs]
    if interval is not None:
        for c in holds_in_interval(path, *interval):
            found.append(c.hold)
            lines.append(f"interaction {c.interaction}: {c.hold.describe()}")
    if lines:
        shown = "; ".join(lines[:10]) + (f"; and {len(lines) - 10} more" if len(lines) > 10 else "")
        raise Held(
            f"under legal hold, so nothing may be {what}: {shown}. Release the hold first "
            "(archiver hold release CASE --reason …) if the case allows it.",
            found,
        )
