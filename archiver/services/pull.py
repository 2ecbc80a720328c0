"""Pull: archive datasets from the Historical API (``archiver pull``, the Download tab).

The engine records the run itself (``pull started`` / ``pull finished`` in the audit log,
written by its archive writer after the last page is committed)."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from archiver.api import Credentials, NotReadyPolicy, Query, Tenant
from archiver.api.client import check_connection as _check_connection
from archiver.api.limits import Limits
from archiver.api.query import BULK_PAGE_SIZE, MAX_PAGE_SIZE
from archiver.api.retry import RetryPolicy
from archiver.datasets import get_dataset
from archiver.jobs import Cancel
from archiver.pull.engine import PullEngine
from archiver.pull.outcome import RunResult
from archiver.pull.plan import Plan, PullParams
from archiver.pull.progress import Progress
from archiver.timerange import RangeError, parse_bound

#: More workers only multiply the load on the API (and the memory a hostile server can
#: make a run hold); the guide's rate limits are reached well before.
MAX_WORKERS = 32
#: The longest range one command may plan (about 3,650 day chunks per dataset).
MAX_RANGE = timedelta(days=3653)
MAX_RANGE_TEXT = "10 years"


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
    create_dirs: bool = False,
) -> PullEngine:
    """An engine for ``archive``. ValueError for options out of range, or when the archive's
    folder does not exist (created, 0700, only with ``create_dirs``)."""
    o = options or PullOptions()
    if not 1 <= o.page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"the page size must be between 1 and {MAX_PAGE_SIZE}")
    if not 1 <= o.workers <= MAX_WORKERS:
        raise ValueError(f"the number of workers must be between 1 and {MAX_WORKERS}")
    folder = archive.parent
    if not folder.is_dir():
        if folder.exists() or not create_dirs:
            raise ValueError(
                f"the archive's folder {folder} does not exist: create it first, or let "
                "the pull create it (archiver pull --create-dirs)"
            )
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return PullEngine(
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
    for d in datasets:
        get_dataset(d)
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
    for d in datasets:
        get_dataset(d)
    first = parse_bound(start, is_end=False, daily=daily) if start else None
    if first is not None:
        _check_span(first, engine.now())
    return engine.planner.incremental(
        datasets, daily=daily, filter=filter, lookback=lookback, start=first, page_size=page_size
    )


def plan_resume(engine: PullEngine) -> Plan | None:
    return engine.planner.resume()


def plan_retry_pending(engine: PullEngine, datasets: list[str] | None = None) -> Plan:
    return engine.planner.retry_pending(datasets)


def run(
    engine: PullEngine, plan: Plan, page_size: int | None = None
) -> Generator[Progress, None, RunResult]:
    """Run a plan: yields progress, returns the outcome counted from the archive."""
    return (yield from engine.run(plan, page_size))


def parse_lookback(text: str) -> timedelta:
    """'2d', '12h', '90m' as a timedelta (ValueError otherwise)."""
    import re

    m = re.fullmatch(r"(\d+)\s*([dhm])", text.strip())
    if not m:
        raise ValueError(f"--lookback {text!r}: use a number with d, h or m, e.g. 2d")
    n, unit = int(m.group(1)), m.group(2)
    return {"d": timedelta(days=n), "h": timedelta(hours=n), "m": timedelta(minutes=n)}[unit]
