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
from archiver.archive import runs
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


Flags = runs.Flags


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
    #: the run's own flags (recorded in its `pull finished` entry)
    flags: Flags = field(default_factory=Flags)

    def summary(self) -> dict[str, Any]:
        """The custody record of the run: built from the archive's counts only
        (archive/runs.py: verify-archive re-derives it the same way)."""
        return runs.summary(self.run_id, self.counts, self.flags, self.reading)


def decide(
    run_id: str, progress: Progress, counts: dict[str, dict[str, Any]], flags: Flags
) -> RunResult:
    """Status and exit code from the archive's counts. ``progress`` is not changed here (the
    writer thread decides while the engine's loop may still apply earlier events to it);
    the loop adopts the counts once it has applied every event before the result."""
    status, code = runs.status(counts, flags)
    return RunResult(run_id, status, code, progress, runs.error(counts, flags), counts, flags=flags)


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
