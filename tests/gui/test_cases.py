"""The Cases tab, the hold badge everywhere a held interaction appears, adding to a case from
Search results and the Interactions view, a case production from the window, and the Audit
tab filtered by kind and by interaction (issue 19 §2–§5), on the real window with a real
archive pulled over HTTP from the simulator."""

from __future__ import annotations

import json
import sqlite3

from PySide6.QtCore import Qt

from archiver.gui import holds
from archiver.gui.search import HTML_ROLE
from archiver.gui.workers import SyncRunner
from archiver.services import bundles
from archiver.services import cases as case_service
from tests.pulltools import params, pull

HOUR = ("202502010000", "202502010045")
DATASETS = ["interactionSegments", "workflowTrace", "transcript", "mpccdr"]


def _window(window_factory, sim):
    w = window_factory(sim, SyncRunner())
    pull(sim, w.ctx.archive_path, params(DATASETS, *HOUR, page_size=200))
    w.refresh_views()
    return w


def _ids(w, n=3) -> list[str]:
    conn = sqlite3.connect(w.ctx.archive_path)
    try:
        return [
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT INTERACTION_ID FROM vals_interactionSegments ORDER BY 1 LIMIT ?",
                (n,),
            )
        ]
    finally:
        conn.close()


def _entries(w, event: str) -> list[dict]:
    conn = sqlite3.connect(w.ctx.archive_path)
    try:
        return [
            json.loads(d)
            for (d,) in conn.execute("SELECT details FROM audit_log WHERE event=?", (event,))
        ]
    finally:
        conn.close()


def test_a_case_is_made_held_and_shown_on_the_cases_tab(qtbot, sim, window_factory):
    w = _window(window_factory, sim)
    a, b, _ = _ids(w)
    w.tabs.setCurrentWidget(w.cases)
    panel = w.cases
    panel.create_case("Smith complaint", "complaint 17", "C-17")
    assert panel.list.count() == 1 and panel.detail is not None
    assert panel.detail.name == "Smith complaint"
    panel.add_ids([a, b])
    assert panel.members.rowCount() == 2
    assert panel.members.item(0, 3).text() == "by hand"
    panel.add_ids(["no-such-interaction"])
    assert panel.last_error and "no-such-interaction" in panel.last_error
    panel.place_hold("court order")
    assert holds.BADGE in panel.list.item(0).text()
    assert "LEGAL HOLD" in panel.title.text() and "court order" in panel.facts.text()
    assert panel.members.item(0, 4).text() == holds.BADGE
    assert panel.hold_button.text().startswith("Release")
    assert not panel.remove_button.isEnabled() and not panel.close_button.isEnabled()
    panel.remove(a)  # (the button is disabled; the service refuses too)
    assert "legal hold" in panel.last_error
    assert [panel.history.item(r, 2).text() for r in range(panel.history.rowCount())] == [
        "case created",
        "case changed",
        "hold placed",
    ]
    # every other tab marks the held interactions
    assert set(w.interactions.held) == {a, b} and set(w.search.model.held) == {a, b}
    panel.release_hold("settled")
    assert holds.BADGE not in panel.list.item(0).text() and w.search.model.held == {}
    panel.close_case("answered")
    assert "closed" in panel.title.text() and not panel.add_ids_button.isEnabled()
    panel.grab()


def test_the_hold_badge_shows_in_interactions_search_and_browse(qtbot, sim, window_factory):
    w = _window(window_factory, sim)
    a, b, _ = _ids(w)
    case_service.create(w.ctx.archive_path, "H", "r")
    case_service.add_interactions(w.ctx.archive_path, "H", [a])
    case_service.place_hold(w.ctx.archive_path, "H", "keep")
    w.refresh_held()
    # the Interactions view: the list and the title; opening it is in the access log
    w.tabs.setCurrentWidget(w.interactions)
    w.interactions.query.setText(a)
    w.interactions.search()
    assert holds.BADGE in w.interactions.results.item(0).text()
    w.interactions.show_interaction(a)
    badge = w.interactions.badge
    assert badge.isVisibleTo(w.interactions) and "LEGAL HOLD" in badge.text()
    assert "case &#x27;H&#x27;" in badge.text() and "placed" in badge.toolTip()
    assert _entries(w, "interaction opened")[-1] == {"interactions": [a], "via": "gui"}
    w.interactions.show_interaction(b)
    assert not badge.isVisibleTo(w.interactions)
    assert w.interactions.title.text() == f"Interaction {b}"
    # Search results
    w.tabs.setCurrentWidget(w.search)
    w.search.query.setText(f"interaction:{a} OR interaction:{b}")
    w.search.search_now()
    rows = {w.search.model.hit(r).interaction: r for r in range(w.search.model.rowCount())}
    held_row = w.search.model.index(rows[a], 0)
    assert "LEGAL HOLD" in w.search.model.data(held_row, HTML_ROLE)
    assert "LEGAL HOLD" in w.search.model.data(held_row, Qt.ItemDataRole.ToolTipRole)
    assert "LEGAL HOLD" not in w.search.model.data(w.search.model.index(rows[b], 0), HTML_ROLE)
    # Browse rows of its datasets
    w.tabs.setCurrentWidget(w.browse)
    w.browse.select_dataset("interactionSegments")
    model = w.browse.model
    model.set_held(case_service.held_interactions(w.ctx.archive_path))
    while model.canFetchMore(model.index(-1, -1)):
        model.fetchMore(model.index(-1, -1))
    column = [n for n, _t in model.columns].index("INTERACTION_ID")
    marked = {
        model.index(r, column).data(): model.index(r, 0).data(Qt.ItemDataRole.DecorationRole)
        is not None
        for r in range(model.rowCount())
    }
    assert marked[a] and not marked[b]
    row = next(r for r in range(model.rowCount()) if model.index(r, column).data() == a)
    assert model.index(row, 1).data(Qt.ItemDataRole.BackgroundRole).color().name() == holds.ROW
    assert model.index(row, 1).data(Qt.ItemDataRole.ToolTipRole).startswith(holds.BADGE)


def test_search_hits_and_the_interaction_shown_are_added_to_a_case(qtbot, sim, window_factory):
    w = _window(window_factory, sim)
    case_service.create(w.ctx.archive_path, "From search", "r")
    w.tabs.setCurrentWidget(w.search)
    w.search.query.setText("Bonjour")
    w.search.search_now()
    assert w.search.model.rowCount() > 2
    sel = w.search.view.selectionModel()
    from PySide6.QtCore import QItemSelectionModel

    for r in (0, 1):
        sel.select(w.search.model.index(r, 0), QItemSelectionModel.SelectionFlag.Select)
    chosen = w.search.selected_interactions()
    assert len(chosen) == 2
    picker = w.add_to_case(chosen)
    assert picker is not None and picker.combo.count() == 1
    picker.accept()
    d = case_service.detail(w.ctx.archive_path, "From search")
    assert sorted(d.ids) == sorted(chosen) and all(m.search is None for m in d.members)
    # every hit of the search, recorded as found by it
    w.search._add_all()
    assert w.picker is not None
    w.picker.accept()
    d = case_service.detail(w.ctx.archive_path, "From search")
    assert len(d.searches) == 1 and d.searches[0].query == "Bonjour"
    assert len(d.ids) == d.searches[0].found
    # the interaction shown on the Interactions tab
    a = next(i for i in _ids(w, 100) if i not in d.ids)
    w.tabs.setCurrentWidget(w.interactions)
    w.interactions.show_interaction(a)
    assert w.interactions.add_button.isEnabled()
    qtbot.mouseClick(w.interactions.add_button, Qt.MouseButton.LeftButton)
    w.picker.accept()
    assert a in case_service.detail(w.ctx.archive_path, "From search").ids


def test_a_case_production_is_exported_from_the_cases_tab(
    qtbot, sim, window_factory, tmp_path, monkeypatch
):
    monkeypatch.setenv("ARCHIVER_KEY_PASSPHRASE", "gui-test")
    w = _window(window_factory, sim)
    w.key_dir = tmp_path / "keys"
    a, b, _ = _ids(w)
    w.tabs.setCurrentWidget(w.cases)
    w.cases.create_case("Produced", "regulator")
    w.cases.add_ids([a, b])
    opened = []
    w.cases.export_case.connect(opened.append)
    qtbot.mouseClick(w.cases.export_button, Qt.MouseButton.LeftButton)
    assert opened == ["Produced"]
    dlg = w.open_export(case="Produced")
    qtbot.addWidget(dlg)
    assert dlg.windowTitle() == "Export case production: Produced"
    assert not dlg.start.isVisibleTo(dlg) and dlg.load_file.isVisibleTo(dlg)
    dlg.out.setText(str(tmp_path / "prod"))
    assert dlg.load_file.isChecked()
    qtbot.mouseClick(dlg.export_button, Qt.MouseButton.LeftButton)
    assert dlg.bundle_result is not None, dlg.status.text()
    assert dlg.bundle_result.case == "Produced" and dlg.bundle_result.documents == 2
    assert dlg.status.text().startswith("✓ Bundle") and "2 documents" in dlg.status.text()
    rep = bundles.verify(tmp_path / "prod", key_dir=tmp_path / "keys")
    assert rep.ok, rep.summary()
    assert any("loadfile.dat reads back: 2 documents" in c for c in rep.checks)
    dlg.close()
    # the range's Export dialog is as it was
    plain = w.open_export()
    qtbot.addWidget(plain)
    assert (
        plain.case is None
        and plain.start.isVisibleTo(plain)
        and not plain.load_file.isVisibleTo(plain)
    )
    plain.close()


def test_the_audit_tab_filters_by_kind_and_answers_who_looked(qtbot, sim, window_factory):
    w = _window(window_factory, sim)
    a, b, _ = _ids(w)
    case_service.create(w.ctx.archive_path, "Looked", "r")
    case_service.add_interactions(w.ctx.archive_path, "Looked", [a])
    w.interactions.show_interaction(a)
    w.interactions.show_interaction(b)
    w.tabs.setCurrentWidget(w.audit)
    panel = w.audit
    everything = panel.events()
    assert "pull started" in everything and "interaction opened" in everything
    panel.filter("Cases and legal holds")
    assert set(panel.events()) == {"case created", "case changed"}
    panel.filter("Interactions opened")
    assert panel.events() == ["interaction opened", "interaction opened"]
    panel.filter(None, a)
    assert panel.events() == ["interaction opened", "case changed", "case created"]
    assert f"about “{a}”" in panel.shown.text()
    users = {panel.model.index(r, 3).data() for r in range(panel.model.rowCount())}
    assert users and "" not in users
    panel.filter("Interactions opened", b)
    assert panel.events() == ["interaction opened"]
    panel.filter("Searches", "nobody-searched-this")
    assert panel.events() == [] and panel.shown.text().startswith("0 searches")
    panel.filter(None, "")
    assert panel.events() == everything
