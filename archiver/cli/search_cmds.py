"""``archiver search`` and ``archiver index rebuild``."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import Any

from archiver.archive import UnreadableArchive
from archiver.cli import common, monitor
from archiver.counts import HITS, RECORDS
from archiver.exitcodes import BUSY, CANCELLED, FAILED, NO_HITS, OK, USAGE
from archiver.jobs import Cancel, drive
from archiver.services import search as searching
from archiver.timerange import RangeError, floor_interval, parse_bound

#: how a found word is marked in what the command prints (text and JSON)
OPEN, CLOSE = "⟦", "⟧"


def _bounds(args: argparse.Namespace) -> tuple[datetime | None, datetime | None]:
    first = (
        floor_interval(parse_bound(args.start, is_end=False, daily=False)) if args.start else None
    )
    last = floor_interval(parse_bound(args.end, is_end=True, daily=False)) if args.end else None
    if first and last and first > last:
        raise RangeError("The start of the range (--from) is after its end (--to).")
    return first, last


def run_search(args: argparse.Namespace) -> int:
    clock = monitor.Clock()
    path = common.archive_path(args)

    def fail(code: int, message: str) -> int:
        print(f"archiver search: {message}", file=sys.stderr)
        if args.json:
            monitor.emit(clock.doc("search", "error", code, archive=path, error=message))
        return code

    if args.limit < 1:
        return fail(USAGE, "--limit takes a number of hits from 1 up")
    try:
        first, last = _bounds(args)
        result = searching.search(
            path, args.query, first=first, last=last, datasets=args.dataset, via="cli"
        )
    except searching.QueryError as exc:
        return fail(USAGE, f"{exc.message} (at position {exc.position + 1}):\n{exc.pointer()}")
    except (RangeError, FileNotFoundError, UnreadableArchive) as exc:
        return fail(USAGE, str(exc))
    except (searching.IndexNotReady, searching.NotRecorded) as exc:
        return fail(FAILED, str(exc))
    code = OK if result.hits else NO_HITS
    shown = result.hits[: args.limit]
    marks = searching.new_marks()
    listed = [(hit, searching.snippets(path, result.query, hit, marks)) for hit in shown]
    if args.json:
        monitor.emit(
            clock.doc(
                "search",
                "found" if result.hits else "nothing found",
                code,
                archive=path,
                **_document(result, listed, marks),
            )
        )
    else:
        _print(result, listed, marks)
    return code


def _when(interval: str) -> str:
    """An own interval (YYYYMMDDHHmm, or a day YYYYMMDD) as printed: 2025-03-14 10:15 UTC."""
    if len(interval) >= 12:
        return (
            f"{interval[:4]}-{interval[4:6]}-{interval[6:8]} {interval[8:10]}:{interval[10:12]} UTC"
        )
    if len(interval) == 8:
        return f"{interval[:4]}-{interval[4:6]}-{interval[6:8]} (day)"
    return "no time"


def _marked(text: str, marks: tuple[str, str]) -> str:
    return " ".join(text.replace(marks[0], OPEN).replace(marks[1], CLOSE).split())


def _summary(result: searching.SearchResult) -> str:
    interactions = sum(1 for h in result.hits if h.interaction)
    others = len(result.hits) - interactions
    parts = f"{interactions:,} by interaction" + (f", {others:,} single records" if others else "")
    where = f" in {', '.join(result.datasets)}" if result.datasets else ""
    return (
        f"{HITS.of(len(result.hits))} for {result.query.text!r}{where}, {result.range_text()} "
        f"({parts}; {RECORDS.of(result.records)} matching), newest first."
    )


def _print(
    result: searching.SearchResult,
    listed: list[tuple[searching.Hit, list[searching.Snippet]]],
    marks: tuple[str, str],
) -> None:
    if not result.hits:
        print(f"Nothing found for {result.query.text!r}, {result.range_text()}.")
        return
    print(_summary(result))
    for hit, snippets in listed:
        what = (
            f"interaction {hit.interaction}"
            if hit.interaction
            else f"{hit.records[0][0]} record {hit.records[0][1]}"
        )
        datasets = ", ".join(hit.datasets)
        print(f"\n{_when(hit.newest)}  {what}  ({datasets}: {RECORDS.of(len(hit.records))})")
        for s in snippets:
            older = " (an earlier version)" if s.superseded else ""
            more = f" (and {s.same} more)" if s.same else ""
            print(f"    {s.dataset}{older}: {_marked(s.text, marks)}{more}")
    if len(listed) < len(result.hits):
        print(f"\nThe newest {len(listed):,} of {len(result.hits):,} hits; --limit lists more.")


def _document(
    result: searching.SearchResult,
    listed: list[tuple[searching.Hit, list[searching.Snippet]]],
    marks: tuple[str, str],
) -> dict[str, Any]:
    return {
        "query": result.query.text,
        "from": result.first.isoformat() if result.first else None,
        "to": result.last.isoformat() if result.last else None,
        "range": result.range_text(),
        "datasets": list(result.datasets) or None,
        "hits": len(result.hits),
        "interactions": sum(1 for h in result.hits if h.interaction),
        "records": result.records,
        "marks": [OPEN, CLOSE],
        "results": [
            {
                "interaction": hit.interaction,
                "newest": _when(hit.newest),
                "datasets": list(hit.datasets),
                "records": len(hit.records),
                "record_ids": [rid for _d, rid in hit.records],
                "snippets": [
                    {
                        "dataset": s.dataset,
                        "record_id": s.record_id,
                        "earlier_version": s.superseded,
                        "same_text_records": s.same,
                        "text": _marked(s.text, marks),
                    }
                    for s in snippets
                ],
            }
            for hit, snippets in listed
        ],
    }


def run_index_rebuild(args: argparse.Namespace) -> int:
    path = common.archive_path(args)
    cancel = Cancel()

    def step(done: tuple[str, int]) -> None:
        dataset, n = done
        print(f"  {dataset}: {RECORDS.of(n)} indexed", file=sys.stderr)

    try:
        rebuilt = drive(searching.rebuild_index(path, cancel), step)
    except searching.ArchiveBusy as exc:
        print(f"archiver index rebuild: {exc}", file=sys.stderr)
        return BUSY
    except (FileNotFoundError, UnreadableArchive) as exc:
        print(f"archiver index rebuild: {exc}", file=sys.stderr)
        return USAGE
    except KeyboardInterrupt:
        print("archiver index rebuild: interrupted; the index stays as it was", file=sys.stderr)
        return CANCELLED
    except searching.StorageError as exc:
        print(f"archiver index rebuild: failed, the index stays as it was: {exc}", file=sys.stderr)
        return FAILED
    print(
        f"Rebuilt the search index of {path}: {RECORDS.of(rebuilt.total)} in "
        f"{len(rebuilt.records)} dataset{'s' if len(rebuilt.records) != 1 else ''}."
    )
    return OK
