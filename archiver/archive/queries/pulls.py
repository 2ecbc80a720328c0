"""What a pull plans from and how it ended: runs, each chunk's recorded state, pending
chunks, and a run's counts (read after its last page is committed, by the writer itself
or through a reader)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from archiver.archive import coverage, runs
from archiver.archive.chunks import DERIVED, ChunkRow
from archiver.archive.queries.reader import Source
from archiver.timerange import Chunk


@dataclass(frozen=True)
class ChunkRecord:
    """One chunk's row of the coverage table: where its walk stands."""

    chunk: Chunk
    state: str  # in_progress | done | pending | not_entitled | failed
    run_id: str
    next_token: str | None  # where an unfinished walk continues
    request_end: str | None  # the `ending` sent (API form)
    attempts: int  # 202s seen
    overlap_dropped: bool  # asked without the one-interval overlap
    message: str | None


@dataclass(frozen=True)
class RunRecord:
    """A pull run as recorded: ``params`` is its parameters' JSON."""

    run_id: str
    status: str  # running | finished | partial | interrupted | failed
    started_at: str
    params: str


def _chunk(row: sqlite3.Row) -> ChunkRecord:
    return ChunkRecord(
        coverage.chunk_of(row),
        row["state"],
        row["run_id"],
        row["next_token"],
        row["request_end"],
        int(row["attempts"] or 0),
        bool(row["overlap_dropped"]),
        row["message"],
    )


def chunk_record(db: Source, chunk: Chunk) -> ChunkRecord | None:
    """The chunk's recorded state (None: never asked for)."""
    row = coverage.chunk_row(db.conn, chunk)
    return None if row is None else _chunk(row)


def pending_chunks(db: Source) -> list[ChunkRecord]:
    """Every chunk left pending by a 202, by dataset and start."""
    return [_chunk(r) for r in coverage.pending_chunks(db.conn)]


def _run(row: sqlite3.Row) -> RunRecord:
    return RunRecord(row["run_id"], row["status"], row["started_at"], row["params"])


def newest_run(db: Source, params_hash: str) -> RunRecord | None:
    """The newest run recorded with these parameters (a rerun of it may resume it)."""
    row = db.conn.execute(
        """SELECT run_id, status, started_at, params FROM runs WHERE params_hash=?
           ORDER BY started_at DESC LIMIT 1""",
        (params_hash,),
    ).fetchone()
    return None if row is None else _run(row)


def unfinished_runs(db: Source) -> list[RunRecord]:
    """Runs still running or interrupted, newest first."""
    return [
        _run(r)
        for r in db.conn.execute(
            """SELECT run_id, status, started_at, params FROM runs
               WHERE status IN ('running','interrupted') ORDER BY started_at DESC"""
        )
    ]


def run_counts(db: Source, run_id: str, chunks: list[Chunk]) -> dict[str, dict[str, Any]]:
    """Per dataset: what this run stored and where each of its chunks stands, from the
    archive (archive/runs.py counts; verify-archive's replay counts the same way)."""
    conn = db.conn

    def row_of(key: tuple[str, str, str, str]) -> ChunkRow | None:
        row = conn.execute(
            f"SELECT {', '.join(DERIVED)} FROM coverage WHERE dataset=? AND dataset_type=? AND filter=? AND chunk_start=?",
            key,
        ).fetchone()
        return None if row is None else ChunkRow(*row)

    out = runs.count_chunks(run_id, chunks, row_of)
    for ds, status, pages, rows in conn.execute(
        "SELECT dataset, http_status, count(*), coalesce(sum(record_count), 0) FROM pages WHERE run_id=? GROUP BY dataset, http_status",
        (run_id,),
    ):
        if status == 200:
            runs.add_counts(out, ds, pages=pages, rows=rows)
        elif status == 202:
            runs.add_counts(out, ds, not_ready=pages)
    for ds, n, conflicts in conn.execute(
        """SELECT p.dataset, count(r.record_id), coalesce(sum(r.conflict), 0)
           FROM pages p JOIN records r ON r.page_id = p.page_id WHERE p.run_id=? GROUP BY p.dataset""",
        (run_id,),
    ):
        runs.add_counts(out, ds, new_versions=n, conflicts=conflicts)
    for ds, n in conn.execute(
        "SELECT dataset, count(*) FROM quarantine WHERE run_id=? GROUP BY dataset", (run_id,)
    ):
        runs.add_counts(out, ds, quarantined=n)
    return out
