"""Browse the archive offline: a lazily fetched table per dataset, and a row's history."""

from __future__ import annotations

import json
from array import array
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from archiver.api.typed import cast_value
from archiver.archive.queries.interactions import INTERACTION_COLUMN
from archiver.archive.queries.review import ArchiveReader, parse_stream
from archiver.archive.versions import NOT_A_TIME, is_time
from archiver.counts import LATEST, RECORDS
from archiver.gui import holds
from archiver.gui.errors import describe
from archiver.gui.headers import fit_columns, friendly_label, header_tooltip, readable_header
from archiver.gui.workers import Job, JobRunner
from archiver.jobs import Cancel
from archiver.plural import plural
from archiver.safetext import safe

BATCH = 500
FIRST_BATCH = 100
FIRST_WINDOW = 1000  # rows a sort, filter or search shows before its whole answer is in
BLOCK = 256
Index = QModelIndex | QPersistentModelIndex


def display_value(value: str, typ: str) -> str:
    """A typed rendering: numbers with separators, datetimes in UTC; raw strings kept elsewhere."""
    v = cast_value(value, typ)
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int) and typ == "number":
        return f"{v:,}"
    if hasattr(v, "strftime") and hasattr(v, "hour"):
        return v.strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(v)


_ROLES = frozenset(
    {
        Qt.ItemDataRole.DisplayRole,
        Qt.ItemDataRole.ToolTipRole,
        Qt.ItemDataRole.UserRole,
        Qt.ItemDataRole.TextAlignmentRole,
        Qt.ItemDataRole.BackgroundRole,
        Qt.ItemDataRole.ForegroundRole,
        Qt.ItemDataRole.DecorationRole,
    }
)
#: A COMMIT_TS that is not a time (archive/versions.py) is drawn in this colour.
_NOT_A_TIME_COLOUR = "#e65100"


class RecordsModel(QAbstractTableModel):
    """Records of one dataset. Holds ids and fetches rows lazily, so a million-row dataset
    opens at once: streamed in (own interval, record_id) order with fetchMore, or — after a
    sort, filter or search computed in a worker — as an id array read block by block."""

    sort_requested = Signal(int, Qt.SortOrder)

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.reader: ArchiveReader | None = None
        self.dataset = ""
        self.columns: list[tuple[str, str]] = []
        self.raw = False
        #: headers show friendly labels ("Wait time (s)") instead of the API's names
        self.friendly = False
        self._stream: list[tuple[int, str, dict[str, str], int, str]] = []
        self._exhausted = True
        self._ids: array | None = None
        self._blocks: OrderedDict[int, dict[int, Any]] = OrderedDict()
        #: interactions under a legal hold → their holds; the column that names a row's
        #: interaction in this dataset (None: its rows belong to none)
        self.held: holds.Held = {}
        self.interaction_column: str | None = None

    # -- configuration --------------------------------------------------------------------
    def set_dataset(self, reader: ArchiveReader | None, dataset: str) -> None:
        self.beginResetModel()
        self.reader = reader
        self.dataset = dataset
        self.columns = reader.columns(dataset) if reader else []
        self.interaction_column = (
            INTERACTION_COLUMN.get(parse_stream(dataset)[0]) if dataset else None
        )
        self._stream = []
        self._exhausted = reader is None
        self._ids = None
        self._blocks.clear()
        self.endResetModel()

    def set_ids(self, ids: array) -> None:
        self.beginResetModel()
        self._ids = ids
        self._stream = []
        self._exhausted = True
        self._blocks.clear()
        self.endResetModel()

    def grow_ids(self, ids: array) -> bool:
        """Extend the shown ids with the rest of the same ordered answer (the first window
        was shown while the whole list was computed). False when ``ids`` does not begin with
        the shown ones (then the caller resets instead)."""
        have = self._ids
        if have is None or len(ids) < len(have) or ids[: len(have)] != have:
            return False
        if len(ids) > len(have):
            # a block read when the shown ids ended inside it lacks the rows that follow
            self._blocks.pop(len(have) // BLOCK, None)
            self.beginInsertRows(QModelIndex(), len(have), len(ids) - 1)
            self._ids = ids
            self.endInsertRows()
        return True

    def set_held(self, held: holds.Held) -> None:
        """Rows of held interactions show the hold badge."""
        self.held = held
        if self.rowCount() and self.interaction_column:
            self.dataChanged.emit(
                self.index(0, 0), self.index(self.rowCount() - 1, self.columnCount() - 1)
            )

    def held_by(self, values: dict[str, str]) -> list[Any]:
        """The holds covering a row (none: [])."""
        if not self.held or self.interaction_column is None:
            return []
        return self.held.get(values.get(self.interaction_column, ""), [])

    def set_raw(self, raw: bool) -> None:
        self.raw = raw
        if self.rowCount():
            self.dataChanged.emit(
                self.index(0, 0), self.index(self.rowCount() - 1, self.columnCount() - 1)
            )

    def set_friendly(self, friendly: bool) -> None:
        self.friendly = friendly
        if self.columns:
            self.headerDataChanged.emit(Qt.Orientation.Horizontal, 0, len(self.columns) - 1)

    # -- Qt model -------------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        if parent.isValid():
            return 0
        return len(self._ids) if self._ids is not None else len(self._stream)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def canFetchMore(self, parent: Index) -> bool:
        return not parent.isValid() and not self._exhausted and self._ids is None

    def fetchMore(self, parent: Index) -> None:
        if parent.isValid() or self._exhausted or self.reader is None:
            return
        after = (self._stream[-1][1], self._stream[-1][0]) if self._stream else None
        n = BATCH if self._stream else FIRST_BATCH  # the first screenful paints sooner
        rows = self.reader.first_records(self.dataset, after, n)
        if len(rows) < n:
            self._exhausted = True
        if rows:
            first = len(self._stream)
            self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
            self._stream.extend(
                (r.record_id, r.interval_start, r.values, int(r.conflict), r.disposed) for r in rows
            )
            self.endInsertRows()

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal:
            return self._column_header(section, role)
        return str(section + 1) if role == Qt.ItemDataRole.DisplayRole else None

    def _column_header(self, section: int, role: int) -> str | None:
        """The API's name (or a friendly label), the guide's description as its tooltip."""
        if not 0 <= section < len(self.columns):
            return None
        name, typ = self.columns[section]
        dataset = parse_stream(self.dataset)[0]
        if role == Qt.ItemDataRole.DisplayRole:  # (a server's name may hold control chars)
            return safe(friendly_label(dataset, name, typ) if self.friendly else name, False)
        if role == Qt.ItemDataRole.ToolTipRole:
            return safe(header_tooltip(dataset, name, typ))
        return None

    def _row(self, row: int) -> tuple[int, dict[str, str], int, str] | None:
        if self._ids is None:
            if not 0 <= row < len(self._stream):
                return None
            rid, _, values, conflict, disposed = self._stream[row]
            return rid, values, conflict, disposed
        if not 0 <= row < len(self._ids) or self.reader is None:
            return None
        block = row // BLOCK
        data = self._blocks.get(block)
        if data is None:
            ids = list(self._ids[block * BLOCK : (block + 1) * BLOCK])
            data = self.reader.records_by_id(self.dataset, ids)
            self._blocks[block] = data
            while len(self._blocks) > 64:
                self._blocks.popitem(last=False)
        else:
            self._blocks.move_to_end(block)
        rid = self._ids[row]
        rec = data.get(rid)
        if rec is None:
            return None
        return rid, rec.values, int(rec.conflict), rec.disposed

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role not in _ROLES or not index.isValid() or not 0 <= index.column() < len(self.columns):
            return None  # (Qt asks for about eight roles per cell; most are not ours)
        row = self._row(index.row())
        if row is None:
            return None
        if row[3]:
            return self._disposed(index.column(), role, row[0], row[3])
        return self._cell(index.column(), role, row)

    def _cell(self, column: int, role: int, row: tuple[int, dict[str, str], int, str]) -> Any:
        rid, values, conflict, _disposed = row
        name, typ = self.columns[column]
        raw = values.get(name, "")
        if role == Qt.ItemDataRole.DisplayRole:
            return raw if self.raw else display_value(raw, typ)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(name, typ, raw, values)
        if role == Qt.ItemDataRole.ForegroundRole:
            if name == "COMMIT_TS" and raw and not is_time(raw):
                return QBrush(QColor(_NOT_A_TIME_COLOUR))
            return None
        if role == Qt.ItemDataRole.DecorationRole:
            return holds.icon() if column == 0 and self.held_by(values) else None
        if role == Qt.ItemDataRole.UserRole:
            return rid
        if role == Qt.ItemDataRole.TextAlignmentRole and typ == "number" and not self.raw:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.BackgroundRole:
            return self._background(conflict, values)
        return None

    def _background(self, conflict: int, values: dict[str, str]) -> Any:
        """A conflicting row red, a held row in the hold's colour."""
        if conflict:
            return QBrush(QColor("#ffcdd2"))
        return holds.row_brush() if self.held_by(values) else None

    def _disposed(self, column: int, role: int, rid: int, why: str) -> Any:
        """A record whose values a disposition removed: says so, and why."""
        if role == Qt.ItemDataRole.DisplayRole:
            return "(disposed: no values)" if column == 0 else ""
        if role == Qt.ItemDataRole.ToolTipRole:
            return (
                f"No values: {why}. The record's identity and hash, and its page's SHA-256, "
                "metadata and chain, are kept; its values were removed with the page's body."
            )
        if role == Qt.ItemDataRole.UserRole:
            return rid
        if role == Qt.ItemDataRole.BackgroundRole:
            return QBrush(QColor("#d7ccc8"))
        return None

    def _tooltip(self, name: str, typ: str, raw: str, values: dict[str, str]) -> str:
        """The raw API string; a COMMIT_TS that is not a time says so; a held row, its hold."""
        held = self.held_by(values)
        tip = f"{name} ({typ}) raw API string: {json.dumps(raw, ensure_ascii=False)}"
        if name == "COMMIT_TS" and raw and not is_time(raw):
            tip += f"\nCOMMIT_TS {NOT_A_TIME}"
        return f"{holds.describe(held)}\n{tip}" if held else tip

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if 0 <= column < len(self.columns):
            self.sort_requested.emit(column, order)

    def record_id(self, row: int) -> int | None:
        r = self._row(row)
        return r[0] if r else None


class RowDetailDialog(QDialog):
    """Every version of a row's key: COMMIT_TS history with changed fields highlighted,
    provenance (page, received time, SHA-256, chain) and integrity conflicts."""

    def __init__(
        self, reader: ArchiveReader, record_id: int, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("rowDetail")
        self.versions = reader.versions(record_id)
        first = self.versions[0] if self.versions else None
        self.setWindowTitle("Row history")
        self.resize(1000, 640)
        head = QLabel()
        head.setWordWrap(True)
        if first:
            conflicts = sum(v.conflict for v in self.versions)
            head.setText(
                f"<b>{plural(len(self.versions), 'version')}</b> of this row"
                + (
                    f" — <span style='color:#c62828'>{plural(conflicts, 'integrity conflict')}: same key and COMMIT_TS, different content</span>"
                    if conflicts
                    else ""
                )
            )
        names = list(first.values) if first else []
        for v in self.versions:
            names += [k for k in v.values if k not in names]
        self.table = QTableWidget(len(names), len(self.versions))
        self.table.setObjectName("versionsTable")
        self.table.setVerticalHeaderLabels(names)
        self.table.setHorizontalHeaderLabels(
            [
                f"COMMIT_TS {v.commit_text}" + (" ⚠ conflict" if v.conflict else "")
                for v in self.versions
            ]
        )
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        bold = QFont()
        bold.setBold(True)
        for c, v in enumerate(self.versions):
            for r, name in enumerate(names):
                item = QTableWidgetItem(v.values.get(name, ""))
                item.setToolTip(json.dumps(v.values.get(name, ""), ensure_ascii=False))
                if name in v.changed:
                    item.setBackground(QBrush(QColor("#fff59d")))
                    item.setFont(bold)
                    item.setData(Qt.ItemDataRole.UserRole, "changed")
                self.table.setItem(r, c, item)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        changed = [name for name in names if any(name in v.changed for v in self.versions)]
        if changed:
            head.setText(
                head.text()
                + f" — changed between versions: <b>{', '.join(changed)}</b> (highlighted)"
            )
            first_changed = (
                next(r for r, name in enumerate(names) if name in changed and name != "COMMIT_TS")
                if any(n != "COMMIT_TS" for n in changed)
                else names.index(changed[0])
            )
            target = self.table.item(first_changed, 0)
            if target is not None:
                self.table.scrollToItem(target, QAbstractItemView.ScrollHint.PositionAtCenter)
        prov = QPlainTextEdit()
        prov.setObjectName("provenance")
        prov.setReadOnly(True)
        lines = []
        for v in self.versions:
            lines.append(
                f"COMMIT_TS {v.commit_text}{'  ⚠ INTEGRITY CONFLICT' if v.conflict else ''}\n"
                f"  record {v.record_id}, SHA-256 {v.sha256}\n"
                f"  page {v.page_id} row {v.row_index}, received {v.received_at}, run {v.run_id}\n"
                f"  page SHA-256 {v.page_sha256}\n  chain position {v.page_id}: {v.chain}\n  {v.url}"
            )
        prov.setPlainText("\n\n".join(lines))
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(prov)
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        lay = QVBoxLayout(self)
        lay.addWidget(head)
        lay.addWidget(split, 1)
        lay.addWidget(close, 0, Qt.AlignmentFlag.AlignRight)


class BrowsePanel(QWidget):
    """The Browse tab."""

    def __init__(self, archive_path: Callable[[], Path], runner: JobRunner) -> None:
        super().__init__()
        self.archive_path = archive_path
        self.runner = runner
        self.reader: ArchiveReader | None = None
        self._jobs: list[Job] = []
        self.datasets = QListWidget()
        self.datasets.setObjectName("datasetList")
        self.search = QLineEdit()
        self.search.setObjectName("searchBox")
        self.search.setPlaceholderText("Search all values (Enter)")
        self.filter_column = QComboBox()
        self.filter_column.setObjectName("filterColumn")
        # as wide as its longest name, up to a limit: a server may send a name of any length
        self.filter_column.setMaximumWidth(280)
        self.filter_value = QLineEdit()
        self.filter_value.setObjectName("filterColumnValue")
        self.filter_value.setPlaceholderText("column contains… (Enter)")
        self.latest = QCheckBox("Latest version only")
        self.raw = QCheckBox("Raw strings")
        self.raw.setObjectName("rawToggle")
        self.friendly = QCheckBox("Friendly names")
        self.friendly.setObjectName("friendlyToggle")
        self.friendly.setToolTip(
            "Readable labels such as “Wait time (s)” instead of the API's column names "
            "(hover a header for the API's name and the vendor guide's description)"
        )
        self.count = QLabel("")
        self.count.setObjectName("browseCount")
        self.model = RecordsModel(self)
        self.view = QTableView()
        self.view.setObjectName("recordsView")
        self.view.setModel(self.model)
        self.view.setSortingEnabled(True)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.horizontalHeader().setSortIndicatorShown(True)
        self.view.horizontalHeader().setSectionsMovable(True)
        readable_header(self.view)
        self.view.verticalHeader().setDefaultSectionSize(22)
        bar = QHBoxLayout()
        bar.addWidget(self.search, 2)
        bar.addWidget(self.filter_column)
        bar.addWidget(self.filter_value, 1)
        bar.addWidget(self.latest)
        bar.addWidget(self.raw)
        bar.addWidget(self.friendly)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addLayout(bar)
        rl.addWidget(self.view, 1)
        rl.addWidget(self.count)
        split = QSplitter()
        split.addWidget(self.datasets)
        split.addWidget(right)
        split.setStretchFactor(1, 4)
        split.setSizes([260, 1000])
        lay = QVBoxLayout(self)
        lay.addWidget(split)
        self.datasets.currentItemChanged.connect(lambda *_: self.show_dataset())
        self.search.returnPressed.connect(self.apply_query)
        self.filter_value.returnPressed.connect(self.apply_query)
        self.latest.toggled.connect(self.apply_query)
        self.raw.toggled.connect(self.model.set_raw)
        self.friendly.toggled.connect(self._friendly)
        self.model.sort_requested.connect(self._sort)
        self.view.doubleClicked.connect(self.open_row)
        self._sort_state: tuple[int, Qt.SortOrder] | None = None
        self._query_number = 0  # answers to an older query are dropped
        self._complete = -1  # the query whose whole answer is shown
        self._refresh_number = 0

    def refresh(self) -> None:
        """Reopen the archive and recount (counts run in a worker)."""
        path = self.archive_path()
        current = self.current_dataset() or None
        self._query_number += 1  # answers to queries on the old connection are dropped
        self._refresh_number += 1
        refresh = self._refresh_number
        self.model.set_dataset(None, "")  # drop rows of the old connection before closing it
        if self.reader:
            self.reader.close()
            self.reader = None
        if not path.exists():
            self.datasets.clear()
            self.count.setText("No archive yet: download something first.")
            return
        self.reader = ArchiveReader(path)
        self._start(holds.job(path, self.model.set_held))
        # the names come at once (the streams table), so the first rows paint without
        # waiting for the counts, which scan every stream's index
        self._counts(self.reader.dataset_names(), current, counted=False)

        def counts(_cancel: Cancel) -> dict[str, int]:
            with ArchiveReader(path) as r:
                return r.dataset_counts()

        job = Job(counts, name="count records")
        job.done.connect(
            lambda c: (
                self._counts(c, self.current_dataset() or current)
                if refresh == self._refresh_number  # (not counts of an older refresh)
                else None
            )
        )
        self._start(job)

    def _start(self, job: Job) -> None:
        self.runner.start_held(self._jobs, job)

    def _counts(self, counts: dict[str, int], current: str | None, counted: bool = True) -> None:
        """Fill the dataset list. ``counted`` False: ``counts`` only says which streams hold
        rows (1) or none (0); the numbers follow from a worker."""
        before = self.current_dataset()
        self.datasets.blockSignals(True)
        self.datasets.clear()
        target = current if current in counts else next((n for n, c in counts.items() if c), None)
        chosen = None
        for name, n in counts.items():
            item = QListWidgetItem(f"{name}  ({RECORDS.of(n)})" if counted else name)
            item.setData(Qt.ItemDataRole.UserRole, name)
            if not n:
                item.setForeground(QBrush(QColor("#9e9e9e")))
            self.datasets.addItem(item)
            if name == target:
                chosen = item
        if chosen is not None:
            self.datasets.setCurrentItem(chosen)
        self.datasets.blockSignals(False)
        if not counted or self.current_dataset() != before or self.model.dataset != before:
            self.show_dataset()  # (the counts alone leave the rows shown as they are)

    def select_dataset(self, name: str) -> None:
        for i in range(self.datasets.count()):
            if self.datasets.item(i).data(Qt.ItemDataRole.UserRole) == name:
                self.datasets.setCurrentRow(i)
                return

    def current_dataset(self) -> str:
        item = self.datasets.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item else ""

    def show_dataset(self) -> None:
        self._query_number += 1
        name = self.current_dataset()
        self._sort_state = None
        self.view.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.model.set_dataset(self.reader, name)
        self.filter_column.clear()
        for c, _ in self.model.columns:  # shown escaped, filtered by the API's name itself
            self.filter_column.addItem(safe(c, newlines=False), c)
        if self.model.canFetchMore(QModelIndex()):
            self.model.fetchMore(QModelIndex())
        fit_columns(self.view)
        self.count.setText(
            f"{name}: records (every version of each row) load as you scroll, in order of each "
            "row's own interval, then arrival. Click a header to sort; double-click a row for "
            "its history."
            if name
            else ""
        )

    def _friendly(self, friendly: bool) -> None:
        self.model.set_friendly(friendly)
        fit_columns(self.view)

    def apply_query(self) -> None:
        self._query()

    def _sort(self, column: int, order: Qt.SortOrder) -> None:
        if self._sort_state == (column, order):
            return  # Qt asks twice for one sortByColumn (the indicator, then the call)
        self._sort_state = (column, order)
        self._query()

    def _query(self) -> None:
        name = self.current_dataset()
        if not name or self.reader is None:
            return
        search = self.search.text().strip() or None
        flt = (
            (self.filter_column.currentData() or "", self.filter_value.text().strip())
            if self.filter_value.text().strip()
            else None
        )
        latest = self.latest.isChecked()
        sort = self._sort_state
        if not (search or flt or latest or sort):
            self.show_dataset()
            return
        path = self.archive_path()
        sort_col = self.model.columns[sort[0]][0] if sort else None
        desc = bool(sort and sort[1] == Qt.SortOrder.DescendingOrder)
        self.count.setText("Searching…")

        self._query_number += 1
        number = self._query_number

        def ids(limit: int | None) -> Callable[[Cancel], array]:
            def run(_cancel: Cancel) -> array:
                with ArchiveReader(path) as r:
                    return r.record_ids(
                        name,
                        sort=sort_col,
                        descending=desc,
                        column_filter=flt,
                        search=search,
                        latest_only=latest,
                        limit=limit,
                    )

            return run

        # the first window comes from a query that stops early; the whole ordered list
        # follows and extends it (a big dataset's full answer takes seconds)
        first = Job(ids(FIRST_WINDOW), name="search records (first rows)")
        first.done.connect(lambda result: self._ids(number, name, result, complete=False))
        first.failed.connect(lambda exc: self._failed(number, exc))
        whole = Job(ids(None), name="search records")
        whole.done.connect(lambda result: self._ids(number, name, result, complete=True))
        whole.failed.connect(lambda exc: self._failed(number, exc))
        self._start(first)
        self._start(whole)

    def _failed(self, number: int, exc: BaseException) -> None:
        if number == self._query_number:  # (an older query's failure is no news)
            self.count.setText(f"Search failed: {describe(exc)}")

    def _ids(self, number: int, name: str, ids: array, *, complete: bool) -> None:
        if number != self._query_number or name != self.current_dataset():
            return  # an answer to an older query or another dataset
        if complete:
            self._complete = number
            if not self.model.grow_ids(ids):
                self.model.set_ids(ids)
            self.count.setText(self._matched(len(ids)))
        elif self._complete != number:  # (the whole answer may have come first)
            self.model.set_ids(ids)
            if len(ids) < FIRST_WINDOW:
                self.count.setText(self._matched(len(ids)))
            else:
                self.count.setText(f"First {len(ids):,} shown; counting all matches…")

    def _matched(self, n: int) -> str:
        """``1,890 latest records match.`` (the counts' words: archiver.counts)"""
        term = LATEST if self.latest.isChecked() else RECORDS
        return f"{term.of(n)} match{'es' if n == 1 else ''}."

    def open_row(self, index: QModelIndex) -> RowDetailDialog | None:
        rid = self.model.record_id(index.row())
        if rid is None or self.reader is None:
            return None
        dlg = RowDetailDialog(self.reader, rid, self)
        dlg.open()
        return dlg

    def wait_jobs(self) -> None:
        for j in self._jobs:
            j.wait()

    def close_reader(self) -> None:
        self.wait_jobs()
        if self.reader:
            self.reader.close()
            self.reader = None
