"""The real window, driven with pytest-qt (offscreen), on a real simulator and archive."""

from __future__ import annotations

import sqlite3
import time

import pytest
import requests
from PySide6.QtCore import QModelIndex, Qt, QTimer
from PySide6.QtWidgets import QLabel, QPushButton

from archiver.archive.queries.review import ArchiveReader
from archiver.datasets import DATASETS
from archiver.gui.browse import RecordsModel
from archiver.gui.connection import ConnectionDialog
from archiver.gui.workers import SyncRunner
from tests.clitools import run_cli
from tests.gui.conftest import set_range
from tests.pulltools import archived, params, walked_truth

TWO_DAYS = ((2025, 2, 1, 0, 0), (2025, 2, 2, 23, 45))


def download(qtbot, w, datasets, start=TWO_DAYS[0], end=TWO_DAYS[1], timeout=60_000):
    w.download.picker.set_selected(datasets)
    set_range(w, start, end)
    with qtbot.waitSignal(w.download.run_finished, timeout=timeout) as blocker:
        qtbot.mouseClick(w.download.download, Qt.MouseButton.LeftButton)
    return blocker.args[0]


def test_connection_dialog_tests_and_saves(qtbot, sim, window_factory):
    w = window_factory(sim)
    dlg = ConnectionDialog(w.ctx, w)
    qtbot.addWidget(dlg)
    dlg.by_url.setChecked(True)
    dlg.base_url.setText(sim.base_url)
    dlg.client_id.setText("archiver-demo")
    dlg.secret.setText("wrong-secret")
    qtbot.mouseClick(dlg.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dlg.status.text().startswith("✗"), timeout=20_000)
    assert "client id and secret" in dlg.status.text()
    dlg.secret.setText("demo-secret")
    qtbot.mouseClick(dlg.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dlg.status.text().startswith("✓"), timeout=20_000)
    dlg.save()
    assert w.ctx.settings.get("base_url") == sim.base_url
    assert "secret" not in (w.ctx.settings.path.read_text() if w.ctx.settings.path.exists() else "")


def test_connection_dialog_validates_subdomain(qtbot, sim, window_factory):
    w = window_factory(sim)
    dlg = ConnectionDialog(w.ctx, w)
    qtbot.addWidget(dlg)
    dlg.customer.setText("not a subdomain!")
    dlg.test_connection()
    assert "not a valid customer subdomain" in dlg.status.text()


def test_download_two_datasets_and_browse(qtbot, sim, window_factory, tmp_path):
    w = window_factory(sim)
    result = download(qtbot, w, ["interactionSegments", "workflowTrace"])
    assert result.status == "finished"
    for name in ("interactionSegments", "workflowTrace"):
        assert w.download.jobs.dataset_state(name) == "done"
        assert archived(w.ctx.archive_path, name) == walked_truth(
            sim, name, params([name], "20250201", "20250202")
        )
    w.tabs.setCurrentWidget(w.browse)
    qtbot.waitUntil(lambda: w.browse.current_dataset() == "interactionSegments", timeout=10_000)
    model = w.browse.model
    assert model.rowCount() > 0 and model.columnCount() == 40
    assert model.headerData(0, Qt.Orientation.Horizontal) == "ROW_ID"
    # typed display, raw one click away
    wait_col = [c for c, _ in model.columns].index("WAIT_TIME")
    idx = model.index(0, wait_col)
    assert "raw API string" in model.data(idx, Qt.ItemDataRole.ToolTipRole)
    w.browse.raw.setChecked(True)
    assert model.data(idx) == model.data(idx, Qt.ItemDataRole.ToolTipRole).split(": ", 1)[1].strip(
        '"'
    )
    # search runs in a worker, then the model shows ids
    w.browse.search.setText("Complaint")
    w.browse.apply_query()
    qtbot.waitUntil(lambda: " match" in w.browse.count.text(), timeout=10_000)
    n = int(w.browse.count.text().split()[0].replace(",", ""))
    assert n == model.rowCount() > 0
    # sort by a number column, descending
    model.sort(wait_col, Qt.SortOrder.DescendingOrder)
    qtbot.waitUntil(lambda: " match" in w.browse.count.text(), timeout=10_000)
    w.browse.raw.setChecked(True)
    values = [int(model.data(model.index(r, wait_col))) for r in range(min(50, model.rowCount()))]
    assert values == sorted(values, reverse=True)


@pytest.mark.slow
def test_cancel_midway_then_resume(qtbot, sim_factory, window_factory):
    sim = sim_factory(latency_ms=40, rows_per_interval=20)
    w = window_factory(sim)
    w.download.picker.set_selected(["interactionSegments", "queue"])
    set_range(w, (2025, 2, 1, 0, 0), (2025, 2, 2, 23, 45))
    w.ctx.settings.set("page_size", 50)
    with qtbot.waitSignal(w.download.run_finished, timeout=60_000) as blocker:
        qtbot.mouseClick(w.download.download, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(
            lambda: any(
                w.download.jobs.item(r, 2).text() not in ("", "0")
                for r in w.download.jobs.rows.values()
            ),
            timeout=20_000,
        )
        qtbot.mouseClick(w.download.cancel, Qt.MouseButton.LeftButton)
    assert blocker.args[0].status == "interrupted"
    assert "cancelled" in {w.download.jobs.dataset_state(n) for n in w.download.jobs.rows}
    assert w.download.resume.isVisible() and "can be resumed" in w.download.resume_banner.text()
    sim.set_faults(latency_ms=0)  # slow answers only so that Cancel lands mid-walk
    with qtbot.waitSignal(w.download.run_finished, timeout=60_000) as blocker:
        qtbot.mouseClick(w.download.resume, Qt.MouseButton.LeftButton)
    assert blocker.args[0].status == "finished"
    p = params(["interactionSegments", "queue"], "20250201", "20250202")
    for name in p.datasets:
        assert archived(w.ctx.archive_path, name) == walked_truth(sim, name, p)
    assert not w.download.resume.isVisible()


def test_resume_offered_after_restart(qtbot, sim_factory, window_factory):
    sim = sim_factory(latency_ms=40)
    w = window_factory(sim)
    w.download.picker.set_selected(["queue"])
    set_range(w, (2025, 2, 1, 0, 0), (2025, 2, 1, 23, 45))
    w.ctx.settings.set("page_size", 10)
    with qtbot.waitSignal(w.download.run_finished, timeout=60_000):
        qtbot.mouseClick(w.download.download, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: w.download.jobs.item(0, 2).text() not in ("", "0"), timeout=20_000)
        w.download.cancel_download()
    w.close()
    w2 = window_factory(sim, ini="ui2.ini")
    assert w2.download.resume.isVisible()
    sim.set_faults(latency_ms=0)  # slow answers only so that the cancel lands mid-walk
    with qtbot.waitSignal(w2.download.run_finished, timeout=60_000) as blocker:
        qtbot.mouseClick(w2.download.resume, Qt.MouseButton.LeftButton)
    assert blocker.args[0].status == "finished"


def test_not_entitled_dataset_is_marked(qtbot, sim_factory, window_factory):
    sim = sim_factory(entitled=False)
    w = window_factory(sim)
    result = download(qtbot, w, ["queue", "workflowTrace"], TWO_DAYS[0], (2025, 2, 1, 23, 45))
    assert result.exit_code == 5
    status = w.download.status.text()
    assert "Finished." not in status and "every chunk archived" not in status
    assert "workflowTrace not archived: not entitled for this tenant" in status
    assert "Analytics Insights" in status and "Archived queue" in status
    assert w.download.jobs.dataset_state("workflowTrace") == "not entitled"
    assert w.download.jobs.dataset_state("queue") == "done"
    item = w.download.picker.items["workflowTrace"]
    assert item.data(0, Qt.ItemDataRole.UserRole) == "not entitled"
    assert "Analytics Insights" in item.toolTip(0) and "Not entitled" in item.text(1)
    w.tabs.setCurrentWidget(w.coverage)
    assert w.coverage.state("workflowTrace", "2025-02-01") == "not entitled"
    w.tabs.setCurrentWidget(w.audit)  # the custody entry is as honest as the status line
    row = w.audit.events().index("pull finished")
    details = w.audit.model.index(row, 5).data()
    assert details.startswith("finished (queue); not entitled, not archived: workflowTrace;")


def test_row_versions_after_late_update(qtbot, sim, window_factory):
    w = window_factory(sim)
    download(qtbot, w, ["interactionSegments"], TWO_DAYS[0], (2025, 2, 1, 5, 45))
    requests.post(
        sim.base_url + "/_simulator/late-updates",
        json={"datasets": ["interactionSegments"], "share": 0.5},
        timeout=10,
    )
    download(qtbot, w, ["interactionSegments"], TWO_DAYS[0], (2025, 2, 1, 5, 45))
    conn = sqlite3.connect(w.ctx.archive_path)
    rid = conn.execute(
        "SELECT max(record_id) FROM records_view WHERE dataset='interactionSegments'"
    ).fetchone()[0]
    conn.close()
    w.tabs.setCurrentWidget(w.browse)
    qtbot.waitUntil(lambda: w.browse.current_dataset() == "interactionSegments", timeout=10_000)
    w.browse.latest.setChecked(True)
    qtbot.waitUntil(lambda: " match" in w.browse.count.text(), timeout=10_000)
    row = next(r for r in range(w.browse.model.rowCount()) if w.browse.model.record_id(r) == rid)
    dlg = w.browse.open_row(w.browse.model.index(row, 0))
    qtbot.addWidget(dlg)
    assert len(dlg.versions) == 2
    assert dlg.versions[1].changed == {"WRAP_UP_TIME", "COMMIT_TS"}
    cols = [dlg.table.verticalHeaderItem(r).text() for r in range(dlg.table.rowCount())]
    assert dlg.table.item(cols.index("WRAP_UP_TIME"), 1).data(Qt.ItemDataRole.UserRole) == "changed"
    assert dlg.table.item(cols.index("QUEUE_ID"), 1).data(Qt.ItemDataRole.UserRole) is None
    assert dlg.versions[0].page_sha256 and dlg.versions[0].chain


def test_interaction_timeline(qtbot, sim, window_factory):
    w = window_factory(sim, SyncRunner())
    w.download.picker.set_selected(["interactionSegments", "workflowTrace"])
    set_range(w, (2025, 2, 1, 0, 0), (2025, 2, 1, 5, 45))
    w.download.start_download()
    conn = sqlite3.connect(w.ctx.archive_path)
    iid = conn.execute(
        """SELECT s.INTERACTION_ID FROM vals_interactionSegments s
           GROUP BY 1 HAVING count(*) >= 2 AND 1 IN (SELECT 1 FROM vals_workflowTrace t
           WHERE t.WORKFLOWSESSION_INTERACTIONID = s.INTERACTION_ID) LIMIT 1"""
    ).fetchone()[0]
    conn.close()
    w.tabs.setCurrentWidget(w.interactions)
    w.interactions.query.setText(iid[:14])
    w.interactions.search()
    assert w.interactions.results.count() >= 1
    w.interactions.show_interaction(iid)
    assert w.interactions.segments.rowCount() >= 2
    assert w.interactions.trace.rowCount() >= 3
    assert iid in w.interactions.title.text()
    lanes = {item[0] for item in w.interactions.timeline.items}
    assert "workflow" in lanes and "segment 1" in lanes and "segment 2" in lanes
    w.interactions.timeline.grab()  # paints without error


def test_coverage_shows_pending(qtbot, sim_factory, window_factory):
    sim = sim_factory(accepted_first=1)
    w = window_factory(sim, SyncRunner())
    w.download.picker.set_selected(["queue"])
    set_range(w, (2025, 2, 1, 0, 0), (2025, 2, 1, 23, 45))
    w.download.start_download()
    assert w.download.jobs.dataset_state("queue").startswith("waiting for data")
    status = w.download.status.text()
    assert "Partial" in status and "queue (" in status and "Retry pending" in status
    w.tabs.setCurrentWidget(w.coverage)
    assert w.coverage.state("queue", "2025-02-01") == "pending (202)"
    dlg = w.coverage.open_day("queue", "2025-02-01")
    assert dlg is not None and dlg.table.rowCount() == 24 and dlg.table.columnCount() == 4
    cells = [dlg.table.item(r, c).text() for r in range(24) for c in range(4)]
    assert cells == ["pending (202)"] * 96
    dlg.close()
    w.download.retry_pending_chunks()
    w.coverage.refresh()
    assert w.coverage.state("queue", "2025-02-01").replace(",", "").isdigit()
    dlg = w.coverage.open_day("queue", "2025-02-01")
    counts = [int(dlg.table.item(r, c).text()) for r in range(24) for c in range(4)]
    conn = sqlite3.connect(w.ctx.archive_path)
    per = dict(
        conn.execute(
            "SELECT interval_start, count(*) FROM records_view WHERE dataset='queue' GROUP BY 1"
        )
    )
    conn.close()
    assert counts == [per[f"20250201{h:02d}{m:02d}"] for h in range(24) for m in (0, 15, 30, 45)]
    assert "requested 96, walked 96" in dlg.findChild(QLabel).text()
    dlg.close()


def test_verify_archive_action(qtbot, sim, window_factory):
    w = window_factory(sim, SyncRunner())
    w.download.picker.set_selected(["queue"])
    set_range(w, (2025, 2, 1, 0, 0), (2025, 2, 1, 3, 45))
    w.download.start_download()
    w.verify_action.trigger()
    assert w.tabs.currentWidget() is w.audit
    dlg = w.audit.dialog
    assert dlg is not None and dlg.isVisible() and not dlg.witness_paths()
    qtbot.mouseClick(dlg.verify_button, Qt.MouseButton.LeftButton)
    verdict = dlg.verdict.text()
    assert (
        verdict.startswith("OK: replayed ") and "compare with --expect-head or --witness" in verdict
    )
    assert verdict in w.audit.result.text()
    events = w.audit.events()
    # newest first: the verification, then the checkpoint it wrote, are on top
    assert events[:2] == ["checkpoint", "verify-archive"] and "pull started" in events
    # the same words: the dialog, the audit entry's summary, the command line
    assert w.audit.model.index(1, 5).data().startswith(verdict)
    out = run_cli("verify-archive", "--archive", str(w.ctx.archive_path), "--read-only")
    assert out.stdout.splitlines()[0] == verdict


def test_unreachable_server_shows_an_error_not_a_traceback(qtbot, sim, window_factory):
    w = window_factory(sim, SyncRunner())
    w.ctx.settings.set("base_url", "http://127.0.0.1:9")
    w.ctx.remember_secret("demo-secret")  # a secret belongs to one tenant: give this one its own
    w.download.picker.set_selected(["queue"])
    set_range(w, (2025, 2, 1, 0, 0), (2025, 2, 1, 0, 45))
    w.download.start_download()
    assert w.last_error is not None
    assert "127.0.0.1:9" in w.last_error[1]
    assert w.findChild(object, "errorDialog") is not None


def test_nothing_selected_says_so(qtbot, sim, window_factory):
    w = window_factory(sim, SyncRunner())
    w.download.picker.set_selected([])
    w.download.start_download()
    assert w.download.status.text() == "Choose at least one dataset."


def test_filter_syntax_checked_as_you_type(qtbot, sim, window_factory):
    w = window_factory(sim, SyncRunner())
    f = w.download.filter
    f.column.setCurrentText("CHANNEL")
    qtbot.keyClicks(f.value, "ph*one")
    assert "prefix" in f.message.text()
    f.value.setText("ph*")
    assert f.filter() == "CHANNEL:ph*" and f.message.text() == "filter=CHANNEL:ph*"


@pytest.mark.slow
def test_records_model_passes_qtmodeltester(qtmodeltester, sim, tmp_path):
    from tests.pulltools import pull

    arc = tmp_path / "a.sqlite3"
    pull(sim, arc, params(["queue"], "20250201", "20250201"))
    reader = ArchiveReader(arc)
    try:
        model = RecordsModel()
        model.set_dataset(reader, "queue")
        model.fetchMore(QModelIndex())
        qtmodeltester.check(model, force_py=True)
        model.set_ids(reader.record_ids("queue", sort="WAITTIME"))
        qtmodeltester.check(model, force_py=True)
        assert model.rowCount() == len(archived(arc, "queue"))
    finally:
        reader.close()


def test_a_query_shows_its_first_rows_then_grows_to_the_whole_answer(
    qtbot, qtmodeltester, sim, window_factory, monkeypatch
):
    import archiver.gui.browse as browse_mod

    monkeypatch.setattr(browse_mod, "FIRST_WINDOW", 25)
    w = window_factory(sim, SyncRunner())
    download(qtbot, w, ["queue"], TWO_DAYS[0], (2025, 2, 1, 5, 45))
    w.tabs.setCurrentWidget(w.browse)
    qtbot.waitUntil(lambda: w.browse.current_dataset() != "", timeout=10_000)
    w.browse.select_dataset("queue")
    model = w.browse.model
    seen: list[tuple[str, int]] = []
    model.modelReset.connect(lambda: seen.append(("reset", model.rowCount())))
    model.rowsInserted.connect(lambda _p, a, b: seen.append(("inserted", b - a + 1)))
    col = [c for c, _ in model.columns].index("WAITTIME")
    w.browse.view.sortByColumn(col, Qt.SortOrder.DescendingOrder)
    qtbot.waitUntil(lambda: " match" in w.browse.count.text(), timeout=10_000)
    with ArchiveReader(w.ctx.archive_path) as r:
        whole = r.record_ids("queue", sort="WAITTIME", descending=True)
        assert list(r.record_ids("queue", sort="WAITTIME", descending=True, limit=25)) == list(
            whole[:25]
        )
    assert len(whole) > 25
    # the first 25 came alone, then the rest was appended (no second reset)
    assert seen == [("reset", 25), ("inserted", len(whole) - 25)]
    assert [model.record_id(i) for i in range(model.rowCount())] == list(whole)
    assert w.browse.count.text() == f"{len(whole):,} records match."
    qtmodeltester.check(model, force_py=True)


def test_grown_ids_fill_the_block_the_first_window_ended_in(sim, tmp_path):
    """The first window ends inside a block of the id cache: after the whole answer, the
    rows that follow in that block are read, not left blank."""
    from array import array

    import archiver.gui.browse as browse_mod
    from tests.pulltools import pull

    arc = tmp_path / "a.sqlite3"
    pull(sim, arc, params(["queue"], "20250201", "20250201"))
    with ArchiveReader(arc) as reader:
        model = RecordsModel()
        model.set_dataset(reader, "queue")
        whole = reader.record_ids("queue", sort="WAITTIME")
        cut = browse_mod.BLOCK // 2
        assert len(whole) > browse_mod.BLOCK
        model.set_ids(array("q", whole[:cut]))
        assert model.data(model.index(cut - 1, 0)) is not None  # reads (and caches) block 0
        assert model.grow_ids(whole)
        assert all(model.record_id(i) == whole[i] for i in range(len(whole)))
        assert all(model.data(model.index(i, 0)) is not None for i in range(len(whole)))


def test_an_older_querys_answer_is_dropped(qtbot, sim, window_factory):
    w = window_factory(sim, SyncRunner())
    download(qtbot, w, ["queue"], TWO_DAYS[0], (2025, 2, 1, 5, 45))
    w.tabs.setCurrentWidget(w.browse)
    w.browse.select_dataset("queue")
    from array import array

    w.browse._query_number += 1  # a newer query started since this answer was asked for
    w.browse._ids(w.browse._query_number - 1, "queue", array("q", [1, 2, 3]), complete=True)
    assert w.browse.model._ids is None and " match" not in w.browse.count.text()


def test_window_restores_geometry_and_choices(qtbot, sim, window_factory):
    w = window_factory(sim)
    w.resize(640, 480)
    w.download.picker.set_selected(["agent", "queue"])
    w.tabs.setCurrentIndex(3)
    w.close()
    w2 = window_factory(sim)
    assert w2.size().width() == 640 and w2.download.picker.selected() == ["agent", "queue"]
    assert w2.tabs.currentIndex() == 3


@pytest.mark.slow
def test_gui_stays_responsive_during_a_large_download(qtbot, sim_factory, window_factory, capsys):
    sim = sim_factory(rows_per_interval=40)
    w = window_factory(sim)
    # Between two heartbeats: the wall time, and the CPU time the GUI thread itself spent.
    # The second is what a blocking call on the GUI thread shows as; the first also grows
    # when the machine is busy with other processes, so it is printed, not asserted.
    gaps: list[float] = []
    busy: list[float] = []
    last = [time.perf_counter(), time.thread_time()]

    def beat() -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        gaps.append(now - last[0])
        busy.append(cpu - last[1])
        last[:] = [now, cpu]

    timer = QTimer()
    timer.timeout.connect(beat)
    timer.start(10)
    result = download(
        qtbot, w, ["interactionSegments"], (2025, 2, 1, 0, 0), (2025, 2, 6, 23, 45), timeout=120_000
    )
    timer.stop()
    rows = result.progress.datasets["interactionSegments"].rows
    assert rows >= 20_000
    worst = max(gaps[1:]) * 1000
    stalled = max(busy[1:]) * 1000
    with capsys.disabled():
        print(
            f"\nheartbeat: {rows:,} rows downloaded, {len(gaps)} beats, worst gap {worst:.0f} ms,"
            f" longest GUI-thread work between beats {stalled:.0f} ms"
        )
    assert stalled < 500, f"the GUI thread was busy for {stalled:.0f} ms without a heartbeat"
    # a GUI thread waiting (a lock, a blocking read) uses no CPU: a long freeze still fails
    assert worst < 5000, f"no heartbeat for {worst:.0f} ms"


def test_qt_binding_keeps_none_refcount(qapp):
    """PySide6 6.12.0 drops a reference to None on every processEvents(); a long session
    then aborts the interpreter. Guard against any binding with that bug."""
    import sys

    before = sys.getrefcount(None)
    for _ in range(2000):
        qapp.processEvents()
    assert sys.getrefcount(None) - before > -100


def _export_dialog(qtbot, sim, window_factory, tmp_path, monkeypatch):
    """A window with three hours of segments and traces archived, and its Export dialog."""
    monkeypatch.setenv("ARCHIVER_KEY_PASSPHRASE", "gui-test")
    w = window_factory(sim, SyncRunner())
    w.key_dir = tmp_path / "keys"
    w.download.picker.set_selected(["interactionSegments", "workflowTrace"])
    set_range(w, (2025, 2, 1, 0, 0), (2025, 2, 1, 2, 45))
    w.download.start_download()
    dlg = w.open_export()
    qtbot.addWidget(dlg)
    return w, dlg


def test_verify_archive_dialog_takes_witnesses(qtbot, sim, window_factory, tmp_path, monkeypatch):
    from PySide6.QtCore import QDate, QTime

    w, dlg = _export_dialog(qtbot, sim, window_factory, tmp_path, monkeypatch)
    dlg.start.setDate(QDate(2025, 2, 1))
    dlg.end.setDate(QDate(2025, 2, 1))
    dlg.end.setTime(QTime(2, 45))
    dlg.out.setText(str(tmp_path / "handed-out"))
    qtbot.mouseClick(dlg.export_button, Qt.MouseButton.LeftButton)
    assert dlg.bundle_result is not None and dlg.status.text().startswith("✓")
    w.verify_action.trigger()
    v = w.audit.dialog
    v.add_witness(tmp_path / "handed-out")
    v.add_witness(tmp_path / "handed-out")  # listed once
    assert v.witness_paths() == [tmp_path / "handed-out"]
    qtbot.mouseClick(v.verify_button, Qt.MouseButton.LeftButton)
    assert v.state.text() == "✓ Verified"
    assert v.verdict.text().startswith("OK: replayed ")
    assert v.verdict.text().endswith("chains extend 1 external checkpoint.")
    assert "from witnesses" in v.details.toPlainText()
    v.quick.setChecked(True)
    v.witnesses.item(0).setSelected(True)
    v.findChild(QPushButton, "removeWitness").click()
    assert v.witness_paths() == []
    qtbot.mouseClick(v.verify_button, Qt.MouseButton.LeftButton)
    assert v.verdict.text().startswith(
        "OK (quick: chains and checksums only, nothing was replayed)"
    )
    assert v.verdict.text() in w.audit.result.text()


def test_export_and_verify_dialogs(qtbot, sim, window_factory, tmp_path, monkeypatch):
    from PySide6.QtCore import QDate, QTime

    from archiver.gui.bundles import VerifyDialog

    w, dlg = _export_dialog(qtbot, sim, window_factory, tmp_path, monkeypatch)
    assert "will be created" in dlg.signer.text()
    # the default range is the archived one: 00:00 through 02:45, and 03:00, which came
    # back as the last chunk's `ending` (the simulator reads it inclusively)
    assert dlg.range_text.text() == "2025-02-01 00:00 – 03:00 UTC, last interval included"
    assert dlg.local_hint.text().startswith("Your local time")
    dlg.start.setDate(QDate(2025, 2, 1))
    dlg.end.setDate(QDate(2025, 2, 1))
    dlg.end.setTime(QTime(23, 45))
    dlg.redact.setCurrentText("customer-pii")
    dlg.out.setText(str(tmp_path / "gui-bundle"))
    qtbot.mouseClick(dlg.export_button, Qt.MouseButton.LeftButton)
    assert dlg.bundle_result is not None and dlg.status.text().startswith("✓")
    assert "SHA-256 fingerprint" in dlg.signer.text()
    assert "coverage gap" in dlg.status.text()  # only three hours of the day were pulled
    ver = w.open_verify_bundle()
    qtbot.addWidget(ver)
    ver.path.setText(str(tmp_path / "gui-bundle"))
    qtbot.mouseClick(ver.verify_button, Qt.MouseButton.LeftButton)
    assert ver.verdict.property("ok") is True and "VERIFIED" in ver.verdict.text()
    assert ver.state.text() == "✓ VERIFIED AND TRUSTED" and not ver.pin_button.isVisible()
    # another machine (another key directory): intact, but the signer is not trusted
    other = VerifyDialog(SyncRunner(), w, key_dir=tmp_path / "auditor" / "signing")
    qtbot.addWidget(other)
    other.show()
    other.path.setText(str(tmp_path / "gui-bundle"))
    other.run()
    assert other.verdict.property("state") == "untrusted" and other.verdict.property("ok") is False
    assert other.state.text().startswith("⚠ INTACT, BUT NOT TRUSTED")
    assert "THE SIGNER IS NOT TRUSTED" in other.verdict.text()
    assert other.report.fingerprint in other.signer.text() and other.pin_button.isVisible()
    asked = []
    other.confirm_pin = lambda fp: asked.append(fp) or False  # said no: nothing trusted
    other.pin_signer()
    assert asked == [other.report.fingerprint] and other.verdict.property("state") == "untrusted"
    other.confirm_pin = lambda fp: True
    other.pin_signer()  # trusted, and verified again
    assert other.verdict.property("state") == "verified", other.verdict.text()
    assert "trust store" in other.verdict.text() and not other.pin_button.isVisible()
    # a pinned fingerprint that is not the signer's: failed
    other.expect.setText("AB" * 32)
    other.run()
    assert other.verdict.property("state") == "failed" and other.state.text() == "✗ FAILED"
    # a file name crafted as HTML is shown as text, under the fixed red verdict
    crafted = tmp_path / "gui-bundle" / "data" / "<h1><font color=green>✓ VERIFIED"
    crafted.write_text("x")
    ver.run()
    assert ver.verdict.property("ok") is False and ver.state.text() == "✗ FAILED"
    assert ver.verdict.textFormat() == Qt.TextFormat.PlainText
    assert "<h1><font color=green>✓ VERIFIED" in ver.verdict.text()
    for label in (ver.state, ver.signer, dlg.status, dlg.signer):
        assert label.textFormat() == Qt.TextFormat.PlainText
    crafted.unlink()
    (tmp_path / "gui-bundle" / "data" / "records.jsonl").write_text("{}\n")
    ver.run()
    assert ver.verdict.property("ok") is False and "records.jsonl" in ver.verdict.text()
    w.tabs.setCurrentWidget(w.audit)
    events = w.audit.events()  # newest first: the checkpoint the export wrote, then the export
    assert events[:2] == ["checkpoint", "export"]
    details = w.audit.model.index(1, 5).data()  # the custody details, as the report words them
    assert dlg.bundle_result.bundle_id in details and "redaction customer-pii" in details
    assert (
        "2025-02-01 00:00 – 23:45 UTC, last interval included" in details
        and "gui-bundle" in details
    )


def test_export_dialog_exact_times_and_empty_selection(
    qtbot, sim, window_factory, tmp_path, monkeypatch
):
    from PySide6.QtCore import QDate, QTime

    _w, dlg = _export_dialog(qtbot, sim, window_factory, tmp_path, monkeypatch)
    # a time off the 15-minute marks is refused before anything is written
    dlg.start.setDate(QDate(2025, 2, 1))
    dlg.start.setTime(QTime(1, 7))
    dlg.end.setDate(QDate(2025, 2, 1))
    dlg.out.setText(str(tmp_path / "hour"))
    qtbot.mouseClick(dlg.export_button, Qt.MouseButton.LeftButton)
    assert "15-minute mark" in dlg.status.text() and not (tmp_path / "hour").exists()
    # exactly one hour: 01:00 through the interval starting 01:45
    dlg.start.setTime(QTime(1, 0))
    dlg.end.setTime(QTime(1, 45))
    qtbot.mouseClick(dlg.export_button, Qt.MouseButton.LeftButton)
    assert dlg.bundle_result is not None and dlg.status.text().startswith("✓"), dlg.status.text()
    info = (tmp_path / "hour" / "bag-info.txt").read_text()
    assert "one of the 4 intervals 2025-02-01 01:00 – 01:45 UTC, last interval included" in info
    # nothing archived in scope: refused with what to do, nothing written
    dlg.start.setDate(QDate(2025, 3, 5))
    dlg.start.setTime(QTime(0, 0))
    dlg.end.setDate(QDate(2025, 3, 5))
    dlg.out.setText(str(tmp_path / "empty"))
    qtbot.mouseClick(dlg.export_button, Qt.MouseButton.LeftButton)
    text = dlg.status.text()
    assert text.startswith("✗ Not exported: nothing archived is in scope"), text
    assert "Nothing was written" in text and dlg.allow_empty.text() in text
    assert not (tmp_path / "empty").exists()
    dlg.allow_empty.setChecked(True)
    qtbot.mouseClick(dlg.export_button, Qt.MouseButton.LeftButton)
    assert dlg.status.text().startswith("✓") and "0 interactions" in dlg.status.text()
    assert (tmp_path / "empty" / "data" / "report.pdf").exists()


def test_interaction_loads_in_a_worker(qtbot, sim, window_factory):
    from tests.pulltools import pull

    w = window_factory(sim)
    pull(
        sim,
        w.ctx.archive_path,
        params(["interactionSegments", "workflowTrace"], "202502010000", "202502010045"),
    )
    col = DATASETS["interactionSegments"].column_names.index("INTERACTION_ID")
    iid = archived(w.ctx.archive_path, "interactionSegments")[0][col]
    w.interactions.show_interaction(iid)
    assert "Loading" in w.interactions.title.text()
    qtbot.waitUntil(
        lambda: iid in w.interactions.title.text() and "Loading" not in w.interactions.title.text(),
        timeout=10_000,
    )
    assert w.interactions.segments.rowCount() >= 1


def test_cancelled_export_says_so_and_leaves_nothing(
    qtbot, sim, window_factory, tmp_path, monkeypatch
):
    """Cancel during an export (a real thread): a neutral message, not a failure; no bundle,
    no partial directory, no custody entry."""
    from PySide6.QtCore import QDate

    from archiver.services import bundles
    from tests.pulltools import pull

    monkeypatch.setenv("ARCHIVER_KEY_PASSPHRASE", "gui-test")
    w = window_factory(sim)
    w.key_dir = tmp_path / "keys"
    pull(sim, w.ctx.archive_path, params(["interactionSegments"], "202502010000", "202502010245"))
    real = bundles.export_bundle

    def held(*args, cancel, **kw):
        assert cancel.wait(20)  # the export starts once Cancel was clicked
        return (yield from real(*args, cancel=cancel, **kw))

    monkeypatch.setattr(bundles, "export_bundle", held)
    dlg = w.open_export()
    qtbot.addWidget(dlg)
    dlg.start.setDate(QDate(2025, 2, 1))
    dlg.end.setDate(QDate(2025, 2, 1))
    out = tmp_path / "cancelled-bundle"
    dlg.out.setText(str(out))
    qtbot.mouseClick(dlg.export_button, Qt.MouseButton.LeftButton)
    assert dlg.busy() and dlg.status.text() == "Exporting…"
    with qtbot.waitSignal(dlg.job.ended, timeout=30_000):
        qtbot.mouseClick(dlg.close_button, Qt.MouseButton.LeftButton)
        assert dlg.status.text() == "Cancelling…" and dlg.isVisible()
    assert dlg.status.text() == "Export cancelled; nothing was written."
    assert dlg.bundle_result is None and dlg.export_button.isEnabled() and dlg.isVisible()
    assert not out.exists() and not list(tmp_path.glob(".cancelled-bundle.partial-*"))
    with ArchiveReader(w.ctx.archive_path) as r:
        assert "export" not in {e.event for e in r.audit_log()}


def test_export_errors_arrive_as_exceptions(qtbot, sim, window_factory, tmp_path, monkeypatch):
    from archiver.services.bundles import BundleError
    from tests.pulltools import pull

    class Catching(SyncRunner):
        def __init__(self) -> None:
            self.errors: list[BaseException] = []

        def start(self, job):
            job.failed.connect(self.errors.append)
            return super().start(job)

    monkeypatch.setenv("ARCHIVER_KEY_PASSPHRASE", "gui-test")
    runner = Catching()
    w = window_factory(sim, runner)
    w.key_dir = tmp_path / "keys"
    pull(sim, w.ctx.archive_path, params(["queue"], "202502010000", "202502010045"))
    out = tmp_path / "taken"
    out.mkdir()
    (out / "something.txt").write_text("already here")
    dlg = w.open_export()
    qtbot.addWidget(dlg)
    dlg.out.setText(str(out))
    dlg.start_export()
    assert len(runner.errors) == 1 and isinstance(runner.errors[0], BundleError)
    assert (
        dlg.status.text() == f"✗ Export failed: {runner.errors[0]}. Nothing was left half-written."
    )
    assert "is not empty" in dlg.status.text() and dlg.export_button.isEnabled()


def test_verify_archive_that_cannot_run_shows_the_error(qtbot, sim, window_factory, monkeypatch):
    from archiver.services import archive as archive_service

    w = window_factory(sim, SyncRunner())
    w.download.picker.set_selected(["queue"])
    set_range(w, (2025, 2, 1, 0, 0), (2025, 2, 1, 0, 45))
    w.download.start_download()

    def locked(path, *, via, progress=None, **_kw):
        raise PermissionError(f"{path.name} is locked <by another program>")

    monkeypatch.setattr(archive_service, "verify", locked)
    w.verify_action.trigger()
    qtbot.mouseClick(w.audit.dialog.verify_button, Qt.MouseButton.LeftButton)
    assert "Verification could not run: archive.sqlite3 is locked &lt;by another program&gt;" in (
        w.audit.result.text()
    )
    assert w.audit.dialog.verdict.text() == (
        "Verification could not run: archive.sqlite3 is locked <by another program>"
    )
    assert w.audit.verify.isEnabled() and w.audit.dialog.verify_button.isEnabled()


QT_OVERRIDES = {  # Qt virtuals these classes implement on purpose
    "rowCount",
    "columnCount",
    "data",
    "headerData",
    "canFetchMore",
    "fetchMore",
    "sort",
    "done",
    "paintEvent",
    "paint",
    "sizeHint",
    "closeEvent",
    "keyPressEvent",
    "staticMetaObject",
}


def test_no_method_or_attribute_hides_one_of_qt(qtbot, sim, window_factory, tmp_path):
    """A method or attribute named like a Qt one (reset, show, result, state…) silently
    replaces what Qt itself calls: every name that matches a Qt base must be an override."""
    from PySide6.QtCore import QObject, SignalInstance

    from archiver.gui.bundles import ExportDialog, VerifyDialog
    from archiver.gui.unattended import SelfTestDialog
    from archiver.gui.workers import Job

    w = window_factory(sim, SyncRunner())
    objects = [
        w,
        ExportDialog(w.ctx.archive_path, w.ctx.runner, w, key_dir=tmp_path / "k"),
        VerifyDialog(w.ctx.runner, w),
        SelfTestDialog(w.ctx.runner, w),
        ConnectionDialog(w.ctx, w),
        Job(lambda cancel: None),
    ]
    objects += [o for o in w.findChildren(QObject) if type(o).__module__.startswith("archiver")]
    hidden = []
    for o in {id(o): o for o in objects}.values():
        qt = [b for b in type(o).__mro__ if b.__module__.startswith(("PySide6", "shiboken6"))]
        names = set().union(*(dir(b) for b in qt))
        own = {n for c in type(o).__mro__ if c not in qt for n in vars(c) if not n.startswith("__")}
        own |= {n for n, v in vars(o).items() if not isinstance(v, SignalInstance)}
        hidden += [f"{type(o).__name__}.{n}" for n in sorted((own & names) - QT_OVERRIDES)]
    assert not hidden, f"names that hide Qt's own: {hidden}"
