"""The Verify archive dialog: replay the archive (or only check its chains), with witnesses.

Witnesses are audit bundles handed out earlier (a .zip, a bundle folder, or a folder of
bundles): each carries the archive's chain heads when it was made, so it proves the archive
still begins with what it held then. The dialog calls
:func:`archiver.services.archive.verify` in the job runner, as ``archiver verify-archive
--witness … [--quick]`` does, and shows the same words."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from archiver.gui.errors import describe
from archiver.gui.workers import Job, JobRunner
from archiver.services import archive as archive_service
from archiver.services.archive import VerifyReport
from archiver.services.keys import SigningIdentity

#: the signing key's folder and the session's key (main_window: its key_dir, the ctx's key)
Signing = Callable[[], tuple[Path | None, SigningIdentity | None]]

INTRO = (
    "Verification recomputes every checksum and both hash chains, then replays everything the "
    "archive states — records and their values, latest versions, conflicts, coverage, runs — "
    "from its raw pages and custody entries, and names the first difference. Nothing inside "
    "an archive can prove it was not rebuilt by someone holding it and its signing key: "
    "add witnesses, audit bundles handed out earlier, whose chain heads the archive must "
    "still begin with."
)


def _plain(name: str) -> QLabel:
    label = QLabel()
    label.setObjectName(name)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    return label


class VerifyArchiveDialog(QDialog):
    #: the report of a verification that ran (passed or failed)
    verified = Signal(object)
    #: a verification that could not run
    not_run = Signal(object)

    def __init__(
        self,
        archive_path: Callable[[], Path],
        runner: JobRunner,
        parent: QWidget | None = None,
        *,
        signing: Signing = lambda: (None, None),
    ) -> None:
        super().__init__(parent)
        self.setObjectName("verifyArchiveDialog")
        self.setWindowTitle("Verify archive")
        self.resize(760, 560)
        self.archive_path = archive_path
        self.runner = runner
        self.signing = signing
        self.job: Job | None = None
        self.report: VerifyReport | None = None
        intro = _plain("verifyIntro")
        intro.setText(INTRO)
        self.witnesses = QListWidget()
        self.witnesses.setObjectName("witnessList")
        self.witnesses.setMaximumHeight(110)
        add_zip = QPushButton("Add bundle (.zip)…")
        add_zip.setObjectName("addWitnessZip")
        add_zip.clicked.connect(self._pick_zip)
        add_dir = QPushButton("Add folder…")
        add_dir.setObjectName("addWitnessFolder")
        add_dir.setToolTip("a bundle folder, or a folder holding bundles")
        add_dir.clicked.connect(self._pick_folder)
        remove = QPushButton("Remove")
        remove.setObjectName("removeWitness")
        remove.clicked.connect(self._remove)
        buttons = QHBoxLayout()
        for b in (add_zip, add_dir, remove):
            buttons.addWidget(b)
        buttons.addStretch(1)
        self.quick = QCheckBox("Quick: chains and checksums only (nothing is replayed)")
        self.quick.setObjectName("quickVerify")
        self.verify_button = QPushButton("Verify")
        self.verify_button.setObjectName("verifyArchiveButton")
        self.verify_button.clicked.connect(self.run)
        self.state = _plain("verifyState")
        self.verdict = _plain("verifyVerdict")
        self.verdict.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details = QPlainTextEdit()
        self.details.setObjectName("verifyDetails")
        self.details.setReadOnly(True)
        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addWidget(QLabel("Witnesses (audit bundles handed out earlier):"))
        lay.addWidget(self.witnesses)
        lay.addLayout(buttons)
        lay.addWidget(self.quick)
        lay.addWidget(self.verify_button, 0, Qt.AlignmentFlag.AlignLeft)
        lay.addWidget(self.state)
        lay.addWidget(self.verdict)
        lay.addWidget(self.details, 1)

    # -- witnesses ---------------------------------------------------------------------------
    def add_witness(self, path: Path) -> None:
        text = str(path)
        if text and not self.witnesses.findItems(text, Qt.MatchFlag.MatchExactly):
            self.witnesses.addItem(text)

    def witness_paths(self) -> list[Path]:
        return [Path(self.witnesses.item(i).text()) for i in range(self.witnesses.count())]

    def _pick_zip(self) -> None:
        names, _ = QFileDialog.getOpenFileNames(self, "Witness bundles", "", "Zip (*.zip)")
        for name in names:
            self.add_witness(Path(name))

    def _pick_folder(self) -> None:
        name = QFileDialog.getExistingDirectory(self, "A bundle folder, or a folder of bundles")
        if name:
            self.add_witness(Path(name))

    def _remove(self) -> None:
        for item in self.witnesses.selectedItems():
            self.witnesses.takeItem(self.witnesses.row(item))

    # -- running -----------------------------------------------------------------------------
    def run(self) -> None:
        path = self.archive_path()
        if not path.exists():
            self._show(False, "No archive yet.", "")
            return
        witnesses, quick = self.witness_paths(), self.quick.isChecked()
        key_dir, identity = self.signing()
        self.verify_button.setEnabled(False)
        self.state.setText("")
        self.verdict.setText(
            "Checking every checksum and both chains…"
            if quick
            else "Checking every checksum and both chains, then replaying the archive…"
        )
        self.details.clear()
        job = Job(
            lambda _cancel: archive_service.verify(
                path,
                via="gui",
                witnesses=witnesses,
                quick=quick,
                key_dir=key_dir,
                identity=identity,
            ),
            name="verify archive",
        )
        job.done.connect(self._done)
        job.failed.connect(self._failed)
        self.job = job
        self.runner.start(job)

    def _done(self, rep: VerifyReport) -> None:
        self.report = rep
        self.verify_button.setEnabled(True)
        self._show(rep.ok, rep.verdict(), rep.summary())
        self.verified.emit(rep)

    def _failed(self, exc: BaseException) -> None:
        self.verify_button.setEnabled(True)
        self._show(False, f"Verification could not run: {describe(exc)}", "")
        self.not_run.emit(exc)

    def _show(self, ok: bool, verdict: str, details: str) -> None:
        self.state.setText("✓ Verified" if ok else "✗ Not verified")
        self.state.setStyleSheet(f"color: {'#2e7d32' if ok else '#c62828'}; font-weight: bold")
        self.verdict.setText(verdict)
        self.details.setPlainText(details)

    def wait(self) -> None:
        if self.job:
            self.job.wait()
