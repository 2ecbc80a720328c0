"""What a pull will do: its parameters, and the chunks to fetch (fresh, resumed, pending or
incremental), read from the archive's coverage through archive/queries/pulls.py."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from archiver.api.query import BULK_PAGE_SIZE
from archiver.archive import coverage
from archiver.archive.chunks import chunks_record, plan_chunks, splits_record
from archiver.archive.errors import StorageError
from archiver.archive.hashing import canonical_json
from archiver.archive.queries import coverage as coverage_q
from archiver.archive.queries import pulls
from archiver.archive.queries.pulls import ChunkRecord
from archiver.archive.queries.reader import Reader
from archiver.archive.store import Archive
from archiver.timerange import (
    DAILY,
    INTERVAL,
    Chunk,
    floor_day,
    last_servable,
    parse_api_bound,
    split,
)


@dataclass(frozen=True)
class PullParams:
    """What to pull. Together they identify a run for resumption."""

    datasets: tuple[str, ...]
    start: datetime
    end: datetime
    daily: bool = False
    filter: str | None = None
    page_size: int = BULK_PAGE_SIZE

    def as_dict(self) -> dict[str, Any]:
        return {
            "datasets": list(self.datasets),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "daily": self.daily,
            "filter": self.filter,
            "page_size": self.page_size,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PullParams:
        return cls(
            tuple(d["datasets"]),
            datetime.fromisoformat(d["start"]),
            datetime.fromisoformat(d["end"]),
            d["daily"],
            d["filter"],
            d["page_size"],
        )

    @property
    def hash(self) -> str:
        return hashlib.sha256(canonical_json(self.as_dict()).encode()).hexdigest()


@dataclass(frozen=True)
class WorkItem:
    chunk: Chunk
    token: str | None = None  # resume from here
    attempts: int = 0  # 202s already seen for this chunk
    request_end: datetime | None = None  # the `ending` a resumed walk's token belongs to


@dataclass
class Plan:
    run_id: str
    params: PullParams | None
    items: list[WorkItem]
    resumed: bool = False
    skipped_done: int = 0
    description: str = ""
    #: the run's chunks as its `pull started` entry records them (archive/chunks.py): the
    #: ranges split into them, or the chunks named; None: the parameters' range
    layout: dict[str, Any] | None = None

    def chunk_layout(self) -> dict[str, Any]:
        """The run's chunks, as recorded (every chunk of the plan, resumed ones included)."""
        if self.layout is not None:
            return self.layout
        p = self.params
        if p is None:
            return chunks_record(i.chunk for i in self.items)
        return splits_record((ds, p.start, p.end, p.daily, p.filter) for ds in p.datasets)

    def chunks(self) -> list[Chunk]:
        """Every chunk of the run (what archive/chunks.plan_chunks makes of its layout)."""
        return plan_chunks(self.chunk_layout())

    def record(self) -> tuple[dict[str, Any], str]:
        """(parameters, their hash) as the run is recorded in the archive."""
        if self.params:
            return self.params.as_dict(), self.params.hash
        params = {"description": self.description, "chunks": len(self.items)}
        return params, hashlib.sha256(canonical_json(params).encode()).hexdigest()

    @property
    def page_size(self) -> int:
        return self.params.page_size if self.params else BULK_PAGE_SIZE


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8]


def resume_item(chunk: Chunk, cov: ChunkRecord) -> WorkItem:
    """Continue a chunk from its saved cursor, with the query that cursor belongs to."""
    token = cov.next_token
    req = cov.request_end
    return WorkItem(
        chunk,
        token,
        cov.attempts,
        parse_api_bound(req) if token and req else None,
    )


class Planner:
    """Plans pulls into one archive file (created and migrated if missing)."""

    def __init__(self, archive_path: Path, now: Callable[[], datetime] | None = None) -> None:
        self.archive_path = archive_path
        self.now = now or (lambda: datetime.now(UTC))

    def _reader(self) -> Reader:
        if not self.archive_path.exists():
            Archive(self.archive_path).close()  # create and migrate
        return Reader(self.archive_path)

    def range(self, params: PullParams) -> Plan:
        """Chunks for ``params``; continues the last unfinished run with the same params."""
        with self._reader() as db:
            run = pulls.newest_run(db, params.hash)
            resume = run is not None and run.status in ("running", "interrupted")
            run_id = run.run_id if run is not None and resume else new_run_id()
            items = []
            skipped = 0
            for ds in params.datasets:
                for chunk in split(
                    ds, params.start, params.end, daily=params.daily, filter=params.filter
                ):
                    cov = pulls.chunk_record(db, chunk)
                    if not (resume and cov is not None and cov.run_id == run_id):
                        items.append(WorkItem(chunk))
                    elif cov.state in ("done", "not_entitled"):
                        skipped += 1
                    else:
                        items.append(resume_item(chunk, cov))
        return Plan(run_id, params, items, resume, skipped)

    def resume(self) -> Plan | None:
        """The newest unfinished run, to continue (``archiver pull --resume``)."""
        with self._reader() as db:
            runs = pulls.unfinished_runs(db)
        if not runs:
            return None
        return self.range(PullParams.from_dict(json.loads(runs[0].params)))

    def retry_pending(self, datasets: list[str] | None = None) -> Plan:
        """Every pending (202) chunk in the archive, retried now."""
        with self._reader() as db:
            rows = pulls.pending_chunks(db)
        items = [
            resume_item(r.chunk, r) for r in rows if not datasets or r.chunk.dataset in datasets
        ]
        return Plan(
            new_run_id(),
            None,
            items,
            description="retry pending chunks",
            layout=chunks_record(i.chunk for i in items),
        )

    def incremental(
        self,
        datasets: list[str],
        *,
        daily: bool,
        filter: str | None,
        lookback: timedelta,
        start: datetime | None,
        page_size: int,
    ) -> Plan:
        """From where each dataset's last completed chunk ended (minus ``lookback``) up to
        the newest interval the API can serve."""
        end = last_servable(self.now(), daily)
        items: list[WorkItem] = []
        ranges: list[tuple[str, datetime, datetime, bool, str | None]] = []
        with self._reader() as db:
            for ds in datasets:
                last = coverage_q.last_done_end(db, ds, DAILY if daily else INTERVAL, filter or "")
                if last is not None:
                    begin = floor_day(last - lookback)
                elif start is not None:
                    begin = start
                else:
                    raise ValueError(
                        f"No completed chunk of {ds} in this archive yet: the first incremental run needs --from."
                    )
                if begin > end:
                    continue
                ranges.append((ds, begin, end, daily, filter))
                items.extend(WorkItem(c) for c in split(ds, begin, end, daily=daily, filter=filter))
        params = PullParams(
            tuple(datasets),
            min((i.chunk.start for i in items), default=end),
            end,
            daily,
            filter,
            page_size,
        )
        return Plan(
            new_run_id(), params, items, description="incremental", layout=splits_record(ranges)
        )

    def reading(self) -> str:
        """The server's reading of `ending` as this archive's earlier walks showed it."""
        try:
            db = self._reader()
        except (OSError, StorageError):
            return coverage.UNKNOWN
        try:
            return coverage_q.server_reading(db).verdict
        except StorageError:
            return coverage.UNKNOWN
        finally:
            db.close()
