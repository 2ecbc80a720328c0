"""Coverage, as the app, the command line and a pull ask for it: the questions of
:mod:`archiver.archive.coverage` (the one module that reads the coverage table) asked
through a :class:`~.reader.Source`."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from archiver.archive import coverage as cov
from archiver.archive.coverage import (
    AT_ENDING,
    NEVER_REQUESTED,
    STATE_WORDS,
    DayCoverage,
    Reading,
    spans,
)
from archiver.archive.queries.reader import Source

__all__ = [
    "AT_ENDING",
    "NEVER_REQUESTED",
    "STATE_WORDS",
    "DayCoverage",
    "Reading",
    "day_coverage",
    "gaps",
    "last_done_end",
    "server_reading",
    "spans",
    "stream_states",
]


def day_coverage(
    db: Source,
    *,
    dataset: str | None = None,
    dataset_type: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    detail: bool = False,
) -> list[DayCoverage]:
    """Per dataset stream and day: requested, walked, pending, … (see
    :func:`archiver.archive.coverage.day_coverage`)."""
    return cov.day_coverage(
        db.conn, dataset=dataset, dataset_type=dataset_type, start=start, end=end, detail=detail
    )


def server_reading(db: Source, dataset: str | None = None) -> Reading:
    """What the archived walks show about the server's reading of an interval ``ending``."""
    return cov.server_reading(db.conn, dataset)


def gaps(db: Source, datasets: Iterable[str], first: datetime, last: datetime) -> list[str]:
    """Interval ranges of [first, last] no finished walk covers, per dataset, with why."""
    return cov.gaps(db.conn, datasets, first, last)


def stream_states(
    db: Source, dataset: str, first: datetime, last: datetime
) -> dict[datetime, tuple[str, str]]:
    """Every 15-minute interval of [first, last] of the dataset's 15-minute stream with its
    state and why (see :func:`archiver.archive.coverage.stream_states`)."""
    return cov.stream_states(db.conn, dataset, first, last)


def last_done_end(db: Source, dataset: str, dataset_type: str, filter: str) -> datetime | None:
    """End of the newest finished chunk of a stream (None: nothing finished yet)."""
    return cov.last_done_end(db.conn, dataset, dataset_type, filter)
