"""The main window: tabs for Download, Browse, Search, Interactions, Cases, Coverage and the
Audit log."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QCloseEvent, QIcon, QKeySequence
from PySide6.QtWidgets import QLabel, QMainWindow, QMessageBox, QTabWidget, QToolBar

from archiver import __version__
from archiver.archive.queries.review import ArchiveReader
from archiver.counts import INTERACTIONS
from archiver.gui import holds
from archiver.gui.audit import AuditPanel
from archiver.gui.browse import BrowsePanel, RowDetailDialog
from archiver.gui.bundles import ExportDialog, VerifyDialog
from archiver.gui.cases import CasePicker, CasesPanel, open_cases
from archiver.gui.connection import ConnectionDialog
from archiver.gui.context import AppContext
from archiver.gui.coverage import CoveragePanel
from archiver.gui.download import DownloadPanel
from archiver.gui.errors import show_error
from archiver.gui.interactions import InteractionPanel
from archiver.gui.retention import RetentionPanel
from archiver.gui.search import SearchPanel
from archiver.gui.unattended import SelfTestDialog
from archiver.gui.workers import Job
from archiver.resources import resource
from archiver.services.keys import SigningIdentity

log = logging.getLogger(__name__)


def app_icon() -> QIcon:
    return QIcon(str(resource("archiver.svg")))


class MainWindow(QMainWindow):
    def __init__(self, ctx: AppContext, *, qsettings: QSettings | None = None) -> None:
        """``ctx.runner`` runs every job of the window (its panels and dialogs)."""
        super().__init__()
        self.ctx = ctx
        self.qsettings = qsettings or QSettings(
            "archiver", "archiver-demo" if ctx.demo else "archiver"
        )
        self.last_error: tuple[str, str] | None = None
        #: the signing key's folder (None: the user data dir's; the demo's own in demo mode)
        self.key_dir: Path | None = ctx.key_dir
        self.self_test: SelfTestDialog | None = None
        self.setWindowTitle("Archiver" + (" — demo (simulated tenant)" if ctx.demo else ""))
        self.setWindowIcon(app_icon())
        self.setObjectName("mainWindow")
        self.tabs = QTabWidget()
        self.tabs.setObjectName("tabs")
        self.download = DownloadPanel(ctx, self.show_error)
        self.browse = BrowsePanel(lambda: self.ctx.archive_path, ctx.runner)
        self.search = SearchPanel(lambda: self.ctx.archive_path, ctx.runner)
        self.interactions = InteractionPanel(lambda: self.ctx.archive_path, ctx.runner)
        self.cases = CasesPanel(lambda: self.ctx.archive_path, ctx.runner)
        self.picker: CasePicker | None = None
        self._held_job: Job | None = None
        self.coverage = CoveragePanel(lambda: self.ctx.archive_path)
        self.audit = AuditPanel(
            lambda: self.ctx.archive_path,
            ctx.runner,
            lambda: (self.key_dir, self.ctx.signing_identity),
        )
        self.retention = RetentionPanel(
            lambda: self.ctx.archive_path,
            ctx.runner,
            lambda: (self.key_dir, self.ctx.signing_identity),
        )
        for w, title in (
            (self.download, "&Download"),
            (self.browse, "&Browse"),
            (self.search, "&Search"),
            (self.interactions, "&Interactions"),
            (self.cases, "Cas&es"),
            (self.coverage, "C&overage"),
            (self.retention, "&Retention"),
            (self.audit, "&Audit log"),
        ):
            self.tabs.addTab(w, title)
        self.setCentralWidget(self.tabs)
        self._actions()
        self.banner = QLabel()
        self.banner.setObjectName("statusBanner")
        self.statusBar().addPermanentWidget(self.banner)
        self._update_banner()
        self.tabs.currentChanged.connect(self._tab_changed)
        self.download.run_finished.connect(lambda _: self.refresh_views())
        self.search.open_interaction.connect(self.open_interaction)
        self.search.open_record.connect(self.open_record)
        self.search.add_to_case.connect(self.add_to_case)
        self.search.add_search_to_case.connect(self.add_search_to_case)
        self.interactions.add_to_case.connect(self.add_to_case)
        self.cases.open_interaction.connect(self.open_interaction)
        self.cases.cases_changed.connect(self.refresh_held)
        self.cases.export_case.connect(self.open_export)
        self.cases.message.connect(lambda text: self.statusBar().showMessage(text, 15_000))
        self.retention.message.connect(lambda text: self.statusBar().showMessage(text, 15_000))
        self.retention.disposed.connect(self.refresh_views)
        self._restore()
        self.refresh_views()
        self.download.refresh_resumable()

    # -- chrome ---------------------------------------------------------------------------
    def _actions(self) -> None:
        bar = QToolBar("Main")
        bar.setObjectName("mainToolbar")
        bar.setMovable(False)
        self.addToolBar(bar)
        self.connection_action = QAction("&Connection…", self)
        self.connection_action.setShortcut(QKeySequence("Ctrl+,"))
        self.connection_action.triggered.connect(self.open_connection)
        self.refresh_action = QAction("&Refresh", self)
        self.refresh_action.setShortcut(QKeySequence.StandardKey.Refresh)
        self.refresh_action.triggered.connect(self.refresh_views)
        self.verify_action = QAction("&Verify archive", self)
        self.verify_action.setShortcut(QKeySequence("Ctrl+Shift+V"))
        self.verify_action.triggered.connect(self._verify)
        self.export_action = QAction("&Export audit bundle…", self)
        self.export_action.setShortcut(QKeySequence("Ctrl+E"))
        self.export_action.triggered.connect(lambda _checked=False: self.open_export())
        self.verify_bundle_action = QAction("Verify a &bundle…", self)
        self.verify_bundle_action.triggered.connect(self.open_verify_bundle)
        self.self_test_action = QAction("&Self-test…", self)
        self.self_test_action.triggered.connect(self.open_self_test)
        self.about_action = QAction("&About Archiver", self)
        self.about_action.triggered.connect(self.about)
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        for a in (
            self.connection_action,
            self.refresh_action,
            self.verify_action,
            self.export_action,
            self.verify_bundle_action,
        ):
            bar.addAction(a)
        file_menu = self.menuBar().addMenu("&File")
        for a in (
            self.connection_action,
            self.refresh_action,
            self.verify_action,
            self.export_action,
            self.verify_bundle_action,
        ):
            file_menu.addAction(a)
        file_menu.addSeparator()
        file_menu.addAction(quit_action)
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction(self.self_test_action)
        help_menu.addAction(self.about_action)
        for n in range(self.tabs.count()):
            act = QAction(self)
            act.setShortcut(QKeySequence(f"Alt+{n + 1}"))
            act.triggered.connect(lambda _=False, i=n: self.tabs.setCurrentIndex(i))
            self.addAction(act)

    def _update_banner(self) -> None:
        try:
            where = self.ctx.tenant().label
        except ValueError:
            where = "not connected (File → Connection…)"
        mode = "DEMO: simulated tenant " if self.ctx.demo else ""
        self.banner.setText(f"{mode}{where} · archive {self.ctx.archive_path}")

    def _tab_changed(self, index: int) -> None:
        w = self.tabs.widget(index)
        if w is self.coverage:
            self.coverage.refresh()
        elif w is self.audit:
            self.audit.refresh()
        elif w is self.retention:
            self.retention.refresh()
        elif w is self.interactions:
            self.interactions.refresh()
        elif w is self.search:
            self.search.refresh()
            self.refresh_held()
        elif w is self.cases:
            self.cases.refresh()

    def open_interaction(self, interaction_id: str) -> None:
        """Show an interaction (a search hit) on the Interactions tab."""
        self.tabs.setCurrentWidget(self.interactions)
        self.interactions.show_interaction(interaction_id)

    def add_to_case(self, ids: list[str], case: str | None = None) -> CasePicker | None:
        """Add interactions (a search's selected hits, the interaction shown) to an open
        case: the one named, or the one picked in a dialog."""
        if case is not None:
            self.cases.add_ids(ids, case)
            return None
        what = f"Add {INTERACTIONS.of(len(ids))} ({', '.join(ids[:3])}{' …' if len(ids) > 3 else ''}) to the case:"
        return self._pick(what, lambda name: self.cases.add_ids(ids, name))

    def add_search_to_case(
        self, query: str, first: object, last: object, case: str | None = None
    ) -> CasePicker | None:
        """Add every interaction a search finds to an open case (the case records the
        search with each)."""
        if case is not None:
            self.cases.add_search(query, case, first, last)
            return None
        return self._pick(
            f"Add every interaction “{query}” finds to the case:",
            lambda name: self.cases.add_search(query, name, first, last),
        )

    def _pick(self, what: str, then: Callable[[str], object]) -> CasePicker:
        picker = CasePicker(open_cases(self.ctx.archive_path), what, self)
        picker.accepted.connect(lambda: then(picker.case))
        self.picker = picker
        picker.open()
        return picker

    def refresh_held(self) -> None:
        """Read which interactions are held, for every tab's hold badge."""
        path = self.ctx.archive_path
        if not path.exists():
            return

        def spread(held: holds.Held) -> None:
            self.search.set_held(held)
            self.interactions.set_held(held)
            self.browse.model.set_held(held)

        self._held_job = holds.job(path, spread)
        self.ctx.runner.start(self._held_job)

    def open_record(self, record_id: int) -> RowDetailDialog | None:
        """Show a record of its own (a search hit of a dataset without interactions): its
        row history."""
        path = self.ctx.archive_path
        if not path.exists():
            return None
        reader = ArchiveReader(path)
        dlg = RowDetailDialog(reader, record_id, self)
        dlg.finished.connect(lambda _r: reader.close())
        dlg.open()
        return dlg

    def refresh_views(self) -> None:
        """Reload what the archive shows. Coverage and the audit log reload when shown
        (``_tab_changed``): computed for a hidden tab they only compete with the visible one
        — on a big archive, for seconds."""
        self.download.refresh_schedule()
        self.browse.refresh()
        self.interactions.refresh()  # (its empty state: one index probe)
        self.refresh_held()
        current = self.tabs.currentWidget()
        if current is self.coverage:
            self.coverage.refresh()
        elif current is self.audit:
            self.audit.refresh()
        elif current is self.retention:
            self.retention.refresh()

    def _verify(self) -> None:
        self.tabs.setCurrentWidget(self.audit)
        self.audit.open_verify()

    def show_error(self, title: str, message: str) -> None:
        self.last_error = (title, message)
        log.warning("%s: %s", title, message)
        show_error(self, title, message)

    def open_connection(self) -> ConnectionDialog:
        dlg = ConnectionDialog(self.ctx, self)
        dlg.accepted.connect(self._update_banner)
        dlg.open()
        return dlg

    def open_export(self, case: str | None = None) -> ExportDialog:
        """The Export dialog: a range's bundle, or (``case``) a case production."""
        dlg = ExportDialog(
            self.ctx.archive_path,
            self.ctx.runner,
            self,
            key_dir=self.key_dir,
            identity=self.ctx.signing_identity,
            on_identity=self._keep_identity,
            case=case,
        )
        dlg.finished.connect(lambda _: self.audit.refresh())
        dlg.open()
        return dlg

    def _keep_identity(self, identity: SigningIdentity) -> None:
        """The signing key unlocked by a typed passphrase: kept for this session (in memory
        only), so the next export and every checkpoint are signed without asking again."""
        self.ctx.signing_identity = identity

    def open_verify_bundle(self) -> VerifyDialog:
        dlg = VerifyDialog(self.ctx.runner, self, key_dir=self.key_dir)
        dlg.open()
        return dlg

    def open_self_test(self) -> SelfTestDialog:
        if self.self_test is None:
            self.self_test = SelfTestDialog(self.ctx.runner, self)
        self.self_test.open()
        self.self_test.start()
        return self.self_test

    def about(self) -> None:
        QMessageBox.about(
            self,
            "About Archiver",
            f"<h3>Archiver {__version__}</h3><p>Tamper-evident archive of Avaya Infinity Historical API data for compliance review.</p>"
            f"<p>Archive: {self.ctx.archive_path}</p>",
        )

    # -- state ----------------------------------------------------------------------------
    def _restore(self) -> None:
        geo = self.qsettings.value("geometry")
        if geo is not None:
            self.restoreGeometry(geo)
        else:
            self.resize(1280, 800)
        chosen = self.qsettings.value("datasets")
        if chosen:
            self.download.picker.set_selected(
                list(chosen) if isinstance(chosen, list) else [str(chosen)]
            )
        tab = self.qsettings.value("tab")
        if tab is not None:
            self.tabs.setCurrentIndex(int(tab))

    def closeEvent(self, event: QCloseEvent) -> None:
        self.download.stop()
        if self.self_test is not None:
            self.self_test.stop()
        for panel in (self.browse, self.search, self.interactions, self.cases, self.audit):
            panel.wait_jobs()
        if self._held_job is not None:
            self._held_job.wait()
        self.browse.close_reader()
        self.audit.close_reader()
        self.qsettings.setValue("geometry", self.saveGeometry())
        self.qsettings.setValue("datasets", self.download.picker.selected())
        self.qsettings.setValue("tab", self.tabs.currentIndex())
        super().closeEvent(event)

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Escape and self.download.busy():
            self.download.cancel_download()
            return
        super().keyPressEvent(event)
