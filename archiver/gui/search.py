"""The Search tab: the archive's full-text search as you type, hits grouped by interaction.

Typing runs the search after a short pause (a debounce), in a worker: never on the GUI
thread, and an answer to an older query than the one in the box is dropped. The hits of a
search are held whole (ids and times, a few bytes each); each hit's snippets are read in a
worker when its row is shown. Snippets are archived text, shown as rich text: escaped, with
only our own highlight marks (a random nonce no archived text can forge) turned into markup.
Each search is recorded in the archive's access log by the use case (services.search).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QPersistentModelIndex,
    QRectF,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QAbstractTextDocumentLayout, QPainter, QTextDocument
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from archiver.counts import HITS, RECORDS
from archiver.datasets import DATASET_NAMES
from archiver.gui import holds
from archiver.gui.empty import Placeholder
from archiver.gui.errors import describe
from archiver.gui.utctime import edit_value, set_edit, today_utc, utc_edit
from archiver.gui.workers import Job, JobRunner
from archiver.jobs import Cancel
from archiver.services import search as searching
from archiver.timerange import DAY, STEP

Index = QModelIndex | QPersistentModelIndex
#: the pause after the last keystroke before a search runs
DEBOUNCE_MS = 300
#: hits whose snippets are read in one worker job
SNIPPET_BATCH = 40
HTML_ROLE = Qt.ItemDataRole.UserRole + 1
HIT_ROLE = Qt.ItemDataRole.UserRole

START_HINT = (
    'Type to search every record archived: words, "phrases", prefix*, AND / OR / NOT, '
    "agent:, queue:, channel:, phone:, email:, interaction:, dataset:, "
    "date:2025-03-01..2025-03-31. Hits are grouped by interaction, newest first; "
    "double-click one to open it."
)
NO_ARCHIVE = "No archive yet at {path}: download something on the Download tab first."


def when(interval: str) -> str:
    """A record's own interval as shown: 2025-03-14 10:15 UTC (a day: 2025-03-14)."""
    if len(interval) >= 12:
        return (
            f"{interval[:4]}-{interval[4:6]}-{interval[6:8]} {interval[8:10]}:{interval[10:12]} UTC"
        )
    if len(interval) == 8:
        return f"{interval[:4]}-{interval[4:6]}-{interval[6:8]}"
    return "no time"


def marked_html(text: str, marks: tuple[str, str]) -> str:
    """``text`` as HTML: everything escaped, then exactly our marks made highlights."""
    flat = " ".join(text.split())
    escaped = html.escape(flat, quote=False)
    return escaped.replace(marks[0], "<b style='background:#ffe082'>").replace(marks[1], "</b>")


def plain(text: str, marks: tuple[str, str]) -> str:
    return " ".join(text.replace(marks[0], "").replace(marks[1], "").split())


def hit_title(hit: searching.Hit) -> str:
    what = (
        f"interaction {hit.interaction}"
        if hit.interaction
        else f"{hit.records[0][0]} record {hit.records[0][1]}"
    )
    return (
        f"{when(hit.newest)} · {what} · {', '.join(hit.datasets)} · {RECORDS.of(len(hit.records))}"
    )


class HitsModel(QAbstractListModel):
    """A search's hits, newest first: its first hits as soon as they are found, then all of
    them (appended: the first ones stay where they are). Each row's snippets are asked for
    (:attr:`snippets_wanted`) the first time the row is shown, and kept once read."""

    snippets_wanted = Signal()

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.query: searching.Query | None = None
        self.hits: list[searching.Hit] = []
        #: the whole result, once every hit is counted (None before)
        self.result: searching.SearchResult | None = None
        self.marks: tuple[str, str] = ("", "")
        #: bumps with every new search shown: snippets read for an older one are dropped
        self.generation = 0
        #: interactions under a legal hold → their holds (the hold badge)
        self.held: holds.Held = {}
        self._snippets: dict[int, list[searching.Snippet]] = {}
        self._wanted: set[int] = set()
        self._asking = QTimer(self)
        self._asking.setSingleShot(True)
        self._asking.setInterval(0)
        self._asking.timeout.connect(self.snippets_wanted.emit)

    def set_first(
        self, query: searching.Query | None, hits: list[searching.Hit], marks: tuple[str, str]
    ) -> None:
        """Show a new search's first hits (or nothing)."""
        self.beginResetModel()
        self.query, self.hits, self.result, self.marks = query, list(hits), None, marks
        self.generation += 1
        self._snippets.clear()
        self._wanted.clear()
        self.endResetModel()

    def set_result(self, result: searching.SearchResult | None, marks: tuple[str, str]) -> None:
        """Show a whole result: the rows shown first stay, the rest are appended."""
        if result is None:
            self.set_first(None, [], marks)
            return
        shown = len(self.hits)
        if marks != self.marks or result.hits[:shown] != self.hits:
            self.set_first(result.query, [], marks)
            shown = 0
        self.result = result
        rest = result.hits[shown:]
        if rest:
            self.beginInsertRows(QModelIndex(), shown, shown + len(rest) - 1)
            self.hits.extend(rest)
            self.endInsertRows()

    def set_held(self, held: holds.Held) -> None:
        """Which interactions are held now: their rows show the badge."""
        self.held = held
        if self.hits:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.hits) - 1, 0))

    def hit(self, row: int) -> searching.Hit | None:
        return self.hits[row] if 0 <= row < len(self.hits) else None

    def take_wanted(self, most: int = SNIPPET_BATCH) -> list[int]:
        """Rows shown without snippets, to read now (at most ``most``)."""
        rows = sorted(self._wanted)[:most]
        self._wanted.difference_update(rows)
        return rows

    def store(self, generation: int, rows: list[int], found: list[list[searching.Snippet]]) -> None:
        """Snippets read for ``rows`` of search ``generation`` (dropped if it is not ours)."""
        if generation != self.generation:
            return
        for row, snippets in zip(rows, found, strict=True):
            self._snippets[row] = snippets
            index = self.index(row, 0)
            self.dataChanged.emit(index, index)
        if self._wanted:
            self._asking.start()

    # -- Qt model -------------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.hits)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        hit = self.hit(index.row()) if index.isValid() else None
        if hit is None:
            return None
        if role == HIT_ROLE:
            return hit
        if role not in (Qt.ItemDataRole.DisplayRole, HTML_ROLE, Qt.ItemDataRole.ToolTipRole):
            return None
        snippets = self._snippets.get(index.row())
        if snippets is None and index.row() not in self._wanted:
            self._wanted.add(index.row())
            self._asking.start()
        if role == HTML_ROLE:
            return self._html(hit, snippets)
        held = self.held.get(hit.interaction or "")
        if role == Qt.ItemDataRole.ToolTipRole and held:
            return holds.describe(held)
        lines = [hit_title(hit) + (f" · {holds.BADGE}" if held else "")] + [
            f"{s.dataset}: {plain(s.text, self.marks)}" for s in (snippets or [])
        ]
        return "\n".join(lines)

    def _html(self, hit: searching.Hit, snippets: list[searching.Snippet] | None) -> str:
        held = self.held.get(hit.interaction or "")
        badge = f" {holds.badge_html(held)}" if held else ""
        parts = [f"<div><b>{html.escape(hit_title(hit), quote=False)}</b>{badge}</div>"]
        if snippets is None:
            parts.append("<div style='color:gray'>…</div>")
        for s in snippets or []:
            older = " (an earlier version)" if s.superseded else ""
            more = f" <span style='color:gray'>(and {s.same} more)</span>" if s.same else ""
            parts.append(
                f"<div style='margin-left:12px'><span style='color:gray'>"
                f"{html.escape(s.dataset + older, quote=False)}:</span> "
                f"{marked_html(s.text, self.marks)}{more}</div>"
            )
        return "".join(parts)


class HitDelegate(QStyledItemDelegate):
    """Paints a hit's rich text (HTML_ROLE): title and highlighted snippets."""

    def _document(self, option: QStyleOptionViewItem, index: Index) -> QTextDocument:
        doc = QTextDocument()
        doc.setDefaultFont(option.font)
        doc.setHtml(str(index.data(HTML_ROLE) or ""))
        doc.setTextWidth(max(100, option.rect.width() - 8))
        return doc

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        self.initStyleOption(option, index)
        style = option.widget.style() if option.widget else None
        text = option.text
        option.text = ""
        if style is not None:
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, option, painter, option.widget)
        option.text = text
        doc = self._document(option, index)
        painter.save()
        painter.translate(option.rect.left() + 4, option.rect.top() + 2)
        ctx = QAbstractTextDocumentLayout.PaintContext()
        if option.state & QStyle.StateFlag.State_Selected:
            ctx.palette.setColor(
                ctx.palette.ColorRole.Text, option.palette.highlightedText().color()
            )
        painter.setClipRect(QRectF(0, 0, option.rect.width(), option.rect.height()))
        doc.documentLayout().draw(painter, ctx)
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        self.initStyleOption(option, index)
        width = option.widget.viewport().width() if isinstance(option.widget, QListView) else 800
        option.rect.setWidth(width)
        doc = self._document(option, index)
        return QSize(width, int(doc.size().height()) + 6)


class SearchPanel(QWidget):
    """The Search tab."""

    #: a hit of an interaction was opened: show it on the Interactions tab
    open_interaction = Signal(str)
    #: a hit of a record of its own was opened: show that record's history
    open_record = Signal(int)
    #: "Add selected to case…": these interactions
    add_to_case = Signal(list)
    #: "Add all to case…": the search (query, first, last) whose interactions to add
    add_search_to_case = Signal(str, object, object)

    def __init__(self, archive_path: Callable[[], Path], runner: JobRunner) -> None:
        super().__init__()
        self.archive_path = archive_path
        self.runner = runner
        self._number = 0  # searches started; an answer to an older one is dropped
        self._jobs: list[Job] = []
        self._running: Job | None = None  # the search being counted
        self.last_error = ""
        self.query = QLineEdit()
        self.query.setObjectName("searchQuery")
        self.query.setClearButtonEnabled(True)
        self.query.setPlaceholderText(
            'Search: refund "call me back" agent:… phone:… date:2025-03-01..2025-03-31'
        )
        self.dataset = QComboBox()
        self.dataset.setObjectName("searchDataset")
        self.dataset.addItem("All datasets", "")
        for name in DATASET_NAMES:
            self.dataset.addItem(name, name)
        self.limit_range = QCheckBox("UTC range")
        self.limit_range.setObjectName("searchRangeOn")
        self.first = utc_edit("searchFrom")
        self.last = utc_edit("searchTo")
        today = today_utc()
        set_edit(self.first, today - 30 * DAY)
        set_edit(self.last, today + DAY - STEP)
        for edit in (self.first, self.last):
            edit.setEnabled(False)
        self.status = QLabel(START_HINT)
        self.status.setObjectName("searchStatus")
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.rebuild = QPushButton("Rebuild the search index")
        self.rebuild.setObjectName("searchRebuild")
        self.rebuild.setToolTip(
            "Make the index again from the archived records (archiver index rebuild): it holds "
            "the archive's lock while it runs, as a download does"
        )
        self.rebuild.hide()
        self.model = HitsModel(self)
        self.view = QListView()
        self.view.setObjectName("searchResults")
        self.view.setModel(self.model)
        self.view.setItemDelegate(HitDelegate(self.view))
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.view.setAlternatingRowColors(True)
        bar = QHBoxLayout()
        bar.addWidget(self.query, 3)
        bar.addWidget(self.dataset)
        when = QHBoxLayout()
        when.addWidget(self.limit_range)
        when.addWidget(self.first)
        when.addWidget(QLabel("–"))
        when.addWidget(self.last)
        when.addStretch(1)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.add_selected = QPushButton("Add selected to case…")
        self.add_selected.setObjectName("searchAddSelected")
        self.add_all = QPushButton("Add all hits to case…")
        self.add_all.setObjectName("searchAddAll")
        self.add_all.setToolTip(
            "Adds every interaction this search finds; the case records the search (query, "
            "range, time, hit count) with each"
        )
        self.add_selected.clicked.connect(self._add_selected)
        self.add_all.clicked.connect(self._add_all)
        actions = QHBoxLayout()
        actions.addStretch()
        actions.addWidget(self.add_selected)
        actions.addWidget(self.add_all)
        content = QWidget()
        cl = QVBoxLayout(content)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.addLayout(bar)
        cl.addLayout(when)
        status = QHBoxLayout()
        status.addWidget(self.status, 1)
        status.addWidget(self.rebuild)
        cl.addLayout(status)
        cl.addWidget(self.view, 1)
        cl.addLayout(actions)
        self.page = Placeholder(content, "searchEmpty")
        lay = QVBoxLayout(self)
        lay.addWidget(self.page)
        self.debounce = QTimer(self)
        self.debounce.setObjectName("searchDebounce")
        self.debounce.setSingleShot(True)
        self.debounce.setInterval(DEBOUNCE_MS)
        self.debounce.timeout.connect(self.search)
        self.query.textChanged.connect(lambda _t: self.debounce.start())
        self.query.returnPressed.connect(self.search_now)
        self.dataset.currentIndexChanged.connect(lambda _i: self.search_now())
        self.limit_range.toggled.connect(self._range_toggled)
        self.first.dateTimeChanged.connect(lambda _d: self._range_changed())
        self.last.dateTimeChanged.connect(lambda _d: self._range_changed())
        self.model.snippets_wanted.connect(self._read_snippets)
        self.rebuild.clicked.connect(self.rebuild_index)
        self.view.activated.connect(self.open_hit)
        self.view.doubleClicked.connect(self.open_hit)

    # -- searching ------------------------------------------------------------------------
    def _range_toggled(self, on: bool) -> None:
        for edit in (self.first, self.last):
            edit.setEnabled(on)
        self.search_now()

    def _range_changed(self) -> None:
        if self.limit_range.isChecked():
            self.debounce.start()

    def search_now(self) -> None:
        self.debounce.stop()
        self.search()

    def refresh(self) -> None:
        """Say what to do when there is no archive. A search shown stays as it is (searching
        again is Enter: each search is an access-log entry, never one the user did not ask
        for)."""
        path = self.archive_path()
        if not path.exists():
            self.page.say(NO_ARCHIVE.format(path=path))
            return
        self.page.show_content()

    def search(self) -> None:
        """Run the query in the box (in a worker): its first hits are shown as soon as they
        are found, then all of them are counted. A newer search stops this one (which logs
        what it showed) and its answers are dropped."""
        self.debounce.stop()
        text = self.query.text()
        self._number += 1
        number = self._number
        if self._running is not None:
            self._running.cancel()
            self._running = None
        if not text.strip():
            self.model.set_first(None, [], ("", ""))
            self._say(START_HINT)
            return
        try:  # a query that cannot be read is said at once, without a worker
            searching.parse(text)
        except searching.QueryError as exc:
            self._say(f"{exc.message} (at position {exc.position + 1})", error=True)
            return
        path = self.archive_path()
        if not path.exists():
            self.page.say(NO_ARCHIVE.format(path=path))
            return
        first, last = self._range()
        dataset = self.dataset.currentData()
        marks = searching.new_marks()

        def work(cancel: Cancel) -> Any:
            return searching.search_job(
                path,
                text,
                cancel,
                first=first,
                last=last,
                datasets=[dataset] if dataset else (),
                via="gui",
            )

        job = Job(work, name="search")
        job.yielded.connect(lambda top: self._first(number, top, marks))
        job.done.connect(lambda result: self._found(number, result, marks))
        job.failed.connect(lambda exc: self._failed(number, exc))
        self._say(f"Searching for “{text.strip()}”…")
        self._running = job
        self._start(job)

    def _range(self) -> tuple[Any, Any]:
        if not self.limit_range.isChecked():
            return None, None
        return edit_value(self.first), edit_value(self.last)

    def _start(self, job: Job) -> None:
        self.runner.start_held(self._jobs, job)

    def _first(self, number: int, top: searching.FirstResults, marks: tuple[str, str]) -> None:
        if number != self._number:
            return  # a newer search replaced this one
        self.page.show_content()
        self.model.set_first(top.query, top.hits, marks)
        self.view.scrollToTop()
        if top.hits:
            more = "+" if len(top.hits) >= searching.FIRST else ""
            self._say(f"{HITS.of(len(top.hits))}{more} so far, newest first; counting all…")

    def _found(self, number: int, result: searching.SearchResult, marks: tuple[str, str]) -> None:
        if number != self._number:
            return  # a newer search replaced this one
        self._running = None
        self.page.show_content()
        self.model.set_result(result, marks)
        self.last_error = ""
        if not result.hits:
            self._say(f"Nothing found for “{result.query.text}”, {result.range_text()}.")
            return
        interactions = sum(1 for h in result.hits if h.interaction)
        others = len(result.hits) - interactions
        parts = f"{interactions:,} by interaction" + (
            f", {others:,} single records" if others else ""
        )
        self._say(
            f"{HITS.of(len(result.hits))} ({parts}; {RECORDS.of(result.records)} matching), "
            f"{result.range_text()}, newest first. Double-click a hit to open it."
        )

    def _failed(self, number: int, exc: BaseException) -> None:
        if number != self._number:
            return
        self._running = None
        self.model.set_first(None, [], ("", ""))
        self.rebuild.setVisible(isinstance(exc, searching.IndexNotReady))
        self._say(f"Search failed: {describe(exc)}", error=True)

    def rebuild_index(self) -> None:
        """``archiver index rebuild`` in a worker, then the search again."""
        path = self.archive_path()
        self.rebuild.setEnabled(False)
        self._say("Rebuilding the search index…")

        def work(cancel: Cancel) -> Any:
            return searching.rebuild_index(path, cancel)

        job = Job(work, name="rebuild search index")
        job.yielded.connect(
            lambda step: self._say(f"Rebuilding the search index… {step[0]}: {RECORDS.of(step[1])}")
        )
        job.done.connect(self._rebuilt)
        job.failed.connect(lambda exc: self._rebuild_failed(exc))
        self._start(job)

    def _rebuilt(self, _done: Any) -> None:
        self.rebuild.setEnabled(True)
        self.rebuild.hide()
        self.search_now()

    def _rebuild_failed(self, exc: BaseException) -> None:
        self.rebuild.setEnabled(True)
        self._say(f"The search index could not be rebuilt: {describe(exc)}", error=True)

    def _say(self, text: str, error: bool = False) -> None:
        self.last_error = text if error else ""
        self.status.setStyleSheet("color:#c62828" if error else "")
        self.status.setText(text)

    def _read_snippets(self) -> None:
        rows = self.model.take_wanted()
        query = self.model.query
        if not rows or query is None:
            return
        generation, marks = self.model.generation, self.model.marks
        hits = [self.model.hits[r] for r in rows]
        path = self.archive_path()

        def work(_cancel: Cancel) -> list[list[searching.Snippet]]:
            return searching.snippets_of(path, query, hits, marks)

        job = Job(work, name="search snippets")
        job.done.connect(lambda found: self.model.store(generation, rows, found))
        self._start(job)

    # -- cases --------------------------------------------------------------------------------
    def selected_interactions(self) -> list[str]:
        """The interactions of the selected hits (records of their own have none)."""
        rows = sorted(i.row() for i in self.view.selectionModel().selectedIndexes())
        found = [self.model.hit(r) for r in rows]
        return [h.interaction for h in found if h is not None and h.interaction]

    def _add_selected(self) -> None:
        ids = self.selected_interactions()
        if ids:
            self.add_to_case.emit(ids)
        else:
            self._say("Select the hits of interactions to add (click, Ctrl+click).")

    def _add_all(self) -> None:
        result = self.model.result
        if result is None or not result.hits:
            self._say("Search first: every interaction the search finds is added.")
            return
        first, last = self._range()
        self.add_search_to_case.emit(result.query.text, first, last)

    def set_held(self, held: holds.Held) -> None:
        self.model.set_held(held)

    # -- opening --------------------------------------------------------------------------
    def open_hit(self, index: QModelIndex) -> None:
        hit = index.data(HIT_ROLE)
        if not isinstance(hit, searching.Hit):
            return
        if hit.interaction:
            self.open_interaction.emit(hit.interaction)
        else:
            self.open_record.emit(hit.records[0][1])

    def wait_jobs(self) -> None:
        for job in self._jobs:
            job.wait()
