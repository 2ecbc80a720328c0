"""Pull: archive datasets from the Historical API (``archiver pull``, the Download tab).

The engine records the run itself (``pull started`` / ``pull finished`` in the audit log,
written by its archive writer after the last page is committed); :func:`run` then writes a
checkpoint.

One pull at a time per archive: :func:`open_engine` takes the archive's lock
(:mod:`archiver.services.lock`; :class:`ArchiveBusy` when another pull holds it) and keeps it
through planning and the run; :func:`run` lets go of it when the run ends, a plan that fails
or finds nothing to do lets go at once, and :func:`release` does for a front-end that
decides not to run."""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from archiver.api import Credentials, NotReadyPolicy, Query, Tenant
from archiver.api.client import check_connection as _check_connection
from archiver.api.limits import MAX_WORKERS, Limits
from archiver.api.query import BULK_PAGE_SIZE, MAX_PAGE_SIZE
from archiver.api.retry import RetryPolicy
from archiver.datasets import resolve_names
from archiver.jobs import Cancel
from archiver.pull.engine import PullEngine
from archiver.pull.outcome import EXIT_BUSY, RunResult
from archiver.pull.plan import Plan, PullParams
from archiver.pull.progress import Progress
from archiver.services import checkpoints
from archiver.services.keys import SigningIdentity
from archiver.services.lock import ArchiveBusy, ArchiveLock, LockInfo
from archiver.services.lock import acquire as acquire_lock
from archiver.timerange import RangeError, parse_bound

#: The longest range one command may plan (about 3,650 day chunks per dataset).
MAX_RANGE = timedelta(days=3653)
MAX_RANGE_TEXT = "10 years"

__all__ = [
    "EXIT_BUSY",
    "MAX_RANGE",
    "MAX_WORKERS",
    "ArchiveBusy",
    "LockInfo",
    "PullOptions",
    "open_engine",
    "release",
    "run",
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
    #: the key that signs the run's checkpoint (the app's session key: the demo's
    #: throwaway one); None: the local signing key when it can be loaded
    signing: SigningIdentity | None = field(default=None, repr=False)


class LockedEngine(PullEngine):
    """A pull engine that holds its archive's lock until its run ends (or :func:`release`)."""

    def __init__(self, lock: ArchiveLock, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.lock = lock
        #: signs the run's checkpoint (PullOptions.signing)
        self.signing: SigningIdentity | None = None


def check_connection(tenant: Tenant, credentials: Credentials) -> str:
    """Ask the token endpoint for a token: a success line, or an ApiError saying why not."""
    return _check_connection(tenant, credentials)


def open_engine(
    archive: Path,
    tenant: Tenant,
    credentials: Credentials,
    options: PullOptions | None = None,
    cancel: Cancel | None = None,
    *,
    command: str = "pull",
    create_dirs: bool = False,
) -> PullEngine:
    """An engine on ``archive`` holding its lock (:class:`ArchiveBusy` when another pull
    holds it; ``command`` is what the lock file says this one is). ValueError for options
    out of range, or when the archive's folder does not exist (created, 0700, only with
    ``create_dirs``): checked before the lock file is made next to the archive."""
    o = options or PullOptions()
    if not 1 <= o.page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"the page size must be between 1 and {MAX_PAGE_SIZE}")
    if not 1 <= o.workers <= MAX_WORKERS:
        raise ValueError(f"the number of workers must be between 1 and {MAX_WORKERS}")
    archive = Path(archive)
    folder = archive.parent
    if not folder.is_dir():
        if folder.exists() or not create_dirs:
            raise ValueError(
                f"the archive's folder {folder} does not exist: create it first, or let "
                "the pull create it (archiver pull --create-dirs)"
            )
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    lock = acquire_lock(archive, command)
    try:
        engine = LockedEngine(
            lock,
            archive,
            tenant,
            credentials,
            workers=o.workers,
            retry=o.retry,
            not_ready=o.not_ready,
            wait_pending=o.wait_pending,
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


def release(engine: PullEngine) -> None:
    """Let go of the archive's lock without running (harmless when already let go)."""
    if isinstance(engine, LockedEngine):
        engine.lock.release()


@contextmanager
def _releasing_on_error(engine: PullEngine) -> Iterator[None]:
    try:
        yield
    except BaseException:
        release(engine)
        raise


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


def plan_range(engine: PullEngine, params: PullParams) -> Plan:
    with _releasing_on_error(engine):
        return engine.planner.range(params)


def plan_incremental(
    engine: PullEngine,
    datasets: list[str],
    *,
    daily: bool,
    filter: str | None,
    lookback: timedelta,
    start: str | None,
    page_size: int = BULK_PAGE_SIZE,
) -> Plan:
    with _releasing_on_error(engine):
        datasets = resolve_names(datasets)
        first = parse_bound(start, is_end=False, daily=daily) if start else None
        if first is not None:
            _check_span(first, engine.now())
        return engine.planner.incremental(
            datasets,
            daily=daily,
            filter=filter,
            lookback=lookback,
            start=first,
            page_size=page_size,
        )


def plan_resume(engine: PullEngine) -> Plan | None:
    """The newest interrupted run, to continue; None (and the lock let go) when none."""
    with _releasing_on_error(engine):
        plan = engine.planner.resume()
    if plan is None:
        release(engine)
    return plan


def plan_retry_pending(engine: PullEngine, datasets: list[str] | None = None) -> Plan:
    with _releasing_on_error(engine):
        return engine.planner.retry_pending(resolve_names(datasets) if datasets else None)


def run(
    engine: PullEngine, plan: Plan, page_size: int | None = None
) -> Generator[Progress, None, RunResult]:
    """Run a plan: yields progress, returns the outcome counted from the archive. After the
    run's end is recorded, the archive writes a checkpoint (services/checkpoints.py); an
    archive that cannot be written gets none (the run's outcome says why). The archive's
    lock is let go when the run ends, however it ends."""
    try:
        result = yield from engine.run(plan, page_size)
        signing = engine.signing if isinstance(engine, LockedEngine) else None
        rec, why = checkpoints.try_record(engine.archive_path, "pull", identity=signing)
    finally:
        release(engine)
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


def parse_lookback(text: str) -> timedelta:
    """'2d', '12h', '90m' as a timedelta (ValueError otherwise)."""
    import re

    m = re.fullmatch(r"(\d+)\s*([dhm])", text.strip())
    if not m:
        raise ValueError(f"--lookback {text!r}: use a number with d, h or m, e.g. 2d")
    n, unit = int(m.group(1)), m.group(2)
    return {"d": timedelta(days=n), "h": timedelta(hours=n), "m": timedelta(minutes=n)}[unit]
