"""The Retention tab (issue 20 §1–§3) on the real window: schedules set from the tab, the
plan as of a date with what is kept for a legal hold (the same numbers and id as the CLI),
dispose-of-this-plan behind a confirmation that asks for the reason, and Browse saying why
a disposed row has no values; over a real archive pulled over HTTP from the simulator."""

from __future__ import annotations

import json
import sqlite3
from datetime import date

import pytest
from PySide6.QtCore import QDate, Qt, QTimer
from PySide6.QtWidgets import QApplication

from archiver.export import keys
from archiver.gui.retention import ApplyDialog
from archiver.gui.workers import SyncRunner
from archiver.services import cases as case_service
from archiver.services import retention
from tests.clitools import run_cli
from tests.pulltools import params, pull

PASSPHRASE = "correct horse battery staple"
DATASETS = ["interactionSegments", "workflowTrace", "transcript"]


@pytest.fixture
def window(window_factory, sim, tmp_path, monkeypatch):
    monkeypatch.setenv("ARCHIVER_KEY_PASSPHRASE", PASSPHRASE)
    w = window_factory(sim, SyncRunner())
    w.key_dir = tmp_path / "keys" / "signing"
    keys.load_or_create(w.key_dir)
    pull(sim, w.ctx.archive_path, params(DATASETS, "20250201", "20250202", page_size=40))
    w.refresh_views()
    return w


def _held(w) -> str:
    conn = sqlite3.connect(w.ctx.archive_path)
    try:
        (iid,) = conn.execute(
            """SELECT v.INTERACTION_ID FROM vals_interactionSegments v JOIN records r
               USING (record_id) WHERE r.interval_start BETWEEN '202502010600' AND
               '202502011200' ORDER BY 1 LIMIT 1"""
        ).fetchone()
    finally:
        conn.close()
    case_service.create(w.ctx.archive_path, "Smith complaint", "refund complaint")
    case_service.add_interactions(w.ctx.archive_path, "Smith complaint", [iid])
    case_service.place_hold(w.ctx.archive_path, "Smith complaint", "litigation")
    return iid


def test_the_tab_sets_schedules_shows_what_is_due_and_disposes_after_asking_why(window, qtbot):
    w = window
    _held(w)
    panel = w.retention
    w.tabs.setCurrentWidget(panel)
    assert panel.schedules.rowCount() == 0
    assert "no dataset has a schedule" in panel.plan_label.text()
    assert not panel.apply_button.isEnabled()
    panel.set_schedule("interactionSegments", "6y", reason="FINRA 4511")
    panel.set_schedule("transcript", "6y", "interval")
    assert panel.schedules.rowCount() == 2
    assert panel.schedules.item(0, 2).text() == "6y (6 years)"
    assert panel.schedules.item(0, 5).text() == "FINRA 4511"
    panel.as_of.setDate(QDate(2031, 2, 2))
    plan = panel.plan
    assert plan is not None and plan.pages and plan.as_of == date(2031, 2, 2)
    # the same plan, numbers and id as the command line
    cli = json.loads(
        run_cli(
            "retention",
            "plan",
            "--as-of",
            "2031-02-02",
            "--json",
            "--archive",
            w.ctx.archive_path,
        ).out
    )
    assert panel.plan_id.text() == f"plan id: {cli['plan_id']}"
    shown = {
        panel.due.item(r, 0).text(): panel.due.item(r, 5).text()
        for r in range(panel.due.rowCount())
        if panel.due.item(r, 0).text()
    }
    assert shown == {d["dataset"]: f"{d['pages']:,}" for d in cli["datasets"]}
    kept = [panel.due.item(r, 8).text() for r in range(panel.due.rowCount())]
    assert any("legal hold: case 'Smith complaint'" in k for k in kept)
    assert f"{cli['pages']:,} pages" in panel.plan_label.text()
    # apply: the confirmation asks for the reason; Dispose stays disabled without one
    seen: dict[str, object] = {}

    def confirm() -> None:
        dlg = QApplication.activeModalWidget()
        assert isinstance(dlg, ApplyDialog)
        seen["summary"] = dlg.summary.toPlainText()
        seen["disabled_first"] = not dlg.ok.isEnabled()
        dlg.reason.setText("Annual disposition 2031")
        seen["enabled"] = dlg.ok.isEnabled()
        dlg.ok.click()

    QTimer.singleShot(0, confirm)
    qtbot.mouseClick(panel.apply_button, Qt.MouseButton.LeftButton)
    assert seen["disabled_first"] and seen["enabled"]
    assert f"plan id: {cli['plan_id']}" in str(seen["summary"])
    assert panel.last_error == "", panel.last_error
    applied = panel.last_applied
    assert applied is not None and applied.pdf_path is not None and applied.pdf_path.is_file()
    assert applied.certificate_id in panel.status.text()
    assert panel.done.rowCount() == 1
    assert panel.done.item(0, 0).text() == applied.certificate_id
    assert panel.done.item(0, 6).text() == "Annual disposition 2031"
    # the plan shown afterwards: nothing left due but what the hold keeps
    assert not panel.apply_button.isEnabled()
    assert run_cli("verify-archive", "--archive", w.ctx.archive_path).code == 0
    # the Coverage tab shows the day disposed
    w.tabs.setCurrentWidget(w.coverage)
    assert "disposed" in w.coverage.state("interactionSegments", "2025-02-01")
    assert "disposed" not in w.coverage.state("workflowTrace", "2025-02-01")
    # Browse says why a disposed row has no values
    w.tabs.setCurrentWidget(w.browse)
    w.browse.select_dataset("interactionSegments")
    model = w.browse.model
    first = model.index(0, 0)
    assert model.data(first) == "(disposed: no values)"
    tip = model.data(first, Qt.ItemDataRole.ToolTipRole)
    assert applied.certificate_id in tip and "disposed on " in tip
    assert "interactionSegments 6y" in tip
    w.tabs.setCurrentWidget(panel)
    panel.grab()  # paints without error


def test_a_stale_plan_is_refused_on_the_tab_too(window):
    w = window
    panel = w.retention
    w.tabs.setCurrentWidget(panel)
    panel.set_schedule("interactionSegments", "6y")
    panel.as_of.setDate(QDate(2031, 2, 2))
    assert panel.plan is not None and panel.plan.pages
    retention.set_schedule(w.ctx.archive_path, "transcript", "1y")  # changes the archive
    panel.apply_plan("annual")
    assert "stale" in panel.last_error and "plan again" in panel.last_error
    conn = sqlite3.connect(w.ctx.archive_path)
    assert not conn.execute("SELECT 1 FROM pages WHERE encoding='disposed'").fetchall()
    conn.close()


def test_a_schedule_is_cleared_from_the_tab(window):
    w = window
    panel = w.retention
    w.tabs.setCurrentWidget(panel)
    panel.set_schedule("transcript", "90d")
    assert panel.schedules.rowCount() == 1
    panel.schedules.selectRow(0)
    assert panel.clear_button.isEnabled()
    panel.clear_button.click()
    assert panel.schedules.rowCount() == 0
