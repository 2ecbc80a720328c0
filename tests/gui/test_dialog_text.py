"""What a person reads in the dialogs is whole: no placeholder cut off at its field's edge."""

from __future__ import annotations

from PySide6.QtWidgets import QLineEdit

from archiver.gui.bundles import ExportDialog, VerifyDialog
from archiver.gui.connection import ConnectionDialog
from archiver.gui.workers import SyncRunner


def test_no_placeholder_is_cut(qtbot, sim, window_factory, tmp_path):
    w = window_factory(sim, SyncRunner())
    for dlg in (
        ConnectionDialog(w.ctx, w),
        ExportDialog(w.ctx.archive_path, w.ctx.runner, w, key_dir=tmp_path / "k"),
        VerifyDialog(w.ctx.runner, w),
    ):
        qtbot.addWidget(dlg)
        dlg.show()
        qtbot.waitExposed(dlg)
        for edit in dlg.findChildren(QLineEdit):
            hint = edit.placeholderText()
            if hint and edit.isVisible():
                room = edit.contentsRect().width() - edit.textMargins().left() - 8
                assert edit.fontMetrics().horizontalAdvance(hint) <= room, (
                    f"{type(dlg).__name__}: “{hint}” is cut"
                )
        dlg.close()
