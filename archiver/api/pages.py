"""What one response is: a validated page of records, or a 202 'not ready yet'."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from archiver.api.errors import EntitlementError, PageValidationError
from archiver.api.redaction import Redacted
from archiver.datasets import DATASETS

Headers = list[dict[str, str]]
_STR_ONLY = {str}


@dataclass(frozen=True)
class Response:
    """Fields every archived response has."""

    raw: bytes = field(repr=False)
    status: int
    url: str  # the request URL; it never carries credentials (the token is a header)
    received_at: datetime  # UTC
    columns: Headers = field(repr=False)
    request_token: str | None  # the page token this response answers (None: first page)


@dataclass(frozen=True)
class Page(Response):
    """A 200 page, validated."""

    records: list[list[str]] = field(default_factory=list, repr=False)
    next_token: str = ""
    number: int = 0  # 1-based within this walk
    #: set when our credentials were replaced in ``raw``: what was received (by hash)
    redacted: Redacted | None = None

    @property
    def last(self) -> bool:
        return not self.next_token

    @property
    def column_names(self) -> list[str]:
        return [c["name"] for c in self.columns]


@dataclass(frozen=True)
class NotReady(Response):
    """A 202: the interval is valid but not processed yet. Carries the schema."""

    attempt: int = 1
    retry_in: float | None = None  # seconds until the client retries; None: it will not
    #: set when our credentials were replaced in ``raw``: what was received (by hash)
    redacted: Redacted | None = None


@dataclass(frozen=True)
class Refused(Response):
    """A 403: the tenant may not read the dataset (archived as the refusal's evidence)."""

    #: set when our credentials were replaced in ``raw``: what was received (by hash)
    redacted: Redacted | None = None


@dataclass(frozen=True)
class NotReadyPolicy:
    """The guide's 202 backoff: 30 s, 60 s, 120 s … doubling, bounded."""

    initial: float = 30.0
    factor: float = 2.0
    max_delay: float = 600.0
    max_attempts: int = 6  # 202s tolerated before giving up (the caller may defer instead)

    def delay(self, attempt: int) -> float | None:
        """Seconds to wait after the ``attempt``-th 202, or None when attempts are spent."""
        if attempt >= self.max_attempts:
            return None
        return min(self.max_delay, self.initial * self.factor ** (attempt - 1))


def decode_next_link(link: str) -> str:
    """links.next may carry a literal ``\\u0026`` for '&' (the guide); undo it."""
    return link.replace("\\u0026", "&").replace("\\U0026", "&")


def token_from_link(link: str) -> str:
    """The nextPageToken inside a links.next URL ('' when there is none)."""
    if not link:
        return ""
    qs = parse_qs(urlsplit(decode_next_link(link)).query)
    return qs.get("nextPageToken", [""])[-1]


class _Invalid(ValueError):
    """Why a body is not a valid page (parse_page turns it into PageValidationError)."""


class AmbiguousBody(_Invalid):
    """A body that has more than one reading: a member name repeated in one object (one
    parser keeps the first value, another the last), or a string that is not Unicode text
    (an unpaired surrogate escape such as ``\\ud800``, which no UTF-8 store can hold)."""


#: a JSON escape of a UTF-16 surrogate: only such a body can hold an unpaired one
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refused when it names a member twice (json's object_pairs_hook: one
    call per object, and a page has few: the body, each column header, pagination, links;
    its records are arrays)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise AmbiguousBody(
                    f"an object repeats the member name {name!r}: one parser keeps the first "
                    "value, another the last (two readings of one page)"
                )
            seen.add(name)
    return obj


def load_json(raw: bytes) -> Any:
    """The one reading of a response body: strict JSON in UTF-8 whose objects name each
    member once and whose strings are Unicode text. Raises ValueError (an
    :class:`AmbiguousBody` for a repeated name or an unpaired surrogate; json's or
    UTF-8's own errors otherwise). The writer (:func:`parse_page`) and every re-reading
    of an archived page (verify-archive's replay) go through it."""
    body = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_members)
    if _SURROGATE_ESCAPE.search(raw):  # rare (a pair is one character): look closer
        _check_text(body)
    return body


def detail(raw: bytes) -> str:
    """What an error response says: its JSON ``detail`` (or ``error_description``,
    ``title``), else the start of its body (also when the body has two readings: a member
    named twice is shown as the text it is, so both are seen)."""
    try:
        body = load_json(raw)
        if isinstance(body, dict):
            return str(
                body.get("detail") or body.get("error_description") or body.get("title") or ""
            )
    except (ValueError, RecursionError):
        pass
    return raw[:200].decode("utf-8", "replace").strip()


def refusal_message(dataset: str, raw: bytes) -> str:
    """The message of a 403 for ``dataset`` with body ``raw``: what the pull says and what a
    chunk's coverage row states (verify-archive derives it from the archived response)."""
    ds = DATASETS.get(dataset)
    return str(EntitlementError(dataset, detail(raw), bool(ds and ds.needs_analytics_insights)))


def _check_text(body: Any) -> None:
    """Raise AmbiguousBody naming the first string that holds an unpaired surrogate. A
    page's records (lists of strings) are joined and encoded at once, in C; the rest of the
    body is small."""
    rest = body
    if isinstance(body, dict) and type(body.get("records")) is list:
        try:
            "".join(map("".join, body["records"])).encode("utf-8")
            rest = {k: v for k, v in body.items() if k != "records"}
        except (TypeError, UnicodeEncodeError):
            pass  # not all strings, or one is not text: find it below
    stack = [rest]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise AmbiguousBody(
                    f"a string holds an unpaired surrogate escape ({item[:40]!r}), which is "
                    "not Unicode text and cannot be stored as such"
                ) from None


def parse_page(
    raw: bytes, url: str, status: int, token: str | None
) -> tuple[Headers, list[list[str]], str]:
    """Validate a page body; return (columnHeaders, records, next token).

    Raises PageValidationError (keeping ``raw``) when anything is off, so the caller can
    quarantine the bytes and fetch the page again.
    """
    try:
        body = _json_object(raw)
        headers = _headers(body.get("columnHeaders"))
        records = _records(body.get("records"), headers)
        return headers, records, _next_token(body)
    except _Invalid as exc:
        raise PageValidationError(str(exc), raw, url, status, token) from None


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = load_json(raw)
    except UnicodeDecodeError as exc:
        raise _Invalid(f"body is not UTF-8 at byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise _Invalid(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise _Invalid("JSON nested too deeply to parse (a malformed or hostile body)") from None
    if not isinstance(body, dict):
        raise _Invalid("body is not a JSON object")
    return body


def _headers(headers: object) -> Headers:
    if not isinstance(headers, list) or not headers:
        raise _Invalid("columnHeaders missing or empty")
    seen: set[str] = set()
    for i, h in enumerate(headers):
        if not (
            isinstance(h, dict)
            and isinstance(h.get("name"), str)
            and isinstance(h.get("type"), str)
        ):
            raise _Invalid(f"columnHeaders[{i}] lacks a string name and type")
        if h["name"] in seen:  # a record would silently lose one of the two values
            raise _Invalid(f"columnHeaders[{i}] repeats the column name {h['name']!r}")
        seen.add(h["name"])
    return headers


def _records(records: object, headers: Headers) -> list[list[str]]:
    if not isinstance(records, list):
        raise _Invalid("records missing or not a list")
    width = len(headers)
    for i, rec in enumerate(records):
        if type(rec) is not list:
            raise _Invalid(f"records[{i}] is not a list")
        if len(rec) != width:
            raise _Invalid(f"records[{i}] has {len(rec)} values for {width} columns")
        if set(map(type, rec)) == _STR_ONLY:  # the fast path: every value a string
            continue
        for j, v in enumerate(rec):
            if not isinstance(v, str):
                raise _Invalid(
                    f"records[{i}][{j}] ({headers[j]['name']}) is {type(v).__name__}, not a string"
                )
    return records


def _next_token(body: dict[str, Any]) -> str:
    pagination = body.get("pagination")
    if pagination is not None and not isinstance(pagination, dict):
        raise _Invalid("pagination is not an object")
    next_token = (pagination or {}).get("nextPageToken")
    if next_token is None:  # fall back on links.next, decoding \u0026
        links = body.get("links") or {}
        next_token = token_from_link(links.get("next", "") if isinstance(links, dict) else "")
    if not isinstance(next_token, str):
        raise _Invalid("pagination.nextPageToken is not a string")
    return next_token


def parse_schema(raw: bytes, url: str = "", token: str | None = None) -> Headers:
    """columnHeaders of a 202 body (empty when unreadable: a 202 needs no schema to be
    useful). A body with two readings (:class:`AmbiguousBody`) is a malformed response all
    the same: PageValidationError, so that it is quarantined, never archived."""
    try:
        body = load_json(raw)
    except AmbiguousBody as exc:
        raise PageValidationError(str(exc), raw, url, 202, token) from None
    except (ValueError, RecursionError):
        return []
    headers = body.get("columnHeaders") if isinstance(body, dict) else None
    return [h for h in headers if isinstance(h, dict)] if isinstance(headers, list) else []
