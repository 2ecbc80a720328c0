"""A clear error dialog instead of a traceback."""

from __future__ import annotations

import logging
import sys
import traceback
from types import TracebackType

from PySide6.QtWidgets import QMessageBox, QWidget

log = logging.getLogger(__name__)


def describe(exc: BaseException) -> str:
    """An exception in the words a message shows: its text, or its type when it has none."""
    return str(exc) or type(exc).__name__


def show_error(parent: QWidget | None, title: str, message: str) -> QMessageBox:
    """A window-modal message box that does not block the caller (open(), not exec())."""
    box = QMessageBox(
        QMessageBox.Icon.Critical, title, message, QMessageBox.StandardButton.Ok, parent
    )
    box.setObjectName("errorDialog")
    box.open()
    return box


def install_excepthook(parent_getter) -> None:
    """Unexpected exceptions: logged with the traceback, shown to the user in plain words."""

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        log.error("unexpected error:\n%s", "".join(traceback.format_exception(kind, exc, tb)))
        show_error(
            parent_getter(),
            "Unexpected error",
            f"{kind.__name__}: {exc}\n\nNothing already archived is lost. Details are in the log file.",
        )

    sys.excepthook = hook
