"""The one thread that writes the archive during a pull, and the operations it performs.

Workers never touch the archive: they submit named operations (:class:`Ops`) to the
writer's bounded queue; each runs in one transaction and returns the progress event it
causes, which the engine's loop turns into a Progress yield.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from archiver.api import NotReady, Page
from archiver.archive.store import Archive
from archiver.timerange import Chunk

log = logging.getLogger(__name__)

#: (kind, payload): chunk_started, page, chunk_state, waiting, quarantined, overlap_dropped,
#: result (the run's outcome), fatal (the writer failed), writer_done
Event = tuple[str, Any]


class WriterStopped(RuntimeError):
    """The archive writer stopped: nothing more can be stored in this run."""


class ArchiveWriter(threading.Thread):
    """Owns the archive connection; runs submitted operations in order, one at a time."""

    def __init__(
        self, path: Path, events: queue.Queue[Event], maxsize: int, compress: bool
    ) -> None:
        super().__init__(name="archive-writer", daemon=True)
        self.path = path
        self.events = events
        self.compress = compress
        self.jobs: queue.Queue[tuple[Callable[..., Event | None], tuple[Any, ...]] | None] = (
            queue.Queue(maxsize=maxsize)
        )
        self.error: BaseException | None = None
        self.ready = threading.Event()

    def submit(self, op: Callable[..., Event | None], *args: Any) -> None:
        """Queue ``op(archive, *args)``; blocks while the queue is full (bounded memory)."""
        while True:
            if self.error is not None:
                raise WriterStopped(f"the archive writer stopped: {self.error}")
            try:
                self.jobs.put((op, args), timeout=0.2)
                return
            except queue.Full:
                continue

    def stop(self) -> None:
        while self.is_alive():
            try:
                self.jobs.put(None, timeout=0.2)  # stop
                return
            except queue.Full:
                continue

    def run(self) -> None:
        try:
            archive = Archive(self.path, compress=self.compress)
        except BaseException as exc:
            self.error = exc
            self.ready.set()
            self.events.put(("fatal", exc))
            self.events.put(("writer_done", None))
            return
        self.ready.set()
        try:
            while True:
                job = self.jobs.get()
                if job is None:  # stop
                    break
                op, args = job
                try:
                    event = op(archive, *args)
                except BaseException as exc:
                    log.exception("archive write failed")
                    self.error = exc
                    self.events.put(("fatal", exc))
                    break
                if event is not None:
                    self.events.put(event)
        finally:
            archive.close()
            self.events.put(("writer_done", None))


def _info(chunk: Chunk, **more: Any) -> dict[str, Any]:
    return {"dataset": chunk.dataset, "chunk": chunk.start_key, **more}


class Ops:
    """What a pull run asks of the archive; each method runs in the writer thread."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id

    def start_run(self, a: Archive, tenant: str, params: dict[str, Any], params_hash: str) -> None:
        a.start_run(self.run_id, tenant, params, params_hash)

    def resume_run(self, a: Archive) -> None:
        a.resume_run(self.run_id)

    def begin_chunk(self, a: Archive, chunk: Chunk, token: str | None, request_end: str) -> Event:
        a.begin_chunk(chunk, self.run_id, token, request_end)
        return ("chunk_started", _info(chunk))

    def restart_chunk(self, a: Archive, chunk: Chunk, request_end: str) -> None:
        a.begin_chunk(chunk, self.run_id, None, request_end)

    def store_page(self, a: Archive, chunk: Chunk, page: Page, query: dict[str, str]) -> Event:
        res = a.store_page(self.run_id, chunk, page, query)
        return (
            "page",
            _info(
                chunk,
                rows=len(page.records),
                new=res.new,
                duplicates=res.duplicates,
                conflicts=res.conflicts,
                last=page.last,
                page=page.number,
            ),
        )

    def store_not_ready(
        self,
        a: Archive,
        chunk: Chunk,
        resp: NotReady,
        query: dict[str, str],
        retry_at: str | None,
        final: bool,
    ) -> Event:
        """A 202: the chunk is pending (``final``), or the client waits and asks again."""
        a.store_not_ready(self.run_id, chunk, resp, query, retry_at, mark_pending=final)
        if final:
            msg = "202: the API has not processed this interval yet"
            return (
                "chunk_state",
                _info(chunk, state="pending", next_retry_at=retry_at, message=msg),
            )
        return ("waiting", _info(chunk, next_retry_at=retry_at))

    def archive_202(self, a: Archive, chunk: Chunk, resp: NotReady, query: dict[str, str]) -> None:
        """A 202 kept as evidence while the chunk is asked again at once (no state change)."""
        a.store_not_ready(self.run_id, chunk, resp, query, None, mark_pending=False)

    def drop_overlap(self, a: Archive, chunk: Chunk, request_end: str, why: str) -> Event:
        a.drop_overlap(chunk, request_end, why)
        return ("overlap_dropped", _info(chunk, message=why))

    def quarantine(
        self,
        a: Archive,
        chunk: Chunk,
        raw: bytes,
        url: str,
        status: int,
        token: str | None,
        reason: str,
    ) -> Event:
        a.quarantine(self.run_id, chunk, raw, url, status, token, reason)
        return ("quarantined", _info(chunk))

    def set_state(
        self, a: Archive, chunk: Chunk, state: str, message: str, was_running: bool = True
    ) -> Event:
        a.set_chunk_state(chunk, state, message, run_id=self.run_id)
        return (
            "chunk_state",
            _info(chunk, state=state, message=message, was_running=was_running),
        )
