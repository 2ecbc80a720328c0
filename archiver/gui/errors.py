"""A clear error dialog instead of a traceback."""

from __future__ import annotations

import logging
import sys
import traceback
from types import TracebackType

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QLineEdit, QMessageBox, QWidget

log = logging.getLogger(__name__)


def describe(exc: BaseException) -> str:
    """An exception in the words a message shows: its text, or its type when it has none."""
    return str(exc) or type(exc).__name__


def plain_label(text: str = "") -> QLabel:
    """A label that shows its text as text: never as HTML, whatever a server put in it."""
    label = QLabel()
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setText(text)
    return label


def fit_placeholder(edit: QLineEdit) -> QLineEdit:
    """Make ``edit`` at least as wide as its placeholder text, so the hint is never cut."""
    margins = edit.textMargins()
    room = edit.fontMetrics().horizontalAdvance(edit.placeholderText())
    edit.setMinimumWidth(room + margins.left() + margins.right() + 16)
    return edit


def plain_tooltip(text: str) -> str:
    """A tooltip of ``text`` shown literally (Qt would render a tooltip that looks like
    HTML as HTML): escaped, kept as written."""
    import html

    return f"<p style='white-space:pre-wrap'>{html.escape(text)}</p>" if text else ""


def show_error(parent: QWidget | None, title: str, message: str) -> QMessageBox:
    """A window-modal message box that does not block the caller (open(), not exec()).
    The message is plain text: an error carrying a server's words cannot inject markup."""
    box = QMessageBox(
        QMessageBox.Icon.Critical, title, message, QMessageBox.StandardButton.Ok, parent
    )
    box.setTextFormat(Qt.TextFormat.PlainText)
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
            f"{kind.__name__}: {exc}\n\nEach page is stored in a transaction of its own, so what "
            "was stored before stays stored; Verify archive (Audit tab) checks it. Details "
            "are in the log file.",
        )

    sys.excepthook = hook
