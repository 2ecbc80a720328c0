"""``archiver pull``: archive datasets from the Historical API."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from collections.abc import Generator
from typing import Any

from archiver.api import Credentials, NotReadyPolicy, Tenant
from archiver.api.limits import Limits
from archiver.api.retry import RetryPolicy
from archiver.archive import StorageError
from archiver.cli import common, monitor
from archiver.credentials import CredentialError, resolve
from archiver.datasets import DATASET_NAMES, UnknownDatasetError, resolve_names
from archiver.exitcodes import BUSY, FAILED, OK, USAGE
from archiver.iofailure import IOFailure
from archiver.jobs import Cancel, drive
from archiver.pull.outcome import RunResult
from archiver.pull.progress import Progress, format_eta
from archiver.services import pull as pulls
from archiver.timerange import RangeError, format_range

log = logging.getLogger(__name__)


class _Early:
    """A pull that ends before running: the message on stderr, and with --json the
    monitoring document on stdout."""

    def __init__(self, args: argparse.Namespace, clock: monitor.Clock) -> None:
        self.args = args
        self.clock = clock

    def end(self, code: int, status: str, msg: str, **more: Any) -> int:
        print(f"archiver pull: {msg}" if code != BUSY else msg, file=sys.stderr)
        log.warning("pull %s: %s", status, msg)
        if self.args.json:
            path = common.archive_path(self.args)
            monitor.emit(self.clock.doc("pull", status, code, archive=path, error=msg, **more))
        return code


def run(args: argparse.Namespace) -> int:
    clock = monitor.Clock()
    early = _Early(args, clock)
    try:
        tenant, creds, options = _connection(args)
        what = _what(args, args.datasets)
    except (ValueError, UnknownDatasetError, CredentialError) as exc:
        return early.end(USAGE, "usage error", str(exc))
    archive = common.archive_path(args)
    cancel = Cancel()
    job = pulls.pull(
        archive,
        tenant,
        creds,
        what,
        options,
        cancel,
        page_size=args.page_size,
        command=args.command_line,
        create_dirs=args.create_dirs,
    )
    driver = _Driver(args, cancel)
    try:
        result = driver.drive(job)
    except pulls.ArchiveBusy as exc:
        holder = vars(exc.holder) if exc.holder else None
        return early.end(BUSY, "busy", str(exc), holder=holder)
    except (pulls.NotAnArchive, pulls.Refused) as exc:  # not an archive, a lock not ours
        return early.end(FAILED, "error", _cannot_open(args, exc))
    except (ValueError, RangeError) as exc:
        if driver.planned is not None:
            raise
        return early.end(USAGE, "usage error", str(exc))
    except (OSError, StorageError) as exc:
        if driver.planned is not None:
            raise
        return early.end(FAILED, "error", _cannot_open(args, exc))
    if result is None:
        if args.json:
            monitor.emit(clock.doc("pull", "nothing to resume", 0, archive=archive))
        else:
            print("Nothing to resume: no interrupted run in this archive.")
        return OK
    if args.json:
        monitor.emit(monitor.pull_doc(clock, result, archive, args.unattended))
    else:
        _print_summary(result)
    return result.exit_code


def _cannot_open(args: argparse.Namespace, exc: Exception) -> str:
    if isinstance(exc, IOFailure):
        return str(exc)  # names the path, the cause and what to do
    return (
        f"cannot open the archive {common.archive_path(args)}: {exc}. "
        "Check the path and its permissions."
    )


def _connection(args: argparse.Namespace) -> tuple[Tenant, Credentials, pulls.PullOptions]:
    """Check the arguments: the tenant, the datasets, the credentials and the options."""
    tenant = common.tenant(args)
    # names in any case; checked here, not by argparse, so --json reports a usage error
    args.datasets = list(DATASET_NAMES) if args.all else resolve_names(args.dataset or [])
    creds = resolve(tenant.label, args.client_id)
    options = pulls.PullOptions(
        workers=args.workers,
        page_size=args.page_size,
        wait_pending=args.wait_pending,
        retry=RetryPolicy(
            attempts=8,
            initial=args.retry_initial,
            max_delay=max(args.retry_initial, 60.0),
            jitter=args.retry_initial,
        ),
        not_ready=NotReadyPolicy(initial=args.not_ready_initial),
        limits=Limits(args.max_body_mb, args.request_deadline, args.max_pages_per_chunk),
        unattended=args.unattended,
    )
    return tenant, creds, options


class _Driver:
    """Drives the pull job: once it has planned, says what runs and lets the first Ctrl-C
    cancel after the pages in flight (a second stops at once)."""

    def __init__(self, args: argparse.Namespace, cancel: Cancel) -> None:
        self.args = args
        self.cancel = cancel
        self.planned: pulls.Planned | None = None
        self.renderer = _Renderer(enabled=sys.stderr.isatty() and not args.json)
        self._old: Any = None

    def drive(
        self, job: Generator[pulls.Planned | Progress, None, RunResult | None]
    ) -> RunResult | None:
        try:
            return drive(job, self._on_yield)
        finally:
            if self._old is not None:
                signal.signal(signal.SIGINT, self._old)

    def _on_yield(self, value: pulls.Planned | Progress) -> None:
        if isinstance(value, pulls.Planned):
            self.planned = value
            self._announce(value)
            if threading.current_thread() is threading.main_thread():
                self._old = signal.signal(signal.SIGINT, self._on_sigint)
        else:
            self.renderer.update(value)

    def _announce(self, planned: pulls.Planned) -> None:
        if self.args.json:
            return
        plan = planned.plan
        what = "Resuming run" if plan.resumed else "Run"
        p = plan.params
        span = f" ({format_range(p.start, p.end, daily=p.daily)})" if p else ""
        print(
            f"{what} {plan.run_id}{span}: {len(plan.items)} chunks to fetch"
            + (f" ({plan.skipped_done} already done)" if plan.skipped_done else "")
            + f" into {planned.archive}",
            file=sys.stderr,
        )

    def _on_sigint(self, signum: int, frame: object) -> None:
        if self.cancel.is_set:  # a second Ctrl-C: stop now (committed pages stay)
            raise KeyboardInterrupt
        self.cancel.set()
        if not self.args.json:
            print(
                "\nCancelling after the pages in flight… (Ctrl-C again to stop at once)",
                file=sys.stderr,
            )


def _what(args: argparse.Namespace, datasets: list[str]) -> pulls.What:
    if args.resume:
        return pulls.Resume()
    if args.retry_pending:
        return pulls.RetryPending(tuple(datasets))
    if not datasets:
        raise ValueError("name datasets with --dataset NAME (repeatable) or --all")
    if args.incremental:
        return pulls.Incremental(
            tuple(datasets),
            lookback=pulls.parse_lookback(args.lookback),
            start=args.start,
            daily=args.dataset_type == "daily",
            filter=args.filter,
            page_size=args.page_size,
        )
    if not args.start or not args.end:
        raise ValueError(
            "give --from START and --to END (or --incremental, --resume, --retry-pending)"
        )
    params = pulls.range_params(
        datasets,
        args.start,
        args.end,
        daily=args.dataset_type == "daily",
        filter=args.filter,
        page_size=args.page_size,
    )
    return pulls.Range(params)


class _Renderer:
    """A redrawn block of one line per dataset on a TTY (stderr); silent otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.lines = 0
        self.last = 0.0

    def update(self, progress: Progress, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and not progress.finished and now - self.last < 0.2:
            return
        self.last = now
        out = []
        for d in progress.datasets.values():
            width = 20
            frac = d.finished_chunks / d.chunks_total if d.chunks_total else 1.0
            bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
            eta = f"ETA {format_eta(d.eta())}" if d.eta() is not None else ""
            out.append(
                f"{d.dataset:<24} [{bar}] {d.finished_chunks}/{d.chunks_total} chunks {d.pages:>6} pages {d.rows:>9,} rows received {d.rate():>7,.0f}/s {eta:<12} {d.state}"
            )
        term = common.raw_stream(sys.stderr)  # our own cursor movements; the text is safe()
        if self.lines:
            term.write(f"\x1b[{self.lines}F")
        term.write("".join(common.safe(line, newlines=False) + "\x1b[K\n" for line in out))
        term.flush()
        self.lines = len(out)


def _print_summary(result: RunResult) -> None:
    rows = [("dataset", "state", "chunks", "pages", "rows received", "new records", "note")]
    for d in result.progress.datasets.values():
        note = d.message if d.state in ("failed", "not entitled", "waiting for data") else ""
        note = common.safe(note, newlines=False)  # a server's words, on one line
        if d.conflicts:
            note = (note + f" {d.conflicts} integrity conflicts").strip()
        if d.quarantined:
            note = (note + f" {d.quarantined} malformed pages quarantined").strip()
        rows.append(
            (
                d.dataset,
                d.state,
                f"{d.chunks_done}/{d.chunks_total}",
                f"{d.pages:,}",
                f"{d.rows:,}",
                f"{d.new_rows:,}",
                note,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(6)]
    for r in rows:
        print(
            "  ".join(c.ljust(w) for c, w in zip(r[:6], widths, strict=True))
            + ("  " + r[6] if r[6] else "")
        )
    for name, c in result.counts.items():
        for failure in c["failures"][:5]:
            print(f"  not archived: {common.safe(failure, newlines=False)}")
        if len(c["failures"]) > 5:
            print(f"  … and {len(c['failures']) - 5} more chunks of {name} not archived")
    if result.reading:
        print(f"The server's reading of an interval `ending`: {result.reading}.")
    verdict = {
        0: "All chunks archived.",
        3: "Some chunks are pending (202: not processed yet) or failed (see above). Rerun the same command for failed chunks; `archiver pull --retry-pending` later for pending ones.",
        4: f"Authentication failed: {result.error}",
        5: "Finished, but some datasets are not entitled for this tenant (see above): ask your Avaya administrator about Analytics Insights.",
        130: "Cancelled. Everything archived so far is kept; rerun the same command (or `archiver pull --resume`) to continue.",
    }.get(result.exit_code, f"Failed: {result.error}")
    print(f"Run {result.run_id}: {result.status}. {common.safe(verdict, newlines=False)}")
    if result.checkpoint:
        print(result.checkpoint)
