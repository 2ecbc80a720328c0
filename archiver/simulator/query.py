"""Query semantics of the simulated Historical API: intervals, buckets, filters, cursors.

Where the vendor guide is silent, the choices made here are documented in
``docs/simulator.md``; the client never depends on them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from archiver.datasets import FILTERABLE_COLUMNS, Dataset
from archiver.simulator.data import DAY, INTERVAL

#: Data is served for an interval once its end is at least this far in the past.
READY_AFTER = timedelta(minutes=30)
MAX_PAGE_SIZE = 200
#: Readings of ``ending:X`` the simulator can serve (the guide does not say which is real).
ENDINGS: tuple[str, ...] = ("inclusive", "exclusive")
#: How COMMIT_TS is written (the guide says only "datetime"): ``ms``, three fraction digits
#: and ``Z``; ``nano``, Go's RFC 3339 "nano" form (trailing zeros of the fraction trimmed, no
#: fraction on a whole second: ``…:58Z``, ``…:58.5Z``); ``offset``, ``+00:00`` for ``Z``.
COMMIT_TS_FORMS: tuple[str, ...] = ("ms", "nano", "offset")


def commit_ts_form(value: str, form: str) -> str:
    """A COMMIT_TS as generated (``YYYY-MM-DDTHH:MM:SS.mmmZ``) in the served ``form``."""
    if form == "ms" or not value.endswith("Z"):
        return value
    if form == "offset":
        return value[:-1] + "+00:00"
    head, _, frac = value[:-1].partition(".")
    frac = frac.rstrip("0")
    return f"{head}.{frac}Z" if frac else f"{head}Z"


DEFAULT_PAGE_SIZE = 20


class BadRequest(Exception):
    """A 400 with the given detail."""


@dataclass(frozen=True)
class Bound:
    when: datetime
    aligned: bool  # False: a minute (or HHmm) the guide says "may return empty results"


@dataclass(frozen=True)
class Query:
    dataset: Dataset
    dataset_type: str
    interval: str
    starting: Bound | None
    ending: Bound | None
    filter_column: str | None
    filter_value: str | None
    filter_prefix: bool
    page_size: int

    @property
    def identity(self) -> str:
        """What a page token is bound to (page size excluded: it may change mid-walk)."""
        f = f"{self.filter_column}:{self.filter_value}{'*' if self.filter_prefix else ''}"
        return "|".join([self.dataset.name, self.dataset_type, self.interval, f])

    def matches(self, row: dict[str, str]) -> bool:
        if self.filter_column is None:
            return True
        value = row.get(self.filter_column)
        if value is None:  # a valid filter key this dataset does not carry: matches nothing
            return False
        if self.filter_prefix:
            return value.startswith(self.filter_value or "")
        return value == self.filter_value


_BOUND_RE = re.compile(r"^(starting|ending):(\d+)$")


def _parse_bound(text: str, dataset_type: str) -> Bound:
    if dataset_type == "interval":
        if len(text) != 12:
            raise BadRequest(f"Invalid interval value {text!r}: expected YYYYMMDDHHmm.")
        try:
            when = datetime.strptime(text, "%Y%m%d%H%M").replace(tzinfo=UTC)
        except ValueError:
            raise BadRequest(f"Invalid interval value {text!r}: not a valid date.") from None
        return Bound(when, when.minute % 15 == 0)
    if len(text) not in (8, 12):
        raise BadRequest(f"Invalid interval value {text!r}: expected YYYYMMDD.")
    try:
        when = datetime.strptime(text[:8], "%Y%m%d").replace(tzinfo=UTC)
        if len(text) == 12:
            datetime.strptime(text[8:], "%H%M")
    except ValueError:
        raise BadRequest(f"Invalid interval value {text!r}: not a valid date.") from None
    return Bound(when, len(text) == 8 or text[8:] == "0000")


def parse_query(dataset: Dataset, params: dict[str, str]) -> Query:
    """Validate query parameters as the API does; raise :class:`BadRequest` with its detail."""
    dataset_type = params.get("datasetType", "interval") or "interval"
    if dataset_type not in ("interval", "daily"):
        raise BadRequest(f"Invalid datasetType {dataset_type!r}: expected interval or daily.")
    interval = params.get("interval")
    if not interval:
        raise BadRequest("Missing required parameter: interval.")
    starting, ending = _parse_interval(interval, dataset_type)
    fcol, fval, prefix = _parse_filter(params.get("filter"))
    size = _parse_page_size(params.get("pageSize", ""))
    return Query(dataset, dataset_type, interval, starting, ending, fcol, fval, prefix, size)


def _parse_interval(interval: str, dataset_type: str) -> tuple[Bound | None, Bound | None]:
    bounds: dict[str, Bound] = {}
    for part in interval.split(","):
        m = _BOUND_RE.match(part.strip())
        if not m:
            raise BadRequest(
                f"Invalid interval parameter {interval!r}: expected starting:VALUE,ending:VALUE."
            )
        if m.group(1) in bounds:
            raise BadRequest(f"Invalid interval parameter: {m.group(1)} given twice.")
        bounds[m.group(1)] = _parse_bound(m.group(2), dataset_type)
    starting, ending = bounds.get("starting"), bounds.get("ending")
    if starting is None and ending is None:
        raise BadRequest("Invalid interval parameter: supply starting, ending or both.")
    if starting and ending and starting.when > ending.when:
        raise BadRequest("Invalid interval parameter: starting is after ending.")
    return starting, ending


def _parse_filter(flt: str | None) -> tuple[str | None, str | None, bool]:
    if not flt:
        return None, None, False
    fcol, sep, fval = flt.partition(":")
    if not sep or not fcol or not fval:
        raise BadRequest(f"Invalid filter {flt!r}: expected COLUMN:value or COLUMN:value*.")
    if fcol not in FILTERABLE_COLUMNS:
        raise BadRequest(f"Invalid filter column: {fcol}")
    if fval.endswith("*"):
        return fcol, fval[:-1], True
    return fcol, fval, False


def _parse_page_size(size_text: str) -> int:
    if size_text == "":
        return DEFAULT_PAGE_SIZE
    if not re.fullmatch(r"\d+", size_text) or int(size_text) < 1:
        raise BadRequest(f"Invalid pageSize {size_text!r}: expected an integer 1-200.")
    return min(int(size_text), MAX_PAGE_SIZE)


def bucket_length(query: Query) -> tuple[timedelta, int]:
    """The step between buckets and the minutes a bucket's rows aggregate."""
    if query.dataset_type == "daily" and query.dataset.kind == "metric":
        return DAY, 1440
    return INTERVAL, 15


def last_ready(query: Query, now: datetime) -> datetime:
    """Start of the newest bucket the API can serve at ``now``."""
    if query.dataset_type == "daily":
        day = (now - READY_AFTER).replace(hour=0, minute=0, second=0, microsecond=0)
        last_day = day - DAY  # the day before the one that ended less than 30 min ago
        if query.dataset.kind == "metric":
            return last_day
        return last_day + DAY - INTERVAL
    t = now - READY_AFTER - INTERVAL
    return t.replace(minute=t.minute - t.minute % 15, second=0, microsecond=0)


def span(
    query: Query, epoch: datetime, now: datetime, ending: str = "inclusive"
) -> tuple[datetime, datetime, bool] | None:
    """(first bucket, last bucket, ready) or None when the query selects no bucket.

    ``ending`` is the reading of ``ending:X`` for interval queries: "inclusive" serves X,
    "exclusive" stops before it. Daily queries are inclusive either way (the guide's own
    ``starting:20250201,ending:20250201&datasetType=daily`` would otherwise be empty).
    ``ready`` is False when an explicitly requested bucket is not processed yet (→ 202);
    it is judged on the last bucket actually selected.
    """
    if ending not in ENDINGS:
        raise ValueError(f"ending must be one of {', '.join(ENDINGS)}, not {ending!r}")
    if (query.starting and not query.starting.aligned) or (
        query.ending and not query.ending.aligned
    ):
        return None  # the guide: non-standard minutes "may return empty results"
    step, _ = bucket_length(query)
    asked = query.starting.when if query.starting else epoch
    first = max(asked, epoch)
    newest = last_ready(query, now)
    if query.ending:
        last = query.ending.when
        if query.dataset_type == "daily" and step == INTERVAL:
            last = last + DAY - INTERVAL  # every interval of the ending day
        elif query.dataset_type == "interval" and ending == "exclusive":
            last = last - INTERVAL  # ending:X names the first interval not returned
        if first > last:
            return None  # nothing selected (e.g. exclusive starting:X,ending:X): 200, empty
        return first, last, last <= newest
    if asked > newest:
        return first, newest, False
    if first > newest:
        return None
    return first, newest, True


def encode_token(secret: bytes, query: Query, bucket: datetime, offset: int) -> str:
    body = json.dumps(
        {
            "q": hashlib.sha256(query.identity.encode()).hexdigest()[:16],
            "b": bucket.strftime("%Y%m%d%H%M"),
            "o": offset,
        },
        separators=(",", ":"),
    ).encode()
    mac = hmac.new(secret, body, hashlib.sha256).digest()[:12]
    return base64.urlsafe_b64encode(body + mac).decode().rstrip("=")


def decode_token(secret: bytes, query: Query, token: str) -> tuple[datetime, int]:
    """Return (bucket, offset) or raise BadRequest for a garbled or foreign token."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        body, mac = raw[:-12], raw[-12:]
        if not hmac.compare_digest(mac, hmac.new(secret, body, hashlib.sha256).digest()[:12]):
            raise ValueError("mac")
        data = json.loads(body)
        if data["q"] != hashlib.sha256(query.identity.encode()).hexdigest()[:16]:
            raise ValueError("foreign")
        bucket = datetime.strptime(data["b"], "%Y%m%d%H%M").replace(tzinfo=UTC)
        return bucket, int(data["o"])
    except Exception:
        raise BadRequest(
            "Invalid nextPageToken: it is malformed or belongs to another query."
        ) from None


def iter_buckets(first: datetime, last: datetime, step: timedelta) -> Iterator[datetime]:
    t = first
    while t <= last:
        yield t
        t += step
