"""The one thread that writes the archive during a pull, and the operations it performs.

Workers never touch the archive: they submit named operations (:class:`Ops`) to the
writer's bounded queue; each runs atomically and returns the progress event it causes,
which the engine's loop turns into a Progress yield. Operations already waiting when the
writer is busy commit together (one fsync for a group, each operation a savepoint in it);
their events go out only after the commit, so progress never reports what a kill -9 could
still take back.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from archiver.api import NotReady, Page
from archiver.api.pages import Refused
from archiver.api.redaction import Redacted
from archiver.archive.errors import page_failure
from archiver.archive.store import Archive, Prepared
from archiver.timerange import Chunk

log = logging.getLogger(__name__)

#: a group commits after this many operations (pages) or this many seconds of writing,
#: whichever comes first; only operations already waiting join a group
GROUP_OPS = 32
GROUP_SECONDS = 0.5

#: (kind, payload): chunk_started, page, chunk_state, waiting, quarantined, overlap_dropped,
#: result (the run's outcome), fatal (the writer failed), writer_done
Event = tuple[str, Any]
#: what an operation returns: no event, one, or several in order
Events = Event | list[Event] | None
Job = tuple[Callable[..., Events], tuple[Any, ...]]


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
        self.jobs: queue.Queue[Job | None] = queue.Queue(maxsize=maxsize)
        self.error: BaseException | None = None
        self.ready = threading.Event()

    def submit(self, op: Callable[..., Events], *args: Any) -> None:
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
            job = self.jobs.get()
            while job is not None and self.error is None:
                job = self._group(archive, job)
        finally:
            archive.close()
            self.events.put(("writer_done", None))

    def _group(self, archive: Archive, job: Job) -> Job | None:
        """Run ``job`` and whatever else is already waiting (up to GROUP_OPS operations or
        GROUP_SECONDS) in one transaction; their events go out only once it committed.
        Returns the next job, or None to stop."""
        events: list[Event] = []
        failed: BaseException | None = None
        stop = False
        deadline = time.monotonic() + GROUP_SECONDS
        try:
            with archive.group() as group:
                for n in range(1, GROUP_OPS + 1):
                    op, args = job
                    try:
                        event = op(archive, *args)
                    except BaseException as exc:  # undone alone (its savepoint)
                        failed = exc
                        break
                    if isinstance(event, list):
                        events.extend(event)
                    elif event is not None:
                        events.append(event)
                    if n == GROUP_OPS or time.monotonic() >= deadline:
                        break
                    try:
                        waiting = self.jobs.get_nowait()
                    except queue.Empty:
                        break
                    if waiting is None:
                        stop = True
                        break
                    job = waiting
                stored = group.open
        except BaseException as exc:  # the commit failed: nothing of the group is stored
            failed, stored = failed or exc, False
        if stored:
            for event in events:
                self.events.put(event)
        if failed is not None:
            log.error("archive write failed", exc_info=failed)
            self.error = failed
            self.events.put(("fatal", failed))
            return None
        return None if stop else self.jobs.get()


def _key(chunk: Chunk) -> tuple[str, str, str, str]:
    return (chunk.dataset, chunk.dataset_type, chunk.filter, chunk.start_key)


def _info(chunk: Chunk, **more: Any) -> dict[str, Any]:
    return {"dataset": chunk.dataset, "chunk": chunk.start_key, **more}


class Ops:
    """What a pull run asks of the archive; each method runs in the writer thread.


    A page the archive cannot hold (more columns than a table can have, a value no column
    takes: :func:`~archiver.archive.errors.page_failure`) is quarantined with the reason
    and fails its chunk alone (one transaction: its ``quarantined`` and ``chunk failed``
    entries, the message from archive/chunks.py, which the replay derives the same way):
    the chunk is *broken* for the rest of the run (what its walk still sends is not stored;
    its worker stops at the next page), and every other chunk and dataset goes on. A
    failure of the medium (a full disk…) still stops the run.

    Coverage rows change only with what is archived (archive/chunks.py): a walk starting or
    dropping its overlap is an event for the progress, not a write."""

    def __init__(self, run_id: str, planned: list[Chunk] | None = None) -> None:
        self.run_id = run_id
        #: every chunk of the run's plan (a 403 marks those of its dataset not walked yet)
        self.planned = planned or []
        self._broken: set[tuple[str, str, str, str]] = set()
        self._lock = threading.Lock()

    def broken(self, chunk: Chunk) -> bool:
        """Did the archive refuse a page of ``chunk`` in this run? (asked by workers)"""
        with self._lock:
            return _key(chunk) in self._broken

    def start_run(
        self,
        a: Archive,
        tenant: str,
        params: dict[str, Any],
        params_hash: str,
        layout: dict[str, Any] | None = None,
    ) -> None:
        a.start_run(self.run_id, tenant, params, params_hash, layout)

    def resume_run(self, a: Archive) -> None:
        a.resume_run(self.run_id)

    def begin_chunk(self, a: Archive, chunk: Chunk) -> Event:
        return ("chunk_started", _info(chunk))

    def store_page(
        self,
        a: Archive,
        chunk: Chunk,
        page: Page,
        query: dict[str, str],
        prepared: Prepared | None = None,
    ) -> Events:
        if self.broken(chunk):
            return None  # a page after one the archive could not hold: not stored
        try:
            res = a.store_page(self.run_id, chunk, page, query, prepared)
        except BaseException as exc:
            if not page_failure(exc):
                raise  # the medium failed: the run stops
            return self._cannot_hold(a, chunk, page, exc)
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

    def _cannot_hold(self, a: Archive, chunk: Chunk, page: Page, exc: BaseException) -> Events:
        """Quarantine the page the archive refused, fail its chunk naming why."""
        log.warning(
            "%s %s page %d not stored: %s", chunk.dataset, chunk.start_key, page.number, exc
        )
        message = a.cannot_hold(self.run_id, chunk, page, str(exc) or type(exc).__name__)
        with self._lock:
            self._broken.add(_key(chunk))
        return [
            ("quarantined", _info(chunk)),
            ("chunk_state", _info(chunk, state="failed", message=message)),
        ]

    def store_not_ready(
        self,
        a: Archive,
        chunk: Chunk,
        resp: NotReady,
        query: dict[str, str],
        retry_at: str | None,
        final: bool,
    ) -> Events:
        """A 202: the chunk is pending (``final``), or the client waits and asks again."""
        if self.broken(chunk):
            return None  # its walk ended when a page could not be stored
        a.store_not_ready(self.run_id, chunk, resp, query, retry_at, mark_pending=final)
        if final:
            msg = "202: the API has not processed this interval yet"
            return (
                "chunk_state",
                _info(chunk, state="pending", next_retry_at=retry_at, message=msg),
            )
        return ("waiting", _info(chunk, next_retry_at=retry_at))

    def archive_202(self, a: Archive, chunk: Chunk, resp: NotReady, query: dict[str, str]) -> None:
        """A 202 kept as evidence while the chunk is asked again at once."""
        if self.broken(chunk):
            return None  # its walk ended when a page could not be stored
        a.store_not_ready(self.run_id, chunk, resp, query, None, mark_pending=False)

    def store_refused(
        self, a: Archive, chunk: Chunk, resp: Refused, query: dict[str, str]
    ) -> Events:
        """A 403: archived; the chunk and the run's other chunks of the dataset are not
        entitled."""
        if self.broken(chunk):
            return None  # its walk ended when a page could not be stored
        message = a.store_refused(self.run_id, chunk, resp, query, self.planned)
        return ("chunk_state", _info(chunk, state="not_entitled", message=message))

    def drop_overlap(self, a: Archive, chunk: Chunk, why: str) -> Events:
        if self.broken(chunk):
            return None  # its walk ended when a page could not be stored
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
        redacted: Redacted | None = None,
    ) -> Events:
        if self.broken(chunk):
            return None  # its walk ended when a page could not be stored
        a.quarantine(self.run_id, chunk, raw, url, status, token, reason, redacted)
        return ("quarantined", _info(chunk))

    def fail(self, a: Archive, chunk: Chunk, message: str) -> Events:
        """The chunk's walk stopped on an error (a ``chunk failed`` entry)."""
        if self.broken(chunk):
            return None  # it failed already: a page could not be stored
        a.chunk_failed(self.run_id, chunk, message)
        return ("chunk_state", _info(chunk, state="failed", message=message))

    def skip(self, a: Archive, chunk: Chunk, message: str) -> Event:
        """A chunk not asked for: its dataset was refused (403) earlier in the run (the
        refusal marked it not entitled)."""
        return (
            "chunk_state",
            _info(chunk, state="not_entitled", message=message, was_running=False),
        )
