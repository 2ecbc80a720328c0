"""A chunk's coverage row, derived from its evidence: the fold the writer applies as each
response or outcome arrives and verify-archive replays.

A coverage row states what became of the latest walk of one chunk (dataset, dataset type,
filter, first interval). Every column it states comes from evidence the archive keeps:

- an archived response of the chunk (a page): a 200 page, a 202 (not processed yet) or a
  403 (not entitled), each with the query it answered (``interval`` starting/ending,
  ``filter``) and the page token it was sent with (``''``: a walk starting afresh, which
  resets the walk's counters) — :func:`on_page`;
- a ``chunk failed`` audit entry (the chunk's outcome when the walk stopped on an error:
  no response explains it) — :func:`on_failure`; a page the archive cannot hold is
  quarantined and fails its chunk in one transaction, the quarantine row's reason and the
  failure's message both made here (:func:`cannot_hold`), and the entry names the row;
- a 403 of a dataset marks not entitled every chunk of that run's plan not yet walked in
  the run (the pull stops asking for the dataset) — :func:`on_refused`;
- the run's plan (its ``pull started`` entry) says where each chunk ends: a walk whose
  ``ending`` is its chunk's last interval was asked without the one-interval overlap.

Columns that state nothing about the evidence are the writer's bookkeeping and are not
derived: ``attempts`` (202s and malformed pages seen, for backing off), ``next_retry_at``
(when to ask again) and ``updated_at``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any

from archiver.archive.identity import Identity
from archiver.timerange import DAILY, INTERVAL, STEP, Chunk, api_format, parse_api_bound, split

ChunkKey = tuple[str, str, str, str]  # dataset, dataset_type, filter, chunk_start

#: The message of a chunk left pending by a 202.
NOT_READY = "202 Accepted: the API has not processed this interval yet"
#: The message of a chunk walked without the one-interval overlap: asked again without it
#: after a 202 for the overlap interval, or without it from the start (the interval after
#: the chunk was not ready yet, and earlier walks showed the server includes `ending`).
NO_OVERLAP_AFTER_202 = (
    "asked without the one-interval overlap: the API answered 202 (not processed yet) for "
    "the interval after this chunk"
)
NO_OVERLAP = (
    "asked without the one-interval overlap (the interval after this chunk is not ready "
    "yet); earlier walks of this archive show the server's `ending` is inclusive"
)
_NOTES = (NO_OVERLAP_AFTER_202, NO_OVERLAP)
#: Outcomes, as ``coverage.state`` names them.
DONE, IN_PROGRESS, PENDING, FAILED, NOT_ENTITLED = (
    "done",
    "in_progress",
    "pending",
    "failed",
    "not_entitled",
)


@dataclass
class ChunkRow:
    """The derived columns of one coverage row."""

    dataset: str
    dataset_type: str
    filter: str
    chunk_start: str
    chunk_end: str
    state: str
    run_id: str
    next_token: str | None = None
    pages: int = 0
    rows: int = 0
    message: str | None = None
    request_end: str | None = None
    ending_rows: int = 0
    outside_rows: int = 0
    overlap_dropped: int = 0

    @property
    def key(self) -> ChunkKey:
        return (self.dataset, self.dataset_type, self.filter, self.chunk_start)

    def values(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


#: The coverage columns a replay derives and compares (all of ChunkRow's).
DERIVED = tuple(f.name for f in fields(ChunkRow))
#: The coverage columns that are the writer's bookkeeping (see the module docstring).
BOOKKEEPING = ("attempts", "next_retry_at", "updated_at")


@dataclass(frozen=True)
class Response:
    """What the fold needs of one archived response of a chunk."""

    run_id: str
    query: str  # the page's canonical query JSON
    request_token: str  # '' for the first request of a walk
    next_token: str
    http_status: int
    records: int = 0
    at_end: int = 0  # rows at the request's `ending` interval (ending_evidence)
    outside: int = 0  # rows outside the request
    message: str = ""  # a 403's message (api.pages.refusal_message)


# -- the query a page answered ---------------------------------------------------------------
def query_params(query_json: str) -> dict[str, Any]:
    try:
        q = json.loads(query_json)
    except ValueError:
        return {}
    return q if isinstance(q, dict) else {}


def query_bounds(query_json: str) -> tuple[str, str]:
    """(``starting``, ``ending``) a stored page's request sent ('' when absent)."""
    found = {"starting": "", "ending": ""}
    for part in str(query_params(query_json).get("interval", "")).split(","):
        name, _, value = part.partition(":")
        if name.strip() in found:
            found[name.strip()] = value.strip()
    return found["starting"], found["ending"]


def query_ending(query_json: str) -> str:
    """The ``ending`` bound a stored page's request sent ('' when none)."""
    return query_bounds(query_json)[1]


def query_filter(query_json: str) -> str:
    return str(query_params(query_json).get("filter") or "")


def page_key(dataset: str, dataset_type: str, chunk_start: str, query_json: str) -> ChunkKey:
    """The coverage row a page belongs to."""
    return (dataset, dataset_type, query_filter(query_json), chunk_start)


def ending_evidence(ids: Iterable[Identity], chunk_start: str, ending: str) -> tuple[int, int]:
    """(rows whose own interval is the request's ``ending``, rows outside the request).

    Rows at ``ending`` came back only if the server reads an interval ``ending`` as
    inclusive: this is how the archive learns which reading the server follows.
    """
    if not ending or len(ending) != 12:
        return 0, 0
    at_end = outside = 0
    for ident in ids:
        if ident.interval == ending:
            at_end += 1
        elif ident.interval and not (chunk_start <= ident.interval < ending):
            outside += 1
    return at_end, outside


# -- the fold ---------------------------------------------------------------------------------
def _fresh(row: ChunkRow | None, key: ChunkKey, r: Response, chunk_end: str | None) -> ChunkRow:
    """A walk starting afresh: counters reset, the request's `ending` and its chunk's end."""
    ending = query_ending(r.query) or None
    implied = implied_end(key[1], ending)
    # the plan's end, unless the request cannot have asked for that chunk
    fits = ending is None or chunk_end in (ending, implied)
    end = chunk_end if chunk_end and fits else implied
    end = end or (row.chunk_end if row else key[3])
    dropped = key[1] == INTERVAL and ending is not None and ending == end
    base = row or ChunkRow(*key, chunk_end=end, state=IN_PROGRESS, run_id=r.run_id)
    after_202 = (
        row is not None
        and row.state == PENDING
        and row.run_id == r.run_id
        and row.request_end is not None
        and implied_end(INTERVAL, row.request_end) == ending
    )
    return replace(
        base,
        chunk_end=end,
        next_token=None,
        pages=0,
        rows=0,
        request_end=ending,
        ending_rows=0,
        outside_rows=0,
        overlap_dropped=int(dropped),
        message=(NO_OVERLAP_AFTER_202 if after_202 else NO_OVERLAP) if dropped else None,
    )


def implied_end(dataset_type: str, ending: str | None) -> str | None:
    """The chunk end a request's `ending` implies when no plan names it: the interval
    before it (the one-interval overlap), or the day itself for a daily chunk."""
    if not ending:
        return None
    if dataset_type == DAILY:
        return ending
    try:
        return api_format(parse_api_bound(ending) - STEP, INTERVAL)
    except ValueError:
        return None


def on_page(row: ChunkRow | None, key: ChunkKey, r: Response, chunk_end: str | None) -> ChunkRow:
    """The row after an archived response of the chunk (200, 202 or 403).

    ``chunk_end``: where the run's plan says the chunk ends (None: not known)."""
    if row is None or not r.request_token:
        row = _fresh(row, key, r, chunk_end)
    if r.http_status == 200:
        return replace(
            row,
            state=IN_PROGRESS if r.next_token else DONE,
            run_id=r.run_id,
            next_token=r.next_token or None,
            pages=row.pages + 1,
            rows=row.rows + r.records,
            ending_rows=row.ending_rows + r.at_end,
            outside_rows=row.outside_rows + r.outside,
            message=_note(row),
        )
    if r.http_status == 202:
        return replace(
            row,
            state=PENDING,
            run_id=r.run_id,
            next_token=r.request_token or None,
            message=NOT_READY,
        )
    return replace(row, state=NOT_ENTITLED, run_id=r.run_id, message=r.message)


def _note(row: ChunkRow) -> str | None:
    """What a page of a walk leaves as the row's message: why it was asked without the
    overlap (the note its fresh start gave), or nothing."""
    if not row.overlap_dropped:
        return None
    return row.message if row.message in _NOTES else NO_OVERLAP


def on_failure(
    row: ChunkRow | None, key: ChunkKey, run_id: str, chunk_end: str, message: str
) -> ChunkRow:
    """The row after a ``chunk failed`` entry: the walk stopped; where it stood is kept."""
    return on_outcome(row, key, run_id, chunk_end, FAILED, message)


def on_outcome(
    row: ChunkRow | None, key: ChunkKey, run_id: str, chunk_end: str, state: str, message: str
) -> ChunkRow:
    """The row after an outcome a custody entry states (``chunk failed``; an outcome the
    migration to version 5 recorded): its state, run and message."""
    base = row or ChunkRow(*key, chunk_end=chunk_end, state=state, run_id=run_id)
    return replace(base, state=state, run_id=run_id, message=message)


#: How a quarantine row's reason begins when the archive could not hold the page (the
#: page's chunk failed with it).
CANNOT_HOLD = "the archive cannot hold this page: "


def cannot_hold(chunk: ChunkKey, chunk_end: str, page_number: int, why: str) -> tuple[str, str]:
    """(the quarantine row's reason, the chunk's failure message) for a page of ``chunk``
    the archive could not hold because of ``why``: what the writer states, and what
    verify-archive derives again from the quarantine row and the ``chunk failed`` entry."""
    message = (
        f"{chunk[0]} {chunk[3]}–{chunk_end}: page {page_number} was not stored, the archive "
        f"cannot hold it ({why}); it is quarantined as evidence and this chunk failed. Other "
        "chunks and datasets are not affected. Rerunning retries from this page; if the API "
        "keeps sending it, report it to Avaya Support."
    )
    return CANNOT_HOLD + why, message


def on_refused(
    row: ChunkRow | None, key: ChunkKey, run_id: str, chunk_end: str, message: str
) -> ChunkRow | None:
    """A 403 of the chunk's dataset in ``run_id``: a chunk of the run's plan that the run
    has not walked (its row is another run's, or absent) is not entitled; None: unchanged."""
    if row is not None and row.run_id == run_id:
        return None
    base = row or ChunkRow(*key, chunk_end=chunk_end, state=NOT_ENTITLED, run_id=run_id)
    return replace(base, state=NOT_ENTITLED, run_id=run_id, message=message)


# -- a run's plan -------------------------------------------------------------------------------
def splits_record(
    ranges: Iterable[tuple[str, datetime, datetime, bool, str | None]],
) -> dict[str, Any]:
    """A plan made by splitting ranges (a range or an incremental pull): each
    ``(dataset, first, last, daily, filter)`` that :func:`archiver.timerange.split` cuts
    into the run's chunks."""
    return {
        "splits": [
            [ds, first.isoformat(), last.isoformat(), daily, flt or ""]
            for ds, first, last, daily, flt in ranges
        ]
    }


def chunks_record(chunks: Iterable[Chunk]) -> dict[str, Any]:
    """A plan of named chunks (a retry of pending chunks)."""
    return {
        "chunks": [[c.dataset, c.dataset_type, c.filter, c.start_key, c.end_key] for c in chunks]
    }


def plan_chunks(
    plan: Mapping[str, Any] | None, params: Mapping[str, Any] | None = None
) -> list[Chunk]:
    """The chunks of a run's plan as its ``pull started`` entry records it (``plan``); an
    entry written before plans were recorded: the chunks its range parameters split into
    (an incremental run of that time is not exactly known: [] when nothing says)."""
    out: list[Chunk] = []
    try:
        if isinstance(plan, Mapping):
            for ds, first, last, daily, flt in plan.get("splits") or []:
                out += split(
                    ds,
                    datetime.fromisoformat(first),
                    datetime.fromisoformat(last),
                    daily=bool(daily),
                    filter=flt or None,
                )
            for ds, dtype, flt, start, end in plan.get("chunks") or []:
                out.append(Chunk.from_keys(ds, dtype, flt, start, end))
            return out
        if isinstance(params, Mapping) and "datasets" in params:
            first = datetime.fromisoformat(str(params["start"]))
            last = datetime.fromisoformat(str(params["end"]))
            for ds in params["datasets"]:
                out += split(
                    ds, first, last, daily=bool(params.get("daily")), filter=params.get("filter")
                )
    except (ValueError, TypeError, KeyError):
        return out
    return out


def chunk_key(chunk: Chunk) -> ChunkKey:
    return (chunk.dataset, chunk.dataset_type, chunk.filter, chunk.start_key)
