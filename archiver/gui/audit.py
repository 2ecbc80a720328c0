"""The audit log, and "Verify archive" run in the background (through
:func:`archiver.services.archive.verify`, which records the custody entry itself)."""

from __future__ import annotations

import json
from collections.abc import Callable
from html import escape
from pathlib import Path

from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from archiver.archive.auditlog import summarise
from archiver.gui.errors import describe
from archiver.gui.workers import Job, JobRunner
from archiver.review import ArchiveReader
from archiver.services import archive as archive_service
from archiver.services.archive import VerifyReport


class AuditPanel(QWidget):
    def __init__(self, archive_path: Callable[[], Path], runner: JobRunner) -> None:
        super().__init__()
        self.archive_path = archive_path
        self.runner = runner
        self.job: Job | None = None
        self.table = QTableWidget(0, 6)
        self.table.setObjectName("auditTable")
        self.table.setHorizontalHeaderLabels(["#", "When (UTC)", "Event", "User", "Run", "Details"])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.verify = QPushButton("Verify archive")
        self.verify.setObjectName("verifyButton")
        self.result = QLabel("")
        self.result.setObjectName("verifyResult")
        self.result.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.verify)
        row.addWidget(self.result, 1)
        lay = QVBoxLayout(self)
        lay.addLayout(row)
        lay.addWidget(self.table, 1)
        self.verify.clicked.connect(self.run_verify)

    def refresh(self) -> None:
        path = self.archive_path()
        rows = []
        if path.exists():
            with ArchiveReader(path) as r:
                rows = r.audit_log()
        self.table.setRowCount(len(rows))
        for n, e in enumerate(rows):
            details = json.loads(e["details"])
            summary = summarise(e["event"], details)
            for c, v in enumerate(
                [
                    str(e["entry_id"]),
                    e["at"][:19].replace("T", " "),
                    e["event"],
                    e["os_user"],
                    e["run_id"] or "",
                    summary,
                ]
            ):
                item = QTableWidgetItem(v)
                item.setToolTip(json.dumps(details, indent=1, ensure_ascii=False)[:2000])
                self.table.setItem(n, c, item)

    def run_verify(self) -> None:
        path = self.archive_path()
        if not path.exists():
            self.result.setText("No archive yet.")
            return
        self.verify.setEnabled(False)
        self.result.setText("Verifying every checksum and both chains…")
        job = Job(lambda _cancel: archive_service.verify(path, via="gui"), name="verify archive")
        job.done.connect(self._verified)
        job.failed.connect(self._not_verified)
        self.job = job
        self.runner.start(job)

    def _not_verified(self, exc: BaseException) -> None:
        self.verify.setEnabled(True)
        self.result.setText(
            f"<span style='color:#c62828'>Verification could not run: {escape(describe(exc))}</span>"
        )
        self.refresh()

    def _verified(self, rep: VerifyReport) -> None:
        self.verify.setEnabled(True)
        if rep.ok:
            self.result.setText(
                f"<span style='color:#2e7d32'><b>✓ Intact.</b></span> {rep.pages:,} pages, {rep.records:,} records, {rep.audit_entries:,} audit entries checked. Chain head {rep.chain_head[:16]}…"
            )
        else:
            self.result.setText(
                f"<span style='color:#c62828'><b>✗ FAILED:</b> {escape(rep.problems[0])}</span> ({len(rep.problems)} problem(s))"
            )
        self.refresh()

    def wait_jobs(self) -> None:
        if self.job:
            self.job.wait()
