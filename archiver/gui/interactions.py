"""Interaction review: an interaction's segments and workflow trace on one timeline, shown
the way a bundle's report shows them (:mod:`archiver.services.interactions`: the same
columns, derived values and names with their ids), and its transcript messages in order."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from archiver.archive.queries.review import ArchiveReader
from archiver.counts import INTERACTIONS
from archiver.gui import holds
from archiver.gui.empty import Placeholder
from archiver.gui.errors import describe
from archiver.gui.workers import Job, JobRunner
from archiver.jobs import Cancel
from archiver.plural import plural
from archiver.services import cases
from archiver.services import interactions as review
from archiver.services.interactions import InteractionView, Named

NO_ARCHIVE = (
    "No archive yet at {path}.\n\nTo review interactions, download interactionSegments and "
    "workflowTrace on the Download tab (both need the Analytics Insights entitlement)."
)
NO_SEGMENTS = (
    "No interactions archived yet: download interactionSegments and workflowTrace on the "
    "Download tab (both need the Analytics Insights entitlement). Each interaction then shows "
    "here with its segments and workflow steps on one timeline."
)
NO_TRACE = (
    "No workflowTrace archived: timelines show segments only. Download workflowTrace on the "
    "Download tab to see each interaction's workflow steps."
)
START_HINT = "Type part of an id, name, phone number, email or queue and press Enter; Enter on an empty box lists the latest interactions."


def no_match(text: str) -> str:
    return (
        f"No interaction matches “{text}”. Search for any part of an interaction id, customer "
        "name, phone number, email, queue or notes; Enter on an empty box lists the latest "
        "interactions."
    )


def _ts(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
    except ValueError:
        return None


def timeline_items(
    segments: list[dict[str, str]], steps: list[dict[str, str]]
) -> list[tuple[str, str, datetime, datetime]]:
    """(lane, label, start, end) bars: trace steps, then each segment's wait, talk, hold, wrap."""
    items = []
    for s in steps:
        a, b = (
            _ts(s.get("UPDATEHISTORYITEM_STARTTIME", "")),
            _ts(s.get("UPDATEHISTORYITEM_ENDTIME", "")),
        )
        if a and b:
            items.append(
                (
                    "workflow",
                    f"{s.get('UPDATEHISTORYITEM_TYPE', '')}: {s.get('UPDATEHISTORYITEM_LABEL', '')}",
                    a,
                    b,
                )
            )
    for s in segments:
        end = _ts(s.get("END_TIME", ""))
        if end is None:
            continue

        def secs(col: str, seg: dict[str, str] = s) -> int:
            try:
                return int(seg.get(col) or 0)
            except ValueError:
                return 0

        wait, talk, hold, wrap = (
            secs("WAIT_TIME"),
            secs("TIME_INTERACTING"),
            secs("HOLD_TIME"),
            secs("WRAP_UP_TIME"),
        )
        start = end - timedelta(seconds=wait + talk + hold)
        lane = f"segment {s.get('SEGMENT_NUMBER', '?')}"
        t = start
        for label, dur in (("wait", wait), ("talk", talk), ("hold", hold)):
            if dur:
                items.append((lane, f"{label} {dur}s", t, t + timedelta(seconds=dur)))
                t += timedelta(seconds=dur)
        if wrap:
            items.append((lane, f"wrap {wrap}s", end, end + timedelta(seconds=wrap)))
    return items


COLORS = {
    "workflow": "#7e57c2",
    "wait": "#ffb300",
    "talk": "#43a047",
    "hold": "#e53935",
    "wrap": "#1e88e5",
}
#: what each colour means (the timeline draws this legend under its bars)
LEGEND = [
    ("workflow", "workflow step"),
    ("wait", "wait"),
    ("talk", "talk"),
    ("hold", "hold"),
    ("wrap", "wrap-up (after END_TIME)"),
]
LANE, BAR, LEGEND_ROW = 28, 22, 20


class Timeline(QWidget):
    """Horizontal bars on a shared time axis, one lane per trace / segment."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("timeline")
        self.items: list[tuple[str, str, datetime, datetime]] = []
        self.setFixedHeight(140)
        # as tall as its lanes and legend: the tables below get the rest
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_items(self, items: list[tuple[str, str, datetime, datetime]]) -> None:
        self.items = items
        lanes = len({i[0] for i in items})
        self.setFixedHeight(40 + LANE * max(1, lanes) + LEGEND_ROW)
        self.update()

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        p.fillRect(self.rect(), pal.base())
        if not self.items:
            p.setPen(pal.text().color())
            p.drawText(
                self.rect(), Qt.AlignmentFlag.AlignCenter, "Pick an interaction to see its timeline"
            )
            return
        lanes: list[str] = []
        for lane, *_ in self.items:
            if lane not in lanes:
                lanes.append(lane)
        t0 = min(i[2] for i in self.items)
        t1 = max(i[3] for i in self.items)
        span = max(1.0, (t1 - t0).total_seconds())
        left, right, top = 110, 12, 8
        width = max(10, self.width() - left - right)
        p.setPen(pal.text().color())
        for n, lane in enumerate(lanes):
            y = top + LANE * n
            p.drawText(
                QRectF(4, y, left - 8, BAR),
                Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                lane,
            )
        for lane, label, a, b in self.items:
            y = top + LANE * lanes.index(lane)
            x = left + width * (a - t0).total_seconds() / span
            w = max(2.0, width * (b - a).total_seconds() / span)
            color = QColor(
                COLORS.get(label.split(" ")[0], COLORS["workflow"])
                if lane != "workflow"
                else COLORS["workflow"]
            )
            p.fillRect(QRectF(x, y, w, BAR), color)
            p.setPen(QPen(QColor("white")))
            if w > 40:
                p.drawText(QRectF(x + 3, y, w - 6, BAR), Qt.AlignmentFlag.AlignVCenter, label)
        p.setPen(pal.text().color())
        y = top + LANE * len(lanes) + 4
        p.drawText(
            QRectF(left, y, 200, 18), Qt.AlignmentFlag.AlignLeft, f"{t0:%Y-%m-%d %H:%M:%S} UTC"
        )
        end = f"{t1:%H:%M:%S} UTC  (+{span:,.0f} s, wrap-up included)"
        room = p.fontMetrics().horizontalAdvance(end) + 4
        p.drawText(QRectF(left + width - room, y, room, 18), Qt.AlignmentFlag.AlignRight, end)
        self._legend(p, left, y + LEGEND_ROW)

    def _legend(self, p: QPainter, x: float, y: float) -> None:
        """A swatch and a word per colour, on one row under the time axis."""
        metrics = p.fontMetrics()
        for key, words in LEGEND:
            p.fillRect(QRectF(x, y + 3, 12, 12), QColor(COLORS[key]))
            p.drawText(QRectF(x + 16, y, 400, 18), Qt.AlignmentFlag.AlignVCenter, words)
            x += 16 + metrics.horizontalAdvance(words) + 18


def _table(columns: Sequence[review.Column], name: str) -> QTableWidget:
    """A table with the report's column headers (whole: columns start as wide as their
    header or content, and the table scrolls sideways), each saying where it comes from."""
    t = QTableWidget(0, len(columns))
    t.setObjectName(name)
    for i, c in enumerate(columns):
        item = QTableWidgetItem(c.header)
        item.setToolTip(c.source)
        t.setHorizontalHeaderItem(i, item)
    t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    t.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
    t.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
    t.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
    t.setWordWrap(False)
    t.verticalHeader().setVisible(False)
    header = t.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    header.setTextElideMode(Qt.TextElideMode.ElideNone)
    header.setStretchLastSection(False)
    t.resizeColumnsToContents()
    return t


def _fill(t: QTableWidget, rows: Sequence[Sequence[str | Named]]) -> None:
    """The cells (a name over its id where there is one), then columns and rows sized to
    their contents and headers."""
    t.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            text = str(value)
            item = QTableWidgetItem(text)
            item.setToolTip(text)
            t.setItem(r, c, item)
    t.resizeColumnsToContents()
    t.resizeRowsToContents()


def _box(title: str, table: QTableWidget) -> QWidget:
    return _titled(title, table)[0]


def _titled(title: str, table: QTableWidget) -> tuple[QWidget, QLabel]:
    """A table under its bold title (plain text), and the title's label."""
    box = QWidget()
    lay = QVBoxLayout(box)
    lay.setContentsMargins(0, 0, 0, 0)
    head = QLabel(title)
    head.setTextFormat(Qt.TextFormat.PlainText)
    bold = QFont(head.font())
    bold.setBold(True)
    head.setFont(bold)
    lay.addWidget(head)
    lay.addWidget(table)
    return box, head


class InteractionPanel(QWidget):
    """The Interactions tab (archive only, offline). Opening an interaction goes through
    services.interactions.open_interaction, which records it in the access log first."""

    #: "Add to case…": the interaction shown
    add_to_case = Signal(list)

    def __init__(self, archive_path: Callable[[], Path], runner: JobRunner) -> None:
        super().__init__()
        self.archive_path = archive_path
        self.runner = runner
        self._job: Job | None = None
        self._show_job: Job | None = None
        self._check_job: Job | None = None
        self._no_trace = False  # no workflowTrace archived: the hint keeps saying so
        #: interactions in the archive (archiver.counts.INTERACTIONS), from the last listing
        self.total = 0
        self.listed: tuple[str, int] = ("", -1)  # (search text, interactions listed)
        self._count_job: Job | None = None
        #: interactions under a legal hold → their holds (the badge in the list and view)
        self.held: holds.Held = {}
        #: the interaction whose details are shown ("" before the first)
        self.shown = ""
        self._rows: tuple[str, list[tuple[str, str, int]]] = ("", [])
        self.query = QLineEdit()
        self.query.setObjectName("interactionSearch")
        self.query.setPlaceholderText("Interaction id, customer name, phone, queue… (Enter)")
        self.results = QListWidget()
        self.results.setObjectName("interactionResults")
        self.hint = QLabel(START_HINT)
        self.hint.setObjectName("interactionHint")
        self.hint.setWordWrap(True)
        self.hint.setTextFormat(Qt.TextFormat.PlainText)
        self.title = QLabel("")
        self.title.setObjectName("interactionTitle")
        self.title.setTextFormat(Qt.TextFormat.PlainText)  # ids and names as text, never HTML
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        bold = QFont(self.title.font())
        bold.setBold(True)
        self.title.setFont(bold)
        #: the hold badge of the interaction shown (rich text: the case names escaped)
        self.badge = QLabel("")
        self.badge.setObjectName("interactionHoldBadge")
        self.badge.setTextFormat(Qt.TextFormat.RichText)
        self.badge.setVisible(False)
        self.add_button = QPushButton("Add to case…")
        self.add_button.setObjectName("interactionAddToCase")
        self.add_button.setEnabled(False)
        self.add_button.clicked.connect(lambda: self.add_to_case.emit([self.shown]))
        self.facts = QLabel("")
        self.facts.setObjectName("interactionFacts")
        self.facts.setTextFormat(Qt.TextFormat.PlainText)
        self.facts.setWordWrap(True)
        self.facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.timeline = Timeline()
        self.segments = _table(review.SEGMENT_COLUMNS, "segmentsTable")
        self.trace = _table(review.TRACE_COLUMNS, "traceTable")
        self.transcript = _table(review.TRANSCRIPT_COLUMNS, "transcriptTable")
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.query)
        ll.addWidget(self.hint)
        ll.addWidget(self.results, 1)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        head.addWidget(self.title, 1)
        head.addWidget(self.add_button, 0, Qt.AlignmentFlag.AlignTop)
        rl.addLayout(head)
        rl.addWidget(self.badge)
        rl.addWidget(self.facts)
        rl.addWidget(self.timeline)
        tables = QSplitter(Qt.Orientation.Vertical)
        tables.setChildrenCollapsible(False)
        tables.addWidget(_box("Segments", self.segments))
        tables.addWidget(_box("Workflow trace", self.trace))
        transcript, self.transcript_title = _titled("Transcript", self.transcript)
        self.transcript_title.setObjectName("transcriptTitle")
        tables.addWidget(transcript)
        rl.addWidget(tables, 1)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(1, 4)
        split.setSizes([300, 1000])
        self.page = Placeholder(split, "interactionsEmpty")
        lay = QHBoxLayout(self)
        lay.addWidget(self.page)
        self.query.returnPressed.connect(self.search)
        self.results.currentItemChanged.connect(
            lambda item, _: (
                self.show_interaction(item.data(Qt.ItemDataRole.UserRole)) if item else None
            )
        )

    def refresh(self) -> None:
        """Say what to do when there is nothing to review (checked in a worker)."""
        path = self.archive_path()
        if not path.exists():
            self.page.say(NO_ARCHIVE.format(path=path))
            return

        def check(_cancel: Cancel) -> tuple[bool, bool]:
            with ArchiveReader(path) as r:
                return r.has_records("interactionSegments"), r.has_records("workflowTrace")

        job = Job(check, name="check interactions")
        job.done.connect(self._checked)
        job.failed.connect(
            lambda exc: self.page.say(f"Cannot read the archive {path}: {describe(exc)}")
        )
        self._check_job = job
        self.runner.start(job)

    def _checked(self, found: tuple[bool, bool]) -> None:
        segments, traces = found
        if not segments:
            self.page.say(NO_SEGMENTS)
            return
        self.page.show_content()
        self._no_trace = not traces
        if not traces:
            self.hint.setText(NO_TRACE)
        elif self.hint.text() == NO_TRACE:
            self.hint.setText(START_HINT)
        if self.isVisible() and self.results.count() == 0 and not self.query.text().strip():
            self.search()  # the tab opens on the latest interactions, not on an empty list

    def search(self) -> None:
        path = self.archive_path()
        if not path.exists():
            self.page.say(NO_ARCHIVE.format(path=path))
            return
        text = self.query.text().strip()

        def find(_cancel: Cancel) -> tuple[list[tuple[str, str, int]], holds.Held]:
            with ArchiveReader(path) as r:
                return r.find_interactions(text), cases.held_interactions(path)

        job = Job(find, name="find interactions")
        job.done.connect(lambda found: self._found(text, *found))
        job.failed.connect(lambda exc: self.hint.setText(f"Search failed: {describe(exc)}"))
        self._job = job
        self.runner.start(job)

    def _found(
        self, text: str, rows: list[tuple[str, str, int]], held: holds.Held | None = None
    ) -> None:
        if held is not None:
            self.held = held
        self._rows = (text, rows)
        self._fill_list(rows)
        self.listed = (text, len(rows))
        if not rows:
            self.hint.setText(no_match(text) if text else NO_SEGMENTS)
            return
        more = " (the first 200: narrow the search)" if len(rows) >= 200 else ""
        if text:
            self._say(f"{INTERACTIONS.of(len(rows))} matching “{text}”{more}. Pick one.")
            return
        self._say(f"The latest {INTERACTIONS.of(len(rows))}; counting all…")
        path = self.archive_path()

        def count(_cancel: Cancel) -> int:  # a scan of the index: after the list is shown
            with ArchiveReader(path) as r:
                return r.interaction_count()

        job = Job(count, name="count interactions")
        job.done.connect(lambda n: self._counted(len(rows), n))
        self._count_job = job
        self.runner.start(job)

    def _fill_list(self, rows: list[tuple[str, str, int]]) -> None:
        """The listed interactions, each held one with the hold badge."""
        self.results.clear()
        for iid, day, n in rows:
            held = self.held.get(iid)
            mark = f"{holds.BADGE} · " if held else ""
            item = QListWidgetItem(f"{iid}\n  {mark}{day} · {plural(n, 'segment')}")
            item.setToolTip(
                f"{plural(n, 'segment')}: its latest interactionSegments records"
                + (f"\n{holds.describe(held)}" if held else "")
            )
            item.setData(Qt.ItemDataRole.UserRole, iid)
            if held:
                item.setIcon(holds.icon())
                item.setForeground(QColor(holds.RED))
            self.results.addItem(item)

    def _counted(self, listed: int, total: int) -> None:
        """The listing's hint with the archive's interactions (archiver.counts)."""
        self.total = total
        if self.listed != ("", listed):
            return  # another search has replaced that listing
        shown = f"the latest {listed:,} listed" if listed < total else "all listed"
        self._say(f"{INTERACTIONS.of(total)} in the archive, {shown}, latest first. Pick one.")

    def _say(self, found: str) -> None:
        """A listing's hint; it keeps saying when no workflowTrace is archived."""
        self.hint.setText(f"{found}\n\n{NO_TRACE}" if self._no_trace else found)

    def show_interaction(self, interaction_id: str | None) -> None:
        """Open the interaction in a worker (recorded in the access log, then read), then
        fill the views."""
        if not interaction_id:
            return
        path = self.archive_path()
        self.title.setText(f"Loading interaction {interaction_id}…")
        self.facts.setText("")
        job = Job(
            lambda _cancel: review.open_interaction(path, interaction_id, via="gui"),
            name="load interaction",
        )
        job.done.connect(self._shown)
        job.failed.connect(
            lambda exc: self.title.setText(f"Could not open the interaction: {describe(exc)}")
        )
        self._show_job = job
        self.runner.start(job)

    def _shown(self, view: InteractionView) -> None:
        self.title.setText(f"Interaction {view.id}")
        facts = [view.line]
        if view.people:
            facts.append(view.people)
        if view.notes:
            facts.append(f"Notes: {view.notes}")
        self.facts.setText("\n".join(facts))
        _fill(self.segments, view.segment_rows)
        _fill(self.trace, view.step_rows)
        _fill(self.transcript, view.message_rows)
        self.transcript_title.setText(
            f"Transcript ({plural(len(view.message_rows), 'message')}, in the order the API "
            "delivered them)"
            if view.message_rows
            else "Transcript (none archived for this interaction)"
        )
        self.shown = view.id
        self.add_button.setEnabled(True)
        if view.holds:
            self.held[view.id] = list(view.holds)
        else:
            self.held.pop(view.id, None)
        self._show_badge()
        self.timeline.set_items(timeline_items(view.segments, view.steps))

    def _show_badge(self) -> None:
        held = self.held.get(self.shown) if self.shown else None
        self.badge.setText(holds.badge_html(held) if held else "")
        self.badge.setToolTip(holds.describe(held) if held else "")
        self.badge.setVisible(bool(held))

    def set_held(self, held: holds.Held) -> None:
        """A case or hold changed: the badges follow (the list, and the interaction shown)."""
        self.held = held
        current = self.results.currentRow()
        if self._rows[1]:
            self.results.blockSignals(True)
            self._fill_list(self._rows[1])
            self.results.setCurrentRow(current)
            self.results.blockSignals(False)
        self._show_badge()

    def wait_jobs(self) -> None:
        for job in (self._job, self._show_job, self._check_job, self._count_job):
            if job:
                job.wait()
