"""A clock that moves only when a test says so, instead of sleeping on the real one."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

#: late enough that every interval the tests ask for is ready on the simulator
DEFAULT_START = datetime(2026, 1, 1, tzinfo=UTC)


class ManualClock:
    """``clock()`` is an aware UTC datetime (the simulator's ``clock``); ``clock.monotonic``
    is the same instant in seconds (a TokenProvider's ``clock``), so a server and a client
    given one ManualClock agree on when a token expires."""

    def __init__(self, start: datetime = DEFAULT_START) -> None:
        self._start = start
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return (self._now - self._start).total_seconds()

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=seconds)
