"""Coverage: for each dataset stream and day, what was requested and what the evidence
shows (walked, pending, not entitled, failed; intervals with rows or empty), with a
drill-down into a day's 96 intervals."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from archiver.archive.queries.review import stream_name
from archiver.counts import RECORDS
from archiver.plural import plural
from archiver.services import archive as archive_service
from archiver.services.archive import AT_ENDING, NEVER_REQUESTED, STATE_WORDS, DayCoverage

CELL_COLORS = {
    "done": ("#c8e6c9", STATE_WORDS["done"]),
    "in_progress": ("#bbdefb", STATE_WORDS["in_progress"]),
    "pending": ("#ffe0b2", "pending (202)"),
    "not_entitled": ("#e1bee7", STATE_WORDS["not_entitled"]),
    "failed": ("#ffcdd2", STATE_WORDS["failed"]),
    NEVER_REQUESTED: ("#eeeeee", STATE_WORDS[NEVER_REQUESTED]),
    "disposed": ("#d7ccc8", STATE_WORDS["disposed"]),
}
EMPTY_COLOR = "#f1f8e9"  # walked, no rows came back


def _tooltip(c: DayCoverage) -> str:
    lines = [
        f"{stream_name(c.dataset, c.dataset_type)} {c.day} (UTC): {c.state_words}",
        f"requested {c.requested}, walked {c.walked}, pending {c.pending}, "
        f"not entitled {c.not_entitled}, failed {c.failed}, unfinished {c.unfinished}, "
        f"never requested {c.never_requested}, disposed {c.disposed}",
        f"intervals with rows {c.with_rows}, came back empty {c.empty}; "
        f"{RECORDS.of(c.records)} whose own interval lies on the day",
    ]
    if c.at_ending:
        lines.append(f"{plural(c.at_ending, 'walked interval')} {AT_ENDING}")
    lines.extend(c.messages)
    lines.append("Double-click for the day's intervals.")
    return "\n".join(lines)


def cell_text(c: DayCoverage) -> str:
    """A day's cell: its records when walked; its state when nothing of it is; the records
    and how much of the day is walked when only part of it is (the colour: its state)."""
    if c.state == "done":
        return f"{c.records:,}"
    if c.state == "disposed":
        return f"{c.records:,} · {c.disposed}/{c.requested + c.never_requested} disposed"
    if c.walked:
        return f"{c.records:,} · {c.walked}/{c.requested + c.never_requested} walked"
    return CELL_COLORS.get(c.state, ("", c.state_words))[1]


class CoveragePanel(QWidget):
    def __init__(self, archive_path: Callable[[], Path]) -> None:
        super().__init__()
        self.archive_path = archive_path
        self.cells: dict[tuple[str, str], DayCoverage] = {}
        self.report = archive_service.CoverageReport()
        self.legend = QLabel(
            " ".join(
                f"<span style='background:{c}'>&nbsp;{label}&nbsp;</span>"
                for c, label in CELL_COLORS.values()
            )
            + f" <span style='background:{EMPTY_COLOR}'>&nbsp;walked, came back empty&nbsp;</span>"
            + " <span>&nbsp;a number: records whose own interval lies on the day (every "
            "version); “· 1/96 walked”: only part of the day is walked (its colour: the state "
            "of the rest). Days in UTC.</span>"
        )
        self.legend.setWordWrap(True)
        self.table = QTableWidget()
        self.table.setObjectName("coverageTable")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.cellDoubleClicked.connect(self._drill)
        self.summary = QLabel("")
        self.summary.setObjectName("coverageSummary")
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.summary.setWordWrap(True)
        lay = QVBoxLayout(self)
        intro = QLabel(
            "Gaps are visible here before anyone exports. Hover a cell for details; "
            "double-click it for the day's 15-minute intervals."
        )
        intro.setWordWrap(True)
        lay.addWidget(intro)
        lay.addWidget(self.legend)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.summary)

    def refresh(self) -> None:
        path = self.archive_path()
        report = archive_service.CoverageReport()
        if path.exists():
            report = archive_service.coverage(path, detail=True)
        self.report = report
        days_cov = report.days
        self.cells = {(stream_name(c.dataset, c.dataset_type), c.day): c for c in days_cov}
        days = sorted({c.day for c in days_cov})
        streams: list[str] = []
        for c in days_cov:
            name = stream_name(c.dataset, c.dataset_type)
            if name not in streams:
                streams.append(name)
        self.table.clear()
        self.table.setRowCount(len(streams))
        self.table.setColumnCount(len(days))
        self.table.setVerticalHeaderLabels(streams)
        self.table.setHorizontalHeaderLabels([d[5:] for d in days])
        counts: dict[str, int] = {}
        for (name, day), c in self.cells.items():
            st = c.state
            color = CELL_COLORS.get(st, ("#eeeeee", ""))[0]
            if st == "done" and c.with_rows == 0:
                color = EMPTY_COLOR
            item = QTableWidgetItem(cell_text(c))
            item.setBackground(QBrush(QColor(color)))
            item.setForeground(QBrush(QColor("#212121")))
            item.setToolTip(_tooltip(c))
            self.table.setItem(streams.index(name), days.index(day), item)
            counts[st] = counts.get(st, 0) + 1
        self.table.resizeColumnsToContents()
        if counts:
            order = list(CELL_COLORS)
            text = f"Coverage of {report.range_text()}. Dataset-days: " + ", ".join(
                f"{n} {CELL_COLORS.get(s, ('', s))[1]}"
                for s, n in sorted(counts.items(), key=lambda kv: order.index(kv[0]))
            )
            text += f".\n{report.verdict()}"
        else:
            text = "Nothing pulled yet: download a range on the Download tab, then come back here."
        self.summary.setText(text)

    def _header(self, horizontal: bool, i: int) -> str:
        item = (
            self.table.horizontalHeaderItem(i) if horizontal else self.table.verticalHeaderItem(i)
        )
        return item.text() if item else ""

    def state(self, dataset: str, day: str) -> str:
        days = [self._header(True, i) for i in range(self.table.columnCount())]
        rows = [self._header(False, i) for i in range(self.table.rowCount())]
        item = self.table.item(rows.index(dataset), days.index(day[5:]))
        return item.text() if item else ""

    def _drill(self, row: int, column: int) -> None:
        self.open_day(self._header(False, row), self._header(True, column))

    def open_day(self, stream: str, day: str) -> DayDialog | None:
        cell = next(
            (c for (s, d), c in self.cells.items() if s == stream and d.endswith(day)), None
        )
        if cell is None:
            return None
        dlg = DayDialog(cell, self)
        dlg.open()
        return dlg


class DayDialog(QDialog):
    """One stream on one day: each 15-minute interval's state and archived rows."""

    def __init__(self, cell: DayCoverage, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"{stream_name(cell.dataset, cell.dataset_type)} — {cell.day}")
        self.table = QTableWidget(24 if cell.dataset_type == "interval" else 1, 4)
        self.table.setObjectName("dayIntervals")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setHorizontalHeaderLabels([":00", ":15", ":30", ":45"])
        self.table.setVerticalHeaderLabels([f"{h:02d}" for h in range(self.table.rowCount())])
        for when, (st, n, note) in cell.intervals.items():
            if when == "day":
                r, c = 0, 0
            else:
                r, c = int(when[:2]), int(when[3:]) // 15
            color, label = CELL_COLORS.get(st, ("#eeeeee", st))
            if st == "done" and n == 0:
                color = EMPTY_COLOR
            item = QTableWidgetItem(f"{n:,}" if st == "done" else label)
            item.setBackground(QBrush(QColor(color)))
            item.setForeground(QBrush(QColor("#212121")))
            why = f" ({note})" if note and note != label else ""
            item.setToolTip(f"{cell.day} {when} UTC: {label}{why}, {RECORDS.of(n)}")
            self.table.setItem(r, c, item)
        info = QLabel(_tooltip(cell).rsplit("\n", 1)[0])
        info.setTextFormat(Qt.TextFormat.PlainText)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(info)
        lay.addWidget(self.table, 1)
        lay.addWidget(buttons)
        self.resize(520, 640)
