"""Progress of a pull, per dataset: plain data the CLI prints and the GUI turns into signals."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from archiver.archive.runs import dataset_state


@dataclass
class DatasetProgress:
    dataset: str
    chunks_total: int = 0
    chunks_done: int = 0
    pages: int = 0
    rows: int = 0  # rows received
    new_rows: int = 0  # new (key, COMMIT_TS) versions archived
    duplicates: int = 0
    conflicts: int = 0
    pending: int = 0
    failed: int = 0
    not_entitled: bool = False
    quarantined: int = 0
    running: int = 0
    message: str = ""
    next_retry_at: str | None = None
    started: float = field(default_factory=time.monotonic)

    @property
    def finished_chunks(self) -> int:
        return self.chunks_done + self.pending + self.failed

    @property
    def state(self) -> str:
        return dataset_state(
            self.chunks_total,
            self.chunks_done,
            self.pending,
            self.failed,
            self.not_entitled,
            self.pages,
            self.running,
        )

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.rows / elapsed if elapsed > 0 else 0.0

    def eta(self) -> float | None:
        """Seconds left, estimated from the share of chunks finished."""
        if not self.chunks_total or self.finished_chunks == 0 or self.state != "running":
            return None
        elapsed = time.monotonic() - self.started
        frac = self.finished_chunks / self.chunks_total
        return elapsed / frac - elapsed


@dataclass
class Progress:
    datasets: dict[str, DatasetProgress]
    event: str = ""  # what just happened, one line
    finished: bool = False

    def totals(self) -> DatasetProgress:
        t = DatasetProgress("total")
        for d in self.datasets.values():
            for f in (
                "chunks_total",
                "chunks_done",
                "pages",
                "rows",
                "new_rows",
                "duplicates",
                "conflicts",
                "pending",
                "failed",
                "quarantined",
            ):
                setattr(t, f, getattr(t, f) + getattr(d, f))
        return t


def format_eta(seconds: float | None) -> str:
    """``m:ss`` or ``h:mm:ss``; '' when unknown."""
    if seconds is None:
        return ""
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
