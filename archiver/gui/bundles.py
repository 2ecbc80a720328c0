"""Export dialog (scope, redaction, output; progress and cancel in a job) and the
Verify dialog (verified and trusted / intact but not trusted / failed, and pinning the
signer), through :mod:`archiver.services.bundles` and :mod:`archiver.services.keys`.

Every label that can show text from a bundle, a certificate or an error is plain text
(never rich text: a file name could otherwise render as HTML); a verdict's colour comes
from a separate label whose words are fixed."""

from __future__ import annotations

import os
from collections.abc import Callable, Generator
from datetime import date, timedelta
from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from archiver.counts import INTERACTIONS
from archiver.gui import utctime
from archiver.gui.errors import describe, fit_placeholder
from archiver.gui.workers import Job, JobRunner
from archiver.jobs import Cancel
from archiver.plural import plural
from archiver.services import bundles, keys
from archiver.services.bundles import (
    PROFILES,
    BundleReport,
    BundleResult,
    EmptySelection,
    Scope,
    ScopeError,
)

ALLOW_EMPTY = "Write a bundle even if nothing archived is in scope"
NOT_EXPORTED = "✗ Not exported: "


def empty_message(exc: EmptySelection) -> str:
    """What happened to an empty selection, and what to do about it, in the dialog's words."""
    return (
        f"{NOT_EXPORTED}{exc} Check the range and the filters, pull that window first, or "
        f"tick “{ALLOW_EMPTY}” to write a signed bundle that records the empty selection."
    )


def plain_label(text: str = "", name: str = "") -> QLabel:
    """A word-wrapped label that shows its text as plain text, whatever it holds."""
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    if name:
        label.setObjectName(name)
    return label


def export_work(
    archive: Path,
    scope: Scope,
    out: Path,
    ident: keys.SigningIdentity,
    make_zip: bool,
    tsa: str | None = None,
    *,
    allow_empty: bool = False,
) -> Callable[[Cancel], Generator[str, None, BundleResult]]:
    """The export as a job's work: progress lines and the result; the job's cancel token
    is the export's (a cancelled export removes its partial directory)."""

    def work(cancel: Cancel) -> Generator[str, None, BundleResult]:
        return (
            yield from bundles.export(
                archive,
                scope,
                out,
                identity=ident,
                make_zip=make_zip,
                cancel=cancel,
                tsa=tsa,
                allow_empty=allow_empty,
            )
        )

    return work


def case_export_work(
    archive: Path,
    case: str,
    out: Path,
    ident: keys.SigningIdentity,
    make_zip: bool,
    tsa: str | None = None,
    *,
    versions: str = "latest",
    redact: str = "none",
    load_file: str | None = None,
) -> Callable[[Cancel], Generator[str, None, BundleResult]]:
    """A case production as a job's work: the case's scope read in the job, then the
    export (with its load file when asked)."""

    def work(cancel: Cancel) -> Generator[str, None, BundleResult]:
        scope = bundles.case_scope(archive, case, versions=versions, redact=redact)
        return (
            yield from bundles.export(
                archive,
                scope,
                out,
                identity=ident,
                make_zip=make_zip,
                cancel=cancel,
                tsa=tsa,
                load_file=load_file,
            )
        )

    return work


def open_folder(path: Path) -> bool:
    """Show ``path`` (a folder) in the desktop's file manager."""
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))


def closing_buttons() -> tuple[QPushButton, QPushButton]:
    """The buttons every bundle dialog ends with: Open folder (shown once there is one to
    open) and Close (Cancel while a job runs)."""
    folder = QPushButton("Open folder")
    folder.setObjectName("openFolderButton")
    folder.setVisible(False)
    close = QPushButton("Close")
    close.setObjectName("closeButton")
    return folder, close


class ExportDialog(QDialog):
    def __init__(
        self,
        archive_path: Path,
        runner: JobRunner,
        parent: QWidget | None = None,
        *,
        key_dir: Path | None = None,
        identity: keys.SigningIdentity | None = None,
        on_identity: Callable[[keys.SigningIdentity], None] | None = None,
        case: str | None = None,
    ) -> None:
        """``identity``: the session's signing key (the demo's throwaway one, or one a
        passphrase typed earlier unlocked); ``on_identity`` is told of a key unlocked here.
        ``case``: a case production of that case (its interactions, whatever their dates,
        and optionally a Concordance load file) instead of a range."""
        super().__init__(parent)
        self.setObjectName("exportDialog")
        self.case = case
        self.setWindowTitle(
            f"Export case production: {case}" if case is not None else "Export audit bundle"
        )
        self.setMinimumWidth(620)
        self.archive_path = archive_path
        self.key_dir = key_dir
        self.identity = identity
        self.on_identity = on_identity
        self.runner = runner
        self.job: Job | None = None
        #: shows a folder in the file manager (replaced in tests)
        self.opener: Callable[[Path], bool] = open_folder
        #: the last bundle written (None until an export succeeds)
        self.bundle_result: BundleResult | None = None
        #: the first and the last 15-minute interval in scope (UTC, both inclusive, as for
        #: archiver export --from/--to); by default the archived range (a day's setDate
        #: keeps the times)
        self.start = utctime.utc_edit("exportStart")
        self.end = utctime.utc_edit("exportEnd")
        self.range_text = plain_label(name="exportRangeText")
        self.local_hint = plain_label(name="exportLocalHint")
        self.local_hint.setStyleSheet("color: #616161")
        for w in (self.start, self.end):
            w.dateTimeChanged.connect(self._show_range)
        self.set_default_range()
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
        self.tsa = QLineEdit(os.environ.get(bundles.ENV_TSA_URL, ""))
        self.tsa.setObjectName("exportTsa")
        self.tsa.setPlaceholderText("optional: RFC 3161 timestamp authority URL (trusted time)")
        for edit in (self.interactions, self.agent, self.queue, self.tsa):
            fit_placeholder(edit)
        self.signer = plain_label(name="signerFingerprint")
        self.signer.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._passphrase_rows()
        self.status = plain_label(name="exportStatus")
        form = QFormLayout()
        form.addRow("From (first interval, UTC)", self.start)
        form.addRow("To (last interval, UTC, included)", self.end)
        form.addRow("", self.range_text)
        form.addRow("", self.local_hint)
        form.addRow("Interactions", self.interactions)
        form.addRow("Agent", self.agent)
        form.addRow("Queue", self.queue)
        form.addRow("Channel (COMM_TYPE)", self.channel)
        form.addRow("Versions", self.versions)
        form.addRow("Redaction", self.redact)
        form.addRow("Bundle directory", out_row)
        form.addRow("", self.zip)
        form.addRow("", self.allow_empty)
        form.addRow("Timestamp authority", self.tsa)
        self.load_file = QCheckBox(
            "Concordance load file (a DAT, and each interaction's native PDF and plain text)"
        )
        self.load_file.setObjectName("exportLoadFile")
        self.load_file.setChecked(True)
        if case is not None:  # the case's interactions, whatever their dates: no range
            for row in (
                self.start,
                self.end,
                self.range_text,
                self.local_hint,
                self.interactions,
                self.agent,
                self.queue,
                self.channel,
                self.allow_empty,
            ):
                form.setRowVisible(row, False)
            form.insertRow(0, "Case", plain_label(case, "exportCase"))
            form.addRow("", self.load_file)
        self.export_button = QPushButton("Export")
        self.export_button.setObjectName("exportButton")
        self.export_button.setDefault(True)
        self.open_folder_button, self.close_button = closing_buttons()
        self.close_button.clicked.connect(self._cancel)
        self.open_folder_button.clicked.connect(self._open_folder)
        buttons = QHBoxLayout()
        buttons.addWidget(self.export_button)
        buttons.addStretch()
        buttons.addWidget(self.open_folder_button)
        buttons.addWidget(self.close_button)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.signer)
        lay.addWidget(self.key_box)
        lay.addWidget(self.status)
        lay.addLayout(buttons)
        self.export_button.clicked.connect(self.start_export)
        self._show_signer()

    def set_default_range(self) -> None:
        """The archived range (the first and the last interval the archive holds
        interactionSegments records of); today (UTC) when it holds none."""
        span = bundles.archived_range(self.archive_path)
        if span is None:
            today = utctime.today_utc()
            span = (today, today + timedelta(days=1) - timedelta(minutes=15))
        utctime.set_edit(self.start, span[0])
        utctime.set_edit(self.end, span[1])
        self._show_range()

    def _show_range(self) -> None:
        first, last = utctime.edit_value(self.start), utctime.edit_value(self.end)
        if first > last:
            self.range_text.setText("The start is after the end.")
            self.local_hint.setText("")
            return
        self.range_text.setText(utctime.range_text(first, last))
        self.local_hint.setText(utctime.local_hint(first, last))

    # -- the signing key ------------------------------------------------------------------
    def _passphrase_rows(self) -> None:
        """What is asked when neither ARCHIVER_KEY_PASSPHRASE nor the OS keyring gives the
        key's passphrase (a headless machine): hidden until then."""
        self.key_box = QWidget()
        self.key_box.setObjectName("passphraseBox")
        self.key_note = plain_label(name="passphraseNote")
        self.passphrase = QLineEdit()
        self.passphrase.setObjectName("keyPassphrase")
        self.passphrase.setEchoMode(QLineEdit.EchoMode.Password)
        self.passphrase_again = QLineEdit()
        self.passphrase_again.setObjectName("keyPassphraseAgain")
        self.passphrase_again.setEchoMode(QLineEdit.EchoMode.Password)
        self.keep_passphrase = QCheckBox("Keep it in the OS keyring (not asked for again)")
        self.keep_passphrase.setObjectName("keepPassphrase")
        self.keep_passphrase.setChecked(True)
        rows = QFormLayout(self.key_box)
        rows.setContentsMargins(0, 0, 0, 0)
        rows.addRow(self.key_note)
        rows.addRow("Key passphrase", self.passphrase)
        rows.addRow("Repeat it", self.passphrase_again)
        rows.addRow("", self.keep_passphrase)
        self._again_label = rows.labelForField(self.passphrase_again)
        self.source = keys.PassphraseSource(True)
        #: the passphrase rows are shown: the key's passphrase has no source here
        self.asking = False
        #: why a passphrase could not be kept in the keyring (said with the export's result)
        self.keep_problem = ""
        self.key_box.setVisible(False)

    def _ask_passphrase(self) -> None:
        """Show the passphrase rows when the key's passphrase has no source here."""
        self.asking = False
        if self.identity is not None:
            self.key_box.setVisible(False)
            return
        src = keys.passphrase_source(self.key_dir)
        self.source = src
        if src.ready:
            self.key_box.setVisible(False)
            return
        self.asking = True
        if src.key_exists:
            note = (
                f"Signing needs the key's passphrase ({src.why}). Type it: it stays in memory "
                "for this session only"
                + (", unless you keep it in the keyring." if src.keyring else ".")
            )
        else:
            note = (
                "The first export makes a signing key, encrypted with a passphrase, and there "
                f"is nowhere to keep one ({src.why}): choose it here, at least 8 characters. "
                "Keep it safe: each session's first export asks for it."
            )
        self.key_note.setText(note)
        self.passphrase_again.setVisible(not src.key_exists)
        self._again_label.setVisible(not src.key_exists)
        self.keep_passphrase.setVisible(src.keyring)
        self.key_box.setVisible(True)

    def _show_signer(self) -> None:
        """The signer, from the certificate alone (no passphrase needed to show it)."""
        cert = (
            self.identity.cert
            if self.identity is not None
            else keys.current_certificate(self.key_dir)
        )
        if cert is None:
            self.signer.setText(
                "A signing key and self-signed certificate will be created on the first export."
            )
        else:
            fp = keys.cert_fingerprint(cert)
            half = len(fp) // 2 + 1
            self.signer.setText(
                f"Signer: {cert.subject.rfc4514_string()}\n"
                f"Certificate SHA-256 fingerprint (pin it):\n  {fp[:half]}\n  {fp[half:]}"
            )
        self._ask_passphrase()

    def _signing_identity(self) -> keys.SigningIdentity | None:
        """The key to sign with: the session's, the one the environment or the keyring
        unlocks, or the one the typed passphrase unlocks (then kept for the session, and in
        the keyring if asked). None, with the reason in the status line, when there is none."""
        if self.identity is not None:
            return self.identity
        typed = self.passphrase.text() if self.asking else ""
        if self.asking:
            if not typed:
                self.status.setText("Type the signing key's passphrase (above) to sign the bundle.")
                self.passphrase.setFocus()
                return None
            if not self.source.key_exists:
                if len(typed) < 8:
                    self.status.setText("✗ Choose a passphrase of at least 8 characters.")
                    return None
                if typed != self.passphrase_again.text():
                    self.status.setText("✗ The two passphrases differ: type the same one twice.")
                    return None
        try:
            ident = keys.load_or_create(self.key_dir, typed.encode() if typed else None)
        except keys.PassphraseNeeded:
            self._ask_passphrase()
            self.status.setText("Type the signing key's passphrase (above) to sign the bundle.")
            return None
        except keys.WrongPassphrase as exc:
            self.passphrase.selectAll()
            self.passphrase.setFocus()
            self.status.setText(f"✗ {exc} Type it again.")
            return None
        except keys.SigningKeyError as exc:
            self.status.setText(f"✗ {exc}")
            return None
        if typed:
            self._keep(ident, typed)
        return ident

    def _keep(self, ident: keys.SigningIdentity, typed: str) -> None:
        """A key unlocked by a typed passphrase: kept for the session (and its passphrase in
        the keyring when asked); the rows are cleared."""
        if self.source.keyring and self.keep_passphrase.isChecked():
            try:
                keys.store_passphrase(typed.encode())
            except keys.SigningKeyError as exc:
                self.keep_problem = f"{exc} The passphrase is kept for this session only."
        self.identity = ident
        if self.on_identity is not None:
            self.on_identity(ident)
        self.passphrase.clear()
        self.passphrase_again.clear()
        self.asking = False
        self.key_box.setVisible(False)

    # -- the export -----------------------------------------------------------------------
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
            utctime.edit_value(self.start),
            utctime.edit_value(self.end),
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
            if self.case is None:
                scope.check()
        except ScopeError as exc:
            self.status.setText(f"✗ {str(exc)[:1].upper()}{str(exc)[1:]}")
            return
        if not self.out.text().strip():
            self.status.setText("Choose the bundle directory.")
            return
        out = Path(self.out.text().strip())
        ident = self._signing_identity()
        if ident is None:
            return
        self._show_signer()
        self.export_button.setEnabled(False)
        self.open_folder_button.setVisible(False)
        self.close_button.setText("Cancel")
        self.status.setText("Exporting…")
        if self.case is not None:
            work = case_export_work(
                self.archive_path,
                self.case,
                out,
                ident,
                self.zip.isChecked(),
                self.tsa.text().strip() or None,
                versions=self.versions.currentText(),
                redact=self.redact.currentText(),
                load_file="concordance" if self.load_file.isChecked() else None,
            )
        else:
            work = export_work(
                self.archive_path,
                scope,
                out,
                ident,
                self.zip.isChecked(),
                self.tsa.text().strip() or None,
                allow_empty=self.allow_empty.isChecked(),
            )
        job = Job(work, name="export bundle")
        job.yielded.connect(self.status.setText)
        job.done.connect(self._exported)
        job.failed.connect(self._failed)
        job.cancelled.connect(self._cancelled)
        job.ended.connect(lambda: self.close_button.setText("Close"))
        self.job = job
        self.runner.start(job)

    def _exported(self, result: BundleResult) -> None:
        self.bundle_result = result
        self.export_button.setEnabled(True)
        self.open_folder_button.setVisible(True)
        n = len(result.gaps)
        gaps = f" {plural(n, 'coverage gap')} {'is' if n == 1 else 'are'} stated in the bundle."
        gaps = gaps if n else ""
        if result.marked:
            gaps += (
                f" {INTERACTIONS.of(result.marked)} with rows in a gap: kept, marked on "
                "their pages."
            )
        self.status.setText(
            f"✓ Bundle {result.bundle_id}"
            + (f" ({bundles.DEMO})" if result.demo else "")
            + f" written to {result.path}: {bundles.contents_line(result)}.{gaps}"
            " Give the recipient the fingerprint above separately: it is how they know the bundle is yours."
            + (f" {self.keep_problem}" if self.keep_problem else "")
        )
        self.keep_problem = ""
        if self.case is not None:
            self.adjustSize()  # (fewer rows: the result's lines need the room)

    def _open_folder(self) -> None:
        if self.bundle_result is not None:
            self.opener(self.bundle_result.path)

    def _failed(self, exc: BaseException) -> None:
        self.export_button.setEnabled(True)
        if isinstance(exc, EmptySelection):
            self.status.setText(empty_message(exc))
            return
        self.status.setText(f"✗ Export failed: {describe(exc)}. Nothing was left half-written.")

    def _cancelled(self) -> None:
        self.export_button.setEnabled(True)
        self.status.setText("Export cancelled; nothing was written.")

    def busy(self) -> bool:
        return self.job is not None and not self.job.finished

    def _cancel(self) -> None:
        """Close: cancels a running export instead (the dialog stays open to say so)."""
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


#: the fixed words and colour of each verdict (the details come from the report, as text)
VERDICTS = {
    bundles.VERIFIED: ("✓ VERIFIED AND TRUSTED", "#2e7d32"),
    bundles.UNTRUSTED: ("⚠ INTACT, BUT NOT TRUSTED", "#b26a00"),
    bundles.REVOKED: ("⚠ INTACT, BUT THE SIGNER WAS REVOKED", "#ad1457"),
    bundles.FAILED: ("✗ FAILED", "#c62828"),
}


def confirm_pin(parent: QWidget, fingerprint: str) -> bool:
    """Ask before trusting a signer: the fingerprint must be compared out of band."""
    box = QMessageBox(
        QMessageBox.Icon.Question,
        "Trust this signer?",
        "Trust every bundle signed with this certificate from now on?\n\n"
        f"SHA-256 fingerprint:\n{fingerprint}\n\n"
        "Anyone can make an intact bundle with a key of their own. Say yes only if this "
        "fingerprint is the one you obtained from the signer separately (by phone, letter or a "
        "signed message; not from the bundle or the message that brought it).",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        parent,
    )
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setDefaultButton(QMessageBox.StandardButton.No)
    return box.exec() == QMessageBox.StandardButton.Yes


class VerifyDialog(QDialog):
    def __init__(
        self, runner: JobRunner, parent: QWidget | None = None, *, key_dir: Path | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("verifyDialog")
        self.setWindowTitle("Verify audit bundle")
        self.resize(720, 480)
        self.runner = runner
        self.key_dir = key_dir
        self.job: Job | None = None
        self.report: BundleReport | None = None
        #: asks before pinning (replaced in tests)
        self.confirm_pin: Callable[[str], bool] = lambda fp: confirm_pin(self, fp)
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
        self.expect = QLineEdit()
        self.expect.setObjectName("expectFingerprint")
        self.expect.setPlaceholderText(
            "optional: the signer's SHA-256 fingerprint you were given separately"
        )
        fit_placeholder(self.expect)
        self.verify_button = QPushButton("Verify")
        self.verify_button.setObjectName("verifyBundleButton")
        self.state = plain_label(name="verdictState")
        self.verdict = plain_label(name="verdict")
        self.signer = plain_label(name="verifySigner")
        self.signer.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.pin_button = QPushButton("Trust this signer…")
        self.pin_button.setObjectName("pinSignerButton")
        self.pin_button.setVisible(False)
        self.pin_button.clicked.connect(self.pin_signer)
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        #: shows a folder in the file manager (replaced in tests)
        self.opener: Callable[[Path], bool] = open_folder
        self.open_folder_button, self.close_button = closing_buttons()
        self.open_folder_button.clicked.connect(self._open_folder)
        self.close_button.clicked.connect(self.reject)
        form = QFormLayout()
        form.addRow("Bundle", row)
        form.addRow("Expected signer", self.expect)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.verify_button, 0, Qt.AlignmentFlag.AlignLeft)
        lay.addWidget(self.state)
        lay.addWidget(self.verdict)
        lay.addWidget(self.signer)
        lay.addWidget(self.pin_button, 0, Qt.AlignmentFlag.AlignLeft)
        lay.addWidget(self.details, 1)
        buttons = QHBoxLayout()
        buttons.addStretch()
        buttons.addWidget(self.open_folder_button)
        buttons.addWidget(self.close_button)
        lay.addLayout(buttons)
        self.verify_button.clicked.connect(self.run)

    def run(self) -> None:
        path = Path(self.path.text().strip())
        expect = self.expect.text().strip() or None
        if expect:
            try:
                keys.parse_fingerprint(expect)
            except ValueError as exc:
                self._show(bundles.FAILED, f"Expected signer: {exc}", "")
                return
        self._clear()
        self.verdict.setText("Verifying…")
        self.verify_button.setEnabled(False)
        key_dir = self.key_dir
        job = Job(
            lambda _cancel: bundles.verify(path, expect_fingerprint=expect, key_dir=key_dir),
            name="verify bundle",
        )
        job.done.connect(self._verified)
        job.failed.connect(
            lambda exc: self._show(bundles.FAILED, f"Could not verify: {describe(exc)}", "")
        )
        self.job = job
        self.runner.start(job)

    def _clear(self) -> None:
        self.report = None
        self.state.setText("")
        self.state.setStyleSheet("")
        self.signer.setText("")
        self.pin_button.setVisible(False)
        self.open_folder_button.setVisible(False)

    def folder(self) -> Path | None:
        """The folder of the bundle just verified (the zip's folder for a zip)."""
        path = Path(self.path.text().strip())
        if path.is_dir():
            return path
        return path.parent if path.is_file() else None

    def _open_folder(self) -> None:
        folder = self.folder()
        if folder is not None:
            self.opener(folder)

    def _verified(self, rep: BundleReport) -> None:
        self.report = rep
        self._show(rep.state, bundles.printable(rep.headline()), rep.summary(), rep.demo)
        self.open_folder_button.setVisible(self.folder() is not None)
        if rep.fingerprint:
            self.signer.setText(
                f"Signer: {bundles.printable(rep.signer_subject)}\n"
                f"Certificate SHA-256 fingerprint: {rep.fingerprint}"
                + (
                    "\nCompare it with the fingerprint you obtained from the signer separately; "
                    "if they match, trust this signer (or type it as the expected signer)."
                    if rep.state == bundles.UNTRUSTED and not rep.signer_trusted
                    else ""
                )
            )
        self.pin_button.setVisible(
            rep.state == bundles.UNTRUSTED and not rep.signer_trusted and bool(rep.signer_pem)
        )

    def _show(self, state: str, verdict: str, details: str, demo: bool = False) -> None:
        self.verify_button.setEnabled(True)
        words, color = VERDICTS[state]
        if demo and state != bundles.FAILED:  # simulated data: never the all-clear green
            words, color = f"{words} · {bundles.DEMO}", VERDICTS[bundles.UNTRUSTED][1]
        self.state.setText(words)
        self.state.setStyleSheet(f"color: {color}; font-weight: bold")
        self.verdict.setText(verdict)
        self.verdict.setProperty("ok", state == bundles.VERIFIED)
        self.verdict.setProperty("state", state)
        self.details.setPlainText(details)

    def pin_signer(self) -> None:
        """Trust the signer of the bundle just verified (after confirmation), then verify
        again."""
        rep = self.report
        if rep is None or not rep.signer_pem or not self.confirm_pin(rep.fingerprint):
            return
        try:
            keys.trust_add_certificate(rep.signer_pem, key_dir=self.key_dir)
        except keys.TrustError as exc:
            self.verdict.setText(f"Could not trust the signer: {describe(exc)}")
            return
        self.run()

    def done(self, result: int) -> None:
        if self.job is not None and not self.job.finished:
            self.job.wait()
        super().done(result)
