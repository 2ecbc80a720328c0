"""A Historical API query, checked before any request is sent."""

from __future__ import annotations

import logging
import re
import warnings
from dataclasses import dataclass, field
from datetime import date, datetime

from archiver.datasets import get_dataset
from archiver.timerange import api_format
from archiver.timerange import as_utc as _as_utc

log = logging.getLogger(__name__)

_FILTER = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*):([^*]+)(\*?)$")
MAX_PAGE_SIZE = 200
BULK_PAGE_SIZE = 200


def check_filter(text: str) -> str | None:
    """What is wrong with an API filter (``COLUMN:value`` or ``COLUMN:value*``), or None.
    The one rule: Query checks it, the GUI checks it as you type."""
    if _FILTER.match(text):
        return None
    return (
        f"Filter {text!r} is not COLUMN:value or COLUMN:value* (a value, optionally ending "
        "in one * for a prefix match; e.g. CHANNEL:phone, QUEUE_ID:003d*)."
    )


def format_bound(value: datetime | date, dataset_type: str) -> str:
    """The API's form of a bound: YYYYMMDDHHmm (interval) or YYYYMMDD (daily), in UTC."""
    return api_format(value, dataset_type)


@dataclass(frozen=True)
class Query:
    """What to ask the API. Raises ValueError (or UnknownDatasetError) when it cannot be valid."""

    dataset: str
    starting: datetime | date | None = None
    ending: datetime | date | None = None
    dataset_type: str = "interval"
    filter: str | None = None
    page_size: int = BULK_PAGE_SIZE
    warnings: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        get_dataset(self.dataset)  # unknown → error listing the valid names
        if self.dataset_type not in ("interval", "daily"):
            raise ValueError(
                f"datasetType must be 'interval' or 'daily', not {self.dataset_type!r}"
            )
        if self.starting is None and self.ending is None:
            raise ValueError(
                "Give a start, an end or both: the API refuses an interval with neither."
            )
        if self.starting is not None and self.ending is not None:
            if _as_utc(self.starting) > _as_utc(self.ending):
                raise ValueError("The start of the range is after its end.")
        if not 1 <= int(self.page_size) <= MAX_PAGE_SIZE:
            raise ValueError(
                f"pageSize must be between 1 and {MAX_PAGE_SIZE}, not {self.page_size}"
            )
        if self.filter is not None and (problem := check_filter(self.filter)):
            raise ValueError(problem)
        notes = self._bound_notes()
        if notes:
            object.__setattr__(self, "warnings", tuple(notes))
            for note in notes:
                warnings.warn(note, stacklevel=3)
                log.warning("%s", note)

    def _bound_notes(self) -> list[str]:
        """Bounds the guide says may return empty results, or that lose precision."""
        notes = []
        for name, bound in (("start", self.starting), ("end", self.ending)):
            if bound is None:
                continue
            dt = _as_utc(bound)
            if self.dataset_type == "interval" and (dt.minute % 15 or dt.second or dt.microsecond):
                notes.append(
                    f"The {name} {dt:%H:%M} UTC is not on a 15-minute mark (:00, :15, :30, "
                    ":45); the guide says such intervals may return empty results."
                )
            if (
                self.dataset_type == "daily"
                and isinstance(bound, datetime)
                and (dt.hour or dt.minute)
            ):
                notes.append(f"The daily {name} has a time of day; only the date is sent.")
        return notes

    @property
    def interval(self) -> str:
        parts = []
        if self.starting is not None:
            parts.append("starting:" + format_bound(self.starting, self.dataset_type))
        if self.ending is not None:
            parts.append("ending:" + format_bound(self.ending, self.dataset_type))
        return ",".join(parts)

    def params(self, next_token: str | None = None) -> dict[str, str]:
        p = {"interval": self.interval}
        if self.dataset_type != "interval":
            p["datasetType"] = self.dataset_type
        if self.filter:
            p["filter"] = self.filter
        p["pageSize"] = str(self.page_size)
        if next_token:
            p["nextPageToken"] = next_token
        return p

    def describe(self) -> str:
        f = f" filter {self.filter}" if self.filter else ""
        return f"{self.dataset} {self.dataset_type} {self.interval}{f}"
