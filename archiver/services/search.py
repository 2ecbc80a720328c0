"""Searching the archive: the use case behind ``archiver search``, the Search tab and a
case's ``--search``; and ``archiver index rebuild``.

Every search is an entry of the archive's audit log (``search``: the query, the range, the
datasets asked for and what was found; who and when are the entry's own), so an auditor can
answer "who looked for this customer, and when". A search whose entry cannot be written is
not shown. The index itself is derived state kept by every pull (archive/searchindex.py);
rebuilding it holds the archive's lock, as a pull does.
"""

from __future__ import annotations

import secrets
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from archiver.archive.errors import StorageError
from archiver.archive.queries import search as q
from archiver.archive.queries.reader import Reader
from archiver.archive.queries.search import Found, Hit, Snippet
from archiver.archive.schema import ArchiveVersionError
from archiver.archive.store import Archive
from archiver.datasets import resolve_names
from archiver.jobs import Cancel, Cancelled, drive
from archiver.searchquery import Query, QueryError, parse
from archiver.system import lock as locks
from archiver.system.lock import ArchiveBusy
from archiver.timerange import format_range

__all__ = [
    "FIRST",
    "ArchiveBusy",
    "FirstResults",
    "Hit",
    "IndexNotReady",
    "NotRecorded",
    "Query",
    "QueryError",
    "Rebuilt",
    "SearchResult",
    "Snippet",
    "StorageError",
    "interaction_ids",
    "parse",
    "rebuild_index",
    "search",
    "search_job",
    "snippets",
    "snippets_of",
]

#: the access log's event for a search (WAVE2: an audit entry per search)
EVENT = "search"


class IndexNotReady(Exception):
    """Datasets with records the search index does not cover (an archive pulled by an
    older archiver, or an index left behind by another rule): nothing was searched."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            f"The search index of {path} is not up to date ({'; '.join(problems)}): nothing "
            f"was searched. Run `archiver index rebuild --archive {path}` (it holds the "
            "archive's lock while it runs, as a pull does), then search again."
        )


class NotRecorded(Exception):
    """The search could not be written to the archive's access log, so it is not shown."""


@dataclass(frozen=True)
class SearchResult:
    """One search: what was asked, and every hit, newest first."""

    query: Query
    first: datetime | None
    last: datetime | None
    datasets: tuple[str, ...]
    found: Found

    @property
    def hits(self) -> list[Hit]:
        return self.found.hits

    @property
    def records(self) -> int:
        """Matching records (row versions) behind the hits."""
        return self.found.records

    def range_text(self) -> str:
        return describe_range(self.first, self.last)


def describe_range(first: datetime | None, last: datetime | None) -> str:
    """The range a search covered, as every range is printed (timerange.format_range)."""
    if first is None and last is None:
        return "everything archived"
    if first is not None and last is not None:
        return format_range(first, last)
    if first is not None:
        return f"from {first:%Y-%m-%d %H:%M} UTC on"
    assert last is not None
    return f"up to {last:%Y-%m-%d %H:%M} UTC (that interval included)"


@dataclass(frozen=True)
class FirstResults:
    """The newest hits of a search, found before the rest are counted: what a screen shows
    at once (the same hits, in the same order, as the first of the whole result)."""

    query: Query
    hits: list[Hit]


#: the hits a search shows before it has counted them all
FIRST = 20


def search_job(
    path: Path,
    text: str,
    cancel: Cancel,
    *,
    first: datetime | None = None,
    last: datetime | None = None,
    datasets: Sequence[str] = (),
    via: str = "cli",
    shown: int = FIRST,
) -> Generator[FirstResults, None, SearchResult]:
    """A search as a job: yields its newest ``shown`` hits as soon as they are found, then
    counts every hit and records the search in the access log. Cancelled after its first
    hits were shown, it records what it showed (``"counted": false``) before it stops.
    Raises QueryError (a query that cannot be read, with the position), IndexNotReady,
    NotRecorded, FileNotFoundError (no archive)."""
    query = parse(text)
    names = tuple(resolve_names(datasets)) if datasets else ()
    start, end = q.narrowed(first, last, query)
    with Reader(path) as r:
        problems = q.index_problems(r)
        if problems:
            raise IndexNotReady(path, problems)
        top = q.first_hits(r, query, shown, first=first, last=last, datasets=names or None)
        yield FirstResults(query, top)
        try:
            cancel.check()
            found = q.search(
                r, query, first=first, last=last, datasets=names or None, cancel=cancel
            )
        except Cancelled:
            partial = SearchResult(
                query, start, end, names, Found(top, sum(len(h.records) for h in top))
            )
            _record(path, partial, via, counted=False)
            raise
    result = SearchResult(query, start, end, names, found)
    _record(path, result, via)
    return result


def search(
    path: Path,
    text: str,
    *,
    first: datetime | None = None,
    last: datetime | None = None,
    datasets: Sequence[str] = (),
    via: str = "cli",
) -> SearchResult:
    """Run ``text`` against the archive at ``path`` (every hit) and record the search in
    its access log: :func:`search_job` to its end."""
    job = search_job(path, text, Cancel(), first=first, last=last, datasets=datasets, via=via)
    return drive(job)


def _record(path: Path, result: SearchResult, via: str, counted: bool = True) -> None:
    """The search's access-log entry; ``counted`` False: it stopped (a newer search
    replaced it) after showing its first hits, which are what it states."""
    details: dict[str, Any] = {
        "query": result.query.text,
        "from": result.first.isoformat() if result.first else None,
        "to": result.last.isoformat() if result.last else None,
        "range": result.range_text(),
        "datasets": list(result.datasets) or "all",
        "hits": len(result.hits),
        "records": result.records,
        "via": via,
    }
    if not counted:
        details["counted"] = False
    try:
        with Archive(path) as a:
            a.audit(EVENT, details)
    except (StorageError, OSError, ArchiveVersionError) as exc:
        raise NotRecorded(
            f"The search could not be recorded in the archive's access log ({exc}), so its "
            "results are not shown: every search of an archive is logged. Search a "
            "writable archive (a copy made with `archiver backup`)."
        ) from exc


def interaction_ids(
    path: Path,
    text: str,
    *,
    first: datetime | None = None,
    last: datetime | None = None,
    via: str = "case",
) -> tuple[list[str], int]:
    """The interactions a query finds (ids, newest first) and its hit count (interactions
    and records of their own alike): what a case records when it adds a search. The
    search is recorded in the access log like any other."""
    result = search(path, text, first=first, last=last, via=via)
    return [h.interaction for h in result.hits if h.interaction], len(result.hits)


def new_marks() -> tuple[str, str]:
    """Highlight marks no archived text can forge (a random nonce inside control
    characters): a front-end turns exactly these into its own highlighting."""
    nonce = secrets.token_hex(4)
    return f"\x02{nonce}\x03", f"\x02/{nonce}\x03"


#: a hit's matching records looked at for its snippets (newest first)
SNIPPET_RECORDS = 12


def snippets(
    path: Path, query: Query, hit: Hit, marks: tuple[str, str], most: int = 3
) -> list[Snippet]:
    """Up to ``most`` different snippets of a hit's newest matching records (a read: not
    logged again, the search that found the hit was)."""
    return snippets_of(path, query, [hit], marks, most)[0]


def snippets_of(
    path: Path, query: Query, hits: Sequence[Hit], marks: tuple[str, str], most: int = 3
) -> list[list[Snippet]]:
    """:func:`snippets` of several hits, on one connection (a screen's worth at a time)."""
    with Reader(path) as r:
        return [
            q.distinct(q.snippets(r, query, hit.records[:SNIPPET_RECORDS], marks), most)
            for hit in hits
        ]


# -- rebuilding the index -----------------------------------------------------------------
@dataclass(frozen=True)
class Rebuilt:
    """A rebuilt index: records indexed per dataset."""

    records: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.records.values())


def rebuild_index(path: Path, cancel: Cancel) -> Generator[tuple[str, int], None, Rebuilt]:
    """Recreate the search index of ``path`` from its records, holding the archive's lock
    (ArchiveBusy while a pull holds it); yields (dataset, records) as each is done. One
    transaction: cancelled or failed, the index stays as it was."""
    if not path.exists():
        raise FileNotFoundError(f"No archive at {path}.")
    lock = locks.acquire(path, locks.INDEX_REBUILD)
    try:
        done: dict[str, int] = {}
        with Archive(path) as a:
            steps = a.rebuild_search_index()
            for dataset, n in steps:
                done[dataset] = n
                yield dataset, n
                if cancel.is_set:
                    steps.close()  # undoes the whole rebuild
                    cancel.check()
        return Rebuilt(done)
    finally:
        lock.release()
