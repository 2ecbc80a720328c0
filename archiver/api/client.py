"""The Historical API client: requests, retries, token replay and the page walk."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import requests
from tenacity import RetryCallState

from archiver.api.errors import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    ConnectionFailure,
    CursorLoopError,
    EntitlementError,
    LimitExceeded,
    PageLimitExceeded,
    PageValidationError,
    ServerError,
    UnknownDatasetError,
)
from archiver.api.limits import Limits
from archiver.api.pages import (
    NotReady,
    NotReadyPolicy,
    Page,
    Refused,
    detail,
    parse_page,
    parse_schema,
)
from archiver.api.query import Query
from archiver.api.redaction import Redacted
from archiver.api.retry import RetryPolicy, Transient, parse_retry_after, retrying
from archiver.api.tenant import Credentials, Tenant
from archiver.api.tokens import TokenProvider
from archiver.api.transport import bounded_request, make_session
from archiver.datasets import get_dataset
from archiver.jobs import Cancel, Cancelled

log = logging.getLogger(__name__)

__all__ = ["HistoricalClient", "check_connection", "make_session"]


#: what an error body says (one reading: a body with a member named twice is shown as the
#: text it is); the 403's message verify-archive derives goes through the same function
_detail = detail


class HistoricalClient:
    """One worker's view of the API. Share one TokenProvider between workers."""

    def __init__(
        self,
        tenant: Tenant,
        credentials: Credentials | None = None,
        *,
        tokens: TokenProvider | None = None,
        retry: RetryPolicy | None = None,
        not_ready: NotReadyPolicy | None = None,
        timeout: tuple[float, float] = (10.0, 60.0),
        session: requests.Session | None = None,
        cancel: Cancel | None = None,
        sleep: Callable[[float], None] | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.tenant = tenant
        self.limits = limits or Limits()
        self.session = session or make_session(tenant)
        if tokens is None:
            if credentials is None:
                raise ValueError("give credentials or a shared TokenProvider")
            tokens = TokenProvider(tenant, credentials, make_session(tenant, 1), limits=self.limits)
        self.tokens = tokens
        self.retry = retry or RetryPolicy()
        self.not_ready = not_ready
        self.timeout = timeout
        self.cancel = cancel or Cancel()
        self._sleep_fn = sleep
        self.stats = {"requests": 0, "retries": 0, "auth_replays": 0}

    def __repr__(self) -> str:
        return f"HistoricalClient(tenant={self.tenant.label!r})"

    # -- waiting --------------------------------------------------------------------------
    def sleep(self, seconds: float) -> None:
        """Wait, but wake at once and raise :class:`~archiver.jobs.Cancelled` when cancelled."""
        if self._sleep_fn is not None:
            self._sleep_fn(seconds)
        elif self.cancel.wait(max(0.0, seconds)):
            raise Cancelled()
        if self.cancel.is_set:
            raise Cancelled()

    # -- one request ----------------------------------------------------------------------
    def _send_once(
        self, url: str, params: dict[str, str], token: str
    ) -> tuple[int, bytes, str, Redacted | None]:
        """One request. What the server sent enters archiver here, and only cleaned: every
        credential of this process replaced by ``[redacted]`` (api/redaction.py) in the body
        (also the evidence a limit keeps) and in the headers that are read."""
        self.stats["requests"] += 1
        redactor = self.tokens.redactor
        try:
            resp, raw = bounded_request(
                self.session,
                "GET",
                url,
                max_bytes=self.limits.max_body_bytes,
                deadline=self.limits.request_deadline,
                params=params,
                headers={"Authorization": f"Bearer {token}"},
                timeout=self.timeout,
                allow_redirects=False,
            )  # a short body raises ChunkedEncodingError; a limit, LimitExceeded (no retry)
        except LimitExceeded as exc:
            exc.raw, exc.redacted = redactor.clean(exc.raw)
            raise
        except (
            requests.ConnectionError,
            requests.Timeout,
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError,
            OSError,
        ) as exc:
            raise Transient(type(exc).__name__) from None
        raw, redacted = redactor.clean(raw)
        status = resp.status_code
        if status >= 500 or status == 429:
            raise Transient(
                f"HTTP {status}",
                status,
                _detail(raw),
                parse_retry_after(resp.headers.get("Retry-After")),
            )
        if 300 <= status < 400:
            location = redactor.text(resp.headers.get("Location", ""))
            if not any(m in location.lower() for m in ("auth", "login", "openid", "signin", "sso")):
                raise ApiError(
                    f"The API redirected to {location or 'nowhere'} (HTTP {status}) instead of answering. "
                    "Check the base URL (scheme, host and path) in the connection settings."
                )
        return status, raw, resp.url, redacted

    def _send(
        self, url: str, params: dict[str, str], token: str
    ) -> tuple[int, bytes, str, Redacted | None]:
        """Send with retries at the same page token (never from page 1)."""
        try:
            for attempt in retrying(self.retry, self.sleep, self._count_retry):
                with attempt:
                    return self._send_once(url, params, token)
        except Transient as exc:
            if exc.status is not None:
                raise ServerError(exc.status, exc.detail, self.retry.attempts, url) from None
            raise ConnectionFailure(self.tenant.host, exc.reason, self.retry.attempts) from None
        raise AssertionError("unreachable")

    def _count_retry(self, state: RetryCallState) -> None:
        self.stats["retries"] += 1
        exc = state.outcome.exception() if state.outcome else None
        log.info(
            "transient failure (%s); retry %d", getattr(exc, "reason", exc), state.attempt_number
        )

    def fetch(
        self, query: Query, page_token: str | None = None
    ) -> tuple[int, bytes, str, datetime, Redacted | None]:
        """One response for ``query`` at ``page_token``: (status, raw bytes, url, received,
        what was received when our credentials were replaced in the bytes, else None).

        Only 200 and 202 come back; every other status becomes a clear ApiError.
        A 401 (or a 302 toward a login page, never followed) refreshes the token and
        replays the request once.
        """
        if self.cancel.is_set:
            raise Cancelled()
        url = self.tenant.data_url(query.dataset)
        params = query.params(page_token)
        for replay in (False, True):
            token = self.tokens.get()
            try:
                status, raw, final_url, redacted = self._send(url, params, token)
            except LimitExceeded as exc:
                exc.token = page_token
                raise
            if status == 401 or 300 <= status < 400:
                self.tokens.invalidate(token)
                if replay:
                    raise AuthenticationError(
                        f"The API refused a freshly issued access token (HTTP {status}) for "
                        f"{query.dataset}. Check the client id and secret, and that this "
                        "client is provisioned for the Historical API."
                    )
                self.stats["auth_replays"] += 1
                log.info("HTTP %d from the API: refreshing the token and replaying once", status)
                continue
            break
        received = datetime.now(UTC)
        if status in (200, 202):
            return status, raw, final_url, received, redacted
        detail = _detail(raw)
        if status == 400:
            raise BadRequestError(detail, final_url)
        if status == 403:
            ds = get_dataset(query.dataset)
            refused = Refused(raw, status, final_url, received, [], page_token, redacted)
            raise EntitlementError(
                query.dataset, detail, ds.needs_analytics_insights, response=refused
            )
        if status == 404:
            raise UnknownDatasetError(query.dataset)
        raise ApiError(f"Unexpected HTTP {status} from the API for {query.dataset}: {detail}")

    # -- the walk -------------------------------------------------------------------------
    def pages(self, query: Query, start_token: str | None = None) -> Iterator[Page | NotReady]:
        """Yield the query's pages one at a time, never holding more than one.

        Start at ``start_token`` to resume. A 202 yields NotReady; the client then waits
        per its NotReadyPolicy and asks again, or (no policy, or attempts spent) stops
        after yielding it so the caller can record the interval as pending.
        """
        token = start_token
        seen: set[str] = {start_token} if start_token else set()
        number = 0
        not_ready = 0
        while True:
            if self.cancel.is_set:
                raise Cancelled()
            status, raw, url, received, redacted = self.fetch(query, token)
            if status == 202:
                not_ready += 1
                delay = self.not_ready.delay(not_ready) if self.not_ready else None
                schema = _validated(parse_schema, redacted, raw, url, token)
                yield NotReady(
                    raw, status, url, received, schema, token, not_ready, delay, redacted
                )
                if delay is None:
                    return
                self.sleep(delay)
                continue
            not_ready = 0
            columns, records, next_token = _validated(parse_page, redacted, raw, url, status, token)
            number += 1
            yield Page(
                raw, status, url, received, columns, token, records, next_token, number, redacted
            )
            if not next_token:
                return
            if next_token in seen:
                raise CursorLoopError(next_token, number)
            if number >= self.limits.max_pages_per_chunk:
                raise PageLimitExceeded(self.limits.max_pages_per_chunk, next_token)
            seen.add(next_token)
            token = next_token


def _validated(parse: Callable[..., Any], redacted: Redacted | None, *args: Any) -> Any:
    """``parse(*args)``; a PageValidationError says what was received when the bytes it
    keeps for quarantine had our credentials replaced."""
    try:
        return parse(*args)
    except PageValidationError as exc:
        exc.redacted = redacted
        raise


#: Test connection tries twice, half a second apart: a person is waiting
CHECK_RETRY = RetryPolicy(attempts=2, initial=0.5, max_delay=1, jitter=0.2)


def check_connection(
    tenant: Tenant,
    credentials: Credentials,
    timeout: float = 15.0,
    retry: RetryPolicy = CHECK_RETRY,
) -> str:
    """Get a token: returns a success line, or raises an ApiError saying exactly why not."""
    provider = TokenProvider(
        tenant,
        credentials,
        make_session(tenant, 1),
        timeout=(timeout, timeout),
        retry=retry,
        limits=Limits(request_deadline=max(timeout, 1.0)),
    )
    provider.get()
    return f"Connected to {tenant.label}: the token endpoint accepted client id {credentials.client_id!r}."
