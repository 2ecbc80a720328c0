"""Export dialog (scope, redaction, output; progress and cancel in a job) and the
Verify dialog (a green or red report), through :mod:`archiver.services.bundles` and
:mod:`archiver.services.keys`."""

from __future__ import annotations

from collections.abc import Callable, Generator
from datetime import date
from pathlib import Path

from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
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

from archiver.gui.errors import describe
from archiver.gui.workers import Job, JobRunner
from archiver.jobs import Cancel, Cancelled
from archiver.services import bundles, keys
from archiver.services.bundles import PROFILES, BundleReport, BundleResult, Scope


def _qdate(d: date) -> QDate:
    return QDate(d.year, d.month, d.day)


def _pydate(q: QDate) -> date:
    return date(q.year(), q.month(), q.day())


def export_work(
    archive: Path, scope: Scope, out: Path, ident: keys.SigningIdentity, make_zip: bool
) -> Callable[[Cancel], Generator[str, None, BundleResult]]:
    """The export as a job's work: progress lines, the result, and the export's own
    cancellation reported as the job's (the export removes its partial directory)."""

    def work(cancel: Cancel) -> Generator[str, None, BundleResult]:
        try:
            return (
                yield from bundles.export(
                    archive, scope, out, identity=ident, make_zip=make_zip, cancel=cancel.event
                )
            )
        except bundles.ExportCancelled as exc:
            raise Cancelled() from exc

    return work


class ExportDialog(QDialog):
    def __init__(
        self,
        archive_path: Path,
        runner: JobRunner,
        parent: QWidget | None = None,
        *,
        key_dir: Path | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("exportDialog")
        self.setWindowTitle("Export audit bundle")
        self.setMinimumWidth(620)
        self.archive_path = archive_path
        self.key_dir = key_dir
        self.runner = runner
        self.job: Job | None = None
        #: the last bundle written (None until an export succeeds)
        self.bundle_result: BundleResult | None = None
        today = date.today()
        self.start = QDateEdit(_qdate(today.replace(day=1)))
        self.end = QDateEdit(_qdate(today))
        for w in (self.start, self.end):
            w.setCalendarPopup(True)
            w.setDisplayFormat("yyyy-MM-dd")
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
        self.signer = QLabel("")
        self.signer.setObjectName("signerFingerprint")
        self.signer.setWordWrap(True)
        self.signer.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status = QLabel("")
        self.status.setObjectName("exportStatus")
        self.status.setWordWrap(True)
        form = QFormLayout()
        form.addRow("From (ROW_DATE_UTC)", self.start)
        form.addRow("To (inclusive)", self.end)
        form.addRow("Interactions", self.interactions)
        form.addRow("Agent", self.agent)
        form.addRow("Queue", self.queue)
        form.addRow("Channel (COMM_TYPE)", self.channel)
        form.addRow("Versions", self.versions)
        form.addRow("Redaction", self.redact)
        form.addRow("Bundle directory", out_row)
        form.addRow("", self.zip)
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
            _pydate(self.start.date()),
            _pydate(self.end.date()),
            ids,
            self.agent.text().strip() or None,
            self.queue.text().strip() or None,
            None if channel == "(any)" else channel,
            self.versions.currentText(),
            self.redact.currentText(),
        )

    def start_export(self) -> None:
        scope = self.scope()
        if scope.start > scope.end:
            self.status.setText("The start is after the end.")
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
        self.export_button.setEnabled(False)
        self.status.setText("Exporting…")
        job = Job(
            export_work(self.archive_path, scope, out, ident, self.zip.isChecked()),
            name="export bundle",
        )
        job.yielded.connect(self.status.setText)
        job.done.connect(self._exported)
        job.failed.connect(self._failed)
        job.cancelled.connect(self._cancelled)
        self.job = job
        self.runner.start(job)

    def _exported(self, result: BundleResult) -> None:
        self.bundle_result = result
        self.export_button.setEnabled(True)
        gaps = (
            f" {len(result.gaps)} coverage gap(s) are stated in the bundle." if result.gaps else ""
        )
        self.status.setText(
            f"✓ Bundle {result.bundle_id} written to {result.path}: {result.interactions:,} interactions, report {result.pages:,} pages.{gaps}"
        )

    def _failed(self, exc: BaseException) -> None:
        self.export_button.setEnabled(True)
        self.status.setText(f"✗ Export failed: {describe(exc)}. Nothing was left half-written.")

    def _cancelled(self) -> None:
        self.export_button.setEnabled(True)
        self.status.setText("Export cancelled; nothing was written.")

    def busy(self) -> bool:
        return self.job is not None and not self.job.finished

    def _cancel(self) -> None:
        job = self.job
        if job is not None and not job.finished:
            job.cancel()
            self.status.setText("Cancelling…")
            return
        self.reject()

    def done(self, result: int) -> None:
        """Closing (QDialog.done): cancel a running export and wait for it."""
        job = self.job
        if job is not None and not job.finished:
            job.cancel()
            job.wait()
        super().done(result)


class VerifyDialog(QDialog):
    def __init__(self, runner: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("verifyDialog")
        self.setWindowTitle("Verify audit bundle")
        self.resize(720, 420)
        self.runner = runner
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
        job = Job(lambda _cancel: bundles.verify(path), name="verify bundle")
        job.done.connect(self._verified)
        job.failed.connect(lambda exc: self._show(False, f"Could not verify: {describe(exc)}", ""))
        self.job = job
        self.runner.start(job)

    def _verified(self, rep: BundleReport) -> None:
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
