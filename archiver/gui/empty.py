"""Empty states: where a view has nothing to show, a sentence saying why and what to do."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QStackedWidget, QWidget


class Placeholder(QStackedWidget):
    """A view, or in its place a message (plain text: it may name paths and search text)."""

    def __init__(self, content: QWidget, name: str) -> None:
        super().__init__()
        self.content = content
        self.notice = QLabel()
        self.notice.setObjectName(name)
        self.notice.setWordWrap(True)
        self.notice.setTextFormat(Qt.TextFormat.PlainText)
        self.notice.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.notice.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.notice.setMargin(24)
        self.notice.setStyleSheet("font-size: 11pt;")
        self.addWidget(content)
        self.addWidget(self.notice)

    def say(self, text: str) -> None:
        """Show ``text`` instead of the view."""
        self.notice.setText(text)
        self.setCurrentWidget(self.notice)

    def show_content(self) -> None:
        self.notice.setText("")
        self.setCurrentWidget(self.content)

    def saying(self) -> str:
        """The message shown instead of the view; "" while the view is shown."""
        return self.notice.text() if self.currentWidget() is self.notice else ""
