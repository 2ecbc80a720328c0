"""Create the QApplication only where a window can be shown, and never let Qt abort.

Qt aborts the process (exit 134, "Reinstalling the application may fix this problem") when
no platform plugin can start. ``archiver.display`` catches the usual causes (no display, a
display that does not answer) before Qt starts; for whatever it cannot foresee (an X server
that refuses us, a system library the xcb plugin needs), a message handler turns Qt's fatal
message into the same clear advice and exit code 1.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

from PySide6.QtCore import QtMsgType, qInstallMessageHandler
from PySide6.QtWidgets import QApplication

from archiver.display import display_problem, no_display_message

log = logging.getLogger(__name__)


def create_application(argv: Sequence[str], command: str = "archiver gui") -> QApplication | None:
    """The running QApplication, or a new one; None (after printing why and what to do
    instead) where there is no display to show a window on."""
    existing = QApplication.instance()
    if existing is not None:
        return existing  # type: ignore[return-value]
    problem = display_problem()
    if problem:
        log.error("no display: %s", problem)
        print(no_display_message(problem, command), file=sys.stderr)
        return None
    said: list[str] = []

    def handler(mode: QtMsgType, _context: object, message: str) -> None:
        if mode != QtMsgType.QtFatalMsg:
            said.append(message)
            print(message, file=sys.stderr)  # what Qt would have printed
            return
        # Qt aborts after this handler returns: leave first, with advice instead of a crash.
        reason = "Qt could not start its window system plugin"
        log.error("%s: %s", reason, " | ".join([*said, message]))
        print(no_display_message(reason, command), file=sys.stderr)
        logging.shutdown()
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(1)

    qInstallMessageHandler(handler)
    try:
        return QApplication(list(argv))
    finally:
        qInstallMessageHandler(None)
