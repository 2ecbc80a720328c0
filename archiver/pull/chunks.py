"""Range parsing and splitting into day chunks.

Bounds mean what ``starting``/``ending`` mean to the API: both inclusive. A range split
into chunks [S, d1-15m], [d1, d2-15m], …, [dk, E] therefore returns exactly the rows of one
query over [S, E]. Times are UTC unless the value carries an offset.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from archiver.archive.store import Chunk

STEP = timedelta(minutes=15)
DAY = timedelta(days=1)
READY_AFTER = timedelta(minutes=30)


class RangeError(ValueError):
    pass


def parse_bound(text: str, *, is_end: bool, daily: bool) -> datetime:
    """A --from/--to value as a UTC datetime.

    Accepts YYYYMMDDHHmm, YYYYMMDD, YYYY-MM-DD and ISO date-times (with Z or an offset;
    naive means UTC). A date alone as an end bound means the whole day: its last
    15-minute interval (interval mode) or that day (daily mode).
    """
    t = text.strip()
    try:
        if re.fullmatch(r"\d{12}", t):
            return datetime.strptime(t, "%Y%m%d%H%M").replace(tzinfo=UTC)
        if re.fullmatch(r"\d{8}", t) or re.fullmatch(r"\d{4}-\d{2}-\d{2}", t):
            d = datetime.strptime(t.replace("-", ""), "%Y%m%d").replace(tzinfo=UTC)
            return d + DAY - STEP if is_end and not daily else d
        dt = datetime.fromisoformat(t.replace("Z", "+00:00"))
        return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    except ValueError:
        raise RangeError(
            f"{text!r} is not a date or time. Use YYYYMMDDHHmm, YYYYMMDD, YYYY-MM-DD or an ISO "
            "date-time such as 2025-02-01T04:15Z."
        ) from None


def fmt(dt: datetime, daily: bool) -> str:
    return dt.strftime("%Y%m%d") if daily else dt.strftime("%Y%m%d%H%M")


def parse_api_bound(text: str) -> datetime:
    return datetime.strptime(text, "%Y%m%d%H%M" if len(text) == 12 else "%Y%m%d").replace(
        tzinfo=UTC
    )


def floor_day(dt: datetime) -> datetime:
    return dt.replace(hour=0, minute=0, second=0, microsecond=0)


#: Chunk lengths tried, longest first; never more than a day, never across midnight UTC.
CHUNK_HOURS = (24, 12, 6, 3, 1)
#: A range shorter than this many day chunks is cut finer so that workers share it evenly
#: (a cursor is forward-only: one chunk is one sequential walk).
MIN_CHUNKS = 16


def chunk_hours(start: datetime, end: datetime) -> int:
    """One day per chunk, or less for short ranges; depends on the range alone, so a
    rerun of the same command finds the same chunks to resume."""
    span_hours = (end - start).total_seconds() / 3600 + 0.25
    for hours in CHUNK_HOURS:
        if span_hours / hours >= MIN_CHUNKS:
            return hours
    return CHUNK_HOURS[-1]


def split(
    dataset: str, start: datetime, end: datetime, *, daily: bool, filter: str | None = None
) -> list[Chunk]:
    """Chunks of [start, end] (inclusive bounds): one per UTC day, or per 12/6/3/1 hours
    for ranges shorter than 16 days (see chunk_hours); a chunk never crosses midnight."""
    if start > end:
        raise RangeError("The start of the range is after its end.")
    flt = filter or ""
    dtype = "daily" if daily else "interval"
    out = []
    if daily:
        d = floor_day(start)
        while d <= end:
            out.append(Chunk(dataset, dtype, flt, fmt(d, True), fmt(d, True)))
            d += DAY
        return out
    hours = timedelta(hours=chunk_hours(start, end))
    cur = start
    while cur <= end:
        day = floor_day(cur)
        boundary = day + hours * ((cur - day) // hours + 1)  # next multiple of `hours` after cur
        chunk_end = max(cur, min(boundary - STEP, end))
        out.append(Chunk(dataset, dtype, flt, fmt(cur, False), fmt(chunk_end, False)))
        cur = boundary
    return out


def last_servable(now: datetime, daily: bool) -> datetime:
    """The newest interval (or day) the API can serve: its end at least 30 minutes ago."""
    if daily:
        return floor_day(now - READY_AFTER) - DAY
    t = now - READY_AFTER - STEP
    return t.replace(minute=t.minute - t.minute % 15, second=0, microsecond=0)


def chunk_bounds(chunk: Chunk) -> tuple[datetime | date, datetime | date]:
    """The query bounds of a chunk (dates for daily chunks)."""
    s, e = parse_api_bound(chunk.start), parse_api_bound(chunk.end)
    if chunk.dataset_type == "daily":
        return s.date(), e.date()
    return s, e
