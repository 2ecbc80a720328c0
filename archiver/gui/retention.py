"""The Retention tab: each dataset's schedule (or "kept forever"), what is due as of a date
(the plan, with what is kept for which legal hold and why), the dispositions made, and
dispose-of-this-plan behind a confirmation that asks for the reason. Every action goes
through services.retention (which writes its custody entry, holds the archive's lock and
signs the certificate) in a job; the numbers are the plan's, the same the CLI prints."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QDate, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from archiver.datasets import DATASETS
from archiver.gui.bundles import plain_label
from archiver.gui.empty import Placeholder
from archiver.gui.errors import describe
from archiver.gui.workers import Job, JobRunner
from archiver.jobs import Cancel
from archiver.plural import plural
from archiver.services import retention
from archiver.services.keys import SigningIdentity

NO_ARCHIVE = "No archive yet at {path}: download something on the Download tab first."
SCHEDULE_COLUMNS = ("Dataset", "Rows", "Kept for", "Set (UTC)", "By", "Reason")
PLAN_COLUMNS = (
    "Dataset",
    "Rows",
    "Schedule",
    "Intervals ending by (UTC)",
    "Intervals",
    "Pages",
    "Records",
    "Page bytes",
    "Kept despite it",
)
DONE_COLUMNS = ("Certificate", "Applied (UTC)", "By", "Plan", "Pages", "Records", "Reason")


def _item(text: str, tip: str = "", right: bool = False) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setToolTip(tip or text)
    if right:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


def _table(name: str, columns: tuple[str, ...]) -> QTableWidget:
    t = QTableWidget(0, len(columns))
    t.setObjectName(name)
    t.setHorizontalHeaderLabels(columns)
    t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    t.verticalHeader().setVisible(False)
    t.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    t.horizontalHeader().setStretchLastSection(True)
    return t


def _when(at: str) -> str:
    return at[:19].replace("T", " ")


class ScheduleDialog(QDialog):
    """Set a dataset's schedule: dataset, rows (every type, 15-minute, daily), period and
    an optional reason."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Set retention schedule")
        self.dataset = QComboBox()
        self.dataset.addItems(list(DATASETS))
        self.dataset_type = QComboBox()
        self.dataset_type.addItem("every type", "")
        self.dataset_type.addItem("15-minute (interval) rows", "interval")
        self.dataset_type.addItem("daily rows", "daily")
        self.period = QLineEdit("6y")
        self.period.setPlaceholderText("6y, 18m, 90d")
        self.reason = QLineEdit()
        self.reason.setPlaceholderText("e.g. SEC 17a-4 / FINRA 4511 (optional, recorded)")
        form = QFormLayout(self)
        form.addRow("Dataset", self.dataset)
        form.addRow("Rows", self.dataset_type)
        form.addRow("Keep for", self.period)
        form.addRow("Reason", self.reason)
        form.addRow(plain_label(retention.AGE_RULE, name="ageRule"))
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)


class ApplyDialog(QDialog):
    """The confirmation before a disposition: what will be disposed of and kept, and the
    reason (required: it is recorded and certified)."""

    def __init__(self, plan: retention.Plan, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("applyDialog")
        self.setWindowTitle("Dispose of what is past retention")
        self.summary = QPlainTextEdit("\n".join(retention.plan_lines(plan)))
        self.summary.setReadOnly(True)
        self.summary.setObjectName("applySummary")
        self.reason = QLineEdit()
        self.reason.setObjectName("applyReason")
        self.reason.setPlaceholderText("Why (recorded in the audit log and the certificate)")
        warn = plain_label(
            "The page bodies and record values listed are removed for good (their hashes, "
            "metadata and chain stay, so the archive still verifies). A signed certificate is "
            "written beside the archive.",
            name="applyWarning",
        )
        warn.setStyleSheet("color:#b71c1c")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.ok = self.buttons.addButton(
            f"Dispose of {plural(len(plan.pages), 'page')}", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.ok.setObjectName("applyConfirm")
        self.ok.setEnabled(False)
        self.reason.textChanged.connect(lambda t: self.ok.setEnabled(bool(t.strip())))
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.summary, 1)
        lay.addWidget(warn)
        lay.addWidget(QLabel("Reason:"))
        lay.addWidget(self.reason)
        lay.addWidget(self.buttons)
        self.resize(760, 420)


class RetentionPanel(QWidget):
    """The Retention tab."""

    #: what the tab says after a change (the window's status bar repeats it)
    message = Signal(str)
    #: a disposition changed the archive (the other tabs reload)
    disposed = Signal()

    def __init__(
        self,
        archive_path: Callable[[], Path],
        runner: JobRunner,
        signing: Callable[[], tuple[Path | None, SigningIdentity | None]] = lambda: (None, None),
    ) -> None:
        super().__init__()
        self.archive_path = archive_path
        self.runner = runner
        self.signing = signing
        self._jobs: list[Job] = []
        self.plan: retention.Plan | None = None
        self.last_error = ""
        self.last_applied: retention.Applied | None = None
        self.schedules = _table("retentionSchedules", SCHEDULE_COLUMNS)
        self.due = _table("retentionPlan", PLAN_COLUMNS)
        self.done = _table("retentionDone", DONE_COLUMNS)
        self.as_of = QDateEdit()
        self.as_of.setObjectName("retentionAsOf")
        self.as_of.setCalendarPopup(True)
        self.as_of.setDisplayFormat("yyyy-MM-dd")
        today = datetime.now(UTC).date()
        self.as_of.setDate(QDate(today.year, today.month, today.day))
        self.set_button = QPushButton("Set schedule…")
        self.set_button.setObjectName("setSchedule")
        self.clear_button = QPushButton("Clear schedule")
        self.clear_button.setObjectName("clearSchedule")
        self.apply_button = QPushButton("Dispose of this plan…")
        self.apply_button.setObjectName("applyPlan")
        self.plan_label = plain_label(name="planSummary")
        self.plan_id = plain_label(name="planId")
        self.plan_id.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status = plain_label(name="retentionStatus")
        self._layout()
        self.set_button.clicked.connect(self._ask_set)
        self.clear_button.clicked.connect(self._ask_clear)
        self.apply_button.clicked.connect(self._ask_apply)
        self.as_of.dateChanged.connect(lambda _d: self.refresh())
        self.schedules.itemSelectionChanged.connect(self._enable)
        self._enable()

    def _layout(self) -> None:
        bar = QHBoxLayout()
        bar.addWidget(QLabel("<b>Schedules</b> (a dataset without one is kept forever)"))
        bar.addStretch()
        bar.addWidget(self.set_button)
        bar.addWidget(self.clear_button)
        due_bar = QHBoxLayout()
        due_bar.addWidget(QLabel("<b>Past retention</b> as of"))
        due_bar.addWidget(self.as_of)
        due_bar.addStretch()
        due_bar.addWidget(self.apply_button)
        content = QWidget()
        lay = QVBoxLayout(content)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(bar)
        lay.addWidget(self.schedules, 2)
        lay.addLayout(due_bar)
        lay.addWidget(plain_label(retention.AGE_RULE, name="ageNote"))
        lay.addWidget(self.due, 3)
        lay.addWidget(self.plan_label)
        lay.addWidget(self.plan_id)
        lay.addWidget(QLabel("<b>Dispositions made</b> (each with its signed certificate)"))
        lay.addWidget(self.done, 2)
        lay.addWidget(self.status)
        self.page = Placeholder(content, "retentionEmpty")
        outer = QVBoxLayout(self)
        outer.addWidget(self.page)

    # -- reading -------------------------------------------------------------------------
    def _run(self, work: Callable[[Cancel], Any], done: Callable[[Any], None], name: str) -> Job:
        job = Job(work, name=name)
        job.done.connect(done)
        job.failed.connect(self._failed)
        self.runner.start_held(self._jobs, job)
        return job

    def as_of_date(self) -> date:
        d = self.as_of.date()
        return date(d.year(), d.month(), d.day())

    def refresh(self) -> None:
        """Read the schedules, the plan as of the date shown and the dispositions (a job)."""
        path = self.archive_path()
        if not path.exists():
            self.page.say(NO_ARCHIVE.format(path=path))
            return
        day = self.as_of_date()

        def work(_c: Cancel) -> tuple[Any, Any, Any]:
            return (
                retention.schedules(path),
                retention.make_plan(path, day),
                retention.dispositions(path),
            )

        self._run(work, self._show, "retention")

    def _show(self, found: tuple[list[Any], retention.Plan, list[Any]]) -> None:
        scheds, plan, done = found
        self.page.show_content()
        self.plan = plan
        self.schedules.setRowCount(len(scheds))
        for r, s in enumerate(scheds):
            cells = [
                _item(s.dataset),
                _item(s.dataset_type or "every type"),
                _item(f"{s.period} ({retention.period_words(s.period)})"),
                _item(_when(s.entry.at)),
                _item(s.entry.os_user),
                _item(s.reason),
            ]
            cells[0].setData(Qt.ItemDataRole.UserRole, (s.dataset, s.dataset_type))
            for c, cell in enumerate(cells):
                self.schedules.setItem(r, c, cell)
        rows: list[tuple[retention.StreamPlan, retention.Kept | None]] = [
            (s, k) for s in plan.streams for k in ([*s.kept] if s.kept else [None])
        ]
        self.due.setRowCount(len(rows))
        for r, (s, k) in enumerate(rows):
            first = k is None or k is s.kept[0]
            kept = (
                f"{plural(len(k.pages), 'page')}, {plural(k.records, 'record')}: {k.describe()}"
                if k
                else ""
            )
            cells = [
                _item(s.dataset if first else ""),
                _item(s.dataset_type if first else ""),
                _item(s.schedule.period if first else ""),
                _item(s.cutoff.strftime("%Y-%m-%d %H:%M") if first else ""),
                _item(f"{len(s.intervals):,}" if first else "", right=True),
                _item(f"{len(s.pages):,}" if first else "", right=True),
                _item(f"{s.records:,}" if first else "", right=True),
                _item(retention.size_words(s.bytes) if first else "", right=True),
                _item(kept),
            ]
            if k is not None:
                cells[-1].setForeground(Qt.GlobalColor.darkRed)
            for c, cell in enumerate(cells):
                self.due.setItem(r, c, cell)
        held = sum(len(k.pages) for k in plan.kept)
        self.plan_label.setText(
            f"As of {plan.as_of.isoformat()}: {plural(len(plan.pages), 'page')}, "
            f"{plural(plan.records, 'record')}, {plural(plan.intervals, 'interval')}, "
            f"{retention.size_words(plan.bytes)} past retention; "
            f"{plural(held, 'page')} kept under legal hold."
            if plan.streams
            else (
                "Nothing is past retention as of "
                f"{plan.as_of.isoformat()}"
                + ("." if scheds else ": no dataset has a schedule (every one is kept forever).")
            )
        )
        self.plan_id.setText(f"plan id: {plan.plan_id}")
        self.done.setRowCount(len(done))
        for r, d in enumerate(done):
            cells = [
                _item(d.certificate_id),
                _item(_when(d.applied_at)),
                _item(d.applied_by),
                _item(d.plan_id),
                _item(f"{d.pages:,}", right=True),
                _item(f"{d.records:,}", right=True),
                _item(d.reason),
            ]
            for c, cell in enumerate(cells):
                self.done.setItem(r, c, cell)
        self._enable()

    def _enable(self) -> None:
        self.apply_button.setEnabled(bool(self.plan and self.plan.pages))
        self.clear_button.setEnabled(bool(self.schedules.selectedItems()))

    def say(self, text: str, error: bool = False) -> None:
        self.last_error = text if error else ""
        self.status.setStyleSheet("color:#c62828" if error else "")
        self.status.setText(text)
        if text:
            self.message.emit(text)

    def _failed(self, exc: BaseException) -> None:
        self.say(f"✗ {describe(exc)}", error=True)

    # -- changing ------------------------------------------------------------------------
    def set_schedule(
        self, dataset: str, period: str, dataset_type: str = "", reason: str = ""
    ) -> None:
        path = self.archive_path()

        def done(s: retention.Schedule) -> None:
            self.say(f"{s.describe()} recorded (audit entry {s.entry.entry_id})")
            self.refresh()

        self._run(
            lambda _c: retention.set_schedule(
                path, dataset, period, dataset_type=dataset_type or None, reason=reason, via="gui"
            ),
            done,
            "retention set",
        )

    def clear_schedule(self, dataset: str, dataset_type: str = "") -> None:
        path = self.archive_path()

        def done(_r: object) -> None:
            self.say(f"{dataset} is kept forever again")
            self.refresh()

        self._run(
            lambda _c: retention.clear(path, dataset, dataset_type=dataset_type or None, via="gui"),
            done,
            "retention clear",
        )

    def apply_plan(self, reason: str) -> None:
        """Dispose of the plan shown (made again by the service: refused when stale)."""
        plan = self.plan
        if plan is None:
            return
        path = self.archive_path()
        key_dir, identity = self.signing()

        def done(applied: retention.Applied) -> None:
            self.last_applied = applied
            self.say(" ".join(applied.lines()[:2]) + f" Certificate: {applied.pdf_path}")
            self.disposed.emit()
            self.refresh()

        self._run(
            lambda _c: retention.apply(
                path,
                plan.plan_id,
                reason,
                as_of=plan.as_of,
                identity=identity,
                key_dir=key_dir,
                via="gui",
            ),
            done,
            "retention apply",
        )

    def _ask_set(self) -> None:
        dlg = ScheduleDialog(self)
        if dlg.exec() == QDialog.DialogCode.Accepted:
            self.set_schedule(
                dlg.dataset.currentText(),
                dlg.period.text(),
                str(dlg.dataset_type.currentData() or ""),
                dlg.reason.text(),
            )

    def _ask_clear(self) -> None:
        items = self.schedules.selectedItems()
        if not items:
            return
        row = items[0].row()
        first = self.schedules.item(row, 0)
        if first is None:
            return
        dataset, dtype = first.data(Qt.ItemDataRole.UserRole)
        self.clear_schedule(dataset, dtype)

    def confirm(self) -> ApplyDialog | None:
        """The confirmation dialog for the plan shown (None without one)."""
        if self.plan is None or not self.plan.pages:
            return None
        return ApplyDialog(self.plan, self)

    def _ask_apply(self) -> None:
        dlg = self.confirm()
        if dlg is not None and dlg.exec() == QDialog.DialogCode.Accepted:
            self.apply_plan(dlg.reason.text())
