"""How a pull run ended: counted from the archive, never from what the workers believe.

The writer counts what the run stored after its last page is committed
(:func:`archiver.archive.queries.pulls.run_counts`); :func:`decide` turns the counts and
the run's flags into a status and an exit code. A chunk that did not reach a final state
(``unfinished``) is never counted as archived.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from archiver import exitcodes
from archiver.plural import plural
from archiver.pull.progress import DatasetProgress, Progress

# the command line's codes (archiver.exitcodes), under the names the engine has used
EXIT_OK = exitcodes.OK
EXIT_ERROR = exitcodes.FAILED
EXIT_USAGE = exitcodes.USAGE
EXIT_PARTIAL = exitcodes.PARTIAL
EXIT_AUTH = exitcodes.AUTH
EXIT_ENTITLEMENT = exitcodes.NOT_ENTITLED
#: another pull holds the archive's lock (archiver.system.lock); nothing was done
EXIT_BUSY = exitcodes.BUSY
EXIT_CANCELLED = exitcodes.CANCELLED


@dataclass(frozen=True)
class Flags:
    """What the run itself knows besides the archive's counts."""

    error: str | None = None  # a run-wide failure (token endpoint, archive not writable)
    auth_failed: bool = False
    cancelled: bool = False
    #: the archive's disk is full, read-only or not ours to write (``error`` names it):
    #: the run failed whatever it archived before (exit 1), and a rerun resumes it
    io_failed: bool = False


@dataclass
class RunResult:
    run_id: str
    status: str  # finished | partial | interrupted | failed
    exit_code: int
    progress: Progress
    error: str | None = None
    #: per dataset, read from the archive after its last page committed (run_counts)
    counts: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: the server's reading of an interval `ending`, as this archive's walks show it
    reading: str = ""
    #: the checkpoint written after the run (the job services.pull.pull), in words
    checkpoint: str = ""

    def summary(self) -> dict[str, Any]:
        """The custody record of the run: built from the archive's counts only."""
        tallies = Progress({})
        adopt_counts(tallies, self.counts)
        return {
            "run_id": self.run_id,
            "status": self.status,
            "exit_code": self.exit_code,
            "error": self.error,
            "ending_reading": self.reading,
            "datasets": {
                name: {
                    "state": d.state,
                    "chunks": d.chunks_total,
                    "chunks_done": d.chunks_done,
                    "pending": d.pending,
                    "failed": d.failed,
                    "unfinished": self.counts[name]["unfinished"],
                    "not_entitled": d.not_entitled,
                    "pages": d.pages,
                    "rows": d.rows,
                    "new_versions": d.new_rows,
                    "duplicates": d.duplicates,
                    "conflicts": d.conflicts,
                    "quarantined": d.quarantined,
                    "overlap_dropped": self.counts[name]["overlap_dropped"],
                    "message": d.message,
                }
                for name, d in sorted(tallies.datasets.items())
            },
        }


def decide(
    run_id: str, progress: Progress, counts: dict[str, dict[str, Any]], flags: Flags
) -> RunResult:
    """Status and exit code from the archive's counts. ``progress`` is not changed here (the
    writer thread decides while the engine's loop may still apply earlier events to it);
    the loop adopts the counts once it has applied every event before the result."""
    status, code = _status(counts, flags)
    bad = sum(c["failed"] + c["unfinished"] for c in counts.values())
    error = flags.error
    if error is None and bad:
        first = next((m for c in counts.values() for m in c["failures"]), "")
        error = f"{plural(bad, 'chunk')} not archived" + (f"; first: {first}" if first else "")
    return RunResult(run_id, status, code, progress, error, counts)


def adopt_counts(progress: Progress, counts: dict[str, dict[str, Any]]) -> None:
    """What the archive holds replaces the live tallies of the progress."""
    for name, c in counts.items():
        d = progress.datasets.setdefault(name, DatasetProgress(name))
        d.chunks_total = c["chunks"]
        d.chunks_done = c["done"]
        d.pending = c["pending"]
        d.failed = c["failed"] + c["unfinished"]
        d.not_entitled = c["not_entitled"] > 0
        d.pages = c["pages"]
        d.rows = c["rows"]
        d.new_rows = c["new_versions"]
        d.duplicates = c["rows"] - c["new_versions"]
        d.conflicts = c["conflicts"]
        d.quarantined = c["quarantined"]
        if c["messages"]:
            d.message = c["messages"][-1]
        d.running = 0


def _status(counts: dict[str, dict[str, Any]], flags: Flags) -> tuple[str, int]:
    done = sum(c["done"] for c in counts.values())
    bad = sum(c["failed"] + c["unfinished"] for c in counts.values())
    if flags.auth_failed:
        return "failed", EXIT_AUTH
    if flags.io_failed or (flags.error and not counts):
        return "failed", EXIT_ERROR
    if flags.cancelled and not flags.error:
        return "interrupted", EXIT_CANCELLED
    if bad or flags.error:
        return "failed", EXIT_PARTIAL if done else EXIT_ERROR
    if any(c["pending"] for c in counts.values()):
        return "partial", EXIT_PARTIAL
    if any(c["not_entitled"] for c in counts.values()):
        return "finished", EXIT_ENTITLEMENT
    return "finished", EXIT_OK
