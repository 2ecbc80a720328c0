"""Time and range vocabulary shared by the pull, the archive, coverage and exports.

Everything here is plain UTC datetimes. A range or a chunk is described by its first and
its last *interval start* (15-minute intervals) or day, both inclusive: that is what a
user means by ``--from``/``--to``. How a chunk is *asked for* is separate
(:meth:`Chunk.request_end`): the guide never says whether an interval query's ``ending``
is inclusive, so each chunk asks up to the start of the next chunk and is covered under
either reading (an inclusive server returns one interval more, which dedupes).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

STEP = timedelta(minutes=15)
DAY = timedelta(days=1)
#: The API serves an interval once its end is at least this far in the past (the guide).
READY_AFTER = timedelta(minutes=30)

INTERVAL = "interval"
DAILY = "daily"
DATASET_TYPES = (INTERVAL, DAILY)


class RangeError(ValueError):
    """A --from/--to value or a range that cannot be used; the message says how to fix it."""


# -- bounds -------------------------------------------------------------------------------
#: The years a bound may name: the Historical API holds nothing older than 2000, and far
#: years only overflow date arithmetic.
MIN_YEAR = 2000
MAX_YEAR = 2999


def parse_bound(text: str, *, is_end: bool, daily: bool) -> datetime:
    """A --from/--to value as a UTC datetime.

    Accepts YYYYMMDDHHmm, YYYYMMDD, YYYY-MM-DD and ISO date-times (with Z or an offset;
    naive means UTC). A date alone as an end bound means the whole day: its last
    15-minute interval (interval mode) or that day (daily mode). Years before 2000 (and
    after 2999) are refused with a RangeError.
    """
    value = _parse_bound(text, is_end=is_end, daily=daily)
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise RangeError(
            f"{text!r}: years before {MIN_YEAR} (or after {MAX_YEAR}) are not accepted; the "
            "Historical API holds no data from then. Check the year."
        )
    return value


def _parse_bound(text: str, *, is_end: bool, daily: bool) -> datetime:
    t = text.strip()
    try:
        if re.fullmatch(r"\d{12}", t):
            return datetime.strptime(t, "%Y%m%d%H%M").replace(tzinfo=UTC)
        if re.fullmatch(r"\d{8}", t) or re.fullmatch(r"\d{4}-\d{2}-\d{2}", t):
            d = datetime.strptime(t.replace("-", ""), "%Y%m%d").replace(tzinfo=UTC)
            return d + DAY - STEP if is_end and not daily else d
        dt = datetime.fromisoformat(t.replace("Z", "+00:00"))
        return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    except (ValueError, OverflowError):
        raise RangeError(
            f"{text!r} is not a date or time. Use YYYYMMDDHHmm, YYYYMMDD, YYYY-MM-DD or an ISO "
            "date-time such as 2025-02-01T04:15Z."
        ) from None


def parse_lookback(text: str) -> timedelta:
    """'2d', '12h', '90m' as a timedelta (ValueError otherwise)."""
    m = re.fullmatch(r"(\d+)\s*([dhm])", text.strip())
    if not m:
        raise ValueError(f"--lookback {text!r}: use a number with d, h or m, e.g. 2d")
    n, unit = int(m.group(1)), m.group(2)
    return {"d": timedelta(days=n), "h": timedelta(hours=n), "m": timedelta(minutes=n)}[unit]


def parse_day(text: str, *, is_end: bool) -> date:
    """A --from/--to of a command that works in whole UTC days (``coverage``,
    ``export-dataset``): the day it names.

    A date names that day. A date-time is accepted only on a day boundary in the vocabulary
    of ``pull`` and ``export`` (whose bounds name the first and the last 15-minute interval,
    both included): a start at 00:00 UTC, an end at 23:45 UTC (the day's last interval).
    Any other time is refused with a RangeError that says why, never widened to the day.
    """
    value = parse_bound(text, is_end=is_end, daily=False)
    boundary = (23, 45) if is_end else (0, 0)
    if (value.hour, value.minute) != boundary or value.second or value.microsecond:
        day = value.date()
        which = "last" if is_end else "first"
        days = f"{day:%Y-%m-%d}"
        if is_end and (value.hour, value.minute) == (0, 0):  # meant as "until midnight"?
            days = f"{day - DAY:%Y-%m-%d} (up to that midnight) or {day:%Y-%m-%d} (that whole day)"
        raise RangeError(
            f"{text!r} is {value:%Y-%m-%d %H:%M} UTC, not a day boundary: this command counts "
            f"whole UTC days and does not widen a time to its day. Give the {which} day "
            f"itself: {days}; or, as a time, the day's {which} interval "
            f"({'23:45' if is_end else '00:00'} UTC)."
        )
    return value.date()


def as_utc(value: datetime | date) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def api_format(value: datetime | date, dataset_type: str) -> str:
    """The API's form of a bound: YYYYMMDDHHmm (interval) or YYYYMMDD (daily), in UTC."""
    dt = as_utc(value)
    day = f"{dt.year:04d}{dt.month:02d}{dt.day:02d}"  # strftime drops leading zeros of years < 1000
    return day if dataset_type == DAILY else f"{day}{dt.hour:02d}{dt.minute:02d}"


def parse_api_bound(text: str) -> datetime:
    """The inverse of :func:`api_format` (12 digits: an interval, 8: a day)."""
    return datetime.strptime(text, "%Y%m%d%H%M" if len(text) == 12 else "%Y%m%d").replace(
        tzinfo=UTC
    )


def utc_now() -> str:
    """Now, as the archive stamps it: UTC ISO 8601 with milliseconds and a Z."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def floor_day(dt: datetime) -> datetime:
    return dt.replace(hour=0, minute=0, second=0, microsecond=0)


def floor_interval(dt: datetime) -> datetime:
    return dt.replace(minute=dt.minute - dt.minute % 15, second=0, microsecond=0)


def interval_key(dt: datetime) -> str:
    """An interval start as stored in the archive (YYYYMMDDHHmm)."""
    return api_format(dt, INTERVAL)


_UTC_STAMP = re.compile(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d)(?::\d\d(?:\.\d+)?)?Z?$")


@lru_cache(maxsize=8192)
def row_interval(value: str) -> str:
    """The 15-minute interval (YYYYMMDDHHmm, UTC) a row's own time column puts it in.

    ``''`` when the value is empty or not a date-time. The API writes UTC as
    ``2025-11-25T00:45:00Z``; that form is matched by one regular expression (this runs
    for every archived row), anything else goes through ``datetime.fromisoformat``.
    """
    v = value.strip()
    m = _UTC_STAMP.match(v)
    if m:
        minute = int(m.group(5))
        if minute < 60:
            return f"{m.group(1)}{m.group(2)}{m.group(3)}{m.group(4)}{minute - minute % 15:02d}"
    try:
        dt = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        return ""
    return interval_key(floor_interval(as_utc(dt)))


def format_range(first: datetime | date, last: datetime | date, *, daily: bool = False) -> str:
    """An inclusive range as every screen, command and report prints it: its first and its
    last interval (or day), both included, in UTC; never a half-open end.

    ``2025-02-02 00:00 – 01:45 UTC, last interval included``;
    ``2025-02-02 22:00 – 2025-02-03 01:45 UTC, last interval included``;
    ``2025-02-01 – 2025-02-07 UTC, last day included`` (``daily``, or dates);
    ``2025-02-02 00:00 UTC, one interval``; ``2025-02-02 UTC, one day``.
    """
    if daily or not isinstance(first, datetime) or not isinstance(last, datetime):
        a, b = as_utc(first).date(), as_utc(last).date()
        if a == b:
            return f"{a:%Y-%m-%d} UTC, one day"
        return f"{a:%Y-%m-%d} – {b:%Y-%m-%d} UTC, last day included"
    a, b = as_utc(first), as_utc(last)
    if a == b:
        return f"{a:%Y-%m-%d %H:%M} UTC, one interval"
    end = f"{b:%H:%M}" if b.date() == a.date() else f"{b:%Y-%m-%d %H:%M}"
    return f"{a:%Y-%m-%d %H:%M} – {end} UTC, last interval included"


def last_servable(now: datetime, daily: bool) -> datetime:
    """The newest interval (or day) the API can serve: its end at least 30 minutes ago."""
    if daily:
        return floor_day(now - READY_AFTER) - DAY
    return floor_interval(now - READY_AFTER - STEP)


def iter_intervals(first: datetime, last: datetime) -> Iterator[datetime]:
    t = first
    while t <= last:
        yield t
        t += STEP


# -- chunks -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Chunk:
    """One unit of work: a dataset over [start, end] (interval starts or days, inclusive)."""

    dataset: str
    dataset_type: str  # interval | daily
    filter: str  # '' when unfiltered
    start: datetime
    end: datetime

    @property
    def daily(self) -> bool:
        return self.dataset_type == DAILY

    @property
    def start_key(self) -> str:
        """The chunk's start in API form: how the archive's coverage table names it."""
        return api_format(self.start, self.dataset_type)

    @property
    def end_key(self) -> str:
        return api_format(self.end, self.dataset_type)

    @property
    def day(self) -> str:
        return self.start.strftime("%Y-%m-%d")

    @property
    def request_end(self) -> datetime:
        """The ``ending`` that covers the chunk under either reading of the guide.

        Interval chunks ask up to the start of the next chunk: exact when the server's
        ``ending`` is exclusive, one interval of overlap when it is inclusive. Daily
        chunks ask for their own day (the guide's daily example is inclusive).
        """
        return self.end if self.daily else self.end + STEP

    def intervals(self) -> Iterator[datetime]:
        """Each 15-minute interval (or day) the chunk covers."""
        if self.daily:
            d = self.start
            while d <= self.end:
                yield d
                d += DAY
            return
        yield from iter_intervals(self.start, self.end)

    @classmethod
    def from_keys(cls, dataset: str, dataset_type: str, filter: str, start: str, end: str) -> Chunk:
        """A chunk from the coverage table's text columns."""
        return cls(dataset, dataset_type, filter, parse_api_bound(start), parse_api_bound(end))


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
    """Chunks of [start, end] (inclusive): one per UTC day, or per 12/6/3/1 hours for
    ranges shorter than 16 days (see chunk_hours); a chunk never crosses midnight, and
    its boundaries fall on multiples of its length, so reruns and incremental pulls find
    the same chunks."""
    if start > end:
        raise RangeError("The start of the range is after its end.")
    flt = filter or ""
    dtype = DAILY if daily else INTERVAL
    out = []
    if daily:
        d = floor_day(start)
        while d <= end:
            out.append(Chunk(dataset, dtype, flt, d, d))
            d += DAY
        return out
    start, end = floor_interval(start), floor_interval(end)
    hours = timedelta(hours=chunk_hours(start, end))
    cur = start
    while cur <= end:
        day = floor_day(cur)
        boundary = day + hours * ((cur - day) // hours + 1)  # next multiple of `hours` after cur
        chunk_end = max(cur, min(boundary - STEP, end))
        out.append(Chunk(dataset, dtype, flt, cur, chunk_end))
        cur = boundary
    return out
