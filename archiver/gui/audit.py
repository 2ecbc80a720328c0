"""The audit log, and "Verify archive" (the dialog of gui/verify_archive.py, run in the
background through :func:`archiver.services.archive.verify`, which records the custody
entry itself; the verdict is shown here too).

The log is shown through a lazy model: it holds the entries' ids (newest first) and reads
the entries it shows block by block, so a year of entries opens at once."""

from __future__ import annotations

import json
from array import array
from collections import OrderedDict
from collections.abc import Callable, Sequence
from html import escape
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from archiver.archive.auditlog import KINDS, summarise
from archiver.archive.queries.review import ArchiveReader, AuditEntry
from archiver.gui.empty import Placeholder
from archiver.gui.errors import describe
from archiver.gui.headers import bound_measuring
from archiver.gui.verify_archive import Signing, VerifyArchiveDialog
from archiver.gui.workers import JobRunner
from archiver.plural import plural
from archiver.services.archive import VerifyReport

BLOCK = 256
#: blocks of shown entries kept in memory
CACHED_BLOCKS = 32
COLUMNS = ("#", "When (UTC)", "Event", "User", "Run", "Details")
Index = QModelIndex | QPersistentModelIndex

NO_ARCHIVE = (
    "No archive yet at {path}.\n\nIts audit log begins with the first download: choose "
    "datasets and a range on the Download tab. Every download, verification, backup and "
    "export is then recorded here, chained so that no entry can be changed unnoticed."
)
NO_ENTRIES = (
    "This archive's audit log has no entries yet.\n\nDownload on the Download tab or click "
    "Verify archive: each is recorded here, with who did it and what it covered."
)


def entry_cells(e: AuditEntry) -> tuple[tuple[str, ...], str]:
    """An audit entry's six cells (the details as :func:`summarise` words them, the same
    as in a bundle's report) and its tooltip (the summary and the full details)."""
    try:
        details = json.loads(e.details)
    except ValueError:
        details = {"unreadable details": str(e.details)[:200]}
    summary = summarise(e.event, details if isinstance(details, dict) else {})
    cells = (
        str(e.entry_id),
        str(e.at)[:19].replace("T", " "),
        e.event,
        e.os_user,
        e.run_id or "",
        summary,
    )
    tip = f"{summary}\n\n{json.dumps(details, indent=1, ensure_ascii=False)[:2000]}"
    return cells, tip


class AuditModel(QAbstractTableModel):
    """The audit log, newest first: the entry ids are held, the entries read (through
    :class:`archiver.archive.queries.review.ArchiveReader`) a block at a time as they are shown."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.reader: ArchiveReader | None = None
        self._ids: array[int] = array("q")
        self._blocks: OrderedDict[int, dict[int, tuple[tuple[str, ...], str]]] = OrderedDict()

    def set_reader(
        self,
        reader: ArchiveReader | None,
        kinds: Sequence[str] | None = None,
        about: str | None = None,
    ) -> None:
        """Show the log of ``reader``'s archive (None: nothing): every entry, or those of
        the events ``kinds`` and those that mention ``about`` (an interaction id, a phone
        number a search asked for, a case's name)."""
        self.beginResetModel()
        self.reader = reader
        self._ids = reader.audit_ids(kinds, about) if reader is not None else array("q")
        self._blocks.clear()
        self.endResetModel()

    def entry_id(self, row: int) -> int | None:
        return self._ids[row] if 0 <= row < len(self._ids) else None

    def _entry(self, row: int) -> tuple[tuple[str, ...], str] | None:
        if not 0 <= row < len(self._ids) or self.reader is None:
            return None
        block = row // BLOCK
        data = self._blocks.get(block)
        if data is None:
            ids: Sequence[int] = self._ids[block * BLOCK : (block + 1) * BLOCK]
            rows = self.reader.audit_entries(list(ids))
            data = {i: entry_cells(e) for i, e in rows.items()}
            self._blocks[block] = data
            while len(self._blocks) > CACHED_BLOCKS:
                self._blocks.popitem(last=False)
        else:
            self._blocks.move_to_end(block)
        return data.get(self._ids[row])

    # -- Qt model -------------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._ids)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section] if 0 <= section < len(COLUMNS) else None
        return str(section + 1)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.column() < len(COLUMNS):
            return None
        entry = self._entry(index.row())
        if entry is None:
            return None
        cells, tip = entry
        if role == Qt.ItemDataRole.DisplayRole:
            return cells[index.column()]
        if role == Qt.ItemDataRole.ToolTipRole:
            return tip
        if role == Qt.ItemDataRole.UserRole:
            return self._ids[index.row()]
        return None


class AuditPanel(QWidget):
    def __init__(
        self,
        archive_path: Callable[[], Path],
        runner: JobRunner,
        signing: Signing = lambda: (None, None),
    ) -> None:
        """``signing``: the signing key's folder and the session's key (the checkpoint of a
        verification is signed with it, its certificate checks earlier checkpoints, and the
        witnesses' signers are trusted as the key's folder says)."""
        super().__init__()
        self.archive_path = archive_path
        self.runner = runner
        self.signing = signing
        self.dialog: VerifyArchiveDialog | None = None
        self.reader: ArchiveReader | None = None
        self.model = AuditModel(self)
        self.table = QTableView()
        self.table.setObjectName("auditTable")
        self.table.setModel(self.model)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        bound_measuring(self.table)  # columns fit their first rows: never read through
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeader().setDefaultAlignment(
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        )
        self.log = Placeholder(self.table, "auditEmpty")
        self.kind = QComboBox()
        self.kind.setObjectName("auditKind")
        self.kind.addItem("All kinds", None)
        for label, events in KINDS.items():
            self.kind.addItem(label, list(events))
        self.about = QLineEdit()
        self.about.setObjectName("auditAbout")
        self.about.setClearButtonEnabled(True)
        self.about.setPlaceholderText(
            "Interaction id, phone number, case… (who looked at it, and when)"
        )
        self.about.setToolTip(
            "Entries that mention it: searches that asked for it, interactions opened, the "
            "exports that held it (a case production naming it, a date range holding one of "
            "its segments), case entries naming it, and the changes and holds of every case "
            "that held an interaction of that id"
        )
        self.shown = QLabel("")
        self.shown.setObjectName("auditShown")
        self.shown.setTextFormat(Qt.TextFormat.PlainText)
        self.kind.currentIndexChanged.connect(lambda _i: self.refresh())
        self.about.returnPressed.connect(self.refresh)
        self.about.textChanged.connect(lambda t: self.refresh() if not t else None)
        self.verify = QPushButton("Verify archive")
        self.verify.setObjectName("verifyButton")
        self.result = QLabel("")
        self.result.setObjectName("verifyResult")
        self.result.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.verify)
        row.addWidget(self.result, 1)
        filters = QHBoxLayout()
        filters.addWidget(QLabel("Kind"))
        filters.addWidget(self.kind)
        filters.addWidget(QLabel("About"))
        filters.addWidget(self.about, 1)
        filters.addWidget(self.shown)
        lay = QVBoxLayout(self)
        lay.addLayout(row)
        lay.addLayout(filters)
        lay.addWidget(self.log, 1)
        self.verify.clicked.connect(self.open_verify)

    def refresh(self) -> None:
        """Reopen the archive and show its log (the entries are read as they are shown)."""
        self.close_reader()
        path = self.archive_path()
        if not path.exists():
            self.log.say(NO_ARCHIVE.format(path=path))
            return
        self.reader = ArchiveReader(path)
        kinds, about = self.kind.currentData(), self.about.text().strip() or None
        self.model.set_reader(self.reader, kinds, about)
        filtered = kinds is not None or about is not None
        if filtered:
            what = self.kind.currentText().lower() if kinds is not None else "entries"
            self.shown.setText(
                f"{self.model.rowCount():,} {what}" + (f" about “{about}”" if about else "")
            )
        else:
            self.shown.setText("")
        if not self.model.rowCount():
            if filtered:
                self.log.show_content()
                return
            self.log.say(NO_ENTRIES)
            return
        self.log.show_content()
        for column in range(len(COLUMNS) - 1):
            self.table.resizeColumnToContents(column)

    def close_reader(self) -> None:
        """Let go of the archive (the model drops its rows of this connection first)."""
        self.model.set_reader(None)
        if self.reader is not None:
            self.reader.close()
            self.reader = None

    def filter(self, kind: str | None = None, about: str = "") -> None:
        """Show the entries of one kind (a label of auditlog.KINDS; None: all) that mention
        ``about`` (an interaction id…; "": any)."""
        self.kind.blockSignals(True)
        self.kind.setCurrentIndex(0 if kind is None else self.kind.findText(kind))
        self.kind.blockSignals(False)
        self.about.blockSignals(True)
        self.about.setText(about)
        self.about.blockSignals(False)
        self.refresh()

    def events(self) -> list[str]:
        """The events of the log, newest first (read through the model, as shown)."""
        return [self.model.index(r, 2).data() for r in range(self.model.rowCount())]

    def open_verify(self) -> VerifyArchiveDialog:
        """The Verify archive dialog (witnesses, quick); its verdict is shown here too."""
        if self.dialog is None:
            dlg = VerifyArchiveDialog(self.archive_path, self.runner, self, signing=self.signing)
            dlg.verified.connect(self._verified)
            dlg.not_run.connect(self._not_verified)
            self.dialog = dlg
        self.dialog.show()
        self.dialog.raise_()
        return self.dialog

    def run_verify(self) -> VerifyArchiveDialog:
        """Open the dialog and verify at once, with the witnesses it lists."""
        dlg = self.open_verify()
        dlg.run()
        return dlg

    def _not_verified(self, exc: BaseException) -> None:
        self.result.setText(
            f"<span style='color:#c62828'>Verification could not run: {escape(describe(exc))}</span>"
        )
        self.refresh()

    def _verified(self, rep: VerifyReport) -> None:
        colour, mark = ("#2e7d32", "✓") if rep.ok else ("#c62828", "✗")
        text = escape(rep.verdict())
        if len(rep.problems) > 1:
            text += f" ({plural(len(rep.problems), 'problem')})"
        self.result.setText(f"<span style='color:{colour}'><b>{mark}</b> {text}</span>")
        self.refresh()

    def wait_jobs(self) -> None:
        if self.dialog is not None:
            self.dialog.wait()
