"""Unattended archiving in the window: a busy archive on the Download tab (and waiting for
it), the schedule's line, Help → Self-test…."""

from __future__ import annotations

import os
import re

import pytest
from PySide6.QtCore import Qt, QTimer

from archiver.gui.workers import SyncRunner
from archiver.jobs import drive
from archiver.services import pull as pulls
from archiver.services import schedule as schedules
from archiver.services import selftest
from archiver.system import lock as locks
from tests.gui.conftest import set_range
from tests.pulltools import FAST, params

BUSY = re.compile(
    r"^archive busy: pull running since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(pid (\d+)\)"
)


def test_busy_archive_is_said_and_the_download_waits_for_it(qtbot, sim, window_factory):
    w = window_factory(sim)
    held = locks.acquire(w.ctx.archive_path, "archiver pull --all --unattended")
    try:
        w.download.picker.set_selected(["queue"])
        set_range(w, (2025, 2, 1, 0, 0), (2025, 2, 1, 3, 45))
        qtbot.mouseClick(w.download.download, Qt.MouseButton.LeftButton)
        m = BUSY.match(w.download.status.text())
        assert m and int(m.group(1)) == os.getpid(), w.download.status.text()
        assert w.download.wait.isVisible() and w.download.download.isEnabled()
        assert w.download.job is None  # nothing started, nothing recorded
        qtbot.mouseClick(w.download.wait, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: w.download.status.text().startswith("Waiting: archive busy"))
        assert not w.download.download.isEnabled() and w.download.cancel.isEnabled()
        QTimer.singleShot(300, held.release)
        with qtbot.waitSignal(w.download.run_finished, timeout=60_000) as blocker:
            pass
    finally:
        held.release()
    result = blocker.args[0]
    assert result.status == "finished" and result.exit_code == 0
    assert not w.download.wait.isVisible()
    assert locks.busy(w.ctx.archive_path) is None  # the window's pull let go of it


def test_waiting_for_a_busy_archive_can_be_cancelled(qtbot, sim, window_factory):
    w = window_factory(sim)
    with locks.acquire(w.ctx.archive_path, "pull"):
        w.download.picker.set_selected(["queue"])
        qtbot.mouseClick(w.download.download, Qt.MouseButton.LeftButton)
        job = w.download.wait_for_archive()
        qtbot.waitUntil(lambda: w.download.status.text().startswith("Waiting"))
        with qtbot.waitSignal(job.ended, timeout=10_000):
            qtbot.mouseClick(w.download.cancel, Qt.MouseButton.LeftButton)
        assert w.download.status.text() == "Stopped waiting; nothing was downloaded."
        assert w.download.wait.isVisible() and w.download.download.isEnabled()


def test_a_pull_in_the_window_holds_the_archive(qtbot, sim_factory, window_factory):
    """While the window pulls, another pull on the same archive is refused."""
    sim = sim_factory()
    w = window_factory(sim)
    w.download.picker.set_selected(["queue"])
    set_range(w, (2025, 2, 1, 0, 0), (2025, 2, 1, 23, 45))
    # the pull job takes the lock in its own thread, before it plans or asks anything: its
    # first request is held, unanswered, until the lock has been checked
    sim.hold()
    try:
        with qtbot.waitSignal(w.download.run_finished, timeout=60_000):
            qtbot.mouseClick(w.download.download, Qt.MouseButton.LeftButton)
            qtbot.waitUntil(lambda: sim.wait_until_holding(0), timeout=20_000)
            holder = locks.busy(w.ctx.archive_path)
            assert holder is not None and holder.pid == os.getpid()
            sim.release()
    finally:
        sim.release()
    assert locks.busy(w.ctx.archive_path) is None


def test_download_tab_shows_the_schedule_and_the_last_unattended_run(
    qtbot, sim, window_factory, tmp_path, monkeypatch
):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    w = window_factory(sim, SyncRunner())
    line = w.download.schedule
    assert (
        line.objectName() == "scheduleStatus" and line.text() == "Daily archiving: not scheduled."
    )
    # an unattended run into the window's archive, and the schedule's units
    job = pulls.pull(
        w.ctx.archive_path,
        w.ctx.tenant(),
        w.ctx.credentials,
        pulls.Range(params(["queue"], "20250201", "20250201")),
        pulls.PullOptions(retry=FAST, unattended=True),
    )
    result = drive(job)
    s = schedules.Schedule(
        w.ctx.archive_path, "archiver-demo", base_url=sim.base_url, datasets=("queue",)
    )
    unit_dir = schedules.unit_dir()
    unit_dir.mkdir(parents=True)
    for name, text in schedules.systemd_units(s).items():
        (unit_dir / name).write_text(text)
    w.refresh_action.trigger()
    text = line.text()
    assert text.startswith("Daily archiving: installed ("), text
    assert "; last unattended run 20" in text and "UTC: finished (exit code 0)" in text
    assert result.status == "finished"
    assert "Runs daily at 02:30: queue of" in line.toolTip()


@pytest.mark.slow
def test_help_menu_runs_the_self_test(qtbot, sim, window_factory):
    w = window_factory(sim)
    help_menu = next(a.menu() for a in w.menuBar().actions() if a.text() == "&Help")
    assert w.self_test_action in help_menu.actions()
    w.self_test_action.trigger()
    dlg = w.self_test
    assert dlg is not None and dlg.isVisible()
    qtbot.waitUntil(lambda: dlg.outcome is not None, timeout=120_000)
    lines = dlg.log.toPlainText().splitlines()
    assert [line.split(":")[0] for line in lines] == [f"PASS  {s}" for s in selftest.STEPS]
    assert dlg.verdict.text().startswith("PASS: all 6 steps passed")
    assert dlg.again.isEnabled()
    dlg.close()
