"""The Cases tab: the cases (open or closed, held or not), one case's interactions with how
each came in, its searches, holds and history; new case, add by id or by search, remove,
close, place and release a legal hold, export a case production. Every action goes through
services.cases (which writes its custody entry) in a job; the picker that Search and
Interactions use to add to a case is here too.

Everything shown is plain text or escaped: a case's name and reason are typed by people,
and an interaction id comes from a server."""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from archiver.archive.auditlog import summarise
from archiver.counts import HITS, INTERACTIONS
from archiver.gui import holds as badge
from archiver.gui.bundles import plain_label
from archiver.gui.empty import Placeholder
from archiver.gui.errors import describe
from archiver.gui.workers import Job, JobRunner
from archiver.jobs import Cancel
from archiver.services import cases

NO_ARCHIVE = "No archive yet at {path}: download something on the Download tab first."
NO_CASES = (
    "No case yet. A case gathers the interactions of one investigation (a complaint, a "
    "regulator's request): click New case…, then add interactions here, from the Search tab "
    "(Add to case…) or from the Interactions tab. Every change is recorded in the audit log."
)
MEMBER_COLUMNS = ("Interaction", "Added (UTC)", "By", "How", "Legal hold")
HISTORY_COLUMNS = ("#", "When (UTC)", "Event", "User", "Details")


def _when(at: str | None) -> str:
    return (at or "")[:19].replace("T", " ")


def _item(text: str, tip: str = "") -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setToolTip(tip or text)
    return item


class CasesPanel(QWidget):
    """The Cases tab."""

    #: an interaction was asked for: show it on the Interactions tab
    open_interaction = Signal(str)
    #: a case or hold changed (the other tabs refresh their hold badges)
    cases_changed = Signal()
    #: what the tab says after a change (the window's status bar repeats it)
    message = Signal(str)
    #: "Export production…": the window opens its Export dialog for this case
    export_case = Signal(str)

    def __init__(self, archive_path: Callable[[], Path], runner: JobRunner) -> None:
        super().__init__()
        self.archive_path = archive_path
        self.runner = runner
        self._jobs: list[Job] = []
        self.found: list[cases.CaseSummary] = []
        self.detail: cases.CaseDetail | None = None
        self.last_error = ""
        self.list = QListWidget()
        self.list.setObjectName("caseList")
        self.new_button = QPushButton("New case…")
        self.new_button.setObjectName("newCase")
        self.hold_button = QPushButton("Place legal hold…")
        self.hold_button.setObjectName("holdButton")
        self.close_button = QPushButton("Close case…")
        self.close_button.setObjectName("closeCase")
        self.export_button = QPushButton("Export production…")
        self.export_button.setObjectName("exportProduction")
        self.title = QLabel()
        self.title.setObjectName("caseTitle")
        self.title.setTextFormat(Qt.TextFormat.RichText)  # (escaped: see _show)
        self.facts = plain_label(name="caseFacts")
        self.facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.searches = plain_label(name="caseSearches")
        self.members = QTableWidget(0, len(MEMBER_COLUMNS))
        self.members.setObjectName("caseMembers")
        self.members.setHorizontalHeaderLabels(MEMBER_COLUMNS)
        self.members.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.members.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.members.verticalHeader().setVisible(False)
        self.members.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents
        )
        self.members.horizontalHeader().setStretchLastSection(True)
        self.add_ids_button = QPushButton("Add by id…")
        self.add_ids_button.setObjectName("addById")
        self.add_search_button = QPushButton("Add by search…")
        self.add_search_button.setObjectName("addBySearch")
        self.remove_button = QPushButton("Remove…")
        self.remove_button.setObjectName("removeMember")
        self.open_button = QPushButton("Open")
        self.open_button.setObjectName("openMember")
        self.history = QTableWidget(0, len(HISTORY_COLUMNS))
        self.history.setObjectName("caseHistory")
        self.history.setHorizontalHeaderLabels(HISTORY_COLUMNS)
        self.history.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.history.verticalHeader().setVisible(False)
        self.history.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents
        )
        self.history.horizontalHeader().setStretchLastSection(True)
        self.status = plain_label(name="caseStatus")
        self._layout()
        self.list.currentItemChanged.connect(
            lambda item, _old: self.show_case(item.data(Qt.ItemDataRole.UserRole)) if item else None
        )
        self.new_button.clicked.connect(self._ask_new)
        self.hold_button.clicked.connect(self._ask_hold)
        self.close_button.clicked.connect(self._ask_close)
        self.export_button.clicked.connect(self.open_production)
        self.add_ids_button.clicked.connect(self._ask_ids)
        self.add_search_button.clicked.connect(self._ask_search)
        self.remove_button.clicked.connect(self._ask_remove)
        self.open_button.clicked.connect(self._open_selected)
        self.members.doubleClicked.connect(lambda _i: self._open_selected())
        self._enable()

    def _layout(self) -> None:
        bar = QHBoxLayout()
        for b in (self.new_button, self.hold_button, self.close_button, self.export_button):
            bar.addWidget(b)
        bar.addStretch()
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(QLabel("<b>Cases</b>"))
        ll.addWidget(self.list, 1)
        member_bar = QHBoxLayout()
        for b in (
            self.add_ids_button,
            self.add_search_button,
            self.remove_button,
            self.open_button,
        ):
            member_bar.addWidget(b)
        member_bar.addStretch()
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.title)
        rl.addWidget(self.facts)
        rl.addWidget(self.searches)
        below = QSplitter(Qt.Orientation.Vertical)
        box = QWidget()
        bl = QVBoxLayout(box)
        bl.setContentsMargins(0, 0, 0, 0)
        bl.addWidget(QLabel("<b>Interactions</b> (double-click to open one)"))
        bl.addWidget(self.members, 1)
        bl.addLayout(member_bar)
        hist = QWidget()
        hl = QVBoxLayout(hist)
        hl.setContentsMargins(0, 0, 0, 0)
        hl.addWidget(QLabel("<b>History</b> (the audit entries that name the case)"))
        hl.addWidget(self.history, 1)
        below.addWidget(box)
        below.addWidget(hist)
        below.setSizes([400, 200])
        rl.addWidget(below, 1)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(1, 4)
        split.setSizes([260, 1000])
        content = QWidget()
        cl = QVBoxLayout(content)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.addLayout(bar)
        cl.addWidget(split, 1)
        cl.addWidget(self.status)
        self.page = Placeholder(content, "casesEmpty")
        lay = QVBoxLayout(self)
        lay.addWidget(self.page)

    # -- reading -------------------------------------------------------------------------
    def _run(self, work: Callable[[Cancel], Any], done: Callable[[Any], None], name: str) -> Job:
        job = Job(work, name=name)
        job.done.connect(done)
        job.failed.connect(self._failed)
        self.runner.start_held(self._jobs, job)
        return job

    def refresh(self, select: str | None = None) -> None:
        """Read the cases (in a job), then show ``select`` (or the one shown)."""
        path = self.archive_path()
        if not path.exists():
            self.page.say(NO_ARCHIVE.format(path=path))
            return
        wanted = select or (self.detail.name if self.detail else None)
        self._run(
            lambda _c: cases.list_cases(path), lambda found: self._listed(found, wanted), "cases"
        )

    def _listed(self, found: list[cases.CaseSummary], wanted: str | None) -> None:
        self.page.show_content()
        self.found = found
        self.list.blockSignals(True)
        self.list.clear()
        chosen = None
        for c in found:
            mark = f"  {badge.BADGE}" if c.hold else ""
            item = QListWidgetItem(
                f"{c.name}{mark}\n  {c.state} · {INTERACTIONS.of(c.interactions)}"
            )
            item.setData(Qt.ItemDataRole.UserRole, c.name)
            item.setToolTip(f"{c.reason}" + (f"\n{badge.describe([c.hold])}" if c.hold else ""))
            if c.hold:
                item.setForeground(Qt.GlobalColor.darkRed)
            self.list.addItem(item)
            if wanted is not None and c.name.casefold() == wanted.casefold():
                chosen = item
        self.list.blockSignals(False)
        if not found:
            self.detail = None
            self._clear()
            self.say(NO_CASES)
        elif chosen is None:
            self.list.setCurrentRow(0)
        else:
            self.list.setCurrentItem(chosen)
            self.show_case(str(chosen.data(Qt.ItemDataRole.UserRole)))
        self._enable()

    def show_case(self, name: str | None) -> None:
        """Read one case whole (in a job) and show it: its members' ids and how each came
        in (no interaction's rows: opening one is what the access log records)."""
        if not name:
            return
        path = self.archive_path()
        self._run(lambda _c: cases.detail(path, name), self._show, "case detail")

    def _show(self, d: cases.CaseDetail) -> None:
        self.detail = d
        c = d.summary
        hold = f" {badge.badge_html([c.hold])}" if c.hold else ""
        state = "closed" if c.closed_at else "open"
        self.title.setText(f"<b style='font-size:14pt'>{html.escape(c.name)}</b> — {state}{hold}")
        lines = [f"Reason: {c.reason}"]
        if c.reference:
            lines.append(f"Reference: {c.reference}")
        lines.append(f"Opened {_when(c.created_at)} UTC by {c.created_by}")
        if c.closed_at:
            lines.append(
                f"Closed {_when(c.closed_at)} UTC by {c.closed_by}"
                + (f": {c.closed_reason}" if c.closed_reason else "")
            )
        if c.hold:
            lines.append(
                f"Legal hold placed {_when(c.hold.placed_at)} UTC by {c.hold.placed_by}: "
                f"{c.hold.reason}. Nothing of these interactions may be disposed of or erased, "
                "and none may leave the case, until it is released."
            )
        for h in d.holds:
            if not h.in_place:
                lines.append(
                    f"Earlier hold: placed {_when(h.placed_at)} UTC by {h.placed_by} ({h.reason}), "
                    f"released {_when(h.released_at)} UTC by {h.released_by} ({h.released_reason})"
                )
        self.facts.setText("\n".join(lines))
        self._show_members(d)
        self.say(
            f"{INTERACTIONS.of(len(d.members))} in case “{c.name}”"
            + (" (closed: it can no longer change)" if c.closed_at else "")
        )
        self._enable()

    def _show_members(self, d: cases.CaseDetail) -> None:
        c = d.summary
        self.searches.setText(
            "Searches: "
            + (
                "; ".join(
                    f"“{s.query}”, {s.range}: {HITS.of(s.hits)}, {s.added} added "
                    f"({_when(s.searched_at)} UTC by {s.searched_by})"
                    for s in d.searches
                )
                or "none (interactions added by hand only)"
            )
        )
        self.members.setRowCount(len(d.members))
        for r, m in enumerate(d.members):
            how = f"search “{m.search.query}”" if m.search else "by hand"
            cells = [
                _item(m.interaction),
                _item(_when(m.added_at)),
                _item(m.added_by),
                _item(how),
                _item(badge.BADGE if c.hold else ""),
            ]
            if c.hold:
                cells[0].setIcon(badge.icon())
                cells[4].setToolTip(badge.describe([c.hold]))
                for cell in cells:
                    cell.setBackground(badge.row_brush())
            for col, cell in enumerate(cells):
                self.members.setItem(r, col, cell)
        self.history.setRowCount(len(d.history))
        for r, e in enumerate(d.history):
            try:
                details = json.loads(e.details)
            except ValueError:
                details = {}
            words = summarise(e.event, details if isinstance(details, dict) else {})
            for col, text in enumerate((str(e.entry_id), _when(e.at), e.event, e.os_user, words)):
                self.history.setItem(r, col, _item(text))

    def _clear(self) -> None:
        self.title.setText("")
        self.facts.setText("")
        self.searches.setText("")
        self.members.setRowCount(0)
        self.history.setRowCount(0)

    def _enable(self) -> None:
        c = self.detail.summary if self.detail else None
        is_open = c is not None and not c.closed_at
        self.hold_button.setEnabled(c is not None and (c.hold is not None or is_open))
        self.hold_button.setText("Release legal hold…" if c and c.hold else "Place legal hold…")
        self.close_button.setEnabled(is_open and c is not None and c.hold is None)
        self.export_button.setEnabled(c is not None and c.interactions > 0)
        for b in (self.add_ids_button, self.add_search_button):
            b.setEnabled(is_open)
        self.remove_button.setEnabled(is_open and c is not None and c.hold is None)
        self.open_button.setEnabled(c is not None and c.interactions > 0)

    def say(self, text: str, error: bool = False) -> None:
        self.last_error = text if error else ""
        self.status.setStyleSheet("color:#c62828" if error else "")
        self.status.setText(text)

    def _failed(self, exc: BaseException) -> None:
        self.say(f"✗ {describe(exc)}", error=True)

    def selected_members(self) -> list[str]:
        rows = sorted({i.row() for i in self.members.selectedIndexes()})
        items = [self.members.item(r, 0) for r in rows]
        return [i.text() for i in items if i is not None]

    # -- changing ------------------------------------------------------------------------
    def _change(self, work: Callable[[Path], Any], done: str, select: str | None = None) -> Job:
        """Run a change (a services.cases call) in a job; then say ``done`` and re-read."""
        path = self.archive_path()

        def finished(_result: Any) -> None:
            self.say(done)
            self.message.emit(done)
            self.cases_changed.emit()
            self.refresh(select)

        def refused(exc: BaseException) -> None:
            if isinstance(exc, cases.NothingAdded):
                self.say(f"Nothing added: {exc}.")
            else:
                self.say(f"✗ Refused: {describe(exc)}", error=True)
            self.message.emit(self.status.text())

        job = Job(lambda _c: work(path), name="case change")
        job.done.connect(finished)
        job.failed.connect(refused)
        self.runner.start_held(self._jobs, job)
        return job

    def create_case(self, name: str, reason: str, reference: str = "") -> Job:
        return self._change(
            lambda p: cases.create(p, name, reason, reference or None, via="gui"),
            f"Case “{name.strip()}” created.",
            name.strip(),
        )

    def add_ids(self, ids: Sequence[str], case: str | None = None) -> Job:
        name = case or self._name()
        return self._change(
            lambda p: cases.add_interactions(p, name, ids, via="gui"),
            f"Added to case “{name}”.",
            name,
        )

    def add_search(
        self, query: str, case: str | None = None, first: Any = None, last: Any = None
    ) -> Job:
        name = case or self._name()
        return self._change(
            lambda p: cases.add_by_search(p, name, query, first=first, last=last, via="gui"),
            f"Added what “{query}” finds to case “{name}”.",
            name,
        )

    def remove(self, interaction: str, reason: str = "") -> Job:
        name = self._name()
        return self._change(
            lambda p: cases.remove(p, name, interaction, reason or None, via="gui"),
            f"Removed {interaction} from case “{name}”.",
        )

    def close_case(self, reason: str = "") -> Job:
        name = self._name()
        return self._change(
            lambda p: cases.close(p, name, reason or None, via="gui"), f"Case “{name}” closed."
        )

    def place_hold(self, reason: str) -> Job:
        name = self._name()
        return self._change(
            lambda p: cases.place_hold(p, name, reason, via="gui"),
            f"Legal hold placed on case “{name}”.",
        )

    def release_hold(self, reason: str) -> Job:
        name = self._name()
        return self._change(
            lambda p: cases.release_hold(p, name, reason, via="gui"),
            f"Legal hold on case “{name}” released.",
        )

    def _name(self) -> str:
        return self.detail.name if self.detail else ""

    # -- asking (the buttons) ------------------------------------------------------------
    def _ask_new(self) -> None:
        dlg = NewCaseDialog(self)
        if dlg.exec() == QDialog.DialogCode.Accepted:
            self.create_case(dlg.name.text(), dlg.reason.text(), dlg.reference.text())

    def _text(self, title: str, label: str) -> str | None:
        text, ok = QInputDialog.getText(self, title, label)
        return text if ok else None

    def _ask_hold(self) -> None:
        c = self.detail.summary if self.detail else None
        if c is None:
            return
        if c.hold:
            reason = self._text("Release legal hold", f"Why is the hold on “{c.name}” released?")
            if reason is not None:
                self.release_hold(reason)
        else:
            reason = self._text("Place legal hold", f"Why is “{c.name}” held (court order, …)?")
            if reason is not None:
                self.place_hold(reason)

    def _ask_close(self) -> None:
        reason = self._text("Close case", "Why is the case closed (optional)?")
        if reason is not None:
            self.close_case(reason)

    def _ask_ids(self) -> None:
        text = self._text("Add interactions", "Interaction ids (comma or space separated):")
        if text:
            self.add_ids([t for t in text.replace(",", " ").split() if t])

    def _ask_search(self) -> None:
        text = self._text("Add by search", "Add every interaction this search finds:")
        if text:
            self.add_search(text)

    def _ask_remove(self) -> None:
        for iid in self.selected_members()[:1]:
            reason = self._text("Remove from case", f"Why is {iid} removed (optional)?")
            if reason is not None:
                self.remove(iid, reason)

    def _open_selected(self) -> None:
        for iid in self.selected_members()[:1]:
            self.open_interaction.emit(iid)

    def open_production(self) -> None:
        if self.detail is not None:
            self.export_case.emit(self.detail.name)

    def wait_jobs(self) -> None:
        for job in self._jobs:
            job.wait()


class NewCaseDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("newCaseDialog")
        self.setWindowTitle("New case")
        self.name = QLineEdit()
        self.name.setObjectName("newCaseName")
        self.reason = QLineEdit()
        self.reason.setObjectName("newCaseReason")
        self.reference = QLineEdit()
        self.reference.setPlaceholderText("optional: complaint, ticket or request number")
        form = QFormLayout(self)
        form.addRow("Name", self.name)
        form.addRow("Reason (recorded)", self.reason)
        form.addRow("Reference", self.reference)
        ok = QPushButton("Create")
        ok.clicked.connect(self.accept)
        cancel = QPushButton("Cancel")
        cancel.clicked.connect(self.reject)
        row = QHBoxLayout()
        row.addStretch()
        row.addWidget(ok)
        row.addWidget(cancel)
        form.addRow(row)


class CasePicker(QDialog):
    """Choose the open case to add to (Search results, the Interactions view)."""

    def __init__(self, names: Sequence[str], what: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("casePicker")
        self.setWindowTitle("Add to case")
        self.combo = QComboBox()
        self.combo.setObjectName("casePickerCase")
        self.combo.addItems(list(names))
        lay = QVBoxLayout(self)
        lay.addWidget(plain_label(what))
        lay.addWidget(self.combo)
        ok = QPushButton("Add")
        ok.setEnabled(bool(names))
        ok.clicked.connect(self.accept)
        cancel = QPushButton("Cancel")
        cancel.clicked.connect(self.reject)
        row = QHBoxLayout()
        row.addStretch()
        row.addWidget(ok)
        row.addWidget(cancel)
        if not names:
            lay.addWidget(plain_label("There is no open case: create one on the Cases tab first."))
        lay.addLayout(row)

    @property
    def case(self) -> str:
        return self.combo.currentText()


def open_cases(path: Path) -> list[str]:
    """The names of the open cases (what a picker offers)."""
    if not path.exists():
        return []
    return [c.name for c in cases.list_cases(path) if not c.closed_at]
