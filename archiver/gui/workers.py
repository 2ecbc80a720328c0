"""One job contract for the GUI: work runs through an injected :class:`JobRunner` and
reports back as signals on the GUI thread.

The work is a callable that receives a :class:`~archiver.jobs.Cancel` token. It returns a
value, or a generator (driven by :func:`archiver.jobs.drive`): each yield is progress, the
return value is the result. Long work checks the token between its steps. A Job emits:

- ``yielded(value)`` for each progress value;
- then exactly one of ``done(result)`` (the work returned), ``failed(exc)`` (it raised:
  the exception object; slots word the message, see :func:`archiver.gui.errors.describe`)
  or ``cancelled()`` (it stopped because :meth:`Job.cancel` was called: it raised
  :class:`archiver.jobs.Cancelled`, or cancel came before it started);
- then ``ended()``, whichever the outcome.

Work that answers a cancel with a result of its own (a pull returns an "interrupted"
RunResult: what it committed is kept) ends with ``done``.

Runners: :class:`ThreadRunner` (the app's) runs each job in its own QThread, and results
come back as queued signals, so every slot — lambdas included — runs on the GUI thread;
:class:`SyncRunner` runs it on the calling thread (deterministic unit tests), emitting the
same signals in the same order. The window gets one runner through its AppContext.
Every QThread started here is registered, so tests can fail when one is left running.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from archiver.jobs import Cancel, Cancelled, drive

log = logging.getLogger(__name__)

Work = Callable[[Cancel], Any]

DONE, FAILED, CANCELLED = "done", "failed", "cancelled"

_ACTIVE: set[QThread] = set()


def active_threads() -> list[QThread]:
    return [t for t in _ACTIVE if t.isRunning()]


def execute(
    work: Work, cancel: Cancel, on_yield: Callable[[Any], None], name: str = "job"
) -> tuple[str, Any]:
    """Run ``work`` to its end on this thread: ``(DONE, result)``, ``(FAILED, exception)``
    or ``(CANCELLED, None)``. Never raises an Exception."""
    try:
        cancel.check()
        value = work(cancel)
        if isinstance(value, Generator):
            value = drive(value, on_yield)
    except Cancelled:
        log.info("%s cancelled", name)
        return CANCELLED, None
    except Exception as exc:
        log.error("%s failed", name, exc_info=exc)
        return FAILED, exc
    return DONE, value


class Job(QObject):
    """One piece of work and its outcome signals; started by a :class:`JobRunner`.

    Connect the signals before ``runner.start(job)`` (a SyncRunner emits them at once).
    """

    yielded = Signal(object)
    done = Signal(object)
    failed = Signal(object)  # the exception
    cancelled = Signal()
    ended = Signal()  # after done, failed or cancelled

    def __init__(self, work: Work, *, cancel: Cancel | None = None, name: str = "job") -> None:
        super().__init__()
        self.work = work
        #: the token the work checks; share one (e.g. with a pull engine) by passing it
        self.token = cancel or Cancel()
        self.name = name
        self.started = False
        #: True once done, failed or cancelled was emitted
        self.finished = False
        # set by the runner: how to wait for the work, what to let go of when it ends
        self._wait: Callable[[int], bool] = lambda ms: True
        self._release: Callable[[], None] = lambda: None
        self._thread: QThread | None = None
        self._worker: QObject | None = None

    def __repr__(self) -> str:
        return f"Job({self.name!r}, started={self.started}, finished={self.finished})"

    def cancel(self) -> None:
        """Ask the work to stop; it does at its next check of the token."""
        self.token.set()

    def wait(self, ms: int = 60_000) -> bool:
        """Wait for the work to end (with a ThreadRunner, its outcome is then queued for
        the event loop)."""
        return self._wait(ms)

    @Slot(object)
    def _on_yielded(self, value: Any) -> None:
        self.yielded.emit(value)

    @Slot(str, object)
    def _on_ended(self, kind: str, value: Any) -> None:
        self.finished = True
        if kind == DONE:
            self.done.emit(value)
        elif kind == FAILED:
            self.failed.emit(value)
        else:
            self.cancelled.emit()
        self.ended.emit()

    @Slot()
    def _on_thread_finished(self) -> None:
        self._release()


class JobRunner(ABC):
    """Where jobs run. The window holds one (``AppContext.runner``) and every panel and
    dialog starts its jobs through it."""

    @abstractmethod
    def start(self, job: Job) -> Job:
        """Start ``job``; its signals report the outcome. Returns the job."""

    def start_held(self, held: list[Job], job: Job) -> Job:
        """Start ``job`` and keep it in ``held`` (a panel's list of its jobs, which holds
        each until it ends, so its signals still reach the panel), dropping those ended."""
        held[:] = [j for j in held if not j.finished]
        held.append(job)
        return self.start(job)


class SyncRunner(JobRunner):
    """Runs each job to its end on the calling thread, emitting the same signals as a
    ThreadRunner in the same order: for unit tests that want no event-loop waiting."""

    def start(self, job: Job) -> Job:
        job.started = True
        kind, value = execute(job.work, job.token, job._on_yielded, job.name)
        job._on_ended(kind, value)
        return job


class _Worker(QObject):
    """Lives in the job's QThread; its signals cross to the Job as queued connections."""

    yielded = Signal(object)
    ended = Signal(str, object)

    def __init__(self, work: Work, cancel: Cancel, name: str) -> None:
        super().__init__()
        self.work = work
        self.cancel = cancel
        self.name = name

    @Slot()
    def run(self) -> None:
        try:
            self.ended.emit(*execute(self.work, self.cancel, self.yielded.emit, self.name))
        finally:
            QThread.currentThread().quit()


class ThreadRunner(JobRunner):
    """Each job in its own QThread (the default). The runner holds a job (and so its
    QThread) until the outcome has been delivered and the thread has ended, even when its
    owner has let go of it: a QThread collected while running would abort the process."""

    def __init__(self) -> None:
        self._running: set[Job] = set()

    def start(self, job: Job) -> Job:
        worker = _Worker(job.work, job.token, job.name)
        worker.yielded.connect(job._on_yielded)
        worker.ended.connect(job._on_ended)
        thread = QThread()
        thread.setObjectName(f"archiver-job {job.name}")
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        _ACTIVE.add(thread)
        thread.finished.connect(lambda t=thread: _ACTIVE.discard(t))
        job._thread, job._worker = thread, worker  # kept alive with the job
        job._wait = thread.wait
        job._release = lambda: self._running.discard(job)
        thread.finished.connect(job._on_thread_finished)  # queued: after the outcome
        job.started = True
        self._running.add(job)
        thread.start()
        return job

    def running(self) -> list[Job]:
        """Jobs whose thread has not ended yet."""
        return list(self._running)
