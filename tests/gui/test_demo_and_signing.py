"""Demo mode never touches the user's things, and a machine without an OS keyring can still
sign: the Export dialog asks for the key's passphrase (and offers to keep it in a keyring
when one exists)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail
from PySide6.QtCore import QDate, Qt

from archiver.export import keys as key_files
from archiver.gui.app import demo_context, demo_window_state
from archiver.gui.bundles import ExportDialog
from archiver.gui.main_window import MainWindow
from archiver.gui.workers import SyncRunner
from archiver.settings import Settings
from tests.gui.conftest import set_range

DEMO = "DEMO — simulated data"


class Recording(KeyringBackend):
    """An OS keyring that remembers every call (and holds what it is given)."""

    priority = 10  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str, str]] = []
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        self.calls.append(("get", service, username))
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.calls.append(("set", service, username))
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.calls.append(("delete", service, username))
        self.store.pop((service, username), None)


@pytest.fixture
def recording_keyring():
    kr = Recording()
    keyring.set_keyring(kr)
    yield kr
    keyring.set_keyring(fail.Keyring())


@pytest.fixture
def home(tmp_path, monkeypatch):
    """The user's own data and config folders (platformdirs reads these each time)."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("ARCHIVER_KEY_PASSPHRASE", raising=False)
    return tmp_path


def _users(home: Path) -> dict[str, tuple[str, int]]:
    """Every file of the user's data and config folders but the demo's own: its content
    hash and modification time."""
    demo = home / "data" / "archiver" / "demo"
    return {
        str(p.relative_to(home)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for root in (home / "data", home / "config")
        for p in sorted(root.rglob("*"))
        if p.is_file() and demo not in p.parents
    }


def test_a_demo_session_touches_nothing_of_the_users(qtbot, home, recording_keyring):
    """The user's signing key, trust store, settings and keyring entries exist; a whole demo
    session (pull, verify the archive, export, verify the bundle, connection settings) reads
    and writes none of them, signs with its throwaway key, and its bundle says DEMO."""
    user_keys = key_files.default_dir()
    key_files.create(user_keys, passphrase=b"the user's own")
    (user_keys.parent / "trust").mkdir(mode=0o700)
    (user_keys.parent / "trust" / "someone.pem").write_text("not read in demo mode")
    (user_keys.parent / "archive.sqlite3").write_bytes(b"the user's archive")
    settings = Settings()
    settings.set("customer_id", "avaya1234")
    settings.save()
    recording_keyring.store[("archiver", "signing-key-passphrase")] = "the user's own"
    recording_keyring.calls.clear()
    before = _users(home)

    ctx, sim = demo_context(rows_per_interval=2)
    ctx.runner = SyncRunner()
    try:
        w = MainWindow(ctx, qsettings=demo_window_state(ctx))
        qtbot.addWidget(w)
        w.show()
        assert ctx.archive_path == home / "data" / "archiver" / "demo" / "archive.sqlite3"
        w.download.picker.set_selected(["interactionSegments", "workflowTrace"])
        set_range(w, (2025, 2, 1, 0, 0), (2025, 2, 1, 1, 45))
        w.download.start_download()
        w._verify()
        w.audit.dialog.run()
        assert "OK: replayed " in w.audit.result.text(), w.audit.result.text()
        dlg = w.open_export()
        qtbot.addWidget(dlg)
        assert not dlg.key_box.isVisible() and "DEMO signer" in dlg.signer.text()
        dlg.start.setDate(QDate(2025, 2, 1))
        dlg.end.setDate(QDate(2025, 2, 1))
        out = home / "elsewhere" / "demo-bundle"
        dlg.out.setText(str(out))
        qtbot.mouseClick(dlg.export_button, Qt.MouseButton.LeftButton)
        assert dlg.bundle_result is not None, dlg.status.text()
        assert dlg.status.text().startswith(f"✓ Bundle {dlg.bundle_result.bundle_id} ({DEMO})")
        assert "Archiver-Demo: yes" in (out / "bag-info.txt").read_text(encoding="utf-8")
        ver = w.open_verify_bundle()
        qtbot.addWidget(ver)
        ver.path.setText(str(out))
        ver.run()
        assert ver.state.text() == f"✓ VERIFIED AND TRUSTED · {DEMO}"  # by the demo's key
        assert ver.verdict.text().startswith(DEMO)
        conn = w.open_connection()
        conn.proxy.setText("http://me:proxy-secret@127.0.0.1:3128")
        conn.secret.setText("typed in demo mode")
        conn.save()
        assert ctx.settings.proxy_url() == "http://me:proxy-secret@127.0.0.1:3128"
        w.close()
        w.qsettings.sync()  # the window's state: in the demo's folder
    finally:
        sim.stop()
    assert recording_keyring.calls == []  # no keyring entry read or written
    assert _users(home) == before and len(before) >= 5
    demo = home / "data" / "archiver" / "demo"
    assert {p.name for p in demo.iterdir()} >= {"archive.sqlite3", "signing", "window.ini"}
    assert not (demo / "settings.json").exists()  # demo settings live in memory
    assert oct(demo.stat().st_mode & 0o777) == "0o700"


def test_demo_refuses_a_named_archive(home, capsys):
    from archiver.gui import app

    class Args:
        demo, archive, quit_after = True, home / "mine.sqlite3", None

    assert app.run(Args()) == 2
    assert "--demo" in capsys.readouterr().err and not (home / "mine.sqlite3").exists()


def _pulled_window(qtbot, sim, window_factory, home):
    w = window_factory(sim, SyncRunner())
    w.key_dir = home / "keys"
    w.download.picker.set_selected(["interactionSegments"])
    set_range(w, (2025, 2, 1, 0, 0), (2025, 2, 1, 0, 45))
    w.download.start_download()
    return w


def _export(qtbot, dlg, out: Path) -> None:
    dlg.start.setDate(QDate(2025, 2, 1))
    dlg.end.setDate(QDate(2025, 2, 1))
    dlg.out.setText(str(out))
    qtbot.mouseClick(dlg.export_button, Qt.MouseButton.LeftButton)


def test_without_a_keyring_the_export_dialog_asks_for_the_passphrase(
    qtbot, sim, window_factory, home
):
    """The README's headless set-up (no keyring, no ARCHIVER_KEY_PASSPHRASE): a new key is
    made with the passphrase chosen in the dialog; the next export in the session is not
    asked again; a new session asks, and refuses a wrong passphrase."""
    w = _pulled_window(qtbot, sim, window_factory, home)
    dlg = w.open_export()
    qtbot.addWidget(dlg)
    assert dlg.key_box.isVisible() and dlg.passphrase_again.isVisible()
    assert not dlg.keep_passphrase.isVisible()  # no keyring to keep it in
    assert "no OS keyring" in dlg.key_note.text()
    _export(qtbot, dlg, home / "b1")
    assert "Type the signing key's passphrase" in dlg.status.text() and not (home / "b1").exists()
    dlg.passphrase.setText("a good passphrase")
    dlg.passphrase_again.setText("a different one")
    _export(qtbot, dlg, home / "b1")
    assert "differ" in dlg.status.text() and not (home / "b1").exists()
    dlg.passphrase_again.setText("a good passphrase")
    _export(qtbot, dlg, home / "b1")
    assert dlg.bundle_result is not None, dlg.status.text()
    assert not dlg.key_box.isVisible() and w.ctx.signing_identity is not None
    os.environ["ARCHIVER_KEY_PASSPHRASE"] = "a good passphrase"  # the key is encrypted with it
    try:
        assert key_files.load(home / "keys").fingerprint == w.ctx.signing_identity.fingerprint
    finally:
        del os.environ["ARCHIVER_KEY_PASSPHRASE"]
    again = w.open_export()  # the same session: the key is already unlocked
    qtbot.addWidget(again)
    assert not again.key_box.isVisible()
    _export(qtbot, again, home / "b2")
    assert again.bundle_result is not None
    w.ctx.signing_identity = None  # a new session
    fresh = w.open_export()
    qtbot.addWidget(fresh)
    assert fresh.key_box.isVisible() and not fresh.passphrase_again.isVisible()
    fresh.passphrase.setText("not it")
    _export(qtbot, fresh, home / "b3")
    assert "cannot be decrypted" in fresh.status.text() and not (home / "b3").exists()
    fresh.passphrase.setText("a good passphrase")
    _export(qtbot, fresh, home / "b3")
    assert fresh.bundle_result is not None, fresh.status.text()


def test_with_a_keyring_that_lacks_it_the_passphrase_can_be_kept_there(
    qtbot, sim, window_factory, home, recording_keyring
):
    key_files.create(home / "keys", passphrase=b"imported elsewhere")
    w = _pulled_window(qtbot, sim, window_factory, home)
    dlg = ExportDialog(w.ctx.archive_path, w.ctx.runner, w, key_dir=home / "keys")
    qtbot.addWidget(dlg)
    dlg.show()
    assert dlg.key_box.isVisible() and dlg.keep_passphrase.isVisible()
    assert "does not hold" in dlg.key_note.text()
    dlg.passphrase.setText("imported elsewhere")
    _export(qtbot, dlg, home / "b")
    assert dlg.bundle_result is not None, dlg.status.text()
    assert recording_keyring.store[("archiver", "signing-key-passphrase")] == "imported elsewhere"
    later = ExportDialog(w.ctx.archive_path, w.ctx.runner, w, key_dir=home / "keys")
    qtbot.addWidget(later)
    later.show()
    assert not later.key_box.isVisible()  # the keyring gives it now


def test_bundle_dialogs_end_with_close_and_open_folder(qtbot, sim, window_factory, home):
    os.environ["ARCHIVER_KEY_PASSPHRASE"] = "gui-test"
    try:
        w = _pulled_window(qtbot, sim, window_factory, home)
        dlg = w.open_export()
        qtbot.addWidget(dlg)
        assert dlg.close_button.text() == "Close" and not dlg.open_folder_button.isVisible()
        opened: list[Path] = []
        dlg.opener = lambda p: opened.append(p) or True
        _export(qtbot, dlg, home / "b")
        assert dlg.open_folder_button.isVisible() and dlg.close_button.text() == "Close"
        qtbot.mouseClick(dlg.open_folder_button, Qt.MouseButton.LeftButton)
        assert opened == [home / "b"]
        ver = w.open_verify_bundle()
        qtbot.addWidget(ver)
        ver.opener = lambda p: opened.append(p) or True
        assert ver.close_button.text() == "Close" and not ver.open_folder_button.isVisible()
        ver.path.setText(str(home / "b"))
        ver.run()
        qtbot.mouseClick(ver.open_folder_button, Qt.MouseButton.LeftButton)
        assert opened == [home / "b", home / "b"]
        qtbot.mouseClick(ver.close_button, Qt.MouseButton.LeftButton)
        assert not ver.isVisible()
    finally:
        del os.environ["ARCHIVER_KEY_PASSPHRASE"]
