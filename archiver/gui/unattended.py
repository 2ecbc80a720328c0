"""Unattended archiving in the window: the schedule's state and the last unattended run on
the Download tab, and Help → Self-test…. Both read through the use cases
(:mod:`archiver.services.schedule`, :mod:`archiver.services.selftest`) in the job runner."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent, QFontDatabase
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from archiver.gui.context import AppContext
from archiver.gui.errors import describe
from archiver.gui.workers import Job, JobRunner
from archiver.services import schedule as schedules
from archiver.services import selftest

INSTALL_HINT = (
    "Daily archiving runs `archiver pull --incremental` every day, whether or not the app is "
    "open. Install it from a terminal: archiver schedule install --all (the tenant, client id "
    "and archive are this app's connection settings); archiver schedule status says more."
)


class ScheduleLine(QLabel):
    """ "Daily archiving: installed (enabled), next run …; last unattended run …" or "not
    scheduled", for the window's archive."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__("Daily archiving: …", parent)
        self.ctx = ctx
        self.setObjectName("scheduleStatus")
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.job: Job | None = None
        self.state: schedules.ScheduleStatus | None = None

    def refresh(self) -> None:
        if self.job is not None and not self.job.finished:
            return
        archive = self.ctx.archive_path
        job = Job(lambda _cancel: schedules.status(archive), name="schedule status")
        job.done.connect(self.show_status)
        job.failed.connect(lambda exc: self.setText(f"Daily archiving: unknown ({describe(exc)})"))
        self.job = job
        self.ctx.runner.start(job)

    def show_status(self, st: schedules.ScheduleStatus) -> None:
        self.state = st
        self.setText(st.summary())
        self.setToolTip("\n".join([*st.lines(), "", INSTALL_HINT]))

    def wait_job(self, ms: int = 30_000) -> None:
        if self.job is not None and not self.job.finished:
            self.job.wait(ms)


class SelfTestDialog(QDialog):
    """Help → Self-test…: the self-test's step lines as they come, then its verdict."""

    def __init__(self, runner: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.setObjectName("selfTestDialog")
        self.setWindowTitle("Self-test")
        self.resize(760, 360)
        intro = QLabel(
            "Checks the whole evidence path offline, in a temporary folder: the embedded "
            "simulator, a pull of two datasets, the archive's verification, a bundle signed "
            "with a throwaway key and its verification. Your archive, keys and settings are "
            "not touched."
        )
        intro.setWordWrap(True)
        self.log = QPlainTextEdit()
        self.log.setObjectName("selfTestLog")
        self.log.setReadOnly(True)
        self.log.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.verdict = QLabel("")
        self.verdict.setObjectName("selfTestVerdict")
        self.verdict.setWordWrap(True)
        self.buttons = QDialogButtonBox()
        self.again = QPushButton("Run again")
        self.again.setObjectName("selfTestAgain")
        self.buttons.addButton(self.again, QDialogButtonBox.ButtonRole.ActionRole)
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.again.clicked.connect(self.start)
        self.buttons.rejected.connect(self.reject)
        self.finished.connect(lambda _result: self.stop())  # closed: stop a running self-test
        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addWidget(self.log, 1)
        lay.addWidget(self.verdict)
        lay.addWidget(self.buttons)
        self.job: Job | None = None
        self.outcome: selftest.SelfTestResult | None = None

    def running(self) -> bool:
        return self.job is not None and not self.job.finished

    def start(self) -> Job | None:
        if self.running():
            return None
        self.log.clear()
        self.outcome = None
        self.verdict.setText("Running…")
        self.verdict.setStyleSheet("")
        self.again.setEnabled(False)
        job = Job(lambda cancel: selftest.run(cancel), name="self-test")
        job.yielded.connect(lambda step: self.log.appendPlainText(step.line()))
        job.done.connect(self._done)
        job.failed.connect(lambda exc: self._end(f"FAIL: the self-test stopped: {describe(exc)}"))
        job.cancelled.connect(lambda: self._end("Cancelled."))
        self.job = job
        self.runner.start(job)
        return job

    def _done(self, result: selftest.SelfTestResult) -> None:
        self.outcome = result
        self._end(result.verdict(), ok=result.ok)

    def _end(self, text: str, ok: bool = False) -> None:
        self.verdict.setText(text)
        self.verdict.setStyleSheet(f"color: {'#2e7d32' if ok else '#c62828'}; font-weight: bold")
        self.again.setEnabled(True)

    def stop(self, ms: int = 60_000) -> None:
        """Cancel a running self-test (after its step in flight) and wait for it."""
        if self.job is not None and not self.job.finished:
            self.job.cancel()
            self.job.wait(ms)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.stop()
        super().closeEvent(event)
