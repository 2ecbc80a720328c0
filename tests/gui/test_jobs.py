"""The GUI's one job contract (archiver/gui/workers.py), the same under either runner:
progress yielded, result returned, errors as exception objects, a distinct cancelled
outcome; and the window's panels and dialogs start every job through the injected runner."""

from __future__ import annotations

import gc
import threading
import weakref

import pytest

from archiver.gui.errors import describe
from archiver.gui.workers import Job, JobRunner, SyncRunner, ThreadRunner
from archiver.jobs import Cancel

RUNNERS = {"sync": SyncRunner, "thread": ThreadRunner}


@pytest.fixture(params=sorted(RUNNERS))
def runner(request, no_leaked_threads) -> JobRunner:
    return RUNNERS[request.param]()


def run(qtbot, runner: JobRunner, job: Job) -> list[tuple]:
    """Start ``job``, wait for its end; what it emitted, in order, with the thread of each slot."""
    seen: list[tuple] = []
    job.yielded.connect(lambda v: seen.append(("yielded", v)))
    job.done.connect(lambda v: seen.append(("done", v)))
    job.failed.connect(lambda e: seen.append(("failed", e)))
    job.cancelled.connect(lambda: seen.append(("cancelled",)))
    job.ended.connect(lambda: seen.append(("ended", threading.get_ident())))
    with qtbot.waitSignal(job.ended, timeout=10_000):
        runner.start(job)
    assert job.wait(10_000)
    assert job.finished
    return seen


def test_progress_yielded_result_returned(qtbot, runner):
    ran_on: list[int] = []

    def work(cancel: Cancel):
        ran_on.append(threading.get_ident())
        yield "one"
        yield "two"
        return 42

    seen = run(qtbot, runner, Job(work, name="count"))
    gui = threading.get_ident()
    assert seen == [("yielded", "one"), ("yielded", "two"), ("done", 42), ("ended", gui)]
    # slots run on the GUI thread either way; the work on a thread of its own unless sync
    assert (ran_on[0] == gui) is isinstance(runner, SyncRunner)


def test_a_plain_call_is_a_job_too(qtbot, runner):
    assert run(qtbot, runner, Job(lambda cancel: {"rows": 3}))[:-1] == [("done", {"rows": 3})]


def test_errors_arrive_as_the_exception_object(qtbot, runner):
    boom = PermissionError("the archive is locked")

    def work(cancel: Cancel):
        yield "started"
        raise boom

    seen = run(qtbot, runner, Job(work))
    assert seen[:-1] == [("yielded", "started"), ("failed", boom)]
    assert seen[1][1] is boom and describe(boom) == "the archive is locked"
    assert describe(KeyError()) == "KeyError"  # no text: the type's name


def test_cancel_is_its_own_outcome(qtbot, runner):
    job: Job

    def work(cancel: Cancel):
        yield "waiting for cancel"
        assert cancel.wait(10)  # the GUI thread cancels when it sees the first yield
        cancel.check()
        return "not reached"

    job = Job(work)
    job.yielded.connect(lambda _: job.cancel())
    assert run(qtbot, runner, job)[:-1] == [("yielded", "waiting for cancel"), ("cancelled",)]


def test_cancel_before_start_never_runs_the_work(qtbot, runner):
    called = []
    job = Job(lambda cancel: called.append(1))
    job.cancel()
    assert run(qtbot, runner, job)[:-1] == [("cancelled",)]
    assert not called


def test_a_shared_token_reaches_the_work(qtbot, runner):
    """A pull engine is made with the token before its job: Job.cancel() must reach it."""
    token = Cancel()
    job = Job(lambda cancel: cancel is token, cancel=token)
    assert job.token is token
    assert run(qtbot, runner, job)[0] == ("done", True)


def test_thread_runner_keeps_an_unreferenced_job_alive(qtbot, no_leaked_threads):
    """A panel that replaces its job (a new search) lets go of the old one while its
    thread may still run: the runner holds it until the thread has ended."""
    runner = ThreadRunner()
    got: list[str] = []
    job = Job(lambda cancel: "kept")
    job.done.connect(got.append)
    ref = weakref.ref(job)
    runner.start(job)
    del job
    gc.collect()
    assert ref() is not None and runner.running() == [ref()]
    qtbot.waitUntil(lambda: got == ["kept"] and not runner.running(), timeout=10_000)


class RecordingRunner(SyncRunner):
    def __init__(self) -> None:
        self.names: list[str] = []

    def start(self, job: Job) -> Job:
        self.names.append(job.name)
        return super().start(job)


class HeldRunner(JobRunner):
    """Holds jobs until released: the moment between asking and running made visible."""

    def __init__(self) -> None:
        self.held: list[Job] = []

    def start(self, job: Job) -> Job:
        self.held.append(job)
        return job

    def release(self) -> None:
        while self.held:
            SyncRunner().start(self.held.pop(0))


def test_the_window_runs_every_job_through_the_injected_runner(qtbot, sim, window_factory):
    from tests.gui.conftest import set_range
    from tests.gui.test_gui import TWO_DAYS

    runner = RecordingRunner()
    w = window_factory(sim, runner)
    assert w.ctx.runner is runner
    assert w.browse.runner is w.interactions.runner is w.audit.runner is runner
    w.download.picker.set_selected(["queue"])
    set_range(w, TWO_DAYS[0], (2025, 2, 1, 1, 45))
    w.download.start_download()
    assert w.download.jobs.dataset_state("queue") == "done"
    w.verify_action.trigger()
    w.audit.dialog.run()
    assert w.audit.result.text().count("OK: replayed ") == 1
    assert {"pull", "verify archive", "count records"} <= set(runner.names)


def test_the_default_runner_is_threads(tmp_path):
    from archiver.gui.context import AppContext
    from archiver.settings import Settings

    assert isinstance(
        AppContext(Settings(tmp_path / "s.json"), tmp_path / "a").runner, ThreadRunner
    )


def test_download_cancelled_before_it_starts(qtbot, sim, window_factory):
    from tests.gui.conftest import set_range

    runner = HeldRunner()
    w = window_factory(sim, runner)
    w.download.picker.set_selected(["queue"])
    set_range(w, (2025, 2, 1, 0, 0), (2025, 2, 1, 1, 45))
    w.download.start_download()
    assert w.download.busy() and not w.download.download.isEnabled()
    w.download.cancel_download()
    runner.release()
    assert not w.download.busy() and w.download.download.isEnabled()
    assert w.download.status.text() == (
        "Cancelled before the download started; nothing was downloaded."
    )
    assert w.download.jobs.dataset_state("queue") == "cancelled"
