"""Browse shows columns a server added, whatever their names (issue 18 §5): the rows with
their API names in the headers (control characters escaped, as everywhere a server's text
is shown), their values, and a filter on such a column."""

from __future__ import annotations

from PySide6.QtCore import Qt

from tests.gui.test_gui import download

ODD = ("RECORD_ID", "record_id", "row_id", "A\x00B", "new\nline\x1b[2J")


def test_browse_shows_odd_columns_by_their_api_names(qtbot, sim_factory, window_factory):
    extras = tuple((n, f"v{i}") for i, n in enumerate(ODD))
    sim = sim_factory(rows_per_interval=3, extra_columns=extras, extra_column_datasets=("queue",))
    w = window_factory(sim)
    result = download(qtbot, w, ["queue"], end=(2025, 2, 1, 0, 45))
    assert result.status == "finished"
    w.tabs.setCurrentWidget(w.browse)
    w.browse.select_dataset("queue")
    qtbot.waitUntil(lambda: w.browse.current_dataset() == "queue", timeout=10_000)
    qtbot.waitUntil(lambda: w.browse.model.rowCount() > 0, timeout=10_000)
    model = w.browse.model
    heads = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]
    shown = ["RECORD_ID", "record_id", "row_id", "A\\x00B", "new\\nline\\x1b[2J"]
    assert heads[-len(ODD) :] == shown
    assert heads[0] == "ROW_ID"
    first = len(heads) - len(ODD)
    for i in range(len(ODD)):
        assert model.data(model.index(0, first + i)) == f"v{i}"
    # filter on the column named with a NUL: by its API name, shown escaped
    combo = w.browse.filter_column
    combo.setCurrentIndex(combo.findData("A\x00B"))
    assert combo.currentText() == "A\\x00B"
    w.browse.filter_value.setText("v3")
    w.browse.apply_query()
    qtbot.waitUntil(lambda: " match" in w.browse.count.text(), timeout=10_000)
    assert model.rowCount() == int(w.browse.count.text().split()[0].replace(",", "")) > 0
    w.browse.filter_value.setText("nothing like it")
    w.browse.apply_query()
    qtbot.waitUntil(lambda: w.browse.count.text().startswith("0 "), timeout=10_000)
