"""One time rule in the app: ranges are entered and shown in UTC (the local time only as a
hint), "Yesterday" and "Last 7 days" are UTC days, a range entered inclusive is printed
inclusive, and the Export dialog's default range is the archived one. Run on a machine
whose local zone is far from UTC (UTC+14), where a local-time edit would show other days."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from PySide6.QtCore import Qt

from archiver.gui.workers import SyncRunner
from tests.gui.conftest import set_range


@pytest.fixture
def far_zone(monkeypatch):
    monkeypatch.setenv("TZ", "Pacific/Kiritimati")  # UTC+14
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_download_range_is_utc_with_a_local_hint(qtbot, sim, window_factory, far_zone):
    w = window_factory(sim)
    rp = w.download.range
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    qtbot.mouseClick(rp.findChild(type(w.download.download), "quickYesterday"), Qt.LeftButton)
    start, end, daily = rp.bounds()
    assert (start, end, daily) == (today - timedelta(days=1), today - timedelta(minutes=15), False)
    y = today - timedelta(days=1)
    assert rp.start.text() == f"{y:%Y-%m-%d} 00:00" and rp.end.text() == f"{y:%Y-%m-%d} 23:45"
    assert rp.shown.text() == f"{y:%Y-%m-%d} 00:00 – 23:45 UTC, last interval included"
    local = y.astimezone()
    assert rp.local.text().startswith(f"Your local time (+14): {local:%Y-%m-%d} 14:00 – ")
    qtbot.mouseClick(rp.findChild(type(w.download.download), "quickLast7days"), Qt.LeftButton)
    start, end, _ = rp.bounds()
    assert (start, end) == (today - timedelta(days=7), today - timedelta(minutes=15))
    assert rp.shown.text().endswith("23:45 UTC, last interval included")
    # daily mode names UTC days
    rp.daily.setChecked(True)
    assert rp.start.text() == f"{today - timedelta(days=7):%Y-%m-%d}"
    assert rp.shown.text() == (
        f"{today - timedelta(days=7):%Y-%m-%d} – {y:%Y-%m-%d} UTC, last day included"
    )


def test_a_range_entered_is_the_range_pulled_and_printed(qtbot, sim, window_factory, far_zone):
    w = window_factory(sim, SyncRunner())
    w.download.picker.set_selected(["queue"])
    set_range(w, (2025, 2, 2, 0, 0), (2025, 2, 2, 1, 45))
    assert w.download.range.shown.text() == "2025-02-02 00:00 – 01:45 UTC, last interval included"
    w.download.start_download()
    assert w.download.jobs.dataset_state("queue") == "done"
    w.tabs.setCurrentWidget(w.audit)
    details = [w.audit.model.index(r, 5).data() for r in range(w.audit.model.rowCount())]
    assert any("queue 2025-02-02T00:00 → 2025-02-02T01:45" in d for d in details), details


def test_export_dialog_defaults_to_the_archived_range(
    qtbot, sim, window_factory, tmp_path, far_zone
):
    w = window_factory(sim, SyncRunner())
    w.key_dir = tmp_path / "keys"
    dlg = w.open_export()  # nothing archived yet: today, in UTC
    qtbot.addWidget(dlg)
    today = datetime.now(UTC)
    assert dlg.range_text.text() == f"{today:%Y-%m-%d} 00:00 – 23:45 UTC, last interval included"
    dlg.close()
    w.download.picker.set_selected(["interactionSegments"])
    set_range(w, (2025, 2, 2, 22, 0), (2025, 2, 3, 1, 45))
    w.download.start_download()
    dlg = w.open_export()
    qtbot.addWidget(dlg)
    # the archived range: 22:00 through 02:00 (the last chunk's `ending`, which the
    # simulator returns: it reads `ending` inclusively)
    assert dlg.start.text() == "2025-02-02 22:00" and dlg.end.text() == "2025-02-03 02:00"
    assert dlg.range_text.text() == (
        "2025-02-02 22:00 – 2025-02-03 02:00 UTC, last interval included"
    )
    assert dlg.local_hint.text().startswith("Your local time (+14): 2025-02-03 12:00 – ")
    assert dlg.scope().first == datetime(2025, 2, 2, 22, 0, tzinfo=UTC)
