"""Export dialog (scope, redaction, output; progress and cancel in a worker) and the
Verify dialog (a green or red report)."""

from __future__ import annotations

import threading
from collections.abc import Generator
from datetime import UTC, date, datetime
from pathlib import Path

from PySide6.QtCore import QDate, QDateTime, Qt, QTime, QTimeZone
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateTimeEdit,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from archiver.export import keys
from archiver.export.bundle import BundleResult, EmptySelection, export_bundle
from archiver.export.redact import PROFILES
from archiver.export.scope import Scope, ScopeError
from archiver.export.verify import BundleReport, verify_bundle
from archiver.gui.workers import Job


def _qdate(d: date) -> QDate:
    return QDate(d.year, d.month, d.day)


def _utc_time(edit: QDateTimeEdit) -> datetime:
    """An edit's date and time as a UTC datetime (the edits show UTC)."""
    d, t = edit.date(), edit.time()
    return datetime(d.year(), d.month(), d.day(), t.hour(), t.minute(), tzinfo=UTC)


ALLOW_EMPTY = "Write a bundle even if nothing archived is in scope"
NOT_EXPORTED = "✗ Not exported: "


def empty_message(exc: EmptySelection) -> str:
    """What happened to an empty selection, and what to do about it, in the dialog's words."""
    return (
        f"{NOT_EXPORTED}{exc} Check the range and the filters, pull that window first, or "
        f"tick “{ALLOW_EMPTY}” to write a signed bundle that records the empty selection."
    )


class ExportDialog(QDialog):
    def __init__(
        self,
        archive_path: Path,
        parent: QWidget | None = None,
        *,
        key_dir: Path | None = None,
        synchronous: bool = False,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("exportDialog")
        self.setWindowTitle("Export audit bundle")
        self.setMinimumWidth(620)
        self.archive_path = archive_path
        self.key_dir = key_dir
        self.synchronous = synchronous
        self.cancel_event = threading.Event()
        self.job: Job | None = None
        self.result: BundleResult | None = None
        today = date.today()
        #: the first and the last 15-minute interval in scope (UTC, both inclusive, as for
        #: archiver export --from/--to); a day's setDate keeps 00:00 and 23:45
        self.start = QDateTimeEdit(
            QDateTime(_qdate(today.replace(day=1)), QTime(0, 0), QTimeZone.utc())
        )
        self.end = QDateTimeEdit(QDateTime(_qdate(today), QTime(23, 45), QTimeZone.utc()))
        for w in (self.start, self.end):
            w.setCalendarPopup(True)
            w.setDisplayFormat("yyyy-MM-dd HH:mm")
            w.setTimeZone(QTimeZone.utc())
            w.setToolTip("UTC, on a 15-minute mark (:00, :15, :30 or :45)")
        self.interactions = QLineEdit()
        self.interactions.setPlaceholderText("optional: interaction ids, comma separated")
        self.agent = QLineEdit()
        self.agent.setPlaceholderText("optional: USER_ID")
        self.queue = QLineEdit()
        self.queue.setPlaceholderText("optional: QUEUE_ID")
        self.channel = QComboBox()
        self.channel.addItems(["(any)", "voice", "chat", "email", "task"])
        self.versions = QComboBox()
        self.versions.addItems(["latest", "all"])
        self.redact = QComboBox()
        self.redact.addItems(sorted(PROFILES))
        self.out = QLineEdit()
        self.out.setObjectName("exportOut")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._pick)
        out_row = QHBoxLayout()
        out_row.addWidget(self.out)
        out_row.addWidget(browse)
        self.zip = QCheckBox("Also write a .zip")
        self.allow_empty = QCheckBox(ALLOW_EMPTY)
        self.allow_empty.setObjectName("exportAllowEmpty")
        self.allow_empty.setToolTip(
            "Otherwise an empty selection stops with a message and nothing is written."
        )
        self.signer = QLabel("")
        self.signer.setObjectName("signerFingerprint")
        self.signer.setWordWrap(True)
        self.signer.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status = QLabel("")
        self.status.setObjectName("exportStatus")
        self.status.setWordWrap(True)
        form = QFormLayout()
        form.addRow("From (first interval, UTC)", self.start)
        form.addRow("To (last interval, inclusive)", self.end)
        form.addRow("Interactions", self.interactions)
        form.addRow("Agent", self.agent)
        form.addRow("Queue", self.queue)
        form.addRow("Channel (COMM_TYPE)", self.channel)
        form.addRow("Versions", self.versions)
        form.addRow("Redaction", self.redact)
        form.addRow("Bundle directory", out_row)
        form.addRow("", self.zip)
        form.addRow("", self.allow_empty)
        self.export_button = QPushButton("Export")
        self.export_button.setObjectName("exportButton")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self._cancel)
        buttons = QHBoxLayout()
        buttons.addStretch()
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.cancel_button)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.signer)
        lay.addWidget(self.status)
        lay.addLayout(buttons)
        self.export_button.clicked.connect(self.start_export)
        self._show_signer()

    def _show_signer(self) -> None:
        try:
            ident = keys.load(self.key_dir)
            fp = ident.fingerprint
            half = len(fp) // 2 + 1
            self.signer.setText(
                f"Signer: {ident.subject}\nCertificate SHA-256 fingerprint (pin it):\n  {fp[:half]}\n  {fp[half:]}"
            )
        except FileNotFoundError:
            self.signer.setText(
                "A signing key and self-signed certificate will be created on the first export."
            )
        except keys.SigningKeyError as exc:
            self.signer.setText(f"Signing key problem: {exc}")

    def _pick(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Parent directory for the bundle")
        if path:
            self.out.setText(str(Path(path) / f"audit-bundle-{date.today():%Y%m%d}"))

    def scope(self) -> Scope:
        ids = tuple(
            x.strip() for x in self.interactions.text().replace("\n", ",").split(",") if x.strip()
        )
        channel = self.channel.currentText()
        return Scope(
            _utc_time(self.start),
            _utc_time(self.end),
            ids,
            self.agent.text().strip() or None,
            self.queue.text().strip() or None,
            None if channel == "(any)" else channel,
            self.versions.currentText(),
            self.redact.currentText(),
        )

    def start_export(self) -> None:
        scope = self.scope()
        try:
            scope.check()
        except ScopeError as exc:
            self.status.setText(f"✗ {str(exc)[:1].upper()}{str(exc)[1:]}")
            return
        if not self.out.text().strip():
            self.status.setText("Choose the bundle directory.")
            return
        out = Path(self.out.text().strip())
        try:
            ident = keys.load_or_create(self.key_dir)
        except keys.SigningKeyError as exc:
            self.status.setText(f"✗ {exc}")
            return
        self._show_signer()
        self.cancel_event.clear()
        self.export_button.setEnabled(False)
        self.status.setText("Exporting…")
        make_zip, allow_empty = self.zip.isChecked(), self.allow_empty.isChecked()

        def work() -> Generator[str, None, BundleResult]:
            try:
                return (
                    yield from export_bundle(
                        self.archive_path,
                        scope,
                        out,
                        ident,
                        make_zip=make_zip,
                        cancel=self.cancel_event,
                        allow_empty=allow_empty,
                    )
                )
            except EmptySelection as exc:
                raise EmptySelection(empty_message(exc)) from exc

        self.job = Job(work, synchronous=self.synchronous)
        self.job.yielded.connect(self.status.setText)
        self.job.done.connect(self._done)
        self.job.failed.connect(self._failed)
        self.job.start()

    def _done(self, result: BundleResult) -> None:
        self.result = result
        self.export_button.setEnabled(True)
        gaps = (
            f" {len(result.gaps)} coverage gap(s) are stated in the bundle." if result.gaps else ""
        )
        self.status.setText(
            f"✓ Bundle {result.bundle_id} written to {result.path}: {result.interactions:,} interactions, report {result.pages:,} pages.{gaps}"
        )

    def _failed(self, message: str) -> None:
        self.export_button.setEnabled(True)
        if message.startswith(NOT_EXPORTED):
            self.status.setText(message)
            return
        self.status.setText(
            f"✗ Export failed: {message or 'cancelled'}. Nothing was left half-written."
        )

    def _cancel(self) -> None:
        if self.job is not None and not self.job.finished:
            self.cancel_event.set()
            self.status.setText("Cancelling…")
            return
        self.reject()

    def done(self, result: int) -> None:
        if self.job is not None and not self.job.finished:
            self.cancel_event.set()
            self.job.wait()
        super().done(result)


class VerifyDialog(QDialog):
    def __init__(self, parent: QWidget | None = None, *, synchronous: bool = False) -> None:
        super().__init__(parent)
        self.setObjectName("verifyDialog")
        self.setWindowTitle("Verify audit bundle")
        self.resize(720, 420)
        self.synchronous = synchronous
        self.job: Job | None = None
        self.report: BundleReport | None = None
        self.path = QLineEdit()
        self.path.setObjectName("bundlePath")
        self.path.setPlaceholderText("bundle directory or .zip")
        pick_dir = QPushButton("Folder…")
        pick_dir.clicked.connect(
            lambda: self.path.setText(
                QFileDialog.getExistingDirectory(self, "Bundle directory") or self.path.text()
            )
        )
        pick_zip = QPushButton("Zip…")
        pick_zip.clicked.connect(
            lambda: self.path.setText(
                QFileDialog.getOpenFileName(self, "Bundle zip", "", "Zip (*.zip)")[0]
                or self.path.text()
            )
        )
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(pick_dir)
        row.addWidget(pick_zip)
        self.verify_button = QPushButton("Verify")
        self.verify_button.setObjectName("verifyBundleButton")
        self.verdict = QLabel("")
        self.verdict.setObjectName("verdict")
        self.verdict.setWordWrap(True)
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        lay = QVBoxLayout(self)
        lay.addLayout(row)
        lay.addWidget(self.verify_button, 0, Qt.AlignmentFlag.AlignLeft)
        lay.addWidget(self.verdict)
        lay.addWidget(self.details, 1)
        self.verify_button.clicked.connect(self.run)

    def run(self) -> None:
        path = Path(self.path.text().strip())
        self.verdict.setText("Verifying…")
        self.verify_button.setEnabled(False)
        self.job = Job(lambda: verify_bundle(path), generator=False, synchronous=self.synchronous)
        self.job.done.connect(self._done)
        self.job.failed.connect(lambda m: self._show(False, f"Could not verify: {m}", ""))
        self.job.start()

    def _done(self, rep: BundleReport) -> None:
        self.report = rep
        self._show(
            rep.ok,
            "✓ VERIFIED: every file, the tag manifest, both signatures and the copies agree."
            if rep.ok
            else f"✗ FAILED: {rep.problems[0]}",
            rep.summary(),
        )

    def _show(self, ok: bool, verdict: str, details: str) -> None:
        self.verify_button.setEnabled(True)
        color = "#2e7d32" if ok else "#c62828"
        self.verdict.setText(f"<span style='color:{color}; font-weight:bold'>{verdict}</span>")
        self.verdict.setProperty("ok", ok)
        self.details.setPlainText(details)

    def done(self, result: int) -> None:
        if self.job is not None and not self.job.finished:
            self.job.wait()
        super().done(result)
