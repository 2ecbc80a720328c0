"""OAuth2 client-credentials tokens, shared by every worker and refreshed before expiry.

Tokens live only in memory: never logged, never persisted.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable

import requests

from archiver.api.errors import AuthenticationError, LimitExceeded, TokenEndpointUnreachable
from archiver.api.limits import TOKEN_BODY_LIMIT, Limits
from archiver.api.redaction import PROCESS, Redactor
from archiver.api.retry import RetryPolicy, Transient, parse_retry_after, retrying
from archiver.api.tenant import Credentials, Tenant
from archiver.api.transport import bounded_request

log = logging.getLogger(__name__)


def refresh_margin(expires_in: float) -> float:
    """Refresh this many seconds before expiry: 60 s or 20 % of the lifetime, the smaller."""
    return min(60.0, 0.2 * expires_in)


class TokenProvider:
    """One thread-safe token holder shared by all workers of a run."""

    def __init__(
        self,
        tenant: Tenant,
        credentials: Credentials,
        session: requests.Session,
        clock: Callable[[], float] = time.monotonic,
        timeout: tuple[float, float] = (10.0, 30.0),
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        limits: Limits | None = None,
        redactor: Redactor = PROCESS,
    ) -> None:
        #: the credentials to take out of server text: every token this provider is issued
        #: and the client secret, in the process's one set (api/redaction.py)
        self.redactor = redactor
        redactor.remember(credentials.client_secret.reveal())
        self._limits = limits or Limits()
        self._retry = retry or RetryPolicy(attempts=5)
        self._sleep = sleep
        self._tenant = tenant
        self._credentials = credentials
        self._session = session
        self._clock = clock
        self._timeout = timeout
        self._lock = threading.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0
        self.refreshes = 0  # how many tokens were fetched (for tests and the run summary)

    def __repr__(self) -> str:
        return f"TokenProvider(tenant={self._tenant.label!r}, client_id={self._credentials.client_id!r})"

    def get(self) -> str:
        """A token valid for at least the refresh margin."""
        with self._lock:
            if self._token is None or self._clock() >= self._refresh_at:
                self._fetch()
            assert self._token is not None
            return self._token

    def invalidate(self, token: str) -> None:
        """The API refused ``token``: the next get() fetches a new one (once, for all workers)."""
        with self._lock:
            if self._token == token:
                self._token = None

    def _fetch(self) -> None:
        creds = self._credentials
        data = {
            "grant_type": "client_credentials",
            "client_id": creds.client_id,
            "client_secret": creds.client_secret.reveal(),
        }

        def post() -> tuple[requests.Response, bytes]:
            try:
                resp, raw = bounded_request(
                    self._session,
                    "POST",
                    self._tenant.token_url,
                    max_bytes=TOKEN_BODY_LIMIT,
                    deadline=self._limits.request_deadline,
                    data=data,
                    timeout=self._timeout,
                    allow_redirects=False,
                )
            except (requests.RequestException, OSError) as exc:
                raise Transient(type(exc).__name__) from None
            except LimitExceeded as exc:  # never retried: the same server would do it again
                raise TokenEndpointUnreachable(
                    self._tenant.host, f"the token endpoint's answer crossed a limit: {exc}", 1
                ) from None
            if resp.status_code >= 500 or resp.status_code == 429:
                raise Transient(
                    f"token endpoint HTTP {resp.status_code}",
                    resp.status_code,
                    "",
                    parse_retry_after(resp.headers.get("Retry-After")),
                )
            return resp, raw

        try:
            for attempt in retrying(self._retry, self._sleep):
                with attempt:
                    resp, raw = post()
        except Transient as exc:
            raise TokenEndpointUnreachable(
                self._tenant.host, exc.reason, self._retry.attempts
            ) from None
        if resp.status_code in (400, 401, 403):
            raise AuthenticationError(
                f"The token endpoint refused client id {creds.client_id!r} (HTTP "
                f"{resp.status_code}). Check the client id and secret; Avaya Support "
                "provisions Historical API credentials."
            )
        if resp.status_code != 200:
            raise TokenEndpointUnreachable(
                self._tenant.host, f"token endpoint HTTP {resp.status_code}", 1
            )
        try:
            body = json.loads(raw)
            token = str(body["access_token"])
            expires_in = float(body.get("expires_in", 900))
        except (ValueError, KeyError, TypeError):
            raise AuthenticationError(
                "The token endpoint answered without an access token. Check that the base "
                "URL points at your Infinity tenant."
            ) from None
        self.redactor.remember(token)
        self._token = token
        self._refresh_at = self._clock() + expires_in - refresh_margin(expires_in)
        self.refreshes += 1
        log.info("access token obtained (lifetime %.0f s)", expires_in)
