"""Long jobs, Qt-free: a generator yields progress and returns its result; a Cancel token
is checked between steps. The CLI, the GUI's Job and the services all drive them the same
way (the GUI wraps :func:`drive` in a thread and turns yields into signals).

One token and one exception for every job: a pull (its workers and the API client's waits
check it), an export, the self-test, a wait for the archive's lock all take a
:class:`Cancel` and stop with :class:`Cancelled` (a pull answers with its interrupted
result instead: what it committed is kept)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from typing import Any, TypeVar

R = TypeVar("R")


class Cancelled(Exception):
    """The job stopped because it was asked to; what it committed so far is kept."""


class Cancel:
    """A cooperative cancel flag: the asker sets it, the work checks it between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    @property
    def is_set(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise :class:`Cancelled` when cancel was asked for."""
        if self._event.is_set():
            raise Cancelled()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True (at once) when cancelled meanwhile."""
        return self._event.wait(seconds)


def drive(gen: Generator[Any, Any, R], on_yield: Callable[[Any], None] | None = None) -> R:
    """Run a job generator to its end, passing each yielded value to ``on_yield``; return
    the generator's return value. Should ``on_yield`` raise, the generator is closed first
    (its ``finally`` blocks run: a pull lets go of the archive's lock)."""
    while True:
        try:
            value = next(gen)
        except StopIteration as stop:
            result: R = stop.value
            return result
        if on_yield is not None:
            try:
                on_yield(value)
            except BaseException:
                gen.close()
                raise
