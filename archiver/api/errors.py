"""Errors of the API client. Each message says what happened and what the user can do.

No message ever contains a client secret or an access token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from archiver.datasets import FILTERABLE_COLUMNS, UnknownDatasetError

if TYPE_CHECKING:
    from archiver.api.redaction import Redacted

__all__ = [
    "ApiError",
    "AuthenticationError",
    "BadRequestError",
    "BodyLimitExceeded",
    "ConnectionFailure",
    "CursorLoopError",
    "DeadlineExceeded",
    "EntitlementError",
    "InsecureTransportError",
    "LimitExceeded",
    "PageLimitExceeded",
    "PageValidationError",
    "ServerError",
    "TokenEndpointUnreachable",
    "UnknownDatasetError",
]


class ApiError(Exception):
    """Base of every client error."""

    status: int | None = None


class AuthenticationError(ApiError):
    """Credentials or token refused."""

    status = 401


class BadRequestError(ApiError):
    """400: the API rejected a parameter."""

    status = 400

    def __init__(self, detail: str, url: str = "") -> None:
        self.detail = detail
        self.url = url
        self.filter_column: str | None = None
        marker = "Invalid filter column"
        if marker in detail:
            col = detail.split(marker, 1)[1].lstrip(": ").strip().rstrip(".") or "?"
            self.filter_column = col
            msg = (
                f"The API does not accept {col} as a filter column (400 Invalid filter "
                f"column). Use one of {', '.join(FILTERABLE_COLUMNS)}, or ask Avaya Support "
                "which columns this dataset can be filtered on."
            )
        else:
            msg = f"The API rejected the request (400 Bad Request): {detail} Check the dataset type, interval and filter."
        super().__init__(msg)


class EntitlementError(ApiError):
    """403: the tenant may not read this dataset. ``response``: the 403 as received (an
    :class:`archiver.api.pages.Refused`, archived as the evidence of the refusal)."""

    status = 403

    def __init__(
        self, dataset: str, detail: str, analytics_insights: bool, response: Any = None
    ) -> None:
        self.dataset = dataset
        self.detail = detail
        self.response = response
        if analytics_insights:
            advice = (
                f"{dataset} is an Analytics Insights dataset: ask your Avaya administrator to "
                "enable the Analytics Insights entitlement for this account."
            )
        else:
            advice = "Ask your administrator to check this API client's permissions."
        super().__init__(
            f"Access to dataset {dataset} was refused (403 Forbidden): {detail} {advice}"
        )


class ServerError(ApiError):
    """5xx (or 429) that persisted through every retry."""

    def __init__(self, status: int, detail: str, attempts: int, url: str) -> None:
        self.status = status
        self.detail = detail
        self.attempts = attempts
        self.url = url
        super().__init__(
            f"The API kept failing (HTTP {status}: {detail or 'no detail'}) after {attempts} "
            "attempts. Nothing already received is lost; run the same command again later to "
            "resume from this page. If it persists, contact Avaya Support."
        )


class ConnectionFailure(ApiError):
    """The network failed (refused, reset, timed out, truncated body) through every retry."""

    def __init__(self, host: str, reason: str, attempts: int) -> None:
        self.host = host
        self.reason = reason
        self.attempts = attempts
        super().__init__(
            f"Could not get a complete response from {host} after {attempts} attempts "
            f"({reason}). Check the network, proxy (HTTPS_PROXY) and CA bundle settings; "
            "run again to resume from this page."
        )


class TokenEndpointUnreachable(ConnectionFailure):
    """No access token could be had for network reasons: nothing else can work either."""


class PageValidationError(ApiError):
    """A 200 whose body is not a valid page. Keeps the raw bytes for quarantine."""

    def __init__(self, reason: str, raw: bytes, url: str, status: int, token: str | None) -> None:
        self.reason = reason
        self.raw = raw
        #: what was received when our credentials were replaced in ``raw`` (api/redaction)
        self.redacted: Redacted | None = None
        self.url = url
        self.status = status
        self.token = token
        super().__init__(
            f"The API returned a malformed page ({reason}; {len(raw)} bytes kept). The page "
            "is quarantined and will be fetched again; nothing before it is affected."
        )


class CursorLoopError(ApiError):
    """The API handed back a page token it had already given in this walk."""

    def __init__(self, token: str, pages: int) -> None:
        self.pages = pages
        super().__init__(
            f"The API returned a page token it had already returned (after {pages} pages): "
            "the cursor is cycling. The walk was stopped instead of looping; report this "
            "to Avaya Support with the archived pages."
        )


class LimitExceeded(ApiError):
    """A response crossed one of the client's limits (body size, request deadline, pages
    per chunk). Never retried: the chunk fails with a message naming the limit. ``raw`` is
    what arrived before the limit (bounded by the body limit), kept for quarantine."""

    #: the option that raises the limit
    option = ""

    def __init__(
        self,
        message: str,
        raw: bytes = b"",
        url: str = "",
        status: int | None = None,
        token: str | None = None,
    ) -> None:
        self.raw = raw
        self.url = url
        self.status = status
        self.token = token
        #: what was received when our credentials were replaced in ``raw`` (api/redaction)
        self.redacted: Redacted | None = None
        super().__init__(message)

    @property
    def started(self) -> bool:
        """Did a response begin (a status line arrived)? Only then is there anything to keep."""
        return self.status is not None


def _mb(n: int) -> str:
    return f"{n / 1_048_576:g} MB"


class BodyLimitExceeded(LimitExceeded):
    """More bytes than the body limit, on the wire or after decompression."""

    option = "--max-body-mb"

    def __init__(
        self,
        limit: int,
        measured: str,
        raw: bytes = b"",
        url: str = "",
        status: int | None = None,
        announced: int | None = None,
    ) -> None:
        self.limit = limit
        self.measured = measured
        size = f"; it announced {announced:,} bytes" if announced is not None else ""
        super().__init__(
            f"The response exceeded the {_mb(limit)} body limit (more than {limit:,} bytes "
            f"{measured}{size}); the rest was not read, the first {len(raw):,} bytes are "
            "quarantined as evidence. Raise the limit with --max-body-mb if this is a real page.",
            raw,
            url,
            status,
        )


class DeadlineExceeded(LimitExceeded):
    """The request, from the connection to the last body byte, outlasted its deadline."""

    option = "--request-deadline"

    def __init__(
        self, deadline: float, raw: bytes = b"", url: str = "", status: int | None = None
    ) -> None:
        self.deadline = deadline
        got = (
            f"{len(raw):,} bytes of the body had arrived, quarantined as evidence"
            if status is not None
            else "no response had begun"
        )
        super().__init__(
            f"The response took longer than the {deadline:g} s request deadline ({got}); the "
            "server is too slow or is trickling its answer. Raise the deadline with "
            "--request-deadline if the network is that slow.",
            raw,
            url,
            status,
        )


class PageLimitExceeded(LimitExceeded):
    """The API kept handing out new page tokens for one chunk."""

    option = "--max-pages-per-chunk"

    def __init__(self, limit: int, token: str | None = None) -> None:
        self.limit = limit
        super().__init__(
            f"The chunk exceeded the limit of {limit:,} pages per chunk (the API kept handing "
            "out new page tokens); the pages received are archived, the walk was stopped. "
            "Raise the limit with --max-pages-per-chunk if a day really has that many pages.",
            token=token,
        )


class InsecureTransportError(ValueError):
    """A plain-http URL for a host other than this machine, without the explicit opt-in."""
