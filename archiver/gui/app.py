"""Start the desktop app: ``archiver gui [--demo] [--archive PATH]``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from platformdirs import user_data_path
from PySide6.QtCore import QTimer

from archiver import logs
from archiver.api.tenant import Secret
from archiver.gui.context import AppContext
from archiver.gui.errors import install_excepthook
from archiver.gui.main_window import MainWindow, app_icon
from archiver.gui.startup import create_application
from archiver.settings import Settings
from archiver.simulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, SimConfig, Simulator


def setup_logging() -> Path | None:
    """The desktop app's rotating log file (archiver.logs: the same directory as the
    command line's). Secrets never reach it."""
    return logs.setup("gui")


def demo_context(rows_per_interval: int = 20) -> tuple[AppContext, Simulator]:
    """The embedded simulator on a free loopback port, credentials filled in, and a
    separate demo archive (never the user's real one)."""
    sim = Simulator(SimConfig(rows_per_interval=rows_per_interval))
    url = sim.start()
    data = user_data_path("archiver", appauthor=False)
    settings = Settings(data / "demo-settings.json")  # never saved: demo values are per session
    settings.set("base_url", url)
    settings.set("client_id", DEFAULT_CLIENT_ID)
    ctx = AppContext(
        settings,
        data / "demo-archive.sqlite3",
        demo=True,
        demo_url=url,
        session_secret=Secret(DEFAULT_CLIENT_SECRET),
    )
    return ctx, sim


def run(args: argparse.Namespace) -> int:
    log_path = setup_logging()
    app = create_application(sys.argv[:1])
    if app is None:  # no display: the reason and what to do instead are printed
        return 1
    app.setApplicationName("Archiver")
    app.setOrganizationName("archiver")
    app.setWindowIcon(app_icon())
    sim = None
    if args.demo:
        ctx, sim = demo_context()
        if args.archive:
            ctx.archive_path = args.archive
    else:
        settings = Settings()
        ctx = AppContext(settings, args.archive or settings.archive_path())
    window = MainWindow(ctx)
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
