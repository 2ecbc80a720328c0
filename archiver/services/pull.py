"""Pull: archive datasets from the Historical API (``archiver pull``, the Download tab).

:func:`pull` is the one job: a generator that takes the archive's lock, plans, runs, writes
a checkpoint and lets go of the lock, whatever happens. The command line drives it with
:func:`archiver.jobs.drive`, the app in its job runner (a worker thread: the keyring is
read and the archive planned from there, never on the GUI thread). It yields a
:class:`Planned` once the plan is made, then the run's :class:`Progress`, and returns the
:class:`RunResult` counted from the archive (None when there was nothing to do).

What to pull is one of :class:`Range`, :class:`Incremental`, :class:`Resume` and
:class:`RetryPending`; how, :class:`PullOptions`. The engine records the run itself
(``pull started`` / ``pull finished`` in the audit log, written by its archive writer after
the last page is committed); the job then writes a checkpoint.

One pull at a time per archive: the job holds the archive's lock
(:mod:`archiver.system.lock`; :class:`ArchiveBusy` when another pull holds it; a dead
holder's lock taken over is recorded in the archive's audit log) from before planning to
after the checkpoint."""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from archiver import iofailure, outputs
from archiver.api import Credentials, NotReadyPolicy, Query, Tenant
from archiver.api.client import check_connection as _check_connection
from archiver.api.limits import MAX_WORKERS, Limits
from archiver.api.query import BULK_PAGE_SIZE, MAX_PAGE_SIZE
from archiver.api.retry import RetryPolicy
from archiver.archive.errors import NotAnArchive, StorageError
from archiver.archive.store import Archive, check_archive_file
from archiver.datasets import resolve_names
from archiver.jobs import Cancel
from archiver.pull.engine import PullEngine
from archiver.pull.outcome import EXIT_BUSY, RunResult
from archiver.pull.plan import Plan, PullParams
from archiver.pull.progress import Progress
from archiver.services import checkpoints
from archiver.services.keys import SigningIdentity
from archiver.system import lock as locks
from archiver.system.lock import ArchiveBusy, ArchiveLock, LockInfo
from archiver.timerange import RangeError, parse_bound, parse_lookback

#: The longest range one command may plan (about 3,650 day chunks per dataset).
MAX_RANGE = timedelta(days=3653)
MAX_RANGE_TEXT = "10 years"
#: the lock file is not archiver's (a link, a FIFO, a hard link): nothing was done
Refused = outputs.Refused

__all__ = [
    "EXIT_BUSY",
    "MAX_RANGE",
    "MAX_WORKERS",
    "ArchiveBusy",
    "Incremental",
    "LockInfo",
    "NotAnArchive",
    "Planned",
    "PullOptions",
    "Range",
    "Refused",
    "Resume",
    "RetryPending",
    "RunResult",
    "What",
    "busy",
    "check_connection",
    "parse_lookback",
    "pull",
    "range_params",
    "wait_until_free",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PullOptions:
    """How to pull (not what): shared by every kind of plan."""

    workers: int = 4
    page_size: int = BULK_PAGE_SIZE
    wait_pending: bool = False
    retry: RetryPolicy | None = None
    not_ready: NotReadyPolicy | None = None
    #: response limits: body size, request deadline, pages per chunk
    limits: Limits = field(default_factory=Limits)
    #: a scheduled run (``archiver pull --unattended``): recorded in its `pull started` entry
    unattended: bool = False
    #: how often a malformed page is fetched again before its chunk fails
    quarantine_retries: int = 3
    #: the key that signs the run's checkpoint (the app's session key: the demo's
    #: throwaway one); None: the local signing key when it can be loaded
    signing: SigningIdentity | None = field(default=None, repr=False)


# -- what to pull -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Range:
    """The datasets over a range (:func:`range_params` checks it). An unfinished run with
    the same parameters is continued, not started again."""

    params: PullParams


@dataclass(frozen=True)
class Incremental:
    """Each dataset from where its last completed chunk ended, minus ``lookback``, up to
    the newest interval the API serves; ``start`` (``--from``) where a dataset with nothing
    archived yet begins."""

    datasets: tuple[str, ...]
    lookback: timedelta
    start: str | None = None
    daily: bool = False
    filter: str | None = None
    page_size: int = BULK_PAGE_SIZE


@dataclass(frozen=True)
class Resume:
    """The newest interrupted run, continued (nothing to do when there is none)."""


@dataclass(frozen=True)
class RetryPending:
    """Every chunk left pending by a 202 (of these datasets; empty: of all)."""

    datasets: tuple[str, ...] = ()


What = Range | Incremental | Resume | RetryPending


@dataclass(frozen=True)
class Planned:
    """What a pull job is about to fetch: its first yield, with the archive's lock held and
    the plan made."""

    plan: Plan
    archive: Path

    @property
    def datasets(self) -> list[str]:
        """Every dataset the run is about: those of its chunks and those it was asked for."""
        asked = self.plan.params.datasets if self.plan.params else ()
        return sorted({i.chunk.dataset for i in self.plan.items} | set(asked))


# -- the job ----------------------------------------------------------------------------------
def pull(
    archive: Path,
    tenant: Tenant,
    credentials: Credentials | Callable[[], Credentials],
    what: What,
    options: PullOptions | None = None,
    cancel: Cancel | None = None,
    *,
    page_size: int | None = None,
    command: str = "pull",
    create_dirs: bool = False,
    run_empty: bool = True,
) -> Generator[Planned | Progress, None, RunResult | None]:
    """Pull into ``archive``: take its lock, plan ``what``, run, checkpoint, let go.

    ``credentials``: the client id and secret, or how to get them (a keyring read, made
    here: in the job's thread). Raises, before anything is fetched: ValueError for options
    out of range, a missing archive folder (created, 0700, only with ``create_dirs``) or a
    plan that cannot be made; :class:`ArchiveBusy` when another pull holds the archive
    (``command`` is what the lock file says this one is); :class:`~archiver.jobs.Cancelled`
    when ``cancel`` is set before the run starts. Once running, a cancel ends the run
    interrupted (its result says so; what was committed stays).

    Yields :class:`Planned`, then progress. Returns the outcome counted from the archive,
    with the checkpoint written after it in words; None when there was nothing to do: no
    interrupted run to resume, or (``run_empty`` False) no chunk to fetch. ``page_size``:
    the run's page size (default: the plan's)."""
    token = cancel or Cancel()
    creds = credentials() if callable(credentials) else credentials
    with iofailure.naming(archive):  # the lock file, beside the archive
        engine = _open_engine(archive, tenant, creds, options, token, command, create_dirs)
    try:
        with iofailure.naming(archive):
            plan = _plan(engine, what)
        if plan is None or not (plan.items or run_empty):
            return None
        yield Planned(plan, engine.archive_path)
        token.check()  # cancelled while planning: nothing was asked of the API
        result = yield from engine.run(plan, page_size)
        rec, why = checkpoints.try_record(engine.archive_path, "pull", identity=engine.signing)
    finally:
        engine.lock.release()
    result.checkpoint = (
        "\n".join(checkpoints.describe(rec)) if rec else f"No checkpoint recorded: {why}"
    )
    log.info(
        "pull run %s into %s: %s, exit code %d%s",
        result.run_id,
        engine.archive_path,
        result.status,
        result.exit_code,
        f" ({result.error})" if result.error else "",
    )
    return result


class _LockedEngine(PullEngine):
    """A pull engine and the archive lock its job holds."""

    def __init__(self, lock: ArchiveLock, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.lock = lock
        #: signs the run's checkpoint (PullOptions.signing)
        self.signing: SigningIdentity | None = None


def _open_engine(
    archive: Path,
    tenant: Tenant,
    credentials: Credentials,
    options: PullOptions | None,
    cancel: Cancel,
    command: str,
    create_dirs: bool,
) -> _LockedEngine:
    """An engine on ``archive`` holding its lock. The options and the archive's folder are
    checked before the lock file is made next to the archive."""
    o = options or PullOptions()
    if not 1 <= o.page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"the page size must be between 1 and {MAX_PAGE_SIZE}")
    if not 1 <= o.workers <= MAX_WORKERS:
        raise ValueError(f"the number of workers must be between 1 and {MAX_WORKERS}")
    archive = Path(archive)
    check_archive_file(archive)  # a FIFO, a device, an empty or foreign file: before the lock
    folder = archive.parent
    if not folder.is_dir():
        if folder.exists() or not create_dirs:
            raise ValueError(
                f"the archive's folder {folder} does not exist: create it first, or let "
                "the pull create it (archiver pull --create-dirs)"
            )
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    lock = locks.acquire(archive, command, on_takeover=_record_takeover)
    try:
        engine = _LockedEngine(
            lock,
            archive,
            tenant,
            credentials,
            workers=o.workers,
            retry=o.retry,
            not_ready=o.not_ready,
            wait_pending=o.wait_pending,
            quarantine_retries=o.quarantine_retries,
            cancel=cancel,
            limits=o.limits,
        )
    except BaseException:
        lock.release()
        raise
    if o.unattended:
        engine.run_labels["unattended"] = True
    engine.signing = o.signing
    return engine


def _plan(engine: PullEngine, what: What) -> Plan | None:
    """The plan for ``what`` (None: no interrupted run to resume)."""
    if isinstance(what, Range):
        return engine.planner.range(what.params)
    if isinstance(what, Incremental):
        datasets = resolve_names(list(what.datasets))
        first = parse_bound(what.start, is_end=False, daily=what.daily) if what.start else None
        if first is not None:
            _check_span(first, engine.now())
        return engine.planner.incremental(
            datasets,
            daily=what.daily,
            filter=what.filter,
            lookback=what.lookback,
            start=first,
            page_size=what.page_size,
        )
    if isinstance(what, Resume):
        return engine.planner.resume()
    return engine.planner.retry_pending(
        resolve_names(list(what.datasets)) if what.datasets else None
    )


def _record_takeover(lock: ArchiveLock, details: dict[str, Any]) -> None:
    """A dead pull's lock was taken over: the archive's audit log says so (the lock has
    logged it already)."""
    if not lock.archive.exists():
        return
    try:
        with Archive(lock.archive, create=False) as a:
            a.audit("archive lock taken over", details)
    except (OSError, StorageError) as exc:
        log.warning("could not record the lock takeover in %s: %s", lock.archive, exc)


# -- around the job ---------------------------------------------------------------------------
def check_connection(tenant: Tenant, credentials: Credentials) -> str:
    """Ask the token endpoint for a token: a success line, or an ApiError saying why not."""
    return _check_connection(tenant, credentials)


def busy(archive: Path) -> LockInfo | None:
    """Who pulls into ``archive`` now (None: nobody). A look, not a promise: the job itself
    raises :class:`ArchiveBusy` if another pull takes the lock first."""
    return locks.busy(archive)


def wait_until_free(archive: Path, cancel: Cancel) -> Generator[LockInfo, None, None]:
    """Wait until no pull holds the archive (a job: yields the holder while one does;
    :class:`~archiver.jobs.Cancelled` when asked to stop waiting)."""
    return locks.wait_until_free(archive, cancel)


def range_params(
    datasets: list[str],
    start: str | datetime,
    end: str | datetime,
    *,
    daily: bool = False,
    filter: str | None = None,
    page_size: int = BULK_PAGE_SIZE,
) -> PullParams:
    """Check a range pull's parameters as the API would (ValueError / RangeError)."""
    if not datasets:
        raise ValueError("name datasets with --dataset NAME (repeatable) or --all")
    datasets = resolve_names(datasets)  # any case; a near miss gets a "did you mean"
    s = parse_bound(start, is_end=False, daily=daily) if isinstance(start, str) else start
    e = parse_bound(end, is_end=True, daily=daily) if isinstance(end, str) else end
    if s > e:
        raise RangeError("the start of the range (--from) is after its end (--to)")
    _check_span(s, e)
    Query(datasets[0], s, e, "daily" if daily else "interval", filter, page_size)  # checks
    return PullParams(tuple(datasets), s, e, daily, filter, page_size)


def _check_span(start: datetime, end: datetime) -> None:
    if end - start > MAX_RANGE:
        raise RangeError(
            f"the range from {start:%Y-%m-%d} to {end:%Y-%m-%d} is longer than "
            f"{MAX_RANGE_TEXT}: pull it in parts of at most {MAX_RANGE_TEXT}"
        )
