"""Render each main screen into docs/screenshots/ (run under Xvfb with the real xcb platform):

    xvfb-run -a -s "-screen 0 1400x900x24" .venv/bin/python scripts/screenshots.py [OUT]

The app's own demo mode (the embedded simulator, a throwaway key, a demo folder in a
temporary directory); a late update gives a row two versions, and one dataset is refused
(no entitlement) so every state shows. OUT (default docs/screenshots) also gets the
Export dialog asking for the key's passphrase on a machine without a keyring
(export-passphrase.png).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from archiver.gui.app import demo_context
from archiver.gui.bundles import ExportDialog
from archiver.gui.connection import ConnectionDialog
from archiver.gui.main_window import MainWindow, app_icon
from archiver.gui.workers import SyncRunner

DOCS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else DOCS


def settle(app: QApplication, seconds: float = 0.3) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    app = QApplication(sys.argv[:1])
    app.setWindowIcon(app_icon())
    tmp = Path(tempfile.mkdtemp())
    ctx, sim = demo_context(rows_per_interval=20, folder=tmp / "demo")
    ctx.runner = SyncRunner()  # every job done before the next step: deterministic pictures
    w = MainWindow(ctx, qsettings=QSettings(str(tmp / "ui.ini"), QSettings.Format.IniFormat))
    w.resize(1360, 860)
    w.show()
    d = w.download
    d.picker.set_selected(["interactionSegments", "workflowTrace", "transcript", "queue", "agent"])
    d.range.set_range(datetime(2025, 2, 1, tzinfo=UTC), datetime(2025, 2, 3, 23, 45, tzinfo=UTC))
    sim.set_faults(accepted_first=1)  # agentAux's first answer: 202, not processed yet
    d.picker.set_selected(["agentAux"])
    d.start_download()
    sim.set_faults(accepted_first=0)
    d.picker.set_selected(["interactionSegments", "workflowTrace", "transcript", "queue", "agent"])
    d.start_download()
    sim.late_update(["interactionSegments"], 0.3)
    d.start_download()  # re-pull: new versions of re-issued rows
    sim.set_faults(entitled=False)  # a tenant without Analytics Insights
    d.picker.set_selected(["queue", "agent", "workflowTrace"])
    d.range.set_range(datetime(2025, 2, 4, tzinfo=UTC), datetime(2025, 2, 4, 23, 45, tzinfo=UTC))
    d.start_download()
    sim.set_faults(entitled=True)
    settle(app)
    w.tabs.setCurrentWidget(d)
    settle(app)
    w.grab().save(str(OUT / "download.png"))
    w.tabs.setCurrentWidget(w.browse)
    w.browse.refresh()
    settle(app)
    w.browse.select_dataset("interactionSegments")
    settle(app)
    w.grab().save(str(OUT / "browse.png"))
    import sqlite3

    conn = sqlite3.connect(ctx.archive_path)
    rid = conn.execute(
        "SELECT max(record_id) FROM records_view WHERE dataset='interactionSegments'"
        " AND row_key IN (SELECT row_key FROM records GROUP BY row_key HAVING count(*) > 1)"
    ).fetchone()[0]
    iid = conn.execute(
        """SELECT s.INTERACTION_ID FROM vals_interactionSegments s
           WHERE s.INTERACTION_ID IN (SELECT INTERACTION_ID FROM vals_transcript)
           GROUP BY 1 HAVING count(*) >= 3 LIMIT 1"""
    ).fetchone()[0]
    conn.close()
    w.browse.latest.setChecked(True)
    settle(app)
    row = next(r for r in range(w.browse.model.rowCount()) if w.browse.model.record_id(r) == rid)
    dlg = w.browse.open_row(w.browse.model.index(row, 0))
    settle(app)
    dlg.grab().save(str(OUT / "row-history.png"))
    dlg.close()
    w.tabs.setCurrentWidget(w.search)
    w.search.query.setText('refund OR "anything else"')
    w.search.search_now()
    settle(app, 1.0)
    w.search.view.setCurrentIndex(w.search.model.index(0, 0))
    settle(app)
    w.grab().save(str(OUT / "search.png"))
    w.tabs.setCurrentWidget(w.interactions)
    settle(app)
    if OUT != DOCS:  # what the tab shows on opening: the latest interactions
        w.grab().save(str(OUT / "interactions-opened.png"))
    w.interactions.query.setText(iid[:12])
    w.interactions.search()
    w.interactions.results.setCurrentRow(0)
    w.interactions.show_interaction(iid)
    settle(app)
    w.grab().save(str(OUT / "interaction.png"))
    # a case: interactions by hand and by a search, under legal hold
    from archiver.services import cases as case_service

    case_service.create(
        ctx.archive_path, "Smith complaint", "Customer complaint about a refund", "CMP-2025-017"
    )
    conn = sqlite3.connect(ctx.archive_path)
    (phone,) = conn.execute(
        """SELECT SOURCE_PHONE_NUMBER FROM vals_interactionSegments
           WHERE INTERACTION_ID = ? AND SOURCE_PHONE_NUMBER != ''
           UNION ALL SELECT SOURCE_PHONE_NUMBER FROM vals_interactionSegments
           WHERE SOURCE_PHONE_NUMBER != '' LIMIT 1""",
        (iid,),
    ).fetchone()
    others = [
        r[0]
        for r in conn.execute(
            """SELECT DISTINCT INTERACTION_ID FROM vals_interactionSegments
               WHERE INTERACTION_ID != ? AND INTERACTION_SUBJECT = (SELECT INTERACTION_SUBJECT
               FROM vals_interactionSegments WHERE INTERACTION_ID = ? LIMIT 1) LIMIT 3""",
            (iid, iid),
        )
    ]
    conn.close()
    w.cases.refresh("Smith complaint")
    w.cases.add_search(f"phone:{phone}", "Smith complaint")  # the customer's interactions
    w.cases.add_ids(others)  # and, by hand, three of the same subject
    w.cases.place_hold("Litigation hold requested by Legal (matter 4411)")
    w.tabs.setCurrentWidget(w.cases)
    w.cases.refresh("Smith complaint")
    settle(app)
    w.cases.members.selectRow(0)
    settle(app)
    w.grab().save(str(OUT / "cases.png"))
    w.tabs.setCurrentWidget(w.interactions)
    w.interactions.query.setText(phone)  # the customer's interactions, held
    w.interactions.search()
    w.interactions.results.setCurrentRow(0)
    settle(app)
    w.grab().save(str(OUT / "hold-badge.png"))
    w.tabs.setCurrentWidget(w.coverage)
    settle(app)
    w.grab().save(str(OUT / "coverage.png"))
    day = w.coverage.open_day("interactionSegments", "2025-02-04")
    if day is not None:
        settle(app)
        day.grab().save(str(OUT / "coverage-day.png"))
        day.close()
    w.tabs.setCurrentWidget(w.audit)
    w.audit.run_verify().close()  # its verdict stays on the Audit tab
    settle(app)
    w.grab().save(str(OUT / "audit.png"))
    w.audit.filter(None, iid)  # who looked at this interaction, and when
    settle(app)
    w.grab().save(str(OUT / "audit-access.png"))
    w.audit.filter(None, "")
    exp = w.open_export()
    from PySide6.QtCore import QDate, QTime

    exp.start.setDate(QDate(2025, 2, 1))
    exp.start.setTime(QTime(0, 0))
    exp.end.setDate(QDate(2025, 2, 3))
    exp.end.setTime(QTime(23, 45))
    exp.redact.setCurrentText("customer-pii")
    exp.out.setText(str(tmp / "audit-bundle"))
    exp.start_export()
    settle(app)
    exp.grab().save(str(OUT / "export.png"))
    exp.close()
    w.tabs.setCurrentWidget(w.cases)
    prod = w.open_export(case="Smith complaint")
    prod.out.setText(str(tmp / "case-production"))
    prod.redact.setCurrentText("none")
    prod.start_export()
    settle(app)
    prod.grab().save(str(OUT / "case-production-dialog.png"))
    prod.close()
    print(f"case production: {tmp / 'case-production'}")
    ver = w.open_verify_bundle()
    ver.path.setText(str(tmp / "audit-bundle"))
    ver.run()
    settle(app)
    ver.grab().save(str(OUT / "verify-bundle.png"))
    ver.close()
    va = w.audit.open_verify()  # the bundle just handed out, as a witness
    va.add_witness(tmp / "audit-bundle")
    va.run()
    settle(app)
    va.grab().save(str(OUT / "verify-archive.png"))
    va.close()
    conn_dlg = ConnectionDialog(ctx, w)
    conn_dlg.show()
    conn_dlg.test_connection()
    settle(app)
    conn_dlg.grab().save(str(OUT / "connection.png"))
    conn_dlg.close()
    if OUT != DOCS:
        # a machine without an OS keyring (as this script runs): the passphrase is asked for
        headless = ExportDialog(ctx.archive_path, ctx.runner, w, key_dir=tmp / "own-keys")
        headless.show()
        settle(app)
        headless.grab().save(str(OUT / "export-passphrase.png"))
        headless.close()
    retention_screens(app, w, OUT)  # last: a disposition removes what the others show
    w.close()
    sim.stop()
    print("\n".join(str(p) for p in sorted(OUT.glob("*.png"))))


def retention_screens(app: QApplication, w: MainWindow, out: Path) -> None:
    """The Retention tab after one disposition (2025-02-01 past a 6y schedule as of
    2031-02-02, the held case's pages kept), showing what is due a day later."""
    from PySide6.QtCore import QDate

    panel = w.retention
    w.tabs.setCurrentWidget(panel)
    panel.set_schedule("interactionSegments", "6y", reason="SEC 17a-4 / FINRA 4511")
    panel.set_schedule("workflowTrace", "6y", reason="SEC 17a-4 / FINRA 4511")
    panel.set_schedule("transcript", "90d", "interval", reason="data minimisation")
    panel.as_of.setDate(QDate(2031, 2, 2))
    panel.apply_plan("Annual disposition 2031 (records management policy RM-7)")
    panel.as_of.setDate(QDate(2031, 2, 3))
    settle(app)
    w.grab().save(str(out / "retention.png"))


if __name__ == "__main__":
    if "QT_QPA_PLATFORM" not in os.environ and not os.environ.get("DISPLAY"):
        raise SystemExit(
            "run under Xvfb: xvfb-run -a -s '-screen 0 1400x900x24' python scripts/screenshots.py"
        )
    main()
