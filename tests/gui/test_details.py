"""The GUI's details: readable Browse headers, an honest Download status line, empty states
that say what to do, custody details on every audit row, the lazy audit model."""

from __future__ import annotations

import sqlite3

import pytest
from PySide6.QtCore import Qt

from archiver.archive.queries.review import ArchiveReader
from archiver.gui.audit import NO_ENTRIES, AuditModel
from archiver.gui.download import status_line
from archiver.gui.interactions import NO_SEGMENTS, NO_TRACE
from archiver.gui.workers import SyncRunner
from archiver.pull.outcome import (
    EXIT_AUTH,
    EXIT_CANCELLED,
    EXIT_ENTITLEMENT,
    EXIT_OK,
    EXIT_PARTIAL,
    RunResult,
)
from archiver.pull.progress import Progress
from archiver.services import archive as archive_service
from tests.gui.conftest import set_range
from tests.pulltools import params, pull

H = Qt.Orientation.Horizontal


# -- the Download tab's status line ----------------------------------------------------------
def _counts(**per: dict) -> dict[str, dict]:
    base = {
        "chunks": 1,
        "done": 0,
        "pending": 0,
        "failed": 0,
        "not_entitled": 0,
        "unfinished": 0,
        "rows": 0,
        "new_versions": 0,
        "failures": [],
        "messages": [],
    }
    return {name: {**base, **c} for name, c in per.items()}


def _result(status: str, code: int, error: str | None = None, **per: dict) -> RunResult:
    return RunResult("R1", status, code, Progress({}), error, _counts(**per))


CASES = {
    "finished": (
        _result(
            "finished",
            EXIT_OK,
            queue={"done": 2, "rows": 1200, "new_versions": 1100},
            agent={"done": 2, "rows": 34, "new_versions": 34},
        ),
        [
            "Run R1: Finished: every chunk archived.",
            "Archived agent, queue: 1,234 rows received, 1,134 new records.",
        ],
    ),
    "not entitled": (
        _result(
            "finished",
            EXIT_ENTITLEMENT,
            queue={"done": 1, "rows": 5, "new_versions": 5},
            workflowTrace={"not_entitled": 1},
        ),
        [
            "workflowTrace not archived: not entitled for this tenant",
            "Analytics Insights",
            "Ask your Avaya administrator",
            "Archived queue",
        ],
    ),
    "nothing entitled": (
        _result(
            "finished",
            EXIT_ENTITLEMENT,
            workflowTrace={"not_entitled": 1},
            interactionSegments={"not_entitled": 2},
        ),
        ["interactionSegments, workflowTrace not archived", "Nothing was archived."],
    ),
    "partial": (
        _result("partial", EXIT_PARTIAL, queue={"done": 1, "pending": 3, "chunks": 4}),
        ["Partial", "queue (3 chunks)", "Retry pending", "What came back is archived"],
    ),
    "failed chunks": (
        _result(
            "failed",
            EXIT_PARTIAL,
            "2 chunks not archived",
            queue={"done": 1, "failed": 1, "chunks": 2, "failures": ["queue 20250201: HTTP 500"]},
            agent={"unfinished": 1},
        ),
        [
            "Failed: not archived: agent (1 chunk), queue (1 chunk)",
            "first: queue 20250201: HTTP 500",
            "Download the same range again",
            "Archived queue",
        ],
    ),
    "auth": (
        _result("failed", EXIT_AUTH, "the token endpoint refused the client id and secret"),
        ["refused the client id and secret", "File → Connection…"],
    ),
    "failed run": (
        _result("failed", 1, "the archive is not writable"),
        ["Failed: the archive is not writable.", "Nothing was archived."],
    ),
    "interrupted": (
        _result(
            "interrupted",
            EXIT_CANCELLED,
            queue={"done": 1, "unfinished": 2, "chunks": 3},
        ),
        ["Cancelled before everything was fetched: queue (2 chunks) not archived", "Resume"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_status_line_says_what_was_archived_and_what_to_do(case):
    result, expected = CASES[case]
    line = status_line(result)
    assert line.startswith("Run R1: ")
    for words in expected:
        assert words in line, line
    if case != "finished":
        assert "every chunk archived" not in line
    assert "Finished." not in line


# -- Browse: headers in full, the guide's words, friendly labels -----------------------------
def _header_fits(view) -> list[str]:
    header = view.horizontalHeader()
    model = view.model()
    metrics = header.fontMetrics()
    clipped = []
    for s in range(model.columnCount()):
        text = model.headerData(s, H)
        if header.sectionSize(s) < max(header.sectionSizeHint(s), metrics.horizontalAdvance(text)):
            clipped.append(text)
    return clipped


def test_browse_headers_show_full_names_descriptions_and_friendly_labels(sim, window_factory):
    w = window_factory(sim, SyncRunner())
    pull(sim, w.ctx.archive_path, params(["interactionSegments"], "202502010000", "202502010245"))
    w.refresh_views()
    w.tabs.setCurrentWidget(w.browse)
    w.browse.select_dataset("interactionSegments")
    model, view = w.browse.model, w.browse.view
    names = [c for c, _ in model.columns]
    assert [model.headerData(s, H) for s in range(len(names))] == names  # raw by default
    assert not _header_fits(view)
    wait = names.index("WAIT_TIME")
    tip = model.headerData(wait, H, Qt.ItemDataRole.ToolTipRole)
    assert tip.startswith("WAIT_TIME (number)") and "wait time in seconds" in tip
    w.browse.friendly.setChecked(True)
    assert model.headerData(wait, H) == "Wait time (s)"
    assert model.headerData(names.index("END_TIME"), H) == "End time (UTC)"
    assert model.headerData(wait, H, Qt.ItemDataRole.ToolTipRole) == tip  # the API name stays
    assert not _header_fits(view)
    w.browse.friendly.setChecked(False)
    assert model.headerData(wait, H) == "WAIT_TIME"
    grab = w.browse.grab()
    assert not grab.isNull()


# -- the Audit tab: a lazy model, custody details, an empty state ----------------------------
def test_audit_model_passes_qtmodeltester_and_reads_lazily(qtmodeltester, sim, tmp_path):
    arc = tmp_path / "a.sqlite3"
    for hour in range(3):
        pull(sim, arc, params(["queue"], f"20250201{hour:02d}00", f"20250201{hour:02d}45"))
    archive_service.export_dataset(arc, "QUEUE", "csv", tmp_path / "q.csv")
    reader = ArchiveReader(arc)
    model = AuditModel()
    try:
        model.set_reader(reader)
        log = reader.audit_log()
        assert model.rowCount() == len(log) and model.columnCount() == 6
        assert not model._blocks  # ids only, until a row is shown
        events = [model.index(r, 2).data() for r in range(model.rowCount())]
        assert events == [e.event for e in log] and len(model._blocks) == 1
        assert model.index(0, 0).data(Qt.ItemDataRole.UserRole) == log[0].entry_id
        # every row's details are the custody summary, never empty or the bare event
        details = [model.index(r, 5).data() for r in range(model.rowCount())]
        assert all(d and d != e for d, e in zip(details, events, strict=True))
        row = events.index("export-dataset")
        assert (
            "latest records (15-minute) of queue as csv" in details[row] and "q.csv" in details[row]
        )
        assert '"format": "csv"' in model.index(row, 5).data(Qt.ItemDataRole.ToolTipRole)
        qtmodeltester.check(model, force_py=True)
    finally:
        reader.close()


def test_audit_tab_reads_only_the_entries_it_shows(qtbot, tmp_path):
    """A long log opens without reading every entry: ids are held, entries read by block."""
    from archiver.archive.store import Archive
    from archiver.gui.audit import BLOCK, AuditPanel

    arc = tmp_path / "a.sqlite3"
    with Archive(arc) as a:
        for n in range(3 * BLOCK):
            a.audit("backup", {"to": f"/b/{n}.sqlite3"})
    panel = AuditPanel(lambda: arc, SyncRunner())
    qtbot.addWidget(panel)
    panel.resize(900, 400)
    panel.show()
    panel.refresh()
    model = panel.model
    # the archive's first entry is its creation (meta is replayed from it)
    assert model.rowCount() == 3 * BLOCK + 1 and set(model._blocks) == {0}
    assert model.index(0, 5).data() == f"copy written to /b/{3 * BLOCK - 1}.sqlite3"
    panel.table.scrollToBottom()
    qtbot.wait(10)
    assert model.index(3 * BLOCK - 1, 5).data() == "copy written to /b/0.sqlite3"
    assert model.index(3 * BLOCK, 2).data() == "archive created"
    assert 3 in model._blocks and 1 not in model._blocks
    panel.close_reader()


def test_audit_tab_says_what_to_do_when_empty(sim, window_factory):
    w = window_factory(sim, SyncRunner())
    w.tabs.setCurrentWidget(w.audit)
    text = w.audit.log.saying()
    assert "No archive yet" in text and "Download tab" in text
    assert w.findChild(object, "auditEmpty").isVisible()
    # an archive whose log is empty (a file of an older archiver: a new archive's log begins
    # with its creation)
    from archiver.archive.store import Archive

    with Archive(w.ctx.archive_path):
        pass
    w.audit.refresh()
    assert w.audit.events() == ["archive created"]
    conn = sqlite3.connect(w.ctx.archive_path)
    conn.execute("DROP TRIGGER audit_log_no_delete")
    conn.execute("DELETE FROM audit_log")
    conn.commit()
    conn.close()
    w.audit.refresh()
    assert w.audit.log.saying() == NO_ENTRIES
    w.download.picker.set_selected(["queue"])
    set_range(w, (2025, 2, 1, 0, 0), (2025, 2, 1, 0, 45))
    w.download.start_download()
    w.tabs.setCurrentWidget(w.download)
    w.tabs.setCurrentWidget(w.audit)
    assert w.audit.log.saying() == "" and w.audit.table.isVisible()
    assert w.audit.events()[-1] == "pull started"


# -- the Interactions tab's empty states -----------------------------------------------------
def test_interactions_tab_says_what_to_do_when_empty(sim, window_factory):
    w = window_factory(sim, SyncRunner())
    w.tabs.setCurrentWidget(w.interactions)
    page = w.interactions.page
    assert "No archive yet" in page.saying() and "interactionSegments" in page.saying()
    pull(sim, w.ctx.archive_path, params(["queue"], "202502010000", "202502010045"))
    w.refresh_views()
    assert page.saying() == NO_SEGMENTS
    assert w.findChild(object, "interactionsEmpty").isVisible()
    pull(sim, w.ctx.archive_path, params(["interactionSegments"], "202502010000", "202502010045"))
    w.refresh_views()
    assert page.saying() == "" and w.interactions.hint.text().endswith(NO_TRACE)
    # the tab opened on the latest interactions, not on an empty list
    assert w.interactions.results.count() > 0 and "latest first" in w.interactions.hint.text()
    w.interactions.query.setText("no such customer zzz")
    w.interactions.search()
    assert w.interactions.results.count() == 0
    hint = w.interactions.hint.text()
    assert (
        "No interaction matches “no such customer zzz”" in hint and "Enter on an empty box" in hint
    )
    w.interactions.query.setText("")
    w.interactions.search()
    assert w.interactions.results.count() > 0 and "latest first" in w.interactions.hint.text()
