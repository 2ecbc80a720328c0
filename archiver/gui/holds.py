"""The hold badge: how a held interaction looks wherever the window shows it (the
Interactions list and view, Search results, Browse rows of its datasets, the Cases tab),
and the one job that reads which interactions are held (services.cases)."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QIcon, QPainter, QPixmap

from archiver.gui.workers import Job
from archiver.jobs import Cancel
from archiver.services import cases

#: the badge's words (a bundle's pages use the same: export/pdf.HOLD_BADGE)
BADGE = "⚖ LEGAL HOLD"
RED = "#8e1b1b"
#: a held row's background (conflicts are #ffcdd2: another colour, both can show)
ROW = "#ffe0b2"

Held = dict[str, list[cases.Hold]]


def describe(holds: Sequence[cases.Hold]) -> str:
    """``⚖ LEGAL HOLD: case 'Smith' (placed … by …)``, every hold."""
    return f"{BADGE}: " + "; ".join(h.describe() for h in holds)


def badge_html(holds: Sequence[cases.Hold]) -> str:
    """The badge as rich text (the case names escaped)."""
    names = ", ".join(html.escape(repr(h.case)) for h in holds)
    return (
        f"<span style='background:{RED}; color:white; font-weight:bold'>&nbsp;{BADGE}&nbsp;</span>"
        f" <span style='color:{RED}'>case {names}</span>"
    )


def row_brush() -> QBrush:
    return QBrush(QColor(ROW))


@cache
def icon() -> QIcon:
    """A small red square with ⚖: the badge in a table's first cell."""
    pix = QPixmap(16, 16)
    pix.fill(Qt.GlobalColor.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setBrush(QColor(RED))
    p.setPen(Qt.PenStyle.NoPen)
    p.drawRoundedRect(QRectF(0, 0, 16, 16), 3, 3)
    p.setPen(QColor("white"))
    font = QFont()
    font.setPixelSize(12)
    p.setFont(font)
    p.drawText(QRectF(0, 0, 16, 16), Qt.AlignmentFlag.AlignCenter, "⚖")
    p.end()
    return QIcon(pix)


def job(path: Path, done: Callable[[Held], None], name: str = "held interactions") -> Job:
    """A job that reads which interactions are held (a small table); ``done`` gets the map.
    The caller starts it (and waits for it with its other jobs)."""

    def work(_cancel: Cancel) -> Held:
        return cases.held_interactions(path)

    j = Job(work, name=name)
    j.done.connect(done)
    return j
