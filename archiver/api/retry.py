"""Retry mechanics for transient failures, shared by data requests and token requests.

Built on tenacity: exponential backoff with jitter, Retry-After honoured, bounded attempts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff for transient failures (5xx, 429, connection errors, truncated bodies)."""

    attempts: int = 8
    initial: float = 1.0
    max_delay: float = 60.0
    jitter: float = 1.0


class Transient(Exception):
    """A failure worth retrying at the same request (same page token)."""

    def __init__(
        self,
        reason: str,
        status: int | None = None,
        detail: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.detail = detail
        self.retry_after = retry_after


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
            return max(0.0, (when - datetime.now(UTC)).total_seconds())
        except (TypeError, ValueError):
            return None


def retrying(
    policy: RetryPolicy,
    sleep: Callable[[float], None],
    on_retry: Callable[[RetryCallState], None] | None = None,
) -> Retrying:
    """A tenacity Retrying that retries :class:`Transient` and re-raises the last one."""
    backoff = wait_exponential(multiplier=policy.initial, max=policy.max_delay) + wait_random(
        0, policy.jitter
    )

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, Transient) and exc.retry_after is not None:
            return min(exc.retry_after, policy.max_delay)
        return float(backoff(state))

    return Retrying(
        stop=stop_after_attempt(policy.attempts),
        wait=wait,
        retry=retry_if_exception_type(Transient),
        sleep=sleep,
        reraise=True,
        before_sleep=on_retry,
    )
