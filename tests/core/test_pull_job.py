"""services.pull.pull: one generator job that reads the credentials, takes the archive's
lock, plans, runs, checkpoints and lets go of the lock, however it ends."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest

from archiver.api import Credentials, Tenant
from archiver.jobs import Cancel, Cancelled, drive
from archiver.pull.progress import Progress
from archiver.services import pull as pulls
from archiver.system import lock as locks
from tests.pulltools import FAST, QUICK_202, params

OPTIONS = pulls.PullOptions(workers=2, retry=FAST, not_ready=QUICK_202)


def _job(sim, arc, what, cancel=None, credentials=None, **kw):
    creds = credentials or Credentials(sim.config.client_id, sim.config.client_secret)
    tenant = Tenant.from_base_url(sim.base_url)
    return pulls.pull(arc, tenant, creds, what, OPTIONS, cancel, **kw)


def _runs(arc) -> int:
    conn = sqlite3.connect(arc)
    try:
        return conn.execute("SELECT count(*) FROM runs").fetchone()[0]
    finally:
        conn.close()


def test_plan_then_progress_with_the_lock_held_then_a_checkpoint(sim, tmp_path):
    arc = tmp_path / "a.sqlite3"
    asked: list[str] = []

    def credentials() -> Credentials:  # a keyring read, in the job's own thread
        asked.append("creds")
        return Credentials(sim.config.client_id, sim.config.client_secret)

    job = _job(
        sim,
        arc,
        pulls.Range(params(["queue"], "202502010000", "202502010145")),
        credentials=credentials,
    )
    assert asked == [] and locks.busy(arc) is None  # nothing happens until it is driven
    seen: list[object] = []

    def on_yield(value: object) -> None:
        holder = locks.busy(arc)
        assert holder is not None and holder.command == "pull"
        seen.append(value)

    result = drive(job, on_yield)
    assert asked == ["creds"]
    first = seen[0]
    assert isinstance(first, pulls.Planned)
    assert first.archive == arc and first.datasets == ["queue"] and first.plan.items
    assert seen[1:] and all(isinstance(p, Progress) for p in seen[1:])
    assert result is not None and result.exit_code == 0
    assert result.checkpoint.startswith("Checkpoint recorded")
    assert locks.busy(arc) is None and locks.lock_path(arc).read_text() == ""


def test_a_plan_that_cannot_be_made_lets_go_of_the_lock(sim, tmp_path):
    arc = tmp_path / "a.sqlite3"
    what = pulls.Incremental(("queue",), lookback=timedelta(days=2))  # no --from, nothing yet
    with pytest.raises(ValueError, match="needs --from"):
        drive(_job(sim, arc, what))
    assert locks.busy(arc) is None


def test_nothing_to_resume_and_no_pending_chunks_end_at_once(sim, tmp_path):
    arc = tmp_path / "a.sqlite3"
    assert drive(_job(sim, arc, pulls.Resume())) is None
    assert drive(_job(sim, arc, pulls.RetryPending(), run_empty=False)) is None
    assert _runs(arc) == 0 and locks.busy(arc) is None
    # the command line runs an empty retry all the same (and records it)
    result = drive(_job(sim, arc, pulls.RetryPending()))
    assert result is not None and result.exit_code == 0 and _runs(arc) == 1


def test_cancelled_before_the_run_asks_nothing_of_the_api(sim, tmp_path):
    arc = tmp_path / "a.sqlite3"
    cancel = Cancel()
    job = _job(sim, arc, pulls.Range(params(["queue"], "202502010000", "202502010145")), cancel)
    assert isinstance(next(job), pulls.Planned)
    cancel.set()
    with pytest.raises(Cancelled):
        next(job)
    assert locks.busy(arc) is None and _runs(arc) == 0


def test_a_busy_archive_is_refused_before_anything_is_read(sim, tmp_path):
    arc = tmp_path / "a.sqlite3"
    asked: list[str] = []

    def credentials() -> Credentials:
        asked.append("creds")
        return Credentials(sim.config.client_id, sim.config.client_secret)

    with locks.acquire(arc, "another pull"):
        with pytest.raises(pulls.ArchiveBusy):
            drive(_job(sim, arc, pulls.Resume(), credentials=credentials))
        assert locks.busy(arc) is not None  # still the other pull's
    assert asked == ["creds"] and not arc.exists()


def test_a_failing_consumer_closes_the_job_and_the_lock_is_let_go(sim, tmp_path):
    arc = tmp_path / "a.sqlite3"

    def stop(value: object) -> None:
        raise RuntimeError("the front-end failed")

    job = _job(sim, arc, pulls.Range(params(["queue"], "202502010000", "202502010145")))
    with pytest.raises(RuntimeError):
        drive(job, stop)
    assert locks.busy(arc) is None  # the job (still referenced here) was closed
