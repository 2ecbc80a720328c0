"""The Interactions tab shows an interaction the way the bundle's report does (one Qt-free
definition, archiver.export.derive): the same columns and headers, agents and queues by
name with their ids, the same line of derived start, end and total. Its tables scroll and
show whole headers, the timeline's colours have a legend, and the list fills on opening."""

from __future__ import annotations

import os
import re
import sqlite3
from datetime import date

from pypdf import PdfReader
from PySide6.QtGui import QColor

from archiver.export import derive
from archiver.gui.interactions import COLORS, LEGEND, LEGEND_ROW
from archiver.gui.workers import SyncRunner
from archiver.jobs import drive
from archiver.services import bundles
from archiver.services.bundles import Scope
from tests.gui.conftest import set_range


def _window(sim, window_factory):
    w = window_factory(sim, SyncRunner())
    w.download.picker.set_selected(["interactionSegments", "workflowTrace", "agent", "queue"])
    set_range(w, (2025, 2, 1, 0, 0), (2025, 2, 1, 2, 45))
    w.download.start_download()
    return w


def _interaction(archive) -> str:
    """One with several segments and workflow steps, an agent row and a queue row."""
    conn = sqlite3.connect(archive)
    iid = conn.execute(
        """SELECT s.INTERACTION_ID FROM vals_interactionSegments s
           WHERE s.USER_ID IN (SELECT AGENT_ID FROM vals_agent)
             AND EXISTS (SELECT 1 FROM vals_workflowTrace t
                         WHERE t.WORKFLOWSESSION_INTERACTIONID = s.INTERACTION_ID)
           GROUP BY 1 HAVING count(*) >= 2 LIMIT 1"""
    ).fetchone()[0]
    conn.close()
    return iid


def test_the_list_fills_when_the_tab_opens(sim, window_factory):
    w = _window(sim, window_factory)
    assert w.interactions.results.count() == 0  # not computed for a hidden tab
    w.tabs.setCurrentWidget(w.interactions)
    assert w.interactions.results.count() > 0 and "latest first" in w.interactions.hint.text()


def test_the_tab_and_the_report_show_an_interaction_alike(sim, window_factory, tmp_path):
    w = _window(sim, window_factory)
    iid = _interaction(w.ctx.archive_path)
    w.tabs.setCurrentWidget(w.interactions)
    w.interactions.show_interaction(iid)
    seg = w.interactions.segments
    headers = [seg.horizontalHeaderItem(i).text() for i in range(seg.columnCount())]
    assert headers == [c.header for c in derive.SEGMENT_COLUMNS]
    assert {"Start (derived)", "Duration (derived)", "End (END_TIME)"} <= set(headers)
    tips = [seg.horizontalHeaderItem(i).toolTip() for i in range(seg.columnCount())]
    assert "before wrap-up" in tips[headers.index("End (END_TIME)")]
    trace = w.interactions.trace
    assert [trace.horizontalHeaderItem(i).text() for i in range(trace.columnCount())] == [
        c.header for c, _ in derive.TRACE_COLUMNS
    ]
    agent = seg.item(0, headers.index("Agent")).text()
    name, uid = agent.split("\n")  # the name over the id
    assert name and re.fullmatch(r"[0-9a-f]{20,}", uid)
    queue = seg.item(0, headers.index("Queue")).text().split("\n")
    assert len(queue) == 2 and queue[0] and queue[1]
    line = w.interactions.facts.text().split("\n")[0]
    assert "(derived; the end is the last END_TIME, before wrap-up)" in line
    # the report: the same line, the same name and id
    os.environ["ARCHIVER_KEY_PASSPHRASE"] = "gui-test"
    try:
        drive(
            bundles.export(
                w.ctx.archive_path,
                Scope(date(2025, 2, 1), date(2025, 2, 1), interactions=(iid,)),
                tmp_path / "b",
                key_dir=tmp_path / "keys",
            )
        )
    finally:
        del os.environ["ARCHIVER_KEY_PASSPHRASE"]
    pages = PdfReader(tmp_path / "b" / "data" / "report.pdf").pages
    text = " ".join(p.extract_text() for p in pages)
    assert line in text and name in text and uid in text


def test_tables_scroll_and_show_whole_headers(sim, window_factory):
    w = _window(sim, window_factory)
    w.tabs.setCurrentWidget(w.interactions)
    w.interactions.show_interaction(_interaction(w.ctx.archive_path))
    for table in (w.interactions.segments, w.interactions.trace):
        header = table.horizontalHeader()
        metrics = header.fontMetrics()
        for i in range(table.columnCount()):
            text = table.horizontalHeaderItem(i).text()
            assert header.sectionSize(i) >= metrics.horizontalAdvance(text), text
        table.resize(300, table.height())  # narrower than its columns: it scrolls
        assert table.horizontalScrollBar().maximum() > 0


def test_the_timeline_has_a_legend(sim, window_factory):
    w = _window(sim, window_factory)
    w.tabs.setCurrentWidget(w.interactions)
    w.interactions.show_interaction(_interaction(w.ctx.archive_path))
    assert {k for k, _ in LEGEND} == set(COLORS) and "after END_TIME" in dict(LEGEND)["wrap"]
    image = w.interactions.timeline.grab().toImage()
    lanes = len({i[0] for i in w.interactions.timeline.items})
    y = 8 + 28 * lanes + 4 + LEGEND_ROW + 9  # the middle of the legend row
    row = {QColor(image.pixel(x, y)).name() for x in range(image.width())}
    assert {c.lower() for c in COLORS.values()} <= row  # every colour's swatch is drawn
