"""How the versions of a row are ordered: COMMIT_TS read as a time, then the order received.

The guide says only that COMMIT_TS is a datetime. Servers write it in more than one form
(Go's RFC 3339 "nano" form trims a zero fraction: ``…T00:26:58Z`` is older than its revision
``…T00:26:58.5Z``, which sorts *before* it as text; ``+00:00`` and ``Z`` name the same
instant). So a COMMIT_TS is parsed as a time — any number of fraction digits, ``Z``, an
offset ``±HH:MM`` (or ``±HHMM``), or no zone at all (read as UTC, as the API writes every
datetime) — and never compared as text. Two versions with the same time (the same instant,
however written) are ordered by receipt: the page they were first received in, then their
position in it. A value that is not a time (or an empty one) is kept exactly as received
and shown as such; it orders before every version whose COMMIT_TS is a time (nothing can be
shown newer than a time the archive can read), and among such versions receipt decides.

This is the one definition: the writer (superseded, conflicts), verify-archive's replay,
row history, the warehouse export and bundles all order versions through it.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

#: ``YYYY-MM-DD[T ]HH:MM:SS[.fraction][Z|±HH:MM|±HHMM]``
_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))?"
)

#: What the Browse tab and row history say of a COMMIT_TS that is not a time.
NOT_A_TIME = "not a time: ordered before timed versions, by receipt"

Receipt = tuple[int, int]  # (page_id, row_index): where a record was first received
OrderKey = tuple[int, str, int, int]


def commit_utc(text: str | None) -> str | None:
    """The COMMIT_TS as a UTC time that sorts as text in time order —
    ``YYYY-MM-DDTHH:MM:SS`` and, when not zero, ``.`` and the fraction without trailing
    zeros (no zone suffix: a ``Z`` would sort after a fraction) — or None when it is empty
    or not a time."""
    if not text:
        return None
    m = _TIME.fullmatch(text.strip())
    if m is None:
        return None
    year, month, day, hour, minute, second, frac, _z, sign, oh, om = m.groups()
    try:
        t = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
        if sign and (oh != "00" or om != "00"):
            if int(oh) >= 24 or int(om) >= 60:
                return None
            offset = timedelta(hours=int(oh), minutes=int(om))
            t = t - offset if sign == "+" else t + offset
    except (ValueError, OverflowError):
        return None
    if not 1 <= t.year <= 9999:
        return None
    digits = (frac or "").rstrip("0")
    return f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}" + (
        f".{digits}" if digits else ""
    )


def is_time(text: str | None) -> bool:
    """Whether a (non-empty) COMMIT_TS reads as a time."""
    return commit_utc(text) is not None


def order_key(commit_ts: str | None, receipt: Receipt) -> OrderKey:
    """Sort key of a version: COMMIT_TS as a time (values that are not a time first), then
    receipt. The newest version of a row is the one with the greatest key."""
    utc = commit_utc(commit_ts)
    return (0, "", *receipt) if utc is None else (1, utc, *receipt)


def same_commit(a: str | None, b: str | None) -> bool:
    """Whether two COMMIT_TS values are "the same COMMIT_TS" (a conflict's test): the same
    instant when both are times, the same text (empty included) when neither is."""
    return commit_identity(a) == commit_identity(b)


def commit_identity(text: str | None) -> tuple[str, str]:
    """What :func:`same_commit` compares: ("t", UTC time) or ("x", the text as received)."""
    utc = commit_utc(text)
    return ("t", utc) if utc is not None else ("x", text or "")


def describe(text: str | None) -> str:
    """A COMMIT_TS for display: as received, marked when it is not a time."""
    if text and commit_utc(text) is None:
        return f"{text} ({NOT_A_TIME})"
    return text or ""
