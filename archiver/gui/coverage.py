"""Coverage: for each dataset and day, done / pending / not entitled / failed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from archiver.datasets import DATASET_NAMES
from archiver.review import ArchiveReader

CELL_COLORS = {
    "done": ("#c8e6c9", "done"),
    "in_progress": ("#bbdefb", "in progress"),
    "pending": ("#ffe0b2", "pending (202)"),
    "not_entitled": ("#e1bee7", "not entitled"),
    "failed": ("#ffcdd2", "failed"),
}


class CoveragePanel(QWidget):
    def __init__(self, archive_path: Callable[[], Path]) -> None:
        super().__init__()
        self.archive_path = archive_path
        self.legend = QLabel(
            " ".join(
                f"<span style='background:{c}'>&nbsp;{label}&nbsp;</span>"
                for c, label in CELL_COLORS.values()
            )
            + " <span>&nbsp;blank: never pulled</span>"
        )
        self.table = QTableWidget()
        self.table.setObjectName("coverageTable")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.summary = QLabel("")
        self.summary.setObjectName("coverageSummary")
        lay = QVBoxLayout(self)
        lay.addWidget(
            QLabel("Gaps are visible here before anyone exports. Hover a cell for details.")
        )
        lay.addWidget(self.legend)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.summary)

    def refresh(self) -> None:
        path = self.archive_path()
        cells = []
        if path.exists():
            with ArchiveReader(path) as r:
                cells = r.coverage()
        days = sorted({c.day for c in cells})
        datasets = [d for d in DATASET_NAMES if any(c.dataset == d for c in cells)]
        self.table.clear()
        self.table.setRowCount(len(datasets))
        self.table.setColumnCount(len(days))
        self.table.setVerticalHeaderLabels(datasets)
        self.table.setHorizontalHeaderLabels([d[5:] for d in days])
        counts: dict[str, int] = {}
        for c in cells:
            color, label = CELL_COLORS.get(c.state, ("#eeeeee", c.state))
            item = QTableWidgetItem(label if c.state != "done" else f"{c.rows:,}")
            item.setBackground(QBrush(QColor(color)))
            item.setForeground(QBrush(QColor("#212121")))
            parts = ", ".join(f"{n} {s}" for s, n in c.states.items())
            item.setToolTip(
                f"{c.dataset} {c.day}: {parts} chunk(s); {c.rows:,} rows"
                + ("\n" + "\n".join(c.messages) if c.messages else "")
            )
            self.table.setItem(datasets.index(c.dataset), days.index(c.day), item)
            counts[c.state] = counts.get(c.state, 0) + 1
        self.table.resizeColumnsToContents()
        self.summary.setText(
            "Dataset-days: "
            + ", ".join(f"{n} {CELL_COLORS.get(s, ('', s))[1]}" for s, n in sorted(counts.items()))
            if counts
            else "Nothing pulled yet."
        )

    def state(self, dataset: str, day: str) -> str:
        days = [self.table.horizontalHeaderItem(i).text() for i in range(self.table.columnCount())]
        rows = [self.table.verticalHeaderItem(i).text() for i in range(self.table.rowCount())]
        item = self.table.item(rows.index(dataset), days.index(day[5:]))
        return item.text() if item else ""
