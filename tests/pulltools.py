"""Helpers for pull tests: run the engine against a simulator, compare with ground truth."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from archiver.api import Credentials, NotReadyPolicy, Tenant
from archiver.api.retry import RetryPolicy
from archiver.archive import values
from archiver.pull.engine import PullEngine, PullParams, RunResult
from archiver.timerange import parse_bound

FAST = RetryPolicy(attempts=12, initial=0.001, max_delay=0.01, jitter=0.001)
QUICK_202 = NotReadyPolicy(initial=0.01, factor=2, max_delay=0.05, max_attempts=4)


def engine_for(sim, archive: Path, **kw) -> PullEngine:
    kw.setdefault("retry", FAST)
    kw.setdefault("not_ready", QUICK_202)
    creds = Credentials(sim.config.client_id, sim.config.client_secret)
    return PullEngine(archive, Tenant.from_base_url(sim.base_url), creds, **kw)


def params(
    datasets, start="20250201", end="20250202", daily=False, filter=None, page_size=50
) -> PullParams:
    return PullParams(
        tuple(datasets),
        parse_bound(start, is_end=False, daily=daily),
        parse_bound(end, is_end=True, daily=daily),
        daily,
        filter,
        page_size,
    )


def pull(sim, archive: Path, p: PullParams, **kw) -> RunResult:
    eng = engine_for(sim, archive, **kw)
    for _ in eng.run(eng.plan(p)):
        pass
    return eng.result


def truth(sim, dataset: str, p: PullParams, last=None) -> list[tuple[str, ...]]:
    """Every row of the range's intervals (or days), sorted: the simulator's ground truth,
    independent of how it reads an interval `ending`. ``last``: another last interval."""
    rows = sim.truth(dataset, p.start, last or p.end, "daily" if p.daily else "interval", p.filter)
    return sorted(tuple(r) for r in rows)


def walked_truth(sim, dataset: str, p: PullParams) -> list[tuple[str, ...]]:
    """Ground truth of everything a pull of ``p`` archives: the range, plus the interval
    after it when the server reads an interval `ending` inclusively (the last chunk asks up
    to the next interval's start)."""
    inclusive = getattr(sim.config, "ending", "inclusive") == "inclusive"
    last = p.end + timedelta(minutes=15) if not p.daily and inclusive else p.end
    return truth(sim, dataset, p, last)


def _rows(archive: Path, dataset: str, where: str = "", args: tuple = (), latest: bool = False):
    """Stored values of the dataset's records (in each record's own column order), sorted."""
    conn = sqlite3.connect(archive)
    try:
        src = "latest" if latest else "records_view"
        ids = [
            rid
            for (rid,) in conn.execute(
                f"SELECT record_id FROM {src} WHERE dataset=? {where}", (dataset, *args)
            )
        ]
        return sorted(tuple(v.values()) for v in values.fetch(conn, dataset, ids).values())
    finally:
        conn.close()


def archived(archive: Path, dataset: str, latest: bool = False) -> list[tuple[str, ...]]:
    """Every archived row of the dataset's stream(s), sorted."""
    return _rows(archive, dataset, latest=latest)


def archived_in_range(
    archive: Path, dataset: str, p: PullParams, latest: bool = False
) -> list[tuple[str, ...]]:
    """Archived rows of the range's stream whose own interval (or day) lies in the range.

    An interval chunk asks up to the next chunk's start, so against an inclusive server the
    archive also holds the interval after the range: real rows, outside the range."""
    dtype = "daily" if p.daily else "interval"
    fmt = "%Y%m%d" if p.daily else "%Y%m%d%H%M"
    return _rows(
        archive,
        dataset,
        "AND dataset_type=? AND interval_start BETWEEN ? AND ?",
        (dtype, f"{p.start:{fmt}}", f"{p.end:{fmt}}"),
        latest,
    )


def identities(archive: Path) -> list[tuple]:
    """(dataset, type, key, first 8 bytes of the SHA-256) of every record."""
    conn = sqlite3.connect(archive)
    try:
        return sorted(conn.execute("SELECT dataset, dataset_type, row_key, sha8 FROM records_view"))
    finally:
        conn.close()


def coverage(archive: Path) -> dict[tuple[str, str], str]:
    conn = sqlite3.connect(archive)
    try:
        return {
            (d, s): st
            for d, s, st in conn.execute("SELECT dataset, chunk_start, state FROM coverage")
        }
    finally:
        conn.close()


def utc(*a: int) -> datetime:
    return datetime(*a, tzinfo=UTC)
