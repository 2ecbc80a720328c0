"""The pull engine: chunks fetched by N workers, written by one archive writer.

``PullEngine.run(plan)`` is a generator: it yields a Progress after every archived page or
chunk state change, so the CLI prints and the GUI emits signals from the same loop, and it
returns the RunResult. Cancel through the engine's :class:`~archiver.jobs.Cancel` token
(``engine.cancel()``): workers stop after the page in flight; everything committed so far
stays and the same command resumes it.

Planning is in :mod:`archiver.pull.plan`, the writer and its operations in
:mod:`archiver.pull.writer`, outcomes in :mod:`archiver.pull.outcome` (read from the
archive after the last page is committed, never assumed).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Generator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from archiver import iofailure
from archiver.api import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    Credentials,
    EntitlementError,
    HistoricalClient,
    NotReady,
    NotReadyPolicy,
    Page,
    PageValidationError,
    Query,
    Tenant,
    TokenProvider,
)
from archiver.api.client import make_session
from archiver.api.errors import LimitExceeded, TokenEndpointUnreachable
from archiver.api.limits import Limits
from archiver.api.retry import RetryPolicy
from archiver.archive import coverage
from archiver.archive.chunks import NO_OVERLAP, NO_OVERLAP_AFTER_202
from archiver.archive.errors import StorageError
from archiver.archive.queries import coverage as coverage_q
from archiver.archive.queries.pulls import run_counts
from archiver.archive.queries.reader import Reader
from archiver.archive.store import Archive, Prepared, prepare
from archiver.jobs import Cancel, Cancelled
from archiver.pull.outcome import (
    EXIT_AUTH,
    EXIT_CANCELLED,
    EXIT_ENTITLEMENT,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    Flags,
    RunResult,
    adopt_counts,
    decide,
)
from archiver.pull.plan import Plan, Planner, PullParams, WorkItem
from archiver.pull.progress import DatasetProgress, Progress
from archiver.pull.writer import ArchiveWriter, Event, Ops, WriterStopped
from archiver.timerange import Chunk, last_servable

log = logging.getLogger(__name__)

#: How far behind the newest ready interval a 202 may still be the overlap's doing.
OVERLAP_WINDOW = timedelta(hours=2)


class PullEngine:
    """Pulls into one archive file. Plain Python: the CLI and the GUI both drive it."""

    def __init__(
        self,
        archive_path: str | Path,
        tenant: Tenant,
        credentials: Credentials,
        *,
        workers: int = 4,
        retry: RetryPolicy | None = None,
        not_ready: NotReadyPolicy | None = None,
        wait_pending: bool = False,
        quarantine_retries: int = 3,
        compress: bool = True,  # raw pages stored zlib-compressed (docs/archive-format.md)
        cancel: Cancel | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.archive_path = Path(archive_path)
        self.tenant = tenant
        self.credentials = credentials
        self.workers = max(1, workers)
        self.retry = retry or RetryPolicy()
        self.not_ready = not_ready or NotReadyPolicy()
        self.wait_pending = wait_pending
        self.quarantine_retries = quarantine_retries
        self.compress = compress
        self.cancel_token = cancel or Cancel()
        #: the clock readiness is judged on (tests set the simulator's)
        self.now: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.result: RunResult | None = None
        #: recorded with a new run's parameters in its `pull started` entry (e.g.
        #: ``{"unattended": True}`` for a scheduled run); never part of the resume identity
        self.run_labels: dict[str, Any] = {}
        if tenant.simulated:  # the archive keeps it with the run: bundles say DEMO
            self.run_labels["simulated"] = True
        #: response limits of every request (body size, deadline, pages per chunk)
        self.limits = limits or Limits()
        self.tokens = TokenProvider(
            tenant, credentials, make_session(tenant, 1), retry=self.retry, limits=self.limits
        )

    def __repr__(self) -> str:
        return f"PullEngine(archive={str(self.archive_path)!r}, tenant={self.tenant.label!r})"

    def cancel(self) -> None:
        self.cancel_token.set()

    @property
    def cancelled(self) -> bool:
        return self.cancel_token.is_set

    # -- planning (archiver.pull.plan) ----------------------------------------------------
    @property
    def planner(self) -> Planner:
        return Planner(self.archive_path, lambda: self.now())

    def plan(self, params: PullParams) -> Plan:
        return self.planner.range(params)

    def plan_resume(self) -> Plan | None:
        return self.planner.resume()

    def plan_retry_pending(self, datasets: list[str] | None = None) -> Plan:
        return self.planner.retry_pending(datasets)

    def plan_incremental(self, datasets: list[str], **kw: Any) -> Plan:
        now = kw.pop("now", None)
        planner = Planner(self.archive_path, (lambda: now) if now else (lambda: self.now()))
        return planner.incremental(datasets, **kw)

    # -- running --------------------------------------------------------------------------
    def run(self, plan: Plan, page_size: int | None = None) -> Generator[Progress, None, RunResult]:
        """Execute ``plan``; yields Progress; returns (and keeps as ``result``) the outcome.

        A cancel asked before the run starts is honoured (the token is never reset here):
        the run records itself and ends interrupted at once."""
        self.result = None
        events: queue.Queue[Event] = queue.Queue()
        writer = ArchiveWriter(
            self.archive_path, events, maxsize=2 * self.workers + 2, compress=self.compress
        )
        writer.start()
        writer.ready.wait()
        state = _RunState(
            plan,
            page_size or plan.page_size,
            writer,
            Ops(plan.run_id, plan.chunks()),
            _progress(plan),
            ThreadPoolExecutor(self.workers, thread_name_prefix="pull-prepare"),
            reading=self.planner.reading(),
        )
        try:
            if writer.error is None:
                self._open_run(state)
            threads = self._start_workers(state)
            yield from self._events(state, events, threads)
            for t in threads:
                t.join()
            writer.join()
        finally:
            state.preparer.shutdown(wait=True)
        if state.result is None:  # the writer could not record the end: count what is there
            state.result = self._decide(state, self._read_counts(state))
            adopt_counts(state.progress, state.result.counts)
        progress = state.progress
        progress.finished = True
        progress.event = f"run {state.result.status}"
        self.result = state.result
        yield progress
        return state.result

    def _open_run(self, state: _RunState) -> None:
        plan = state.plan
        if plan.resumed:
            state.writer.submit(state.ops.resume_run)
        else:
            params, params_hash = plan.record()
            params = {**params, **self.run_labels}
            state.writer.submit(
                state.ops.start_run, self.tenant.label, params, params_hash, plan.chunk_layout()
            )

    def _start_workers(self, state: _RunState) -> list[threading.Thread]:
        work: queue.Queue[WorkItem] = queue.Queue()
        for item in state.plan.items:
            work.put(item)
        threads = [
            threading.Thread(
                target=self._worker, args=(state, work), name=f"pull-worker-{n}", daemon=True
            )
            for n in range(min(self.workers, max(1, len(state.plan.items))))
        ]
        for t in threads:
            t.start()
        return threads

    def _events(
        self, state: _RunState, events: queue.Queue[Event], threads: list[threading.Thread]
    ) -> Generator[Progress, None, None]:
        """Turn the writer's events into progress until the writer has finished."""
        alive, writer_done = True, False
        while alive or not writer_done:
            if alive and all(not t.is_alive() for t in threads):
                alive = False
                self._finish(state)
            try:
                kind, payload = events.get(timeout=0.1)
            except queue.Empty:
                continue
            if kind == "writer_done":
                writer_done = True
                if alive:  # the writer died early: stop the workers
                    self.cancel()
            elif kind == "fatal":
                named = iofailure.named(payload, self.archive_path)
                state.error = (
                    str(named)
                    if named
                    else f"Could not write the archive {self.archive_path}: {payload}"
                )
                state.io_failed = named is not None
                self.cancel()
            elif kind == "result":  # every earlier event is applied: adopt the archive's counts
                adopt_counts(state.progress, payload.counts)
                state.result = payload
            else:
                state.progress.event = _apply(state.progress, kind, payload)
                yield state.progress

    def _finish(self, state: _RunState) -> None:
        """After every worker stopped: the outcome, counted in the writer once the last page
        is committed, then the writer stops."""
        if state.writer.error is None:
            try:
                state.writer.submit(self._record_end, state)
            except WriterStopped:
                pass  # reported as fatal by the writer itself
        state.writer.stop()

    def _record_end(self, a: Archive, state: _RunState) -> Event:
        counts = run_counts(a, state.plan.run_id, state.ops.planned)
        result = self._decide(state, counts)
        result.reading = coverage_q.server_reading(a).describe()
        a.finish_run(state.plan.run_id, result.status, result.summary(), result.flags.as_dict())
        return ("result", result)

    def _decide(self, state: _RunState, counts: dict[str, dict[str, Any]]) -> RunResult:
        flags = Flags(state.error, state.auth_failed, self.cancelled, state.io_failed)
        return decide(state.plan.run_id, state.progress, counts, flags)

    def _read_counts(self, state: _RunState) -> dict[str, dict[str, Any]]:
        """Counts read through a reader when the writer could not finish the run."""
        try:
            db = Reader(self.archive_path)
        except (OSError, StorageError):
            return {}
        try:
            return run_counts(db, state.plan.run_id, state.ops.planned)
        except StorageError:
            return {}
        finally:
            db.close()

    # -- one worker -----------------------------------------------------------------------
    def _worker(self, state: _RunState, work: queue.Queue[WorkItem]) -> None:
        client = HistoricalClient(
            self.tenant,
            tokens=self.tokens,
            retry=self.retry,
            not_ready=self.not_ready if self.wait_pending else None,
            cancel=self.cancel_token,
            limits=self.limits,
        )
        try:
            while not self.cancelled:
                try:
                    item = work.get_nowait()
                except queue.Empty:
                    return
                if not self._run_item(state, client, item):
                    return
        finally:
            client.session.close()

    def _run_item(self, state: _RunState, client: HistoricalClient, item: WorkItem) -> bool:
        """Pull one chunk; False when the worker must stop (cancel, or nothing can work)."""
        chunk = item.chunk
        try:
            _ChunkWalk(self, state, client, item).run()
            return True
        except Cancelled:
            return False
        except WriterStopped as exc:
            state.error = state.error or str(exc)
            self.cancel()
            return False
        except (AuthenticationError, TokenEndpointUnreachable) as exc:
            # every other chunk would fail the same way: fail this one, stop the run
            state.error = str(exc)
            state.auth_failed = isinstance(exc, AuthenticationError)
            state.writer.submit(state.ops.fail, chunk, str(exc))
            self.cancel()
            return False
        except BaseException as exc:  # anything else: this chunk failed, the others go on
            log.exception("pulling %s %s failed", chunk.dataset, chunk.start_key)
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            msg = (
                f"unexpected error while pulling {chunk.dataset} {chunk.start_key}–"
                f"{chunk.end_key}: {reason}. What was archived before it is kept; "
                "rerun the same command to retry this chunk."
            )
            try:
                state.writer.submit(state.ops.fail, chunk, msg)
            except WriterStopped:
                return False
            return True

    # -- the `ending` of a chunk's requests -----------------------------------------------
    def request_end(self, state: _RunState, item: WorkItem) -> tuple[datetime, str]:
        """The `ending` to send, and a note when the overlap is left out on purpose."""
        chunk = item.chunk
        if item.request_end is not None:  # a resumed walk: its token belongs to that query
            return item.request_end, ""
        if chunk.daily:
            return chunk.end, ""
        newest = last_servable(self.now(), daily=False)
        if chunk.request_end > newest and state.reading == coverage.INCLUSIVE:
            return chunk.end, NO_OVERLAP
        return chunk.request_end, ""

    def overlap_may_be_unready(self, req_end: datetime) -> bool:
        """Could a 202 be caused by the overlap interval alone? Only near the newest ready
        interval (within OVERLAP_WINDOW of it, for servers slower than the guide's 30
        minutes); older 202s are the interval itself not processed: pending, as ever."""
        return req_end > last_servable(self.now(), daily=False) - OVERLAP_WINDOW


class _ChunkWalk:
    """One chunk's walk: pages to the archive, 202s, malformed pages, a stale cursor."""

    def __init__(
        self, engine: PullEngine, state: _RunState, client: HistoricalClient, item: WorkItem
    ) -> None:
        self.engine = engine
        self.state = state
        self.client = client
        self.item = item
        self.chunk = item.chunk
        self.submit = state.writer.submit
        self.ops = state.ops
        self.token = item.token
        self.attempts = item.attempts
        self.bad_pages = 0
        self.restarted = False
        self.req_end, note = engine.request_end(state, item)
        self.note = note

    def run(self) -> None:
        chunk, state = self.chunk, self.state
        if chunk.dataset in state.not_entitled:
            self.submit(self.ops.skip, chunk, state.not_entitled[chunk.dataset])
            return
        self.submit(self.ops.begin_chunk, chunk)
        if self.note:
            self.submit(self.ops.drop_overlap, chunk, self.note)
        while not self._attempt():
            pass

    def _query(self) -> Query:
        start: datetime | date = self.chunk.start
        end: datetime | date = self.req_end
        if self.chunk.daily:
            start, end = self.chunk.start.date(), self.req_end.date()
        return Query(
            self.chunk.dataset,
            start,
            end,
            self.chunk.dataset_type,
            self.chunk.filter or None,
            self.state.page_size,
        )

    def _attempt(self) -> bool:
        """Walk from the current cursor; True when the chunk reached a state, False to walk
        again (after a malformed page, a stale cursor or a dropped overlap)."""
        try:
            return self._walk()
        except PageValidationError as exc:
            return self._malformed(exc)
        except BadRequestError as exc:
            if self.token and not self.restarted and "nextPageToken" in exc.detail:
                # the server no longer accepts the saved cursor: walk the chunk again;
                # identical records dedupe, so nothing is archived twice
                self.restarted = True
                self.token = None
                return False
            return self._fail(str(exc))
        except EntitlementError as exc:
            self.state.not_entitled[self.chunk.dataset] = str(exc)
            if exc.response is None:  # no response to archive: the outcome is recorded
                return self._fail(str(exc))
            self.submit(self.ops.store_refused, self.chunk, exc.response, self._query().params())
            return True
        except (AuthenticationError, TokenEndpointUnreachable):
            raise
        except LimitExceeded as exc:
            return self._limit(exc)
        except ApiError as exc:
            return self._fail(str(exc))

    def _walk(self) -> bool:
        """Fetch the chunk's pages in order. A page is prepared (compressed, hashed) in the
        run's preparer while the next one is fetched, and handed to the writer once both
        are done: the worker's request is not delayed by the previous page's CPU work, and
        pages still reach the writer in order, each before anything that follows it."""
        query = self._query()
        qparams = query.params()
        pending: tuple[Page, Future[Prepared]] | None = None
        try:
            for resp in self.client.pages(query, self.token):
                if self.ops.broken(self.chunk):
                    return True  # the archive could not hold a page of it: failed, stop
                if isinstance(resp, NotReady):
                    self._hand_over(pending, qparams)
                    pending = None
                    if self._overlap_202(resp, qparams):
                        return False
                    self.attempts += 1
                    if self._store_202(resp, qparams):
                        return True
                    continue
                assert isinstance(resp, Page)
                started = self.state.preparer.submit(
                    prepare, resp, compress=self.state.writer.compress
                )
                self._hand_over(pending, qparams)
                pending = (resp, started)
        finally:  # a page received before a failure is archived all the same
            self._hand_over(pending, qparams)
        return True

    def _hand_over(
        self, pending: tuple[Page, Future[Prepared]] | None, qparams: dict[str, str]
    ) -> None:
        """Give a fetched page, once prepared, to the writer (a preparation error is raised
        here, in the worker, as if it had been prepared in line)."""
        if pending is None:
            return
        page, started = pending
        self.submit(self.ops.store_page, self.chunk, page, qparams, started.result())
        self.token = page.next_token or self.token

    def _overlap_202(self, resp: NotReady, qparams: dict[str, str]) -> bool:
        """A first-page 202 that the overlap interval may have caused: keep the 202 as
        evidence and ask again without the overlap, saying so."""
        if (
            self.token is not None
            or self.req_end <= self.chunk.end
            or not self.engine.overlap_may_be_unready(self.req_end)
            or self.state.overlap_tried(self.chunk)
        ):
            return False
        self.submit(self.ops.archive_202, self.chunk, resp, qparams)
        self.state.mark_overlap_tried(self.chunk)
        self.req_end = self.chunk.end
        self.submit(self.ops.drop_overlap, self.chunk, NO_OVERLAP_AFTER_202)
        return True

    def _store_202(self, resp: NotReady, qparams: dict[str, str]) -> bool:
        """Archive a 202; True when the chunk is left pending (the client will not wait)."""
        wait = (
            resp.retry_in
            if resp.retry_in is not None
            else self.engine.not_ready.delay(self.attempts)
        )
        when = (
            (datetime.now(UTC) + timedelta(seconds=wait))
            .isoformat(timespec="seconds")
            .replace("+00:00", "Z")
            if wait is not None
            else None
        )
        final = resp.retry_in is None
        self.submit(self.ops.store_not_ready, self.chunk, resp, qparams, when, final)
        return final

    def _malformed(self, exc: PageValidationError) -> bool:
        self.bad_pages += 1
        self.token = exc.token
        self.submit(
            self.ops.quarantine,
            self.chunk,
            exc.raw,
            exc.url,
            exc.status,
            exc.token,
            exc.reason,
            exc.redacted,
        )
        if self.bad_pages > self.engine.quarantine_retries:
            return self._fail(
                f"{exc.reason}; the page at this cursor stayed malformed after "
                f"{self.bad_pages} tries. Run again to retry from it."
            )
        retry = self.engine.retry
        self.client.sleep(min(retry.max_delay, retry.initial * 2 ** (self.bad_pages - 1)))
        return False

    def _limit(self, exc: LimitExceeded) -> bool:
        """A response crossed a limit: keep what arrived (its first EVIDENCE_BYTES) as
        quarantined evidence and fail the chunk, naming the limit. Never retried here: the
        same server would do it again; a rerun tries again from the same cursor."""
        if exc.started:
            self.submit(
                self.ops.quarantine,
                self.chunk,
                exc.raw,
                exc.url,
                exc.status or 0,
                exc.token,
                str(exc),
                exc.redacted,
            )
        return self._fail(str(exc))

    def _fail(self, message: str) -> bool:
        self.submit(self.ops.fail, self.chunk, message)
        return True


@dataclass
class _RunState:
    plan: Plan
    page_size: int
    writer: ArchiveWriter
    ops: Ops
    progress: Progress
    #: prepares fetched pages (compression, record hashes) beside the workers' requests
    preparer: ThreadPoolExecutor
    error: str | None = None
    auth_failed: bool = False
    #: the archive's medium refused a write (full, read-only, permission): iofailure
    io_failed: bool = False
    not_entitled: dict[str, str] = field(default_factory=dict)
    result: RunResult | None = None
    reading: str = coverage.UNKNOWN
    _overlap_tried: set[tuple[str, str, str, str]] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def overlap_tried(self, chunk: Chunk) -> bool:
        with self._lock:
            return _ckey(chunk) in self._overlap_tried

    def mark_overlap_tried(self, chunk: Chunk) -> None:
        with self._lock:
            self._overlap_tried.add(_ckey(chunk))


def _ckey(chunk: Chunk) -> tuple[str, str, str, str]:
    return (chunk.dataset, chunk.dataset_type, chunk.filter, chunk.start_key)


def _progress(plan: Plan) -> Progress:
    datasets = {i.chunk.dataset for i in plan.items} | set(
        plan.params.datasets if plan.params else ()
    )
    progress = Progress({d: DatasetProgress(d) for d in sorted(datasets)})
    for item in plan.items:
        progress.datasets[item.chunk.dataset].chunks_total += 1
    return progress


def _apply(progress: Progress, kind: str, payload: Any) -> str:
    """Update the live tallies from one writer event; return the event as one line."""
    d = progress.datasets[payload["dataset"]]
    chunk = payload["chunk"]
    if kind == "chunk_started":
        d.running += 1
        return f"{d.dataset}: chunk {chunk} started"
    if kind == "page":
        d.pages += 1
        d.rows += payload["rows"]
        d.new_rows += payload["new"]
        d.duplicates += payload["duplicates"]
        d.conflicts += payload["conflicts"]
        if payload["last"]:
            d.chunks_done += 1
            d.running -= 1
        return f"{d.dataset}: page {payload['page']} of chunk {chunk} ({payload['rows']} rows)"
    if kind == "chunk_state":
        return _apply_state(d, payload)
    if kind == "waiting":
        d.next_retry_at = payload.get("next_retry_at")
        d.message = "202: waiting for the API to process this interval"
        return f"{d.dataset}: chunk {chunk} not processed yet; retrying at {d.next_retry_at}"
    if kind == "quarantined":
        d.quarantined += 1
        return f"{d.dataset}: quarantined a malformed page of chunk {chunk}"
    if kind == "overlap_dropped":
        d.message = payload["message"]
        return f"{d.dataset}: chunk {chunk}: {payload['message']}"
    return kind


def _apply_state(d: DatasetProgress, payload: dict[str, Any]) -> str:
    st = payload["state"]
    if payload.get("was_running", True):
        d.running -= 1
    if st == "pending":
        d.pending += 1
        d.next_retry_at = payload.get("next_retry_at")
    elif st == "failed":
        d.failed += 1
    elif st == "not_entitled":
        d.not_entitled = True
    d.message = payload.get("message") or d.message
    return f"{d.dataset}: chunk {payload['chunk']} {st}"


__all__ = [
    "EXIT_AUTH",
    "EXIT_CANCELLED",
    "EXIT_ENTITLEMENT",
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_PARTIAL",
    "EXIT_USAGE",
    "Plan",
    "PullEngine",
    "PullParams",
    "RunResult",
    "WorkItem",
    "run_counts",
]
