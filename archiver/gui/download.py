"""Choose datasets and a range, download in background workers, watch the jobs."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from PySide6.QtCore import QDateTime, Qt, QTime, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from archiver.api.query import check_filter
from archiver.counts import RECORDS, ROWS_RECEIVED
from archiver.datasets import ANALYTICS_INSIGHTS, DATASETS, FILTERABLE_COLUMNS, STANDARD
from archiver.gui import utctime
from archiver.gui.context import AppContext
from archiver.gui.errors import describe, plain_label, plain_tooltip
from archiver.gui.unattended import ScheduleLine
from archiver.gui.workers import Job
from archiver.pull.outcome import EXIT_AUTH, RunResult
from archiver.pull.plan import PullParams
from archiver.pull.progress import Progress, format_eta
from archiver.services import pull as pulls

STATE_COLORS = {
    "done": "#2e7d32",
    "running": "#1565c0",
    "queued": "#616161",
    "waiting for data": "#ef6c00",
    "not entitled": "#6a1b9a",
    "failed": "#c62828",
    "cancelled": "#8d6e63",
}


class DatasetPicker(QTreeWidget):
    """The 13 datasets, grouped Standard / Analytics Insights, with the guide's descriptions."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("datasetPicker")
        self.setHeaderLabels(["Dataset", "Description"])
        self.items: dict[str, QTreeWidgetItem] = {}
        for group in (STANDARD, ANALYTICS_INSIGHTS):
            top = QTreeWidgetItem(
                [
                    group,
                    "requires the Analytics Insights entitlement"
                    if group == ANALYTICS_INSIGHTS
                    else "",
                ]
            )
            top.setFlags(
                top.flags() | Qt.ItemFlag.ItemIsAutoTristate | Qt.ItemFlag.ItemIsUserCheckable
            )
            top.setCheckState(0, Qt.CheckState.Unchecked)
            self.addTopLevelItem(top)
            for ds in DATASETS.values():
                if ds.entitlement != group:
                    continue
                item = QTreeWidgetItem([ds.name, ds.description])
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(0, Qt.CheckState.Unchecked)
                item.setToolTip(0, ds.description)
                top.addChild(item)
                self.items[ds.name] = item
            top.setExpanded(True)
        self.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)

    def selected(self) -> list[str]:
        return [n for n, it in self.items.items() if it.checkState(0) == Qt.CheckState.Checked]

    def set_selected(self, names: list[str]) -> None:
        for n, it in self.items.items():
            it.setCheckState(0, Qt.CheckState.Checked if n in names else Qt.CheckState.Unchecked)

    def clear_mark(self, name: str) -> None:
        it = self.items[name]
        if it.data(0, Qt.ItemDataRole.UserRole):
            it.setText(1, DATASETS[name].description)
            it.setForeground(0, QBrush())
            it.setForeground(1, QBrush())
            it.setToolTip(0, DATASETS[name].description)
            it.setToolTip(1, "")
            it.setData(0, Qt.ItemDataRole.UserRole, None)

    def mark_not_entitled(self, name: str, message: str) -> None:
        it = self.items[name]
        it.setText(1, f"Not entitled for this tenant — {DATASETS[name].description}")
        it.setForeground(0, QBrush(QColor(STATE_COLORS["not entitled"])))
        it.setForeground(1, QBrush(QColor(STATE_COLORS["not entitled"])))
        it.setToolTip(0, plain_tooltip(message))  # the server's words, shown as text
        it.setToolTip(1, plain_tooltip(message))
        it.setData(0, Qt.ItemDataRole.UserRole, "not entitled")


def _snap(dt: QDateTime) -> QDateTime:
    t = dt.time()
    return QDateTime(dt.date(), QTime(t.hour(), t.minute() - t.minute() % 15), dt.timeZone())


class RangePicker(QGroupBox):
    """Interval mode (UTC date-times on 15-minute marks, the first and the last interval,
    both included) or daily mode (UTC dates), plus quick ranges in UTC days; the range is
    shown as every screen prints it, with the local time as a hint (gui/utctime.py)."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Range (UTC)", parent)
        self.interval = QRadioButton("Intervals (15 min)")
        self.daily = QRadioButton("Daily")
        self.interval.setChecked(True)
        mode = QButtonGroup(self)
        mode.addButton(self.interval)
        mode.addButton(self.daily)
        self.start = utctime.utc_edit("rangeStart")
        self.end = utctime.utc_edit("rangeEnd")
        for w in (self.start, self.end):
            w.dateTimeChanged.connect(self._changed)
        self.shown = QLabel()
        self.shown.setObjectName("rangeText")
        self.local = QLabel()
        self.local.setObjectName("rangeLocalHint")
        self.local.setStyleSheet("color: #616161")
        for text in (self.shown, self.local):
            text.setWordWrap(True)  # never widens the window
        modes = QHBoxLayout()
        modes.addWidget(self.interval)
        modes.addWidget(self.daily)
        modes.addStretch()
        quick = QHBoxLayout()
        for label, fn in (
            ("Yesterday", self.yesterday),
            ("Last 7 days", self.last_7_days),
            ("Last month", self.last_month),
        ):
            b = QPushButton(label)
            b.setObjectName(f"quick{label.replace(' ', '')}")
            b.setToolTip(f"{label}, in whole UTC days")
            b.clicked.connect(fn)
            quick.addWidget(b)
        quick.addStretch()
        form = QFormLayout(self)
        form.addRow(modes)
        self.start_label = QLabel("From (UTC)")
        self.end_label = QLabel("To (UTC, included)")
        form.addRow(self.start_label, self.start)
        form.addRow(self.end_label, self.end)
        form.addRow("", self.shown)
        form.addRow("", self.local)
        form.addRow("Quick (UTC days)", quick)
        self.interval.toggled.connect(self._mode)
        self._mode()
        self.last_7_days()

    def _mode(self) -> None:
        daily = self.daily.isChecked()
        fmt = "yyyy-MM-dd" if daily else "yyyy-MM-dd HH:mm"
        for w in (self.start, self.end):
            w.setDisplayFormat(fmt)
        self.start_label.setText("First day (UTC)" if daily else "First interval (UTC)")
        self.end_label.setText(
            "Last day (UTC, included)" if daily else "Last interval (UTC, included)"
        )
        self._changed()

    def _changed(self) -> None:
        for w in (self.start, self.end):
            snapped = _snap(w.dateTime())
            if snapped != w.dateTime():
                w.setDateTime(snapped)
                return
        s, e, daily = self.bounds()
        if s > e:
            self.shown.setText("The start is after the end.")
            self.local.setText("")
        else:
            self.shown.setText(utctime.range_text(s, e, daily))
            self.local.setText(utctime.local_hint(s, e, daily))
        self.changed.emit()

    def _set_utc(self, start: datetime, end: datetime) -> None:
        for w, value in ((self.start, start), (self.end, end)):
            w.blockSignals(True)
            utctime.set_edit(w, value)
            w.blockSignals(False)
        self._changed()

    def set_range(self, start: datetime, end: datetime, daily: bool = False) -> None:
        (self.daily if daily else self.interval).setChecked(True)
        self._set_utc(start, end)

    def yesterday(self) -> None:
        today = utctime.today_utc()
        self._set_utc(today - timedelta(days=1), today - timedelta(minutes=15))

    def last_7_days(self) -> None:
        today = utctime.today_utc()
        self._set_utc(today - timedelta(days=7), today - timedelta(minutes=15))

    def last_month(self) -> None:
        first = utctime.today_utc().replace(day=1)
        prev = (first - timedelta(days=1)).replace(day=1)
        self._set_utc(prev, first - timedelta(minutes=15))

    def bounds(self) -> tuple[datetime, datetime, bool]:
        """(first, last, daily): the first and the last interval (or day), both included,
        in UTC."""
        s, e = utctime.edit_value(self.start), utctime.edit_value(self.end)
        if self.daily.isChecked():
            s = datetime.combine(s.date(), datetime.min.time(), UTC)
            e = datetime.combine(e.date(), datetime.min.time(), UTC)
        return s, e, self.daily.isChecked()


class FilterEdit(QGroupBox):
    """Optional API filter: a filterable column and a value, checked as you type by the
    API's own rule (:func:`archiver.api.query.check_filter`)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Filter (optional)", parent)
        self.column = QComboBox()
        self.column.addItem("(no filter)")
        self.column.addItems(FILTERABLE_COLUMNS)
        self.value = QLineEdit()
        self.value.setObjectName("filterValue")
        self.value.setPlaceholderText("value, or prefix* (e.g. phone, 003d*)")
        self.message = plain_label("")
        self.message.setObjectName("filterMessage")
        row = QHBoxLayout()
        row.addWidget(self.column)
        row.addWidget(self.value, 1)
        lay = QVBoxLayout(self)
        lay.addLayout(row)
        lay.addWidget(self.message)
        self.value.textChanged.connect(self._check)
        self.column.currentIndexChanged.connect(self._check)

    def _check(self) -> None:
        try:
            f = self.filter()
            self.message.setText(f"filter={f}" if f else "")
            self.message.setStyleSheet("")
        except ValueError as exc:
            self.message.setText(str(exc))
            self.message.setStyleSheet(f"color: {STATE_COLORS['failed']}")

    def filter(self) -> str | None:
        if self.column.currentIndex() == 0:
            return None
        v = self.value.text()
        if not v:
            raise ValueError("Enter a value, or choose (no filter).")
        text = f"{self.column.currentText()}:{v}"
        problem = check_filter(text)
        if problem:
            raise ValueError(problem)
        return text


class JobsTable(QTableWidget):
    """One row per dataset: progress, pages, rows received, rows received per second, ETA,
    state."""

    COLUMNS = (
        "Dataset",
        "Progress",
        "Pages",
        ROWS_RECEIVED.title,
        "Rows received/s",
        "ETA",
        "State",
    )

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(self.COLUMNS), parent)
        self.setObjectName("jobsTable")
        self.setHorizontalHeaderLabels(self.COLUMNS)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.verticalHeader().setVisible(False)
        self.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.horizontalHeader().setSectionResizeMode(6, QHeaderView.ResizeMode.ResizeToContents)
        self.rows: dict[str, int] = {}
        self.bars: dict[str, QProgressBar] = {}

    def set_datasets(self, datasets: list[str]) -> None:
        """One fresh row per dataset, queued."""
        self.setRowCount(0)
        self.rows.clear()
        self.bars.clear()
        for name in datasets:
            r = self.rowCount()
            self.insertRow(r)
            self.rows[name] = r
            self.setItem(r, 0, QTableWidgetItem(name))
            bar = QProgressBar()
            bar.setRange(0, 1)
            bar.setValue(0)
            self.setCellWidget(r, 1, bar)
            self.bars[name] = bar
            for c in range(2, 7):
                self.setItem(r, c, QTableWidgetItem(""))
            self.set_dataset_state(name, "queued", "")

    def _cell(self, row: int, column: int) -> QTableWidgetItem:
        item = self.item(row, column)
        if item is None:  # every cell is created with its row (set_datasets)
            item = QTableWidgetItem("")
            self.setItem(row, column, item)
        return item

    def set_dataset_state(self, name: str, state: str, tooltip: str) -> None:
        item = self._cell(self.rows[name], 6)
        item.setText(state)
        item.setToolTip(plain_tooltip(tooltip))  # may carry a server's words
        item.setForeground(QBrush(QColor(STATE_COLORS.get(state, "#000000"))))

    def dataset_state(self, name: str) -> str:
        return self._cell(self.rows[name], 6).text()

    def update_from(self, snap: list[dict]) -> None:
        for d in snap:
            name = d["dataset"]
            if name not in self.rows:
                continue
            r = self.rows[name]
            bar = self.bars[name]
            bar.setRange(0, max(1, d["chunks_total"]))
            bar.setValue(d["finished"])
            bar.setFormat(f"{d['finished']}/{d['chunks_total']} chunks")
            self._cell(r, 2).setText(f"{d['pages']:,}")
            self._cell(r, 3).setText(f"{d['rows']:,}")
            self._cell(r, 4).setText(f"{d['rate']:,.0f}")
            self._cell(r, 5).setText(format_eta(d["eta"]))
            state = d["state"]
            tip = d["message"]
            if state == "waiting for data" and d["next_retry_at"]:
                state = f"waiting for data (retry {d['next_retry_at'][11:16]} UTC)"
            self.set_dataset_state(name, state, tip)


def snapshot(p: Progress) -> list[dict]:
    """A copy of the progress for the GUI thread (the engine keeps mutating its own)."""
    return [
        {
            "dataset": d.dataset,
            "chunks_total": d.chunks_total,
            "finished": d.finished_chunks,
            "pages": d.pages,
            "rows": d.rows,
            "rate": d.rate(),
            "eta": d.eta(),
            "state": d.state,
            "message": d.message,
            "next_retry_at": d.next_retry_at,
        }
        for d in p.datasets.values()
    ]


def throttled(
    run: Generator[pulls.Planned | Progress, None, RunResult | None], every: float = 0.1
) -> Generator[pulls.Planned | list[dict], None, RunResult | None]:
    """A pull job's progress as snapshots, at most one every ``every`` seconds (and the
    last); its plan passed on as it is; returns the pull's result."""
    last = 0.0
    while True:
        try:
            p = next(run)
        except StopIteration as stop:
            return stop.value
        if isinstance(p, pulls.Planned):
            yield p
            continue
        now = time.monotonic()
        if p.finished or now - last >= every:
            last = now
            yield snapshot(p)


# -- the status line after a run ---------------------------------------------------------
def _chunks(per: dict[str, int]) -> str:
    """``queue (3 chunks), agent (1 chunk)``."""
    return ", ".join(f"{n} ({c} chunk{'s' if c != 1 else ''})" for n, c in sorted(per.items()))


def _tally(result: RunResult, *keys: str) -> dict[str, int]:
    """Per dataset, the chunks in these states (only datasets that have any)."""
    per = {n: sum(c.get(k, 0) for k in keys) for n, c in result.counts.items()}
    return {n: v for n, v in per.items() if v}


def _not_entitled(result: RunResult) -> str:
    """What to say (and do) about datasets the tenant is not entitled to; "" if none."""
    names = sorted(_tally(result, "not_entitled"))
    if not names:
        return ""
    needs_ai = all(n in DATASETS and DATASETS[n].needs_analytics_insights for n in names)
    why = "they need the Analytics Insights entitlement" if needs_ai else "the API answered 403"
    return (
        f" {', '.join(names)} not archived: not entitled for this tenant ({why}). "
        "Ask your Avaya administrator to enable it, or untick them."
    )


def _archived(result: RunResult) -> str:
    names = sorted(n for n, c in result.counts.items() if c.get("done"))
    rows = sum(c.get("rows", 0) for c in result.counts.values())
    new = sum(c.get("new_versions", 0) for c in result.counts.values())
    if not names:
        return "Nothing was archived."
    return f"Archived {', '.join(names)}: {ROWS_RECEIVED.of(rows)}, {RECORDS.of(new, 'new')}."


def _finished_line(result: RunResult) -> str:
    if not result.counts:
        return "Finished: nothing needed fetching."
    entitled = _not_entitled(result)
    if not entitled:
        return f"Finished: every chunk archived. {_archived(result)}"
    return f"Finished, but not everything was archived.{entitled} {_archived(result)}"


def _partial_line(result: RunResult) -> str:
    pending = _chunks(_tally(result, "pending"))
    return (
        f"Partial: the API has not processed these yet (202, pending): {pending}. "
        "What came back is archived; click Retry pending later (usually within minutes)."
        f"{_not_entitled(result)} {_archived(result)}"
    )


def _failed_line(result: RunResult) -> str:
    if result.exit_code == EXIT_AUTH:
        return (
            f"Failed: {result.error}. Check the client id and secret (File → Connection…), "
            "then Download again."
        )
    bad = _tally(result, "failed", "unfinished")
    if not bad:
        return f"Failed: {result.error}. Fix the cause, then Download again. {_archived(result)}"
    first = next((m for c in result.counts.values() for m in c.get("failures", [])), "")
    pending = _tally(result, "pending")
    return (
        f"Failed: not archived: {_chunks(bad)}" + (f" (first: {first})" if first else "") + ". "
        "What was archived is kept; Download the same range again to fetch the rest."
        + (f" Still pending (202): {_chunks(pending)}: Retry pending later." if pending else "")
        + f"{_not_entitled(result)} {_archived(result)}"
    )


def _interrupted_line(result: RunResult) -> str:
    left = _tally(result, "unfinished", "failed", "pending")
    return (
        "Cancelled"
        + (f" before everything was fetched: {_chunks(left)} not archived" if left else "")
        + ". Everything archived so far is kept; Resume continues where it stopped."
        + f"{_not_entitled(result)}"
    )


_LINES = {
    "finished": _finished_line,
    "partial": _partial_line,
    "failed": _failed_line,
    "interrupted": _interrupted_line,
}


def status_line(result: RunResult) -> str:
    """What a run did, in one honest paragraph: what was archived, what was not and what to
    do about it. Built from the archive's counts (``result.counts``), never "Finished."
    when something was left out."""
    line = _LINES.get(result.status)
    text = line(result) if line else f"Ended ({result.status}): {result.error or 'no details'}."
    return f"Run {result.run_id}: {text}"


@dataclass
class _Action:
    """One click's pull: what to pull, the run's page size (None: the plan's), the method
    to call again once a busy archive is free, and whether its plan has arrived."""

    what: pulls.What
    page_size: int | None
    again: Callable[[], None]
    planned: bool = False


class DownloadPanel(QWidget):
    """The Download tab."""

    run_finished = Signal(object)

    def __init__(self, ctx: AppContext, show_error: Callable[[str, str], None]) -> None:
        super().__init__()
        self.ctx = ctx
        self.show_error = show_error
        #: the running (or last) pull
        self.job: Job | None = None
        self.picker = DatasetPicker()
        self.range = RangePicker()
        self.filter = FilterEdit()
        self.download = QPushButton("Download")
        self.download.setObjectName("downloadButton")
        self.download.setDefault(True)
        self.cancel = QPushButton("Cancel")
        self.cancel.setObjectName("cancelButton")
        self.cancel.setEnabled(False)
        self.resume_banner = plain_label("")
        self.resume_banner.setObjectName("resumeBanner")
        self.resume_banner.setWordWrap(True)
        self.resume = QPushButton("Resume")
        self.resume.setObjectName("resumeButton")
        self.retry_pending = QPushButton("Retry pending")
        self.retry_pending.setObjectName("retryPendingButton")
        self.status = plain_label("Choose datasets and a range, then Download.")
        self.status.setObjectName("downloadStatus")
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.PlainText)  # errors and names, never markup
        # another pull holds the archive (a scheduled one, another window): wait for it
        self.wait = QPushButton("Wait until it is free")
        self.wait.setObjectName("waitButton")
        self.wait.setVisible(False)
        self._after_wait: Callable[[], None] | None = None
        self.schedule = ScheduleLine(ctx)
        self.jobs = JobsTable()
        right = QVBoxLayout()
        right.addWidget(self.range)
        right.addWidget(self.filter)
        buttons = QHBoxLayout()
        buttons.addWidget(self.download)
        buttons.addWidget(self.cancel)
        buttons.addWidget(self.retry_pending)
        buttons.addWidget(self.wait)
        buttons.addStretch()
        right.addLayout(buttons)
        banner = QHBoxLayout()
        banner.addWidget(self.resume_banner, 1)
        banner.addWidget(self.resume)
        right.addLayout(banner)
        right.addWidget(self.status)
        right.addStretch()
        right.addWidget(self.schedule)
        top = QWidget()
        top_lay = QHBoxLayout(top)
        top_lay.setContentsMargins(0, 0, 0, 0)
        top_lay.addWidget(self.picker, 3)
        right_w = QWidget()
        right_w.setLayout(right)
        top_lay.addWidget(right_w, 2)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(self.jobs)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        lay = QVBoxLayout(self)
        lay.addWidget(split)
        self.download.clicked.connect(self.start_download)
        self.cancel.clicked.connect(self.cancel_download)
        self.resume.clicked.connect(self.resume_download)
        self.retry_pending.clicked.connect(self.retry_pending_chunks)
        self.wait.clicked.connect(self.wait_for_archive)
        self.set_resumable(None)

    # -- actions (one job of archiver.services.pull each) -----------------------------------
    def params(self) -> PullParams:
        datasets = self.picker.selected()
        if not datasets:
            raise ValueError("Choose at least one dataset.")
        start, end, daily = self.range.bounds()
        if start > end:
            raise ValueError("The start of the range is after its end.")
        return pulls.range_params(
            datasets,
            start,
            end,
            daily=daily,
            filter=self.filter.filter(),
            page_size=self.ctx.settings.get("page_size"),
        )

    def start_download(self) -> None:
        try:
            params = self.params()
        except ValueError as exc:
            self.status.setText(str(exc))
            return
        except Exception as exc:
            self.show_error("Cannot start the download", describe(exc))
            return
        self._start(_Action(pulls.Range(params), params.page_size, self.start_download))

    def resume_download(self) -> None:
        self._start(_Action(pulls.Resume(), None, self.resume_download))

    def retry_pending_chunks(self) -> None:
        page_size = self.ctx.settings.get("page_size")
        self._start(_Action(pulls.RetryPending(), page_size, self.retry_pending_chunks))

    def _start(self, action: _Action) -> None:
        """Run the pull job in the job runner: it reads the secret, takes the archive's
        lock, plans, runs, checkpoints and lets go. A pull already holding the archive is
        said at once (the job says so too if one takes it meanwhile)."""
        archive = self.ctx.archive_path
        try:
            tenant = self.ctx.tenant()
        except ValueError as exc:
            self._not_started(action, exc)
            return
        holder = pulls.busy(archive)
        if holder is not None:
            self._busy(pulls.ArchiveBusy(archive, holder if holder.pid else None), action.again)
            return
        s = self.ctx.settings
        options = pulls.PullOptions(
            workers=s.get("workers"),
            page_size=s.get("page_size"),
            retry=self.ctx.retry,
            signing=self.ctx.signing_identity,
        )
        what = action.what
        # a range's datasets are known now (a cancel before it starts marks them); a
        # resumed or retried run's once it is planned
        self.jobs.set_datasets(list(what.params.datasets) if isinstance(what, pulls.Range) else [])
        # the engine checks the job's token: Job.cancel() stops it after the pages in flight
        job = Job(
            lambda cancel: throttled(
                pulls.pull(
                    archive,
                    tenant,
                    self.ctx.credentials,  # read in the job's thread (the keyring)
                    what,
                    options,
                    cancel,
                    page_size=action.page_size,
                    run_empty=not isinstance(what, pulls.RetryPending),
                )
            ),
            name="pull",
        )
        job.yielded.connect(lambda value: self._progress(action, value))
        job.done.connect(lambda result: self._done(action, result))
        job.failed.connect(lambda exc: self._job_failed(action, exc))
        job.cancelled.connect(self._cancelled)
        self._working()
        self.job = job
        self.ctx.runner.start(job)

    def _progress(self, action: _Action, value: object) -> None:
        if isinstance(value, pulls.Planned):
            self._planned(action, value)
        elif isinstance(value, list):
            self.jobs.update_from(value)

    def _planned(self, action: _Action, planned: pulls.Planned) -> None:
        action.planned = True
        plan = planned.plan
        if isinstance(action.what, pulls.Resume) and plan.params:
            self.picker.set_selected(list(plan.params.datasets))
            self.range.set_range(plan.params.start, plan.params.end, plan.params.daily)
        self.jobs.set_datasets(planned.datasets)
        what = "Resuming" if plan.resumed else "Downloading"
        p = plan.params
        span = f" {utctime.range_text(p.start, p.end, p.daily)}" if p else ""
        self.status.setText(
            f"{what}{span}: {len(plan.items)} chunks"
            + (f" ({plan.skipped_done} already done)" if plan.skipped_done else "")
            + f" into {planned.archive}."
        )

    def _done(self, action: _Action, result: RunResult | None) -> None:
        if result is not None:
            self._finished(result)
            return
        self._idle()
        if isinstance(action.what, pulls.Resume):
            self.set_resumable(None)
            self.status.setText("Nothing to resume.")
        else:
            self.status.setText("No pending chunks.")

    def _job_failed(self, action: _Action, exc: BaseException) -> None:
        if action.planned:
            self._failed(exc)
        elif isinstance(exc, pulls.ArchiveBusy):
            self._idle()
            self._busy(exc, action.again)
        else:
            self._not_started(action, exc)

    def _not_started(self, action: _Action, exc: BaseException) -> None:
        """The pull could not start (no secret, no tenant, a plan that cannot be made)."""
        self._idle()
        if isinstance(action.what, pulls.Range) and isinstance(exc, ValueError):
            self.status.setText(str(exc))
            return
        title = {
            pulls.Range: "Cannot start the download",
            pulls.Resume: "Cannot resume",
        }.get(type(action.what), "Cannot retry")
        self.show_error(title, describe(exc))

    def cancel_download(self) -> None:
        job = self.job
        if job is not None and not job.finished:
            job.cancel()
            if job.name == "pull":
                self.status.setText("Cancelling after the pages in flight…")
            self.cancel.setEnabled(False)

    def stop(self, ms: int = 60_000) -> None:
        """Cancel a running pull (or a wait for the archive) and wait for it to end
        (closing the window)."""
        job = self.job
        if job is not None and not job.finished:
            job.cancel()
            job.wait(ms)
        self.schedule.wait_job(ms)

    def refresh_schedule(self) -> None:
        self.schedule.refresh()

    # -- another pull holds the archive ---------------------------------------------------
    def _busy(self, exc: pulls.ArchiveBusy, again: Callable[[], None]) -> None:
        """Say who holds the archive, and offer to wait for it."""
        self.status.setText(
            f"{exc}. Another pull (a scheduled one, or another window) is writing this "
            "archive; Wait until it is free starts this one when it has finished."
        )
        self._after_wait = again
        self.wait.setVisible(True)

    def wait_for_archive(self) -> Job:
        """Wait (cancellable) until no pull holds the archive, then do what was asked."""
        archive = self.ctx.archive_path
        job = Job(lambda cancel: pulls.wait_until_free(archive, cancel), name="wait for archive")
        job.yielded.connect(
            lambda holder: self.status.setText(
                f"Waiting: {pulls.ArchiveBusy(archive, holder)}… (Cancel stops waiting)"
            )
        )
        job.done.connect(self._waited)
        job.failed.connect(self._failed)
        job.cancelled.connect(self._stopped_waiting)
        self.wait.setVisible(False)
        self._working()
        self.job = job
        self.ctx.runner.start(job)
        return job

    def _waited(self, _: object) -> None:
        self._idle()
        again, self._after_wait = self._after_wait, None
        if again is not None:
            again()

    def _stopped_waiting(self) -> None:
        self._idle()
        self.wait.setVisible(self._after_wait is not None)
        self.status.setText("Stopped waiting; nothing was downloaded.")

    def _working(self) -> None:
        self.download.setEnabled(False)
        self.resume.setEnabled(False)
        self.retry_pending.setEnabled(False)
        self.cancel.setEnabled(True)

    def _idle(self) -> None:
        self.download.setEnabled(True)
        self.resume.setEnabled(True)
        self.retry_pending.setEnabled(True)
        self.cancel.setEnabled(False)

    def _finished(self, result: RunResult) -> None:
        self._idle()
        for name, d in result.progress.datasets.items():
            if d.not_entitled:
                self.picker.mark_not_entitled(name, d.message)
            elif d.chunks_done and name in self.picker.items:
                self.picker.clear_mark(name)
            if (
                result.status == "interrupted"
                and name in self.jobs.rows
                and d.state not in ("done", "not entitled")
            ):
                self.jobs.set_dataset_state(
                    name, "cancelled", "Cancelled: resume to continue from the saved cursor."
                )
            elif d.state == "failed" and name in self.jobs.rows:
                self.jobs.set_dataset_state(name, "failed", d.message)
        self.status.setText(status_line(result))
        if result.status == "failed":
            self.show_error("Download failed", result.error or "unknown error")
        self.refresh_resumable()
        self.run_finished.emit(result)

    def _failed(self, exc: BaseException) -> None:
        self._idle()
        self.status.setText(f"Failed: {describe(exc)}")
        self.show_error("Download failed", describe(exc))

    def _cancelled(self) -> None:
        """Cancelled before the pull started: nothing was asked of the API."""
        self._idle()
        for name in self.jobs.rows:
            self.jobs.set_dataset_state(name, "cancelled", "Cancelled before it started.")
        self.status.setText("Cancelled before the download started; nothing was downloaded.")

    def set_resumable(self, text: str | None) -> None:
        self.resume_banner.setText(text or "")
        self.resume_banner.setVisible(bool(text))
        self.resume.setVisible(bool(text))

    def refresh_resumable(self) -> None:
        from archiver.archive.queries.review import ArchiveReader

        if not self.ctx.archive_path.exists():
            self.set_resumable(None)
            return
        try:
            with ArchiveReader(self.ctx.archive_path) as r:
                runs = r.unfinished_runs()
        except Exception:
            runs = []
        if runs:
            self.set_resumable(
                f"An interrupted download (run {runs[0].run_id}, started {runs[0].started_at[:16]} UTC) can be resumed from where it stopped."
            )
        else:
            self.set_resumable(None)

    def busy(self) -> bool:
        return self.job is not None and not self.job.finished
