"""Connection settings: a secret stored for one tenant never goes to another; server text is
plain text; plain http needs the explicit, warned-about opt-in."""

from __future__ import annotations

import logging
import stat

import keyring
import pytest
from PySide6.QtCore import Qt

from archiver.credentials import store_secret
from archiver.gui.connection import ConnectionDialog
from archiver.gui.errors import show_error
from archiver.gui.workers import SyncRunner
from tests.core.test_credentials import MemoryKeyring
from tests.gui.conftest import make_ctx


def requests_seen(sim) -> int:
    return sum(v for k, v in sim.stats.items() if k.startswith("status_"))


def dialog(qtbot, ctx) -> ConnectionDialog:
    dlg = ConnectionDialog(ctx)
    qtbot.addWidget(dlg)
    return dlg


def test_a_session_secret_never_follows_a_typed_url(qtbot, sim_factory, tmp_path):
    saved, other = sim_factory(), sim_factory(client_secret="other-secret")
    ctx = make_ctx(saved, tmp_path, runner=SyncRunner())
    dlg = dialog(qtbot, ctx)
    assert dlg.secret.text() == ""  # never pre-filled
    dlg.base_url.setText(other.base_url)
    dlg.client_id.setText(saved.config.client_id)
    dlg.test_connection()
    assert dlg.status.text().startswith("✗ Enter the client secret")
    assert other.base_url in dlg.status.text()
    assert requests_seen(other) == 0  # nothing was posted to the typed URL
    # the saved tenant, typed again, may use its own secret
    dlg.base_url.setText(saved.base_url)
    dlg.test_connection()
    assert dlg.status.text().startswith("✓"), dlg.status.text()


def test_a_keyring_secret_is_used_only_for_its_tenant(qtbot, sim_factory, tmp_path, monkeypatch):
    old = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    try:
        saved, other = sim_factory(), sim_factory()
        ctx = make_ctx(saved, tmp_path, runner=SyncRunner())
        ctx.session_secret = None  # the secret is in the keyring, for the saved tenant
        store_secret(ctx.tenant().label, saved.config.client_id, saved.config.client_secret)
        dlg = dialog(qtbot, ctx)
        dlg.base_url.setText(other.base_url)  # same client id and secret would work there
        dlg.test_connection()
        assert dlg.status.text().startswith("✗ Enter the client secret")
        assert requests_seen(other) == 0
        dlg.base_url.setText(saved.base_url)
        dlg.test_connection()
        assert dlg.status.text().startswith("✓"), dlg.status.text()
        # after saving another tenant without typing a secret, the old one is not used
        dlg.base_url.setText(other.base_url)
        dlg.save()
        with pytest.raises(ValueError, match="No client secret"):
            ctx.credentials()
    finally:
        keyring.set_keyring(old)


def test_server_text_is_shown_as_plain_text(qtbot, sim, tmp_path):
    ctx = make_ctx(sim, tmp_path, runner=SyncRunner())
    dlg = dialog(qtbot, ctx)
    assert dlg.status.textFormat() == Qt.TextFormat.PlainText
    box = show_error(None, "t", "<img src='http://example.invalid/x.png'><b>bold</b>")
    qtbot.addWidget(box)
    assert box.textFormat() == Qt.TextFormat.PlainText
    box.close()


def test_plain_http_needs_the_opt_in(qtbot, sim, tmp_path, socket_guard):
    ctx = make_ctx(sim, tmp_path, runner=SyncRunner())
    dlg = dialog(qtbot, ctx)
    dlg.base_url.setText("http://archive-proxy.example:8080")
    dlg.secret.setText("typed-secret")
    dlg.test_connection()
    assert "plain http to another machine" in dlg.status.text()
    assert socket_guard.violations == []  # refused before any lookup
    assert dlg.insecure_warning.isHidden()
    dlg.insecure.setChecked(True)
    assert not dlg.insecure_warning.isHidden()
    dlg.save()
    assert ctx.settings.get("allow_insecure_http") is True
    assert ctx.tenant().allow_insecure_http


def test_the_gui_log_is_private(tmp_path, monkeypatch):
    from archiver.files import private_umask
    from archiver.gui.app import setup_logging

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    private_umask()  # as the app does first (the suite's umask comes back after the test)
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        path = setup_logging()
        logging.getLogger("x").info("hello")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    finally:
        for h in root.handlers[:]:
            if h not in before:
                root.removeHandler(h)
                h.close()
