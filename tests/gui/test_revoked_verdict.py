"""The Verify dialog shows a revoked signer's verdict (issue 18 §10): its own words and
colour, the revocation's date and reason, and no offer to trust the signer."""

from __future__ import annotations

from archiver.gui.bundles import VERDICTS, VerifyDialog
from archiver.gui.workers import SyncRunner
from archiver.services import bundles, keys
from tests.core.test_revocation import REVOKED, archive, export, key_dir, passphrase  # noqa: F401


def test_verify_dialog_shows_the_revoked_verdict(qtbot, archive, tmp_path):  # noqa: F811
    kd = key_dir(tmp_path)
    ident = keys.load_or_create(kd)
    bundle = export(archive, tmp_path / "b", ident)
    keys.trust_revoke(ident.fingerprint, "key leaked", key_dir=kd)
    dlg = VerifyDialog(SyncRunner(), key_dir=kd)
    qtbot.addWidget(dlg)
    dlg.show()
    dlg.path.setText(str(bundle))
    dlg.run()
    assert dlg.report is not None and dlg.report.state == bundles.REVOKED
    assert (
        dlg.state.text() == VERDICTS[bundles.REVOKED][0] == "⚠ INTACT, BUT THE SIGNER WAS REVOKED"
    )
    assert REVOKED.search(dlg.verdict.text()), dlg.verdict.text()
    assert dlg.verdict.property("state") == "revoked" and dlg.verdict.property("ok") is False
    assert "no trusted timestamp" in dlg.details.toPlainText()
    assert not dlg.pin_button.isVisible()
    assert ident.fingerprint in dlg.signer.text()
