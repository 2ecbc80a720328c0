"""The pull engine: day chunks fetched by N workers, written by one archive writer.

``PullEngine.run(plan)`` is a generator: it yields a Progress after every archived page or
chunk state change, so the CLI prints and the GUI emits signals from the same loop. Cancel
with ``engine.cancel()``: workers stop after the page in flight; everything committed so
far stays and the same command resumes it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
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
from archiver.archive.hashing import canonical_json
from archiver.archive.store import Archive, Chunk, open_reader, utc_now
from archiver.pull.chunks import chunk_bounds, floor_day, last_servable, parse_api_bound, split
from archiver.pull.progress import DatasetProgress, Progress

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3
EXIT_AUTH = 4
EXIT_ENTITLEMENT = 5
EXIT_CANCELLED = 130


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
    chunks: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "exit_code": self.exit_code,
            "error": self.error,
            "datasets": {
                name: {
                    "state": d.state,
                    "chunks": d.chunks_total,
                    "chunks_done": d.chunks_done,
                    "pending": d.pending,
                    "failed": d.failed,
                    "pages": d.pages,
                    "rows": d.rows,
                    "new_versions": d.new_rows,
                    "duplicates": d.duplicates,
                    "conflicts": d.conflicts,
                    "quarantined": d.quarantined,
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
                raise RuntimeError(f"the archive writer stopped: {self.error}")
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
                    cov = _coverage(conn, chunk)
                    if resume and cov is not None and cov["run_id"] == run_id:
                        if cov["state"] in ("done", "not_entitled"):
                            skipped += 1
                            continue
                        items.append(WorkItem(chunk, cov["next_token"], cov["attempts"]))
                    else:
                        items.append(WorkItem(chunk, None, 0))
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
            rows = conn.execute(
                "SELECT * FROM coverage WHERE state='pending' ORDER BY dataset, chunk_start"
            ).fetchall()
        finally:
            conn.close()
        items = [
            WorkItem(
                Chunk(
                    r["dataset"], r["dataset_type"], r["filter"], r["chunk_start"], r["chunk_end"]
                ),
                r["next_token"],
                r["attempts"],
            )
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
        now = now or datetime.now(UTC)
        end = last_servable(now, daily)
        conn = self._reader()
        items: list[WorkItem] = []
        try:
            for ds in datasets:
                row = conn.execute(
                    "SELECT max(chunk_end) FROM coverage WHERE dataset=? AND dataset_type=? AND filter=? AND state='done'",
                    (ds, "daily" if daily else "interval", filter or ""),
                ).fetchone()
                if row[0]:
                    begin = floor_day(parse_api_bound(row[0]) - lookback)
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
            min((parse_api_bound(i.chunk.start) for i in items), default=end),
            end,
            daily,
            filter,
            page_size,
        )
        return Plan(new_run_id(), params, items, description="incremental")

    # -- running --------------------------------------------------------------------------
    def run(self, plan: Plan, page_size: int | None = None) -> Iterator[Progress]:
        """Execute ``plan``; yields Progress; the last yield has ``finished`` and ``result``."""
        self._cancel.clear()
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
        state = _RunState(plan, size, writer, progress)
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
                result_fn = self._finish_fn(state)
                if writer.error is None:
                    writer.submit(result_fn)
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
            progress.event = self._apply(progress, kind, payload)
            yield progress
        for t in threads:
            t.join()
        writer.join()
        state.result = self._result(state)
        progress.finished = True
        progress.event = f"run {state.result.status}"
        self.result = state.result
        yield progress

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
                try:
                    self._pull_chunk(state, client, item)
                except CancelledError:
                    return
                except AuthenticationError as exc:
                    state.error = str(exc)
                    state.auth_failed = True
                    self.cancel()
                    return
                except TokenEndpointUnreachable as exc:
                    state.error = str(exc)
                    self.cancel()
                    return
                except RuntimeError as exc:  # the writer stopped
                    state.error = state.error or str(exc)
                    self.cancel()
                    return
        finally:
            client.session.close()

    def _pull_chunk(self, state: _RunState, client: HistoricalClient, item: WorkItem) -> None:
        chunk, run_id, writer = item.chunk, state.plan.run_id, state.writer
        info = {"dataset": chunk.dataset, "chunk": chunk.start}
        if chunk.dataset in state.not_entitled:
            msg = state.not_entitled[chunk.dataset]
            writer.submit(
                lambda a: (
                    a.set_chunk_state(chunk, "not_entitled", msg, run_id=run_id),
                    (
                        "chunk_state",
                        {**info, "state": "not_entitled", "message": msg, "was_running": False},
                    ),
                )[1]
            )
            return
        start, end = chunk_bounds(chunk)
        query = Query(
            chunk.dataset, start, end, chunk.dataset_type, chunk.filter or None, state.page_size
        )
        qparams = query.params()
        token = item.token
        attempts = item.attempts
        bad_pages = 0
        restarted = False
        writer.submit(
            lambda a, t=token: (a.begin_chunk(chunk, run_id, t), ("chunk_started", info))[1]
        )
        while True:
            try:
                for resp in client.pages(query, token):
                    if isinstance(resp, NotReady):
                        attempts += 1
                        wait = (
                            resp.retry_in
                            if resp.retry_in is not None
                            else self.not_ready.delay(attempts)
                        )
                        when = (
                            (datetime.now(UTC) + timedelta(seconds=wait))
                            .isoformat(timespec="seconds")
                            .replace("+00:00", "Z")
                            if wait is not None
                            else None
                        )
                        final = resp.retry_in is None

                        def store_202(a: Archive, r=resp, w=when, final=final) -> tuple:
                            a.store_not_ready(run_id, chunk, r, qparams, w)
                            if final:
                                return (
                                    "chunk_state",
                                    {
                                        **info,
                                        "state": "pending",
                                        "next_retry_at": w,
                                        "message": "202: the API has not processed this interval yet",
                                    },
                                )
                            return ("waiting", {**info, "next_retry_at": w})

                        writer.submit(store_202)
                        if final:
                            return
                        continue
                    assert isinstance(resp, Page)

                    def store(a: Archive, p=resp) -> tuple:
                        res = a.store_page(run_id, chunk, p, qparams)
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
                    # the (key, COMMIT_TS) rule keeps it duplicate-free
                    restarted = True
                    token = None
                    writer.submit(lambda a: (a.begin_chunk(chunk, run_id, None), None)[1])
                    continue
                self._fail(state, chunk, info, str(exc))
                return
            except EntitlementError as exc:
                state.not_entitled[chunk.dataset] = str(exc)
                writer.submit(
                    lambda a, m=str(exc): (
                        a.set_chunk_state(chunk, "not_entitled", m, run_id=run_id),
                        ("chunk_state", {**info, "state": "not_entitled", "message": m}),
                    )[1]
                )
                return
            except (CancelledError, AuthenticationError, TokenEndpointUnreachable):
                raise
            except ApiError as exc:
                self._fail(state, chunk, info, str(exc))
                return

    def _fail(self, state: _RunState, chunk: Chunk, info: dict, message: str) -> None:
        run_id = state.plan.run_id
        state.writer.submit(
            lambda a: (
                a.set_chunk_state(chunk, "failed", message, run_id=run_id),
                ("chunk_state", {**info, "state": "failed", "message": message}),
            )[1]
        )

    # -- the end --------------------------------------------------------------------------
    def _finish_fn(self, state: _RunState) -> Callable[[Archive], Any]:
        def finish(a: Archive) -> None:
            result = self._result(state)
            a.finish_run(state.plan.run_id, result.status, result.summary())
            return None

        return finish

    def _result(self, state: _RunState) -> RunResult:
        p = state.progress
        tot = p.totals()
        any_ne = any(d.not_entitled for d in p.datasets.values())
        if state.auth_failed:
            status, code = "failed", EXIT_AUTH
        elif state.error:
            status, code = "failed", EXIT_ERROR
        elif self._cancel.is_set():
            status, code = "interrupted", EXIT_CANCELLED
        elif tot.pending or tot.failed:
            status, code = "partial", EXIT_PARTIAL
        elif any_ne:
            status, code = "finished", EXIT_ENTITLEMENT
        else:
            status, code = "finished", EXIT_OK
        return RunResult(state.plan.run_id, status, code, p, state.error)


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


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8]


def _coverage(conn, chunk: Chunk):
    return conn.execute(
        "SELECT * FROM coverage WHERE dataset=? AND dataset_type=? AND filter=? AND chunk_start=?",
        (chunk.dataset, chunk.dataset_type, chunk.filter, chunk.start),
    ).fetchone()


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
    "utc_now",
]
