"""Interaction review: an interaction's segments and workflow trace on one timeline, and
its transcript messages in order."""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
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
from archiver.services import cases
from archiver.services import interactions as opening

SEGMENT_COLUMNS = [
    ("#", "SEGMENT_NUMBER"),
    ("Queue", "QUEUE_NAME"),
    ("Agent", "USER_ID"),
    ("Status", "STATUS"),
    ("Wait s", "WAIT_TIME"),
    ("Hold s", "HOLD_TIME"),
    ("Talk s", "TIME_INTERACTING"),
    ("Wrap s", "WRAP_UP_TIME"),
    ("Ended (UTC)", "END_TIME"),
    ("Transfer", "TRANSFER_LOCATION"),
    ("Completion", "COMPLETION_DISPLAY_NAME"),
]
#: the transcript's messages: the guide does not document its columns ("inspect
#: columnHeaders"): the text, and where the tenant sends them, who and when
TRANSCRIPT_COLUMNS = [
    ("Message", "TRANSCRIPT_TEXT"),
    ("Channel", "CHANNEL"),
    ("Language", "LANGUAGE"),
]
TRACE_COLUMNS = [
    ("Start (UTC)", "UPDATEHISTORYITEM_STARTTIME"),
    ("Type", "UPDATEHISTORYITEM_TYPE"),
    ("Label", "UPDATEHISTORYITEM_LABEL"),
    ("Exit port", "UPDATEHISTORYITEM_EXITPORT"),
    ("Duration", "FORMATTED_HISTORYITEM_DURATION"),
    ("Prompt", "UPDATEHISTORYITEM_PROMPT"),
    ("Input", "UPDATEHISTORYITEM_INPUT"),
]


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


class Timeline(QWidget):
    """Horizontal bars on a shared time axis, one lane per trace / segment."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("timeline")
        self.items: list[tuple[str, str, datetime, datetime]] = []
        self.setMinimumHeight(140)

    def set_items(self, items: list[tuple[str, str, datetime, datetime]]) -> None:
        self.items = items
        lanes = len({i[0] for i in items})
        self.setMinimumHeight(40 + 28 * max(1, lanes))
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
            y = top + 28 * n
            p.drawText(
                QRectF(4, y, left - 8, 22),
                Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                lane,
            )
        for lane, label, a, b in self.items:
            y = top + 28 * lanes.index(lane)
            x = left + width * (a - t0).total_seconds() / span
            w = max(2.0, width * (b - a).total_seconds() / span)
            color = QColor(
                COLORS.get(label.split(" ")[0], COLORS["workflow"])
                if lane != "workflow"
                else COLORS["workflow"]
            )
            p.fillRect(QRectF(x, y, w, 22), color)
            p.setPen(QPen(QColor("white")))
            if w > 40:
                p.drawText(QRectF(x + 3, y, w - 6, 22), Qt.AlignmentFlag.AlignVCenter, label)
        p.setPen(pal.text().color())
        y = top + 28 * len(lanes) + 4
        p.drawText(
            QRectF(left, y, 200, 18), Qt.AlignmentFlag.AlignLeft, f"{t0:%Y-%m-%d %H:%M:%S} UTC"
        )
        p.drawText(
            QRectF(left + width - 200, y, 200, 18),
            Qt.AlignmentFlag.AlignRight,
            f"{t1:%H:%M:%S} UTC  (+{span:,.0f} s)",
        )


def _table(columns: list[tuple[str, str]], name: str) -> QTableWidget:
    t = QTableWidget(0, len(columns))
    t.setObjectName(name)
    t.setHorizontalHeaderLabels([c[0] for c in columns])
    t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    t.verticalHeader().setVisible(False)
    t.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    t.horizontalHeader().setStretchLastSection(True)
    return t


def _fill(t: QTableWidget, columns: list[tuple[str, str]], rows: list[dict[str, str]]) -> None:
    t.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, (_, col) in enumerate(columns):
            item = QTableWidgetItem(row.get(col, ""))
            item.setToolTip(row.get(col, ""))
            t.setItem(r, c, item)


def transcript_lines(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """One row per message: a transcript delivered as one row (its messages one a line,
    MESSAGE_COUNT of them) is split into its lines, as a tenant that sends a row per
    message sends them."""
    out = []
    for row in rows:
        for line in (row.get("TRANSCRIPT_TEXT") or "").split("\n"):
            out.append({**row, "TRANSCRIPT_TEXT": line})
    return out


class InteractionPanel(QWidget):
    """The Interactions tab (archive only, offline). Opening an interaction goes through
    services.interactions, which records it in the access log first."""

    #: "Add to case…": the interaction shown
    add_to_case = Signal(list)

    def __init__(self, archive_path: Callable[[], Path], runner: JobRunner) -> None:
        super().__init__()
        self.archive_path = archive_path
        self.runner = runner
        self._job: Job | None = None
        self._show_job: Job | None = None
        self._check_job: Job | None = None
        #: interactions in the archive (archiver.counts.INTERACTIONS), from the last listing
        self.total = 0
        self.listed: tuple[str, int] = ("", -1)  # (search text, interactions listed)
        #: the interaction whose details are shown ("" before the first)
        self.shown = ""
        #: interactions under a legal hold → their holds (the badge in the list and view)
        self.held: holds.Held = {}
        self._rows: tuple[str, list[tuple[str, str, int]]] = ("", [])
        self._count_job: Job | None = None
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
        self.title.setWordWrap(True)
        self.add_button = QPushButton("Add to case…")
        self.add_button.setObjectName("interactionAddToCase")
        self.add_button.setEnabled(False)
        self.add_button.clicked.connect(lambda: self.add_to_case.emit([self.shown]))
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.timeline = Timeline()
        self.segments = _table(SEGMENT_COLUMNS, "segmentsTable")
        self.trace = _table(TRACE_COLUMNS, "traceTable")
        self.transcript = _table(TRANSCRIPT_COLUMNS, "transcriptTable")
        self.transcript.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.transcript.horizontalHeader().setStretchLastSection(False)
        self.transcript.setWordWrap(True)
        self.transcript_title = QLabel("<b>Transcript</b>")
        self.transcript_title.setObjectName("transcriptTitle")
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
        rl.addWidget(self.timeline)
        tables = QSplitter(Qt.Orientation.Horizontal)
        seg_box = QWidget()
        sl = QVBoxLayout(seg_box)
        sl.setContentsMargins(0, 0, 0, 0)
        sl.addWidget(QLabel("<b>Segments</b>"))
        sl.addWidget(self.segments)
        tr_box = QWidget()
        tl = QVBoxLayout(tr_box)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addWidget(QLabel("<b>Workflow trace</b>"))
        tl.addWidget(self.trace)
        tables.addWidget(seg_box)
        tables.addWidget(tr_box)
        ts_box = QWidget()
        tsl = QVBoxLayout(ts_box)
        tsl.setContentsMargins(0, 0, 0, 0)
        tsl.addWidget(self.transcript_title)
        tsl.addWidget(self.transcript)
        below = QSplitter(Qt.Orientation.Vertical)
        below.addWidget(tables)
        below.addWidget(ts_box)
        below.setSizes([300, 200])
        rl.addWidget(below, 1)
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
        if not traces:
            self.hint.setText(NO_TRACE)
        elif self.hint.text() == NO_TRACE:
            self.hint.setText(START_HINT)

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
        self._fill(rows)
        self.listed = (text, len(rows))
        if not rows:
            self.hint.setText(no_match(text) if text else NO_SEGMENTS)
            return
        more = " (the first 200: narrow the search)" if len(rows) >= 200 else ""
        if text:
            self.hint.setText(f"{INTERACTIONS.of(len(rows))} matching “{text}”{more}. Pick one.")
            return
        self.hint.setText(f"The latest {len(rows):,} interactions; counting all…")
        path = self.archive_path()

        def count(_cancel: Cancel) -> int:  # a scan of the index: after the list is shown
            with ArchiveReader(path) as r:
                return r.interaction_count()

        job = Job(count, name="count interactions")
        job.done.connect(lambda n: self._counted(len(rows), n))
        self._count_job = job
        self.runner.start(job)

    def _fill(self, rows: list[tuple[str, str, int]]) -> None:
        """The listed interactions, each held one with the badge."""
        self.results.clear()
        for iid, day, n in rows:
            mark = f"{holds.BADGE} · " if iid in self.held else ""
            item = QListWidgetItem(f"{iid}\n  {mark}{day} · {n} segment{'s' if n != 1 else ''}")
            item.setToolTip(
                f"{n} segments: its latest interactionSegments records"
                + (f"\n{holds.describe(self.held[iid])}" if iid in self.held else "")
            )
            item.setData(Qt.ItemDataRole.UserRole, iid)
            if iid in self.held:
                item.setIcon(holds.icon())
                item.setForeground(QColor(holds.RED))
            self.results.addItem(item)

    def _counted(self, listed: int, total: int) -> None:
        """The listing's hint with the archive's interactions (archiver.counts)."""
        self.total = total
        if self.listed != ("", listed):
            return  # another search has replaced that listing
        shown = f"the latest {listed:,} listed" if listed < total else "all listed"
        self.hint.setText(
            f"{INTERACTIONS.of(total)} in the archive, {shown}, latest first. Pick one."
        )

    def show_interaction(self, interaction_id: str | None) -> None:
        """Open the interaction in a worker (recorded in the access log, then read), then
        fill the views."""
        if not interaction_id:
            return
        path = self.archive_path()
        self.title.setText(f"Loading interaction {interaction_id}…")

        def load(_cancel: Cancel) -> opening.Opened:
            return opening.open_interaction(path, interaction_id, via="gui")

        job = Job(load, name="load interaction")
        job.done.connect(self._shown)
        job.failed.connect(
            lambda exc: self.title.setText(
                f"Could not open the interaction: {html.escape(describe(exc))}"
            )
        )
        self._show_job = job
        self.runner.start(job)

    def _shown(self, opened: opening.Opened) -> None:
        interaction_id, segs, steps = opened.interaction, opened.segments, opened.steps
        messages = opened.messages
        first = segs[0] if segs else {}
        who = first.get("FIRST_LAST_NAME", "")
        title = (  # archived text: escaped, it is shown as rich text
            f"<b>Interaction {html.escape(interaction_id)}</b> — {html.escape(who)} — "
            f"{html.escape(first.get('INTERACTION_SUBJECT', ''))} · {len(segs)} segment(s), "
            f"{len(steps)} workflow step(s), {len(messages)} transcript message(s)"
        )
        if opened.holds:
            title += f"<br>{holds.badge_html(opened.holds)}"
            self.held[interaction_id] = list(opened.holds)
        else:
            self.held.pop(interaction_id, None)
        self.title.setText(title)
        self.title.setToolTip(holds.describe(opened.holds) if opened.holds else "")
        self.shown = interaction_id
        self.add_button.setEnabled(True)
        _fill(self.segments, SEGMENT_COLUMNS, segs)
        _fill(self.trace, TRACE_COLUMNS, steps)
        lines = transcript_lines(messages)
        _fill(self.transcript, TRANSCRIPT_COLUMNS, lines)
        self.transcript.resizeRowsToContents()
        self.transcript_title.setText(
            f"<b>Transcript</b> ({len(lines)} message{'s' if len(lines) != 1 else ''}, "
            "in the order the API delivered them)"
            if lines
            else "<b>Transcript</b> (none archived for this interaction)"
        )
        self.timeline.set_items(timeline_items(segs, steps))

    def set_held(self, held: holds.Held) -> None:
        """A case or hold changed: the badges follow (the list, and the interaction shown)."""
        self.held = held
        current = self.results.currentRow()
        if self._rows[1]:
            self.results.blockSignals(True)
            self._fill(self._rows[1])
            self.results.setCurrentRow(current)
            self.results.blockSignals(False)
        if self.shown:
            text = self.title.text().split("<br>", 1)[0]
            if held.get(self.shown):
                text += f"<br>{holds.badge_html(held[self.shown])}"
            self.title.setText(text)

    def wait_jobs(self) -> None:
        for job in (self._job, self._show_job, self._check_job, self._count_job):
            if job:
                job.wait()
