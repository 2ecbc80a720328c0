"""Run core jobs off the GUI thread: generators and plain calls, turned into signals.

A Job lives in the thread that created it (the GUI thread); its work runs in a QThread
through an inner runner, and results come back as queued signals, so every slot — lambdas
included — runs on the GUI thread. Every QThread started here is registered, so tests can
fail when one is left running.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterator
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

log = logging.getLogger(__name__)

_ACTIVE: set[QThread] = set()


def active_threads() -> list[QThread]:
    return [t for t in _ACTIVE if t.isRunning()]


class _Runner(QObject):
    yielded = Signal(object)
    done = Signal(object)
    failed = Signal(str)

    def __init__(self, fn: Callable[[], Any], generator: bool) -> None:
        super().__init__()
        self.fn = fn
        self.generator = generator

    @Slot()
    def run(self) -> None:
        try:
            self.done.emit(_drive(self.fn, self.generator, self.yielded.emit))
        except Exception as exc:
            log.error("background job failed:\n%s", traceback.format_exc())
            self.failed.emit(str(exc) or type(exc).__name__)
        finally:
            QThread.currentThread().quit()


def _drive(fn: Callable[[], Any], generator: bool, emit: Callable[[Any], None]) -> Any:
    """Run ``fn``; for a generator, pass each yielded value to ``emit`` and return its value."""
    if not generator:
        return fn()
    gen: Iterator[Any] = fn()
    while True:
        try:
            value = next(gen)
        except StopIteration as stop:
            return stop.value
        emit(value)


class Job(QObject):
    """A generator (or a plain call) run in its own QThread.

    ``yielded`` carries each value the generator yields, ``done`` the return value,
    ``failed`` an exception message — all delivered on the thread that made the Job.
    ``synchronous=True`` runs the work on the calling thread (deterministic unit tests),
    emitting the same signals.
    """

    yielded = Signal(object)
    done = Signal(object)
    failed = Signal(str)

    def __init__(
        self,
        fn: Callable[[], Iterator[Any] | Any],
        *,
        generator: bool = True,
        synchronous: bool = False,
    ) -> None:
        super().__init__()
        self._fn = fn
        self._generator = generator
        self._synchronous = synchronous
        self._thread: QThread | None = None
        self._runner: _Runner | None = None
        self.finished = False

    def start(self) -> None:
        if self._synchronous:
            self._run_sync()
            return
        runner = _Runner(self._fn, self._generator)
        runner.yielded.connect(self._on_yielded)
        runner.done.connect(self._on_done)
        runner.failed.connect(self._on_failed)
        self._runner = runner
        thread = QThread()
        thread.setObjectName("archiver-job")
        self._thread = thread
        runner.moveToThread(thread)
        thread.started.connect(runner.run)
        _ACTIVE.add(thread)
        thread.finished.connect(lambda t=thread: _ACTIVE.discard(t))
        thread.start()

    def _run_sync(self) -> None:
        try:
            result = _drive(self._fn, self._generator, self._on_yielded)
        except Exception as exc:
            log.error("job failed:\n%s", traceback.format_exc())
            self._on_failed(str(exc) or type(exc).__name__)
            return
        self._on_done(result)

    def wait(self, ms: int = 60_000) -> bool:
        """Wait for the thread to end (results are then queued for the event loop)."""
        return self._thread.wait(ms) if self._thread else True

    @Slot(object)
    def _on_yielded(self, value: Any) -> None:
        self.yielded.emit(value)

    @Slot(object)
    def _on_done(self, result: Any) -> None:
        self.finished = True
        self.done.emit(result)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.finished = True
        self.failed.emit(message)
