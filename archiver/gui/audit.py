"""The audit log, and "Verify archive" run in the background."""

from __future__ import annotations

import json
from collections.abc import Callable
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
from archiver.archive.store import Archive
from archiver.archive.verify import VerifyReport, verify_archive
from archiver.gui.workers import Job
from archiver.review import ArchiveReader


class AuditPanel(QWidget):
    def __init__(self, archive_path: Callable[[], Path], synchronous: bool = False) -> None:
        super().__init__()
        self.archive_path = archive_path
        self.synchronous = synchronous
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

        def work() -> VerifyReport:
            rep = verify_archive(path)
            if rep.ok:
                with Archive(path) as a:
                    a.audit(
                        "verify-archive",
                        {
                            "result": "ok",
                            "pages": rep.pages,
                            "records": rep.records,
                            "chain_head": rep.chain_head,
                            "via": "gui",
                        },
                    )
            return rep

        self.job = Job(work, generator=False, synchronous=self.synchronous)
        self.job.done.connect(self._verified)
        self.job.failed.connect(lambda m: self._verified(None, m))
        self.job.start()

    def _verified(self, rep: VerifyReport | None, error: str = "") -> None:
        self.verify.setEnabled(True)
        if rep is None:
            self.result.setText(
                f"<span style='color:#c62828'>Verification could not run: {error}</span>"
            )
        elif rep.ok:
            self.result.setText(
                f"<span style='color:#2e7d32'><b>✓ Intact.</b></span> {rep.pages:,} pages, {rep.records:,} records, {rep.audit_entries:,} audit entries checked. Chain head {rep.chain_head[:16]}…"
            )
        else:
            self.result.setText(
                f"<span style='color:#c62828'><b>✗ FAILED:</b> {rep.problems[0]}</span> ({len(rep.problems)} problem(s))"
            )
        self.refresh()

    def wait_jobs(self) -> None:
        if self.job:
            self.job.wait()
