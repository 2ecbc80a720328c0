"""The Search tab (issue 19 §1): as-you-type with a debounce, in a worker, stale answers
dropped, the count, snippets escaped except our highlight, a lazy model that passes
qtmodeltester, and a hit opened in the Interactions view with its transcript in order."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime

from archiver.api.pages import Page
from archiver.archive.store import Archive
from archiver.datasets import DATASET_NAMES, DATASETS
from archiver.gui.search import HIT_ROLE, HTML_ROLE, HitsModel
from archiver.gui.workers import SyncRunner
from archiver.services import search as searching
from archiver.timerange import Chunk
from tests.pulltools import params, pull

HOUR = ("202502010000", "202502010045")


def _searches(arc) -> list[dict]:
    conn = sqlite3.connect(arc)
    try:
        return [
            json.loads(d)
            for (d,) in conn.execute("SELECT details FROM audit_log WHERE event='search'")
        ]
    finally:
        conn.close()


def _window(window_factory, sim, runner=None, datasets=DATASET_NAMES):
    w = window_factory(sim, runner)
    pull(sim, w.ctx.archive_path, params(datasets, *HOUR, page_size=200))
    w.tabs.setCurrentWidget(w.search)
    return w


def test_typing_searches_once_after_a_pause_in_a_worker(qtbot, sim, window_factory):
    w = _window(window_factory, sim)
    panel = w.search
    qtbot.keyClicks(panel.query, "Bonjour")
    assert panel.debounce.isActive()  # not yet: typing is still going on
    qtbot.waitUntil(lambda: "matching" in panel.status.text(), timeout=15_000)
    assert len(_searches(w.ctx.archive_path)) == 1  # one search for seven keystrokes
    [entry] = _searches(w.ctx.archive_path)
    assert entry["query"] == "Bonjour" and entry["via"] == "gui"
    assert panel.status.text().startswith(f"{entry['hits']:,} hits")
    assert panel.model.rowCount() == entry["hits"]
    # snippets come a moment later, each found word highlighted
    first = panel.model.index(0, 0)
    panel.model.data(first, HTML_ROLE)
    qtbot.waitUntil(
        lambda: "background:#ffe082'>Bonjour</b>" in str(panel.model.data(first, HTML_ROLE)),
        timeout=15_000,
    )
    panel.view.grab()  # the delegate paints the rich text without error
    panel.wait_jobs()


def test_a_query_that_cannot_be_read_says_where_at_once(qtbot, sim, window_factory):
    w = _window(window_factory, sim, SyncRunner(), ["transcript"])
    panel = w.search
    panel.query.setText("refund OR")
    panel.search_now()
    assert panel.last_error == "OR has nothing on its right (at position 8)"
    assert panel.status.text() == panel.last_error
    assert _searches(w.ctx.archive_path) == []  # nothing ran, nothing logged
    panel.query.setText("refund OR Bonjour")
    panel.search_now()
    assert panel.last_error == "" and panel.model.rowCount() > 0


def test_an_older_searchs_answer_is_dropped(qtbot, sim, window_factory):
    w = _window(window_factory, sim, SyncRunner(), ["transcript"])
    panel = w.search
    panel.query.setText("Bonjour")
    panel.search_now()
    shown = panel.model.result
    stale = searching.search(w.ctx.archive_path, "Done")
    panel._found(panel._number - 1, stale, searching.new_marks())  # an answer that came late
    assert panel.model.result is shown
    panel.query.setText("zzqqxx")
    panel.search_now()
    assert panel.model.rowCount() == 0 and panel.status.text().startswith("Nothing found")


def test_archived_text_is_shown_as_text_only_our_marks_highlight(qtbot, sim, window_factory):
    w = _window(window_factory, sim, SyncRunner(), ["transcript"])
    names = list(DATASETS["transcript"].column_names)
    cols = [{"name": n, "type": t} for n, t in DATASETS["transcript"].columns]
    evil = "Customer: <img src=x onerror=alert(1)> &amp; <b>zeppelin</b> \x02fake\x03 mark"
    row = {n: "" for n in names} | {
        "ROW_ID": "f" * 32,
        "TRANSCRIPT_ID": "00d0" + "f" * 22,
        "INTERACTION_ID": "00ad" + "f" * 22,
        "STARTTIME_UTC": "2025-02-01T03:00:00Z",
        "COMMIT_TS": "2025-02-01T03:30:00.000Z",
        "TRANSCRIPT_TEXT": evil,
    }
    records = [[row[n] for n in names]]
    raw = json.dumps({"columnHeaders": cols, "records": records}).encode()
    start = datetime(2025, 2, 1, 3, 0, tzinfo=UTC)
    page = Page(raw, 200, "https://x.invalid/transcript", start, cols, None, records, "", 1)
    chunk = Chunk("transcript", "interval", "", start, start)
    with Archive(w.ctx.archive_path) as a:
        a.start_run("r", "t", {}, "h")
        a.store_page("r", chunk, page, {"interval": "x"})
    panel = w.search
    panel.query.setText("zeppelin")
    panel.search_now()
    qtbot.waitUntil(lambda: panel.model.rowCount() == 1, timeout=10_000)
    index = panel.model.index(0, 0)
    panel.model.data(index, HTML_ROLE)
    qtbot.waitUntil(lambda: "zeppelin" in str(panel.model.data(index, HTML_ROLE)), timeout=10_000)
    shown = str(panel.model.data(index, HTML_ROLE))
    assert "<img" not in shown and "&lt;img src=x onerror=alert(1)&gt;" in shown
    assert "&amp;amp;" in shown  # the archived "&amp;" is shown as written
    assert "&lt;b&gt;<b style='background:#ffe082'>zeppelin</b>&lt;/b&gt;" in shown
    assert shown.count("<b style") == 1  # control characters in the text mark nothing


def test_hits_model_passes_qtmodeltester(qtmodeltester, qtbot, sim, window_factory):
    w = _window(window_factory, sim, SyncRunner(), ["transcript", "agent"])
    model = HitsModel()
    qtmodeltester.check(model, force_py=True)
    result = searching.search(w.ctx.archive_path, "dataset:transcript OR dataset:agent")
    model.set_result(result, searching.new_marks())
    qtmodeltester.check(model, force_py=True)
    rows = model.take_wanted()
    assert rows  # the tester looked at rows: their snippets are asked for
    found = searching.snippets_of(
        w.ctx.archive_path, result.query, [result.hits[r] for r in rows], model.marks
    )
    model.store(model.generation, rows, found)
    qtmodeltester.check(model, force_py=True)
    model.store(model.generation - 1, rows, found)  # an older result's snippets: dropped
    assert model.rowCount() == len(result.hits)
    assert isinstance(model.data(model.index(0, 0), HIT_ROLE), searching.Hit)


def test_a_hit_opens_its_interaction_with_the_transcript_in_order(
    qtbot, sim_factory, window_factory
):
    sim = sim_factory(shared_ids=True, rows_per_interval=20)  # one row per message
    w = _window(window_factory, sim, SyncRunner())
    conn = sqlite3.connect(w.ctx.archive_path)
    iid = conn.execute(
        """SELECT t.INTERACTION_ID FROM vals_transcript t
           WHERE t.INTERACTION_ID IN (SELECT INTERACTION_ID FROM vals_interactionSegments)
           GROUP BY 1 HAVING count(*) >= 3 LIMIT 1"""
    ).fetchone()[0]
    conn.close()
    served = [
        r[DATASETS["transcript"].column_names.index("TRANSCRIPT_TEXT")]
        for r in sim.rows("transcript", {"interval": "starting:202502010000,ending:202502010045"})
        if r[DATASETS["transcript"].column_names.index("INTERACTION_ID")] == iid
    ]
    panel = w.search
    panel.query.setText(f"interaction:{iid}")
    panel.search_now()
    assert panel.model.rowCount() == 1
    panel.view.doubleClicked.emit(panel.model.index(0, 0))
    assert w.tabs.currentWidget() is w.interactions
    inter = w.interactions
    assert inter.shown == iid
    assert inter.segments.rowCount() >= 1
    shown = [inter.transcript.item(r, 0).text() for r in range(inter.transcript.rowCount())]
    assert shown == served  # in the order the API delivered them
    assert f"{len(served)} messages" in inter.transcript_title.text()


def test_a_record_of_its_own_opens_its_history(qtbot, sim, window_factory):
    w = _window(window_factory, sim, SyncRunner(), ["agent"])
    panel = w.search
    panel.query.setText("dataset:agent")
    panel.search_now()
    hit = panel.model.data(panel.model.index(0, 0), HIT_ROLE)
    assert hit.interaction is None
    opened = []
    panel.open_record.connect(opened.append)
    panel.view.activated.emit(panel.model.index(0, 0))
    assert opened == [hit.records[0][1]]
    dlg = w.open_record(hit.records[0][1])
    assert dlg is not None and dlg.versions and dlg.versions[0].record_id == hit.records[0][1]
    dlg.close()


def test_a_transcript_delivered_as_one_row_shows_its_messages(qtbot, sim, window_factory):
    w = _window(window_factory, sim, SyncRunner(), ["transcript"])
    conn = sqlite3.connect(w.ctx.archive_path)
    iid, count, text = conn.execute(
        "SELECT INTERACTION_ID, MESSAGE_COUNT, TRANSCRIPT_TEXT FROM vals_transcript "
        "WHERE CAST(MESSAGE_COUNT AS INTEGER) >= 3 LIMIT 1"
    ).fetchone()
    conn.close()
    w.open_interaction(iid)
    inter = w.interactions
    shown = [inter.transcript.item(r, 0).text() for r in range(inter.transcript.rowCount())]
    assert len(shown) == int(count) and shown == text.split("\n")


def test_an_archive_without_an_index_offers_the_rebuild(qtbot, sim, window_factory):
    w = _window(window_factory, sim, SyncRunner(), ["transcript"])
    conn = sqlite3.connect(w.ctx.archive_path)
    with conn:
        conn.execute("DROP TABLE vals_transcript_fts")
        conn.execute("DROP TABLE search_columns")
    conn.close()
    panel = w.search
    panel.query.setText("Bonjour")
    panel.search_now()
    assert "archiver index rebuild" in panel.last_error and panel.rebuild.isVisibleTo(panel)
    panel.rebuild.click()
    assert not panel.rebuild.isVisibleTo(panel)
    assert panel.model.rowCount() > 0 and panel.last_error == ""


def test_the_first_hits_stay_when_the_rest_are_counted(qtmodeltester, qtbot, sim, window_factory):
    w = _window(window_factory, sim, SyncRunner(), ["transcript"])
    result = searching.search(w.ctx.archive_path, "dataset:transcript")
    model = HitsModel()
    marks = searching.new_marks()
    model.set_first(result.query, result.hits[:3], marks)
    qtmodeltester.check(model, force_py=True)
    events = []
    model.modelReset.connect(lambda: events.append("reset"))
    model.rowsInserted.connect(lambda _p, a, b: events.append(("inserted", a, b)))
    model.set_result(result, marks)
    assert events == [("inserted", 3, len(result.hits) - 1)]
    assert model.hits == result.hits
    qtmodeltester.check(model, force_py=True)
