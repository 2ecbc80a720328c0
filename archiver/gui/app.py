"""Start the desktop app: ``archiver gui [--demo] [--archive PATH]``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from platformdirs import user_data_path
from PySide6.QtCore import QSettings, QTimer

from archiver import logs
from archiver.api.tenant import Secret
from archiver.files import private_dir, private_umask
from archiver.gui.context import AppContext
from archiver.gui.errors import install_excepthook
from archiver.gui.main_window import MainWindow, app_icon
from archiver.gui.startup import create_application
from archiver.services import keys
from archiver.settings import Settings, default_archive_path
from archiver.simulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, SimConfig, Simulator


def setup_logging() -> Path | None:
    """The desktop app's rotating log file (archiver.logs: the same directory as the
    command line's, 0700, the file 0600). Secrets never reach it."""
    return logs.setup("gui")


def demo_dir() -> Path:
    """The demo's own folder: its archive, throwaway signing key, trust store and window
    state. Nothing of the user's is read or written in demo mode."""
    return user_data_path("archiver", appauthor=False) / "demo"


DEMO_SIGNER = "Archiver DEMO signer (throwaway key for simulated data)"


def demo_context(
    rows_per_interval: int = 20, folder: Path | None = None
) -> tuple[AppContext, Simulator]:
    """The embedded simulator on a free loopback port, credentials filled in, and
    everything else under the demo's folder: its archive, a throwaway signing key made for
    this session (passphrase in memory only) and the trust store beside it. Settings live in
    memory; no keyring entry is read or written."""
    sim = Simulator(SimConfig(rows_per_interval=rows_per_interval))
    url = sim.start()
    try:
        home = folder or demo_dir()
        if folder is None:
            private_dir(home.parent)  # the app's own data folder: 0700
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        settings = Settings(home / "settings.json", session=True)
        settings.set("base_url", url)
        settings.set("client_id", DEFAULT_CLIENT_ID)
        key_dir = home / "signing"
        ctx = AppContext(
            settings,
            home / "archive.sqlite3",
            demo=True,
            demo_url=url,
            session_secret=Secret(DEFAULT_CLIENT_SECRET),
            key_dir=key_dir,
            signing_identity=keys.throwaway(key_dir, DEMO_SIGNER),
        )
    except BaseException:
        sim.stop()
        raise
    return ctx, sim


def demo_window_state(ctx: AppContext) -> QSettings:
    """The demo window's size, tab and datasets: a file in the demo's folder."""
    assert ctx.key_dir is not None
    return QSettings(str(ctx.key_dir.parent / "window.ini"), QSettings.Format.IniFormat)


def run(args: argparse.Namespace) -> int:
    private_umask()  # archive, backups, bundles, keys, settings, logs: owner only
    if args.demo and args.archive:
        print(
            f"archiver gui: --demo keeps its simulated data in its own archive ({demo_dir()}), "
            "never in one named with --archive (its bundles would all say DEMO): leave one "
            "of them out.",
            file=sys.stderr,
        )
        return 2
    log_path = setup_logging()
    app = create_application(sys.argv[:1])
    if app is None:  # no display: the reason and what to do instead are printed
        return 1
    app.setApplicationName("Archiver")
    app.setOrganizationName("archiver")
    app.setWindowIcon(app_icon())
    sim = None
    qsettings = None
    if args.demo:
        ctx, sim = demo_context()
        qsettings = demo_window_state(ctx)
    else:
        settings = Settings()
        ctx = AppContext(settings, args.archive or settings.archive_path())
        if ctx.archive_path == default_archive_path():  # the app's own folder: made 0700
            private_dir(ctx.archive_path.parent)
    window = MainWindow(ctx, qsettings=qsettings)
    install_excepthook(lambda: window)
    logging.getLogger(__name__).info("started (demo=%s), log at %s", ctx.demo, log_path)
    window.show()
    if getattr(args, "quit_after", None):
        QTimer.singleShot(int(args.quit_after * 1000), window.close)
    try:
        return app.exec()
    finally:
        if sim is not None:
            sim.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """The ``archiver-gui`` launcher."""
    parser = argparse.ArgumentParser(prog="archiver-gui")
    parser.add_argument("--demo", action="store_true")
    parser.add_argument("--archive", type=Path, default=None)
    parser.add_argument("--quit-after", type=float, default=None, help=argparse.SUPPRESS)
    return run(parser.parse_args(argv))
