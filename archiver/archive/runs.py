"""A pull run's record: its counts, status and summary, counted from the archive — the one
definition the pull (when it ends) and verify-archive's replay (for every ``pull finished``
entry) share.

A run's summary is a function of: the run's plan (its chunks), each chunk's coverage row as
it stood when the run ended (archive/chunks.py), what the run's pages, records and
quarantined responses hold, the server's reading of ``ending`` then, and the run's own
flags (cancelled, a run-wide error, credentials refused), which its ``pull finished`` entry
records. Nothing the workers believed during the run enters it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from archiver import exitcodes
from archiver.archive.chunks import ChunkKey, ChunkRow, chunk_key
from archiver.plural import plural
from archiver.timerange import Chunk

Counts = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Flags:
    """What the run itself knows besides the archive's counts."""

    error: str | None = None  # a run-wide failure (token endpoint, archive not writable)
    auth_failed: bool = False
    cancelled: bool = False
    #: the archive's disk is full, read-only or not ours to write (``error`` names it):
    #: the run failed whatever it archived before (exit 1), and a rerun resumes it
    io_failed: bool = False

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "error": self.error,
            "auth_failed": self.auth_failed,
            "cancelled": self.cancelled,
        }
        if self.io_failed:  # (recorded only when set: entries written before it stay as read)
            out["io_failed"] = True
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Flags:
        err = d.get("error")
        return cls(
            err if isinstance(err, str) else None,
            bool(d.get("auth_failed")),
            bool(d.get("cancelled")),
            bool(d.get("io_failed")),
        )


def new_counts() -> dict[str, Any]:
    return {
        "chunks": 0,
        "done": 0,
        "pending": 0,
        "failed": 0,
        "not_entitled": 0,
        "unfinished": 0,
        "overlap_dropped": 0,
        "pages": 0,
        "rows": 0,
        "new_versions": 0,
        "conflicts": 0,
        "quarantined": 0,
        "not_ready": 0,
        "messages": [],
        "failures": [],
    }


def count_chunks(
    run_id: str, chunks: Iterable[Chunk], row_of: Callable[[ChunkKey], ChunkRow | None]
) -> Counts:
    """Per dataset: the run's chunks and where each stands (``row_of``: its coverage row)."""
    out: Counts = {}
    for chunk in chunks:
        e = out.setdefault(chunk.dataset, new_counts())
        e["chunks"] += 1
        row = row_of(chunk_key(chunk))
        mine = row is not None and row.run_id == run_id
        st = row.state if row is not None and mine else None
        if st in ("done", "pending", "failed", "not_entitled"):
            e[st] += 1
        else:
            e["unfinished"] += 1
            e["failures"].append(f"{chunk.dataset} {chunk.start_key}: never finished")
        if row is not None and mine:
            e["overlap_dropped"] += int(row.overlap_dropped or 0)
            if st == "failed" and row.message:
                e["failures"].append(f"{chunk.dataset} {chunk.start_key}: {row.message}")
            if row.message and st != "done" and row.message not in e["messages"]:
                e["messages"].append(row.message)
    return out


def add_counts(out: Counts, dataset: str, **more: int) -> None:
    """Add a run's page, record or quarantine figures of one dataset."""
    e = out.setdefault(dataset, new_counts())
    for name, n in more.items():
        e[name] += n


def dataset_state(
    chunks: int, done: int, pending: int, failed: int, not_entitled: bool, pages: int, running: int
) -> str:
    """A dataset's state in a run, in the words the Download tab and the summary use."""
    if not_entitled:
        return "not entitled"
    if done + pending + failed >= chunks:
        if failed:
            return "failed"
        if pending:
            return "waiting for data"
        return "done"
    if running or pages:
        return "running"
    return "queued"


def status(counts: Counts, flags: Flags) -> tuple[str, int]:
    """The run's status and exit code from the archive's counts and the run's flags."""
    done = sum(c["done"] for c in counts.values())
    bad = sum(c["failed"] + c["unfinished"] for c in counts.values())
    if flags.auth_failed:
        return "failed", exitcodes.AUTH
    if flags.io_failed or (flags.error and not counts):
        return "failed", exitcodes.FAILED
    if flags.cancelled and not flags.error:
        return "interrupted", exitcodes.CANCELLED
    if bad or flags.error:
        return "failed", exitcodes.PARTIAL if done else exitcodes.FAILED
    if any(c["pending"] for c in counts.values()):
        return "partial", exitcodes.PARTIAL
    if any(c["not_entitled"] for c in counts.values()):
        return "finished", exitcodes.NOT_ENTITLED
    return "finished", exitcodes.OK


def error(counts: Counts, flags: Flags) -> str | None:
    """The run's error line: its own, or how many chunks were not archived."""
    if flags.error is not None:
        return flags.error
    bad = sum(c["failed"] + c["unfinished"] for c in counts.values())
    if not bad:
        return None
    first = next((m for c in counts.values() for m in c["failures"]), "")
    return f"{plural(bad, 'chunk')} not archived" + (f"; first: {first}" if first else "")


def summary(run_id: str, counts: Counts, flags: Flags, reading: str) -> dict[str, Any]:
    """The custody record of a run (``runs.summary``, the ``pull finished`` entry)."""
    st, code = status(counts, flags)
    return {
        "run_id": run_id,
        "status": st,
        "exit_code": code,
        "error": error(counts, flags),
        "ending_reading": reading,
        "datasets": {name: dataset_summary(c) for name, c in sorted(counts.items())},
    }


def dataset_summary(c: Mapping[str, Any]) -> dict[str, Any]:
    failed = c["failed"] + c["unfinished"]
    return {
        "state": dataset_state(
            c["chunks"], c["done"], c["pending"], failed, c["not_entitled"] > 0, c["pages"], 0
        ),
        "chunks": c["chunks"],
        "chunks_done": c["done"],
        "pending": c["pending"],
        "failed": failed,
        "unfinished": c["unfinished"],
        "not_entitled": c["not_entitled"] > 0,
        "pages": c["pages"],
        "rows": c["rows"],
        "new_versions": c["new_versions"],
        "duplicates": c["rows"] - c["new_versions"],
        "conflicts": c["conflicts"],
        "quarantined": c["quarantined"],
        "overlap_dropped": c["overlap_dropped"],
        "message": c["messages"][-1] if c["messages"] else "",
    }
