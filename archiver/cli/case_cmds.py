"""``archiver case …`` and ``archiver hold …``: parse, call services.cases, print."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from archiver.archive import UnreadableArchive
from archiver.cli import common, monitor
from archiver.counts import HITS, INTERACTIONS
from archiver.exitcodes import FAILED, NOTHING_ADDED, OK, USAGE
from archiver.plural import plural
from archiver.services import cases
from archiver.services import search as searching
from archiver.timerange import RangeError, floor_interval, parse_bound


def _fail(command: str, code: int, message: str, args: argparse.Namespace | None = None) -> int:
    """The message on stderr; with --json, also the one JSON document stdout promises."""
    print(f"archiver {command}: {message}", file=sys.stderr)
    if args is not None and getattr(args, "json", False):
        doc = monitor.Clock().doc(
            command, "error", code, archive=common.archive_path(args), error=message
        )
        monitor.emit(doc)
    return code


def _guarded(command: str, run: Callable[[], int], args: argparse.Namespace | None = None) -> int:
    """The failures every case and hold command shares, each with its exit code."""
    try:
        return run()
    except cases.CaseInputError as exc:
        return _fail(command, USAGE, str(exc), args)
    except (FileNotFoundError, UnreadableArchive) as exc:
        return _fail(command, USAGE, str(exc), args)
    except cases.CaseRefused as exc:
        return _fail(command, FAILED, f"refused: {exc}", args)
    except cases.StorageError as exc:
        message = f"the archive could not be written ({exc}); nothing changed"
        return _fail(command, FAILED, message, args)


def _when(at: str | None) -> str:
    return (at or "")[:19].replace("T", " ") + (" UTC" if at else "")


def run_create(args: argparse.Namespace) -> int:
    def run() -> int:
        c = cases.create(
            common.archive_path(args), args.name, args.reason, args.reference, via="cli"
        )
        ref = f", reference {c.reference}" if c.reference else ""
        print(f"Case {c.name!r} created {_when(c.created_at)} by {c.created_by}{ref}.")
        print(f"Reason: {c.reason}")
        print(
            f"Add interactions with `archiver case add {_quoted(c.name)} --interaction ID` or --search QUERY."
        )
        return OK

    return _guarded("case create", run)


def _quoted(name: str) -> str:
    return name if name.replace("-", "").replace("_", "").isalnum() else json.dumps(name)


def _bounds(args: argparse.Namespace) -> tuple[Any, Any]:
    first = (
        floor_interval(parse_bound(args.start, is_end=False, daily=False)) if args.start else None
    )
    last = floor_interval(parse_bound(args.end, is_end=True, daily=False)) if args.end else None
    if first and last and first > last:
        raise RangeError("The start of the range (--from) is after its end (--to).")
    return first, last


def run_add(args: argparse.Namespace) -> int:
    path = common.archive_path(args)

    def run() -> int:
        if args.search is None and (args.start or args.end):
            return _fail("case add", USAGE, "--from and --to go with --search")
        try:
            if args.search is not None:
                first, last = _bounds(args)
                change = cases.add_by_search(
                    path, args.name, args.search, first=first, last=last, via="cli"
                )
            else:
                change = cases.add_interactions(path, args.name, args.interaction, via="cli")
        except RangeError as exc:
            return _fail("case add", USAGE, str(exc))
        except searching.QueryError as exc:
            return _fail(
                "case add",
                USAGE,
                f"{exc.message} (at position {exc.position + 1}):\n{exc.pointer()}",
            )
        except (searching.IndexNotReady, searching.NotRecorded) as exc:
            return _fail("case add", FAILED, str(exc))
        except cases.NothingAdded as exc:
            print(f"Nothing added: {exc}.")
            return NOTHING_ADDED
        how = (
            f"found by the search {change.query!r} ({HITS.of(change.hits)}, "
            f"{INTERACTIONS.of(change.found)})"
            if change.query is not None
            else "by hand"
        )
        print(f"Added {INTERACTIONS.of(len(change.interactions))} to case {change.case!r}, {how}:")
        for iid in change.interactions:
            print(f"  {iid}")
        if change.already:
            print(f"{INTERACTIONS.of(len(change.already))} in the case already, left as they are.")
        return OK

    return _guarded("case add", run)


def run_remove(args: argparse.Namespace) -> int:
    def run() -> int:
        change = cases.remove(
            common.archive_path(args), args.name, args.interaction, args.reason, via="cli"
        )
        print(f"Removed interaction {change.interactions[0]} from case {change.case!r}.")
        return OK

    return _guarded("case remove", run)


def run_close(args: argparse.Namespace) -> int:
    def run() -> int:
        c = cases.close(common.archive_path(args), args.name, args.reason, via="cli")
        print(
            f"Case {c.name!r} closed {_when(c.closed_at)} by {c.closed_by} "
            f"({INTERACTIONS.of(c.interactions)}); it can no longer change."
        )
        return OK

    return _guarded("case close", run)


def _hold_text(h: cases.Hold | None) -> str:
    if h is None:
        return "no legal hold"
    return f"UNDER LEGAL HOLD since {_when(h.placed_at)} (by {h.placed_by}: {h.reason})"


def _summary_doc(c: cases.CaseSummary) -> dict[str, Any]:
    return {
        "name": c.name,
        "state": c.state,
        "reason": c.reason,
        "reference": c.reference or None,
        "created_at": c.created_at,
        "created_by": c.created_by,
        "closed_at": c.closed_at,
        "closed_by": c.closed_by,
        "closed_reason": c.closed_reason,
        "interactions": c.interactions,
        "searches": c.searches,
        "hold": _hold_doc(c.hold),
    }


def _hold_doc(h: cases.Hold | None) -> dict[str, Any] | None:
    if h is None:
        return None
    return {
        "reason": h.reason,
        "placed_at": h.placed_at,
        "placed_by": h.placed_by,
        "released_at": h.released_at,
        "released_by": h.released_by,
        "released_reason": h.released_reason,
    }


def run_list(args: argparse.Namespace) -> int:
    path = common.archive_path(args)

    def run() -> int:
        found = cases.list_cases(path)
        if args.json:
            clock = monitor.Clock()
            monitor.emit(
                clock.doc(
                    "case list", "listed", OK, archive=path, cases=[_summary_doc(c) for c in found]
                )
            )
            return OK
        if not found:
            print(f"No case in {path} yet: `archiver case create NAME --reason TEXT` opens one.")
            return OK
        print(f"{plural(len(found), 'case')} in {path}:")
        for c in found:
            hold = "  HELD" if c.hold else ""
            ref = f" [{c.reference}]" if c.reference else ""
            print(
                f"\n{c.name}{ref} — {c.state}{hold}; {INTERACTIONS.of(c.interactions)}, "
                f"{plural(c.searches, 'search', 'searches')}"
            )
            print(f"  opened {_when(c.created_at)} by {c.created_by}: {c.reason}")
            if c.closed_at:
                print(f"  closed {_when(c.closed_at)} by {c.closed_by}")
            if c.hold:
                print(f"  {_hold_text(c.hold)}")
        return OK

    return _guarded("case list", run, args)


def _member_line(m: cases.Member) -> str:
    how = (
        f"found by the search {m.search.query!r} ({_when(m.search.searched_at)})"
        if m.search
        else "by hand"
    )
    return f"added {_when(m.added_at)} by {m.added_by}, {how}"


def _interaction_line(s: cases.Summary | None) -> str:
    if s is None:
        return "(no archived record names it now)"
    parts = [
        _when(s.started) if s.started else "",
        s.channel,
        s.customer,
        s.contact,
        f"queue {s.queue}" if s.queue else "",
        f"agent {', '.join(s.agents)}" if s.agents else "",
    ]
    text = " · ".join(p for p in parts if p)
    if s.subject:
        text += f"\n      subject: {s.subject}"
    return text


def _show_doc(view: cases.CaseView) -> dict[str, Any]:
    d = view.detail
    return {
        **_summary_doc(d.summary),
        "holds": [{"case": h.case, **(_hold_doc(h) or {})} for h in d.holds],
        "searches": [
            {
                "query": s.query,
                "from": s.first,
                "to": s.last,
                "range": s.range,
                "searched_at": s.searched_at,
                "searched_by": s.searched_by,
                "hits": s.hits,
                "interactions_found": s.found,
                "interactions_added": s.added,
            }
            for s in d.searches
        ],
        "interactions": [
            {
                "interaction": m.interaction,
                "added_at": m.added_at,
                "added_by": m.added_by,
                "added": "by search" if m.search else "by hand",
                "search": m.search.query if m.search else None,
                "held_by": [h.case for h in view.holds.get(m.interaction, [])],
                **_facts(view.interactions.get(m.interaction)),
            }
            for m in d.members
        ],
        "history": [
            {"entry": e.entry_id, "at": e.at, "event": e.event, "os_user": e.os_user}
            for e in d.history
        ],
    }


def _facts(s: cases.Summary | None) -> dict[str, Any]:
    if s is None:
        return {}
    return {
        "started": s.started or None,
        "channel": s.channel or None,
        "customer": s.customer or None,
        "contact": s.contact or None,
        "queue": s.queue or None,
        "agents": list(s.agents),
        "subject": s.subject or None,
        "records": s.records,
    }


def run_show(args: argparse.Namespace) -> int:
    path = common.archive_path(args)

    def run() -> int:
        view = cases.show(path, args.name, via="cli")
        d = view.detail
        c = d.summary
        if args.json:
            clock = monitor.Clock()
            monitor.emit(clock.doc("case show", "shown", OK, archive=path, case=_show_doc(view)))
            return OK
        ref = f" (reference {c.reference})" if c.reference else ""
        print(f"Case {c.name!r}{ref} — {c.state}; {_hold_text(c.hold)}")
        print(f"Opened {_when(c.created_at)} by {c.created_by}: {c.reason}")
        if c.closed_at:
            print(
                f"Closed {_when(c.closed_at)} by {c.closed_by}"
                + (f": {c.closed_reason}" if c.closed_reason else "")
            )
        for h in d.holds:
            if h.released_at:
                print(
                    f"Hold placed {_when(h.placed_at)} by {h.placed_by} ({h.reason}), released "
                    f"{_when(h.released_at)} by {h.released_by} ({h.released_reason})"
                )
        if d.searches:
            print(f"\nSearches ({len(d.searches)}):")
            for s in d.searches:
                print(
                    f"  {s.query!r}, {s.range}: {HITS.of(s.hits)}, {INTERACTIONS.of(s.found)} "
                    f"found, {s.added} added — {_when(s.searched_at)} by {s.searched_by}"
                )
        print(f"\n{INTERACTIONS.of(len(d.members)).capitalize()}:")
        for m in d.members:
            held = view.holds.get(m.interaction)
            mark = f"  [LEGAL HOLD: {', '.join(h.case for h in held)}]" if held else ""
            facts = _interaction_line(view.interactions.get(m.interaction))
            print(f"  {m.interaction}{mark}  {facts}")
            print(f"      {_member_line(m)}")
        print(f"\nHistory ({plural(len(d.history), 'audit entry', 'audit entries')}):")
        for e in d.history:
            print(f"  #{e.entry_id} {_when(e.at)}  {e.event}  {e.os_user}")
        return OK

    return _guarded("case show", run, args)


def run_hold_place(args: argparse.Namespace) -> int:
    def run() -> int:
        c = cases.place_hold(common.archive_path(args), args.name, args.reason, via="cli")
        print(
            f"Legal hold placed on case {c.name!r} ({INTERACTIONS.of(c.interactions)}): "
            "nothing of them may be disposed of or erased until it is released."
        )
        return OK

    return _guarded("hold place", run)


def run_hold_release(args: argparse.Namespace) -> int:
    def run() -> int:
        c = cases.release_hold(common.archive_path(args), args.name, args.reason, via="cli")
        print(f"Legal hold on case {c.name!r} released.")
        return OK

    return _guarded("hold release", run)
