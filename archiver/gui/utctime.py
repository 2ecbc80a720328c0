"""The app's one time rule: ranges are entered and shown in UTC on every tab (the archive,
the API and every bundle speak UTC), the user's local time only as a hint beside them; a
range is printed inclusive, by :func:`archiver.timerange.format_range` (as in the CLI and
the report)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from PySide6.QtCore import QDate, QDateTime, QTime, QTimeZone
from PySide6.QtWidgets import QDateTimeEdit, QWidget

from archiver.timerange import format_range

__all__ = ["edit_value", "local_hint", "range_text", "set_edit", "today_utc", "utc_edit"]


def utc_edit(name: str = "", parent: QWidget | None = None) -> QDateTimeEdit:
    """A date-time edit that shows and takes UTC (never the machine's zone)."""
    edit = QDateTimeEdit(parent)
    edit.setTimeZone(QTimeZone.utc())
    edit.setCalendarPopup(True)
    edit.setDisplayFormat("yyyy-MM-dd HH:mm")
    edit.setToolTip("UTC, on a 15-minute mark (:00, :15, :30 or :45)")
    if name:
        edit.setObjectName(name)
    return edit


def edit_value(edit: QDateTimeEdit) -> datetime:
    """The edit's date and time as a UTC datetime."""
    d, t = edit.date(), edit.time()
    return datetime(d.year(), d.month(), d.day(), t.hour(), t.minute(), tzinfo=UTC)


def set_edit(edit: QDateTimeEdit, value: datetime) -> None:
    """Show a UTC instant in a UTC edit."""
    v = value.astimezone(UTC)
    edit.setDateTime(
        QDateTime(QDate(v.year, v.month, v.day), QTime(v.hour, v.minute), QTimeZone.utc())
    )


def today_utc() -> datetime:
    """00:00 UTC of today's UTC date: "Yesterday" and "Last 7 days" count UTC days."""
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def range_text(first: datetime | date, last: datetime | date, daily: bool = False) -> str:
    """A range as every screen shows it (archiver.timerange.format_range)."""
    return format_range(first, last, daily=daily)


def local_hint(first: datetime, last: datetime, daily: bool = False) -> str:
    """The same range in the machine's local time, as a hint (never what is asked for)."""
    if not first.astimezone().utcoffset() and not last.astimezone().utcoffset():
        return "Your local time is UTC."
    if daily:
        a = first.astimezone()
        b = (last + timedelta(days=1)).astimezone()
        zone = b.strftime("%Z") or b.strftime("%z")
        return f"Your local time ({zone}): {a:%Y-%m-%d %H:%M} until {b:%Y-%m-%d %H:%M}"
    a, b = first.astimezone(), last.astimezone()
    zone = b.strftime("%Z") or b.strftime("%z")
    end = f"{b:%H:%M}" if a.date() == b.date() else f"{b:%Y-%m-%d %H:%M}"
    return f"Your local time ({zone}): {a:%Y-%m-%d %H:%M} – {end}, last interval included"
