"""The pull engine: chunks fetched by N workers, written by one archive writer.

``PullEngine.run(plan)`` is a generator: it yields a Progress after every archived page or
chunk state change, so the CLI prints and the GUI emits signals from the same loop. Cancel
with ``engine.cancel()``: workers stop after the page in flight; everything committed so
far stays and the same command resumes it.

Outcomes are read from the archive, never assumed: when the workers are done, the writer
(after committing the last page) counts what this run stored and where each of its chunks
stands; a chunk that did not reach a final state is not archived, and any exception while
pulling a chunk fails that chunk with its reason.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from archiver.api import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    CancelledError,
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
from archiver.api.errors import TokenEndpointUnreachable
from archiver.api.retry import RetryPolicy
from archiver.archive import coverage
from archiver.archive.hashing import canonical_json
from archiver.archive.store import Archive, open_reader, utc_now
from archiver.pull.progress import DatasetProgress, Progress
from archiver.timerange import (
    INTERVAL,
    Chunk,
    api_format,
    floor_day,
    last_servable,
    parse_api_bound,
    split,
)

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3
EXIT_AUTH = 4
EXIT_ENTITLEMENT = 5
EXIT_CANCELLED = 130

#: How far behind the newest ready interval a 202 may still be the overlap's doing.
OVERLAP_WINDOW = timedelta(hours=2)


@dataclass(frozen=True)
class PullParams:
    """What to pull. Together they identify a run for resumption."""

    datasets: tuple[str, ...]
    start: datetime
    end: datetime
    daily: bool = False
    filter: str | None = None
    page_size: int = 200

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


@dataclass
class RunResult:
    run_id: str
    status: str  # finished | partial | interrupted | failed
    exit_code: int
    progress: Progress
    error: str | None = None
    #: per dataset, read from the archive after the last page committed (store.run_counts)
    counts: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: the server's reading of an interval `ending`, as this archive's walks show it
    reading: str = ""

    def summary(self) -> dict[str, Any]:
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
                    "unfinished": self.counts.get(name, {}).get("unfinished", 0),
                    "not_entitled": d.not_entitled,
                    "pages": d.pages,
                    "rows": d.rows,
                    "new_versions": d.new_rows,
                    "duplicates": d.duplicates,
                    "conflicts": d.conflicts,
                    "quarantined": d.quarantined,
                    "overlap_dropped": self.counts.get(name, {}).get("overlap_dropped", 0),
                    "message": d.message,
                }
                for name, d in self.progress.datasets.items()
            },
        }


_STOP = object()


class _Writer(threading.Thread):
    """The only thread that writes the archive. Work arrives as callables on a bounded queue."""

    def __init__(self, path: Path, events: queue.Queue, maxsize: int, compress: bool) -> None:
        super().__init__(name="archive-writer", daemon=True)
        self.path = path
        self.events = events
        self.compress = compress
        self.jobs: queue.Queue = queue.Queue(maxsize=maxsize)
        self.error: BaseException | None = None
        self.ready = threading.Event()

    def submit(self, fn: Callable[[Archive], Any]) -> None:
        while True:
            if self.error is not None:
                raise _WriterStopped(f"the archive writer stopped: {self.error}")
            try:
                self.jobs.put(fn, timeout=0.2)
                return
            except queue.Full:
                continue

    def stop(self) -> None:
        while self.is_alive():
            try:
                self.jobs.put(_STOP, timeout=0.2)
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
                fn = self.jobs.get()
                if fn is _STOP:
                    break
                try:
                    event = fn(archive)
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
        compress: bool = False,
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
        self._cancel = threading.Event()
        #: the clock readiness is judged on (tests set the simulator's)
        self.now: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.result: RunResult | None = None
        self.tokens = TokenProvider(tenant, credentials, make_session(tenant, 1), retry=self.retry)

    def __repr__(self) -> str:
        return f"PullEngine(archive={str(self.archive_path)!r}, tenant={self.tenant.label!r})"

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    # -- planning -------------------------------------------------------------------------
    def _reader(self):
        if not self.archive_path.exists():
            Archive(self.archive_path).close()  # create and migrate
        return open_reader(self.archive_path)

    def plan(self, params: PullParams) -> Plan:
        """Chunks for ``params``; continues the last unfinished run with the same params."""
        conn = self._reader()
        try:
            row = conn.execute(
                "SELECT run_id, status FROM runs WHERE params_hash=? ORDER BY started_at DESC LIMIT 1",
                (params.hash,),
            ).fetchone()
            resume = row is not None and row["status"] in ("running", "interrupted")
            run_id = row["run_id"] if resume else new_run_id()
            items = []
            skipped = 0
            for ds in params.datasets:
                for chunk in split(
                    ds, params.start, params.end, daily=params.daily, filter=params.filter
                ):
                    cov = coverage.chunk_row(conn, chunk)
                    if resume and cov is not None and cov["run_id"] == run_id:
                        if cov["state"] in ("done", "not_entitled"):
                            skipped += 1
                            continue
                        items.append(_resume_item(chunk, cov))
                    else:
                        items.append(WorkItem(chunk))
        finally:
            conn.close()
        return Plan(run_id, params, items, resume, skipped)

    def plan_resume(self) -> Plan | None:
        """The newest unfinished run, to continue (``archiver pull --resume``)."""
        conn = self._reader()
        try:
            row = conn.execute(
                "SELECT params FROM runs WHERE status IN ('running','interrupted') ORDER BY started_at DESC LIMIT 1"
            ).fetchone()
        finally:
            conn.close()
        if row is None:
            return None
        return self.plan(PullParams.from_dict(json.loads(row["params"])))

    def plan_retry_pending(self, datasets: list[str] | None = None) -> Plan:
        """Every pending (202) chunk in the archive, retried now."""
        conn = self._reader()
        try:
            rows = coverage.pending_chunks(conn)
        finally:
            conn.close()
        items = [
            _resume_item(coverage.chunk_of(r), r)
            for r in rows
            if not datasets or r["dataset"] in datasets
        ]
        return Plan(new_run_id(), None, items, description="retry pending chunks")

    def plan_incremental(
        self,
        datasets: list[str],
        *,
        daily: bool,
        filter: str | None,
        lookback: timedelta,
        start: datetime | None,
        page_size: int,
        now: datetime | None = None,
    ) -> Plan:
        """From where each dataset's last completed chunk ended (minus ``lookback``) up to
        the newest interval the API can serve."""
        now = now or self.now()
        end = last_servable(now, daily)
        conn = self._reader()
        items: list[WorkItem] = []
        try:
            for ds in datasets:
                last = coverage.last_done_end(
                    conn, ds, "daily" if daily else INTERVAL, filter or ""
                )
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
                items.extend(WorkItem(c) for c in split(ds, begin, end, daily=daily, filter=filter))
        finally:
            conn.close()
        params = PullParams(
            tuple(datasets),
            min((i.chunk.start for i in items), default=end),
            end,
            daily,
            filter,
            page_size,
        )
        return Plan(new_run_id(), params, items, description="incremental")

    # -- running --------------------------------------------------------------------------
    def run(self, plan: Plan, page_size: int | None = None) -> Iterator[Progress]:
        """Execute ``plan``; yields Progress; the last yield has ``finished`` and the
        engine's ``result`` is set (also the generator's return value)."""
        self._cancel.clear()
        self.result = None
        size = page_size or (plan.params.page_size if plan.params else 200)
        events: queue.Queue = queue.Queue()
        writer = _Writer(
            self.archive_path, events, maxsize=2 * self.workers + 2, compress=self.compress
        )
        writer.start()
        writer.ready.wait()
        datasets = {i.chunk.dataset for i in plan.items} | set(
            plan.params.datasets if plan.params else ()
        )
        progress = Progress({d: DatasetProgress(d) for d in sorted(datasets)})
        for item in plan.items:
            progress.datasets[item.chunk.dataset].chunks_total += 1
        state = _RunState(plan, size, writer, progress, reading=self._known_reading())
        params = (
            plan.params.as_dict()
            if plan.params
            else {"description": plan.description, "chunks": len(plan.items)}
        )
        params_hash = (
            plan.params.hash
            if plan.params
            else hashlib.sha256(canonical_json(params).encode()).hexdigest()
        )
        if writer.error is None:
            if plan.resumed:
                writer.submit(lambda a: a.resume_run(plan.run_id))
            else:
                writer.submit(
                    lambda a: a.start_run(plan.run_id, self.tenant.label, params, params_hash)
                )
        work: queue.Queue[WorkItem] = queue.Queue()
        for item in plan.items:
            work.put(item)
        threads = [
            threading.Thread(
                target=self._worker, args=(state, work), name=f"pull-worker-{n}", daemon=True
            )
            for n in range(min(self.workers, max(1, len(plan.items))))
        ]
        for t in threads:
            t.start()
        alive = len(threads)
        writer_done = False
        while alive or not writer_done:
            if alive and all(not t.is_alive() for t in threads):
                alive = 0
                if writer.error is None:
                    try:
                        writer.submit(self._finish_fn(state))
                    except RuntimeError:
                        pass  # the writer stopped meanwhile: reported as fatal below
                writer.stop()
            try:
                kind, payload = events.get(timeout=0.1)
            except queue.Empty:
                continue
            if kind == "writer_done":
                writer_done = True
                if alive:  # writer died early: stop the workers
                    self.cancel()
                continue
            if kind == "fatal":
                state.error = f"Could not write the archive {self.archive_path}: {payload}"
                self.cancel()
                continue
            if kind == "result":
                state.result = payload
                continue
            progress.event = self._apply(progress, kind, payload)
            yield progress
        for t in threads:
            t.join()
        writer.join()
        if state.result is None:  # the writer could not record the end: say so, count what is there
            state.result = self._result(state, self._read_counts(state))
        progress.finished = True
        progress.event = f"run {state.result.status}"
        self.result = state.result
        yield progress
        return state.result

    def _known_reading(self) -> str:
        """The server's reading of `ending` as this archive's earlier walks showed it."""
        try:
            conn = self._reader()
        except (OSError, sqlite3.Error):
            return coverage.UNKNOWN
        try:
            return coverage.server_reading(conn).verdict
        except sqlite3.Error:
            return coverage.UNKNOWN
        finally:
            conn.close()

    def _apply(self, progress: Progress, kind: str, payload: Any) -> str:
        d = progress.datasets[payload["dataset"]]
        if kind == "chunk_started":
            d.running += 1
            return f"{d.dataset}: chunk {payload['chunk']} started"
        if kind == "page":
            d.pages += 1
            d.rows += payload["rows"]
            d.new_rows += payload["new"]
            d.duplicates += payload["duplicates"]
            d.conflicts += payload["conflicts"]
            if payload["last"]:
                d.chunks_done += 1
                d.running -= 1
            return f"{d.dataset}: page {payload['page']} of chunk {payload['chunk']} ({payload['rows']} rows)"
        if kind == "chunk_state":
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
        if kind == "waiting":
            d.next_retry_at = payload.get("next_retry_at")
            d.message = "202: waiting for the API to process this interval"
            return f"{d.dataset}: chunk {payload['chunk']} not processed yet; retrying at {d.next_retry_at}"
        if kind == "quarantined":
            d.quarantined += 1
            return f"{d.dataset}: quarantined a malformed page of chunk {payload['chunk']}"
        if kind == "overlap_dropped":
            d.message = payload["message"]
            return f"{d.dataset}: chunk {payload['chunk']}: {payload['message']}"
        return kind

    # -- one worker -----------------------------------------------------------------------
    def _worker(self, state: _RunState, work: queue.Queue[WorkItem]) -> None:
        client = HistoricalClient(
            self.tenant,
            tokens=self.tokens,
            retry=self.retry,
            not_ready=self.not_ready if self.wait_pending else None,
            cancel=self._cancel,
        )
        try:
            while not self._cancel.is_set():
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
        info = {"dataset": chunk.dataset, "chunk": chunk.start_key}
        try:
            self._pull_chunk(state, client, item)
            return True
        except CancelledError:
            return False
        except _WriterStopped as exc:
            state.error = state.error or str(exc)
            self.cancel()
            return False
        except (AuthenticationError, TokenEndpointUnreachable) as exc:
            # every other chunk would fail the same way: fail this one, stop the run
            state.error = str(exc)
            state.auth_failed = isinstance(exc, AuthenticationError)
            self._fail(state, chunk, info, str(exc))
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
                self._fail(state, chunk, info, msg)
            except _WriterStopped:
                return False
            return True

    def _pull_chunk(self, state: _RunState, client: HistoricalClient, item: WorkItem) -> None:
        chunk, run_id, writer = item.chunk, state.plan.run_id, state.writer
        info = {"dataset": chunk.dataset, "chunk": chunk.start_key}
        if chunk.dataset in state.not_entitled:
            msg = state.not_entitled[chunk.dataset]
            self._state(
                state, chunk, "not_entitled", msg, {**info, "message": msg, "was_running": False}
            )
            return
        req_end, note = self._request_end(state, item)
        token = item.token
        attempts = item.attempts
        bad_pages = 0
        restarted = False
        rkey = api_format(req_end, chunk.dataset_type)
        writer.submit(
            lambda a, t=token, k=rkey: (
                a.begin_chunk(chunk, run_id, t, k),
                ("chunk_started", info),
            )[1]
        )
        if note:
            self._note_overlap(state, chunk, info, req_end, note)
        while True:
            query = self._query(state, chunk, req_end)
            qparams = query.params()
            try:
                for resp in client.pages(query, token):
                    if isinstance(resp, NotReady):
                        if (
                            token is None
                            and req_end > chunk.end
                            and self._overlap_may_be_unready(req_end)
                            and not state.overlap_tried(chunk)
                        ):
                            # the overlap interval may be what is not ready: archive the 202,
                            # ask again without it, and record that
                            writer.submit(
                                lambda a, r=resp, q=qparams: (
                                    a.store_not_ready(
                                        run_id, chunk, r, q, None, mark_pending=False
                                    ),
                                    None,
                                )[1]
                            )
                            state.mark_overlap_tried(chunk)
                            req_end = chunk.end
                            rkey = api_format(req_end, chunk.dataset_type)
                            self._note_overlap(
                                state,
                                chunk,
                                info,
                                req_end,
                                "asked without the one-interval overlap: the API answered 202 "
                                "(not processed yet) for the interval after this chunk",
                            )
                            break
                        attempts += 1
                        if self._store_202(state, chunk, info, resp, qparams, attempts):
                            return
                        continue
                    assert isinstance(resp, Page)

                    def store(a: Archive, p=resp, q=qparams) -> tuple:
                        res = a.store_page(run_id, chunk, p, q)
                        return (
                            "page",
                            {
                                **info,
                                "rows": len(p.records),
                                "new": res.new,
                                "duplicates": res.duplicates,
                                "conflicts": res.conflicts,
                                "last": p.last,
                                "page": p.number,
                            },
                        )

                    writer.submit(store)
                    token = resp.next_token or token
                else:
                    return
            except PageValidationError as exc:
                bad_pages += 1
                token = exc.token
                writer.submit(
                    lambda a, e=exc: (
                        a.quarantine(run_id, chunk, e.raw, e.url, e.status, e.token, e.reason),
                        ("quarantined", info),
                    )[1]
                )
                if bad_pages > self.quarantine_retries:
                    msg = f"{exc.reason}; the page at this cursor stayed malformed after {bad_pages} tries. Run again to retry from it."
                    self._fail(state, chunk, info, msg)
                    return
                client.sleep(min(self.retry.max_delay, self.retry.initial * 2 ** (bad_pages - 1)))
            except BadRequestError as exc:
                if token and not restarted and "nextPageToken" in exc.detail:
                    # the server no longer accepts the saved cursor: walk the chunk again;
                    # identical records dedupe, so nothing is archived twice
                    restarted = True
                    token = None
                    writer.submit(
                        lambda a, k=rkey: (a.begin_chunk(chunk, run_id, None, k), None)[1]
                    )
                    continue
                self._fail(state, chunk, info, str(exc))
                return
            except EntitlementError as exc:
                state.not_entitled[chunk.dataset] = str(exc)
                self._state(state, chunk, "not_entitled", str(exc), {**info, "message": str(exc)})
                return
            except (CancelledError, AuthenticationError, TokenEndpointUnreachable):
                raise
            except ApiError as exc:
                self._fail(state, chunk, info, str(exc))
                return

    def _request_end(self, state: _RunState, item: WorkItem) -> tuple[datetime, str]:
        """The `ending` to send, and a note when the overlap is left out on purpose."""
        chunk = item.chunk
        if item.request_end is not None:  # a resumed walk: its token belongs to that query
            return item.request_end, ""
        if chunk.daily:
            return chunk.end, ""
        newest = last_servable(self.now(), daily=False)
        if chunk.request_end > newest and state.reading == coverage.INCLUSIVE:
            return chunk.end, (
                "asked without the one-interval overlap (the interval after this chunk is not "
                "ready yet); earlier walks of this archive show the server's `ending` is inclusive"
            )
        return chunk.request_end, ""

    def _overlap_may_be_unready(self, req_end: datetime) -> bool:
        """Could a 202 be caused by the overlap interval alone? Only near the newest ready
        interval (within OVERLAP_WINDOW of it, for servers slower than the guide's 30
        minutes); older 202s are the interval itself not processed: pending, as ever."""
        return req_end > last_servable(self.now(), daily=False) - OVERLAP_WINDOW

    def _query(self, state: _RunState, chunk: Chunk, req_end: datetime) -> Query:
        start: datetime | Any = chunk.start
        end: datetime | Any = req_end
        if chunk.daily:
            start, end = chunk.start.date(), req_end.date()
        return Query(
            chunk.dataset, start, end, chunk.dataset_type, chunk.filter or None, state.page_size
        )

    def _note_overlap(
        self, state: _RunState, chunk: Chunk, info: dict, req_end: datetime, why: str
    ) -> None:
        key = api_format(req_end, chunk.dataset_type)
        state.writer.submit(
            lambda a: (
                a.drop_overlap(chunk, key, why),
                ("overlap_dropped", {**info, "message": why}),
            )[1]
        )

    def _store_202(
        self,
        state: _RunState,
        chunk: Chunk,
        info: dict,
        resp: NotReady,
        qparams: dict[str, str],
        attempts: int,
    ) -> bool:
        """Archive a 202; True when the chunk is left pending (the client will not wait)."""
        run_id = state.plan.run_id
        wait = resp.retry_in if resp.retry_in is not None else self.not_ready.delay(attempts)
        when = (
            (datetime.now(UTC) + timedelta(seconds=wait))
            .isoformat(timespec="seconds")
            .replace("+00:00", "Z")
            if wait is not None
            else None
        )
        final = resp.retry_in is None

        def store_202(a: Archive) -> tuple:
            a.store_not_ready(run_id, chunk, resp, qparams, when, mark_pending=final)
            if final:
                return (
                    "chunk_state",
                    {
                        **info,
                        "state": "pending",
                        "next_retry_at": when,
                        "message": "202: the API has not processed this interval yet",
                    },
                )
            return ("waiting", {**info, "next_retry_at": when})

        state.writer.submit(store_202)
        return final

    def _state(self, state: _RunState, chunk: Chunk, st: str, message: str, info: dict) -> None:
        run_id = state.plan.run_id

        def write(a: Archive) -> tuple:
            a.set_chunk_state(chunk, st, message, run_id=run_id)
            return ("chunk_state", {**info, "state": st})

        state.writer.submit(write)

    def _fail(self, state: _RunState, chunk: Chunk, info: dict, message: str) -> None:
        self._state(state, chunk, "failed", message, {**info, "message": message})

    # -- the end --------------------------------------------------------------------------
    def _finish_fn(self, state: _RunState) -> Callable[[Archive], Any]:
        """Runs in the writer after every page of the run is committed: the outcome and
        the custody record come from the archive's own counts."""

        def finish(a: Archive) -> tuple:
            counts = run_counts(a.conn, state.plan.run_id, [i.chunk for i in state.plan.items])
            result = self._result(state, counts)
            result.reading = coverage.server_reading(a.conn).describe()
            a.finish_run(state.plan.run_id, result.status, result.summary())
            return ("result", result)

        return finish

    def _read_counts(self, state: _RunState) -> dict[str, dict[str, Any]]:
        """Counts read through a reader when the writer could not finish the run."""
        try:
            conn = open_reader(self.archive_path)
        except (OSError, sqlite3.Error):
            return {}
        try:
            return run_counts(conn, state.plan.run_id, [i.chunk for i in state.plan.items])
        except sqlite3.Error:
            return {}
        finally:
            conn.close()

    def _result(self, state: _RunState, counts: dict[str, dict[str, Any]]) -> RunResult:
        p = state.progress
        for name, c in counts.items():  # what the archive holds replaces the live tallies
            d = p.datasets.setdefault(name, DatasetProgress(name))
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
        done = sum(c["done"] for c in counts.values())
        bad = sum(c["failed"] + c["unfinished"] for c in counts.values())
        pending = sum(c["pending"] for c in counts.values())
        not_entitled = any(c["not_entitled"] for c in counts.values())
        if state.auth_failed:
            status, code = "failed", EXIT_AUTH
        elif state.error and not counts:
            status, code = "failed", EXIT_ERROR
        elif self._cancel.is_set() and not state.error:
            status, code = "interrupted", EXIT_CANCELLED
        elif bad or state.error:
            status, code = "failed", EXIT_PARTIAL if done else EXIT_ERROR
        elif pending:
            status, code = "partial", EXIT_PARTIAL
        elif not_entitled:
            status, code = "finished", EXIT_ENTITLEMENT
        else:
            status, code = "finished", EXIT_OK
        error = state.error
        if error is None and bad:
            first = next((m for c in counts.values() for m in c["failures"]), "")
            error = f"{bad} chunk(s) not archived" + (f"; first: {first}" if first else "")
        return RunResult(state.plan.run_id, status, code, p, error, counts)


class _WriterStopped(RuntimeError):
    """The archive writer stopped: nothing more can be stored in this run."""


@dataclass
class _RunState:
    plan: Plan
    page_size: int
    writer: _Writer
    progress: Progress
    error: str | None = None
    auth_failed: bool = False
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


def _resume_item(chunk: Chunk, cov: sqlite3.Row) -> WorkItem:
    """Continue a chunk from its saved cursor, with the query that cursor belongs to."""
    token = cov["next_token"]
    req = cov["request_end"]
    return WorkItem(
        chunk,
        token,
        cov["attempts"],
        parse_api_bound(req) if token and req else None,
    )


def run_counts(
    conn: sqlite3.Connection, run_id: str, chunks: list[Chunk]
) -> dict[str, dict[str, Any]]:
    """Per dataset: what this run stored and where each of its chunks stands, from the archive."""
    out: dict[str, dict[str, Any]] = {}

    def entry(ds: str) -> dict[str, Any]:
        return out.setdefault(
            ds,
            {
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
            },
        )

    for chunk in chunks:
        e = entry(chunk.dataset)
        e["chunks"] += 1
        row = coverage.chunk_row(conn, chunk)
        st = row["state"] if row is not None and row["run_id"] == run_id else None
        if st in ("done", "pending", "failed", "not_entitled"):
            e[st] += 1
        else:
            e["unfinished"] += 1
            e["failures"].append(f"{chunk.dataset} {chunk.start_key}: never finished")
        if row is not None and row["run_id"] == run_id:
            e["overlap_dropped"] += int(row["overlap_dropped"] or 0)
            if st == "failed" and row["message"]:
                e["failures"].append(f"{chunk.dataset} {chunk.start_key}: {row['message']}")
            if row["message"] and st != "done" and row["message"] not in e["messages"]:
                e["messages"].append(row["message"])
    for ds, status, pages, rows in conn.execute(
        "SELECT dataset, http_status, count(*), coalesce(sum(record_count), 0) FROM pages WHERE run_id=? GROUP BY dataset, http_status",
        (run_id,),
    ):
        e = entry(ds)
        if status == 200:
            e["pages"] += pages
            e["rows"] += rows
        else:
            e["not_ready"] += pages
    for ds, n, conflicts in conn.execute(
        """SELECT p.dataset, count(r.record_id), coalesce(sum(r.conflict), 0)
           FROM pages p JOIN records r ON r.page_id = p.page_id WHERE p.run_id=? GROUP BY p.dataset""",
        (run_id,),
    ):
        entry(ds)["new_versions"] += n
        entry(ds)["conflicts"] += conflicts
    for ds, n in conn.execute(
        "SELECT dataset, count(*) FROM quarantine WHERE run_id=? GROUP BY dataset", (run_id,)
    ):
        entry(ds)["quarantined"] += n
    return out


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8]


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
    "utc_now",
]
