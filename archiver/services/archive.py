"""The archive's own use cases: verify it, back it up, export a dataset, report coverage.

Each writes its custody entry (``verify-archive``, ``backup``, ``export-dataset``) itself,
whichever front-end called it; verify-archive and export-dataset also write a checkpoint
(services/checkpoints.py)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from archiver.archive.errors import StorageError
from archiver.archive.queries import coverage as cov
from archiver.archive.queries.reader import Reader
from archiver.archive.schema import ArchiveVersionError
from archiver.archive.store import Archive
from archiver.archive.verify import VerifyReport, verify_archive
from archiver.datasets import resolve_name
from archiver.export import keys
from archiver.export.csvsafe import MODES as CSV_FORMULA_MODES
from archiver.export.warehouse import FORMATS, ExportError
from archiver.export.warehouse import export_dataset as _export_dataset
from archiver.services import checkpoints
from archiver.timerange import format_range

AT_ENDING = cov.AT_ENDING
NEVER_REQUESTED = cov.NEVER_REQUESTED
STATE_WORDS = cov.STATE_WORDS
DayCoverage = cov.DayCoverage

__all__ = [
    "AT_ENDING",
    "CSV_FORMULA_MODES",
    "FORMATS",
    "NEVER_REQUESTED",
    "STATE_WORDS",
    "ArchiveVersionError",
    "CoverageReport",
    "DayCoverage",
    "ExportError",
    "VerifyReport",
    "backup",
    "coverage",
    "export_dataset",
    "verify",
]


def verify(
    path: Path,
    *,
    via: str,
    progress: Callable[[int, int], None] | None = None,
    read_only: bool = False,
    expect: Iterable[checkpoints.Checkpoint] = (),
    key_dir: Path | None = None,
    identity: keys.SigningIdentity | None = None,
) -> VerifyReport:
    """Recompute every checksum and chain and prove the past: every checkpoint recorded
    (audit log, sidecar) or given (``expect``) must be a prefix of the chains.

    On success the archive records that it was verified (``via``: who asked, e.g. "cli" or
    "gui") and writes a checkpoint, unless ``read_only``. A read-only medium still verifies
    (the report says nothing could be recorded). An archive of an older schema is brought
    to the current one first (backed up, then migrated: the migration keeps every stored
    value as it was, so an edit is still found); with ``read_only`` a temporary migrated copy
    is checked instead and the file is left as it is. ``identity``: the key that signs the
    checkpoint (None: the one in ``key_dir``, when it can be loaded)."""
    if not read_only:
        _bring_up_to_date(path)
    report = verify_archive(path, progress, expect=expect, certs=checkpoints.certificates(key_dir))
    if read_only:
        report.recorded.append("Nothing was written (read-only verification).")
    elif report.ok:
        _record_verified(path, report, via, key_dir, identity)
    else:
        report.recorded.append(
            "Nothing was recorded: an archive that fails verification gets no verify-archive "
            "entry and no checkpoint."
        )
    return report


def _bring_up_to_date(path: Path) -> None:
    """Open the archive once for writing: migrations run (with their backup) if it is old."""
    if not path.exists():
        return  # verify_archive says there is no archive
    try:
        Archive(path).close()
    except (StorageError, OSError):
        pass  # a read-only medium: verify_archive checks a migrated copy


def _record_verified(
    path: Path,
    report: VerifyReport,
    via: str,
    key_dir: Path | None,
    identity: keys.SigningIdentity | None = None,
) -> None:
    try:
        with Archive(path) as a:
            a.audit(
                "verify-archive",
                {
                    "result": "ok",
                    "pages": report.pages,
                    "records": report.records,
                    "audit_entries": report.audit_entries,
                    "chain_head": report.chain_head,
                    "audit_head": report.audit_head,
                    "checkpoints": report.checkpoints,
                    "via": via,
                },
            )
            rec = checkpoints.record(
                path, "verify-archive", key_dir=key_dir, identity=identity, archive=a
            )
    except (StorageError, OSError) as exc:  # a read-only medium: the verification stands
        report.recorded.append(
            f"Nothing was recorded in the archive (not writable: {type(exc).__name__}: {exc})."
        )
        return
    report.recorded.extend(checkpoints.describe(rec))


def backup(path: Path, out: Path) -> Path:
    """A consistent copy through SQLite's backup API; refuses to overwrite a file. The
    checkpoint sidecar is copied beside it first (so every line it holds is a prefix of the
    copy, even while a pull appends)."""
    with Reader(path) as db:
        if out.exists():
            raise FileExistsError(f"{out} exists; choose a new file name.")
        side = checkpoints.sidecar_path(path)
        if side.exists():
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(side, checkpoints.sidecar_path(out))
        db.backup_to(out)
    with Archive(path) as a:
        a.audit("backup", {"to": str(out.resolve())})
    return out


def export_dataset(
    path: Path,
    dataset: str,
    fmt: str,
    out: Path,
    *,
    dataset_type: str = "interval",
    start: date | None = None,
    end: date | None = None,
    all_versions: bool = False,
    csv_formulas: str = "escape",
) -> int:
    """Rows of one dataset stream for a data warehouse; returns how many were written.
    ``csv_formulas``: ``escape`` (default: formula cells neutralised, reversibly) or ``raw``."""
    dataset = resolve_name(dataset)
    n = _export_dataset(
        path,
        dataset,
        fmt,
        out,
        start=start,
        end=end,
        all_versions=all_versions,
        dataset_type=dataset_type,
        csv_formulas=csv_formulas,
    )
    with Archive(path) as a:
        a.audit(
            "export-dataset",
            {
                "dataset": dataset,
                "dataset_type": dataset_type,
                "format": fmt,
                "out": str(out.resolve()),
                "rows": n,
                "all_versions": all_versions,
                **({"csv_formulas": csv_formulas} if fmt == "csv" else {}),
                "from": start.isoformat() if start else None,
                "to": end.isoformat() if end else None,
            },
        )
        checkpoints.record(path, "export-dataset", archive=a)
    return n


@dataclass
class CoverageReport:
    """What coverage shows for a range: every dataset stream on every day of it."""

    days: list[DayCoverage] = field(default_factory=list)
    #: per dataset: the server's reading of an interval `ending`, described
    readings: dict[str, str] = field(default_factory=dict)
    #: the first and the last interval shown (both included), None when nothing is
    first: datetime | None = None
    last: datetime | None = None

    @property
    def not_walked(self) -> int:
        """Requested intervals that no finished walk covers."""
        return sum(d.requested - d.walked for d in self.days)

    @property
    def days_never_requested(self) -> int:
        """Dataset-days whose state is never requested: no interval of them, or only some
        (the rest walked), was asked for."""
        return sum(1 for d in self.days if d.state == NEVER_REQUESTED)

    @property
    def days_wholly_never_requested(self) -> int:
        """Dataset-days of the range of which no interval was requested."""
        return sum(1 for d in self.days if not d.requested)

    @property
    def never_requested(self) -> int:
        """Intervals (daily streams: days) of the range that nobody requested."""
        return sum(d.never_requested for d in self.days)

    def range_text(self) -> str:
        if self.first is None or self.last is None:
            return "nothing requested"
        if (self.first.hour, self.first.minute, self.last.hour, self.last.minute) == (0, 0, 23, 45):
            return format_range(self.first.date(), self.last.date())  # whole days
        return format_range(self.first, self.last)

    def notes(self) -> list[str]:
        """Why days are not done (the chunks' messages), and intervals walked as the previous
        chunk's `ending`."""
        notes = [
            f"{d.dataset} {d.day}: {m}" for d in self.days for m in d.messages if d.state != "done"
        ]
        notes += [
            f"{d.dataset} {d.day}: {d.at_ending} interval{'s' if d.at_ending != 1 else ''} "
            f"walked, {AT_ENDING} (the archive shows the server's `ending` is inclusive)"
            for d in self.days
            if d.at_ending
        ]
        return notes

    def verdict(self) -> str:
        """The closing line, the same in the CLI and the app: days never requested (as the
        day states count them), then requested intervals not walked."""
        if not self.days:
            return "Nothing requested in this range yet: pull it first."
        missing = self.not_walked
        walked = (
            f"{missing:,} requested interval{'s' if missing != 1 else ''} not walked"
            if missing
            else "every requested interval was walked to completion"
        )
        days, whole = self.days_never_requested, self.days_wholly_never_requested
        if not days and not missing and not self.never_requested:
            return "Every interval of the range was requested and walked to completion."
        parts = []
        if days:
            part = days - whole
            how = (
                f"{whole:,} wholly, {part:,} in part"
                if whole and part
                else ("in part" if part else "wholly")
            )
            n = self.never_requested
            parts.append(
                f"{days:,} dataset-day{'s' if days != 1 else ''} never requested ({how}; "
                f"{n:,} interval{'s' if n != 1 else ''} in all)"
            )
        text = "; ".join([*parts, walked]) + "."
        return text[:1].upper() + text[1:]


def coverage(
    path: Path,
    *,
    dataset: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    detail: bool = False,
) -> CoverageReport:
    """Per dataset stream and UTC day of [start, end] (the first and the last interval, both
    included; either left out: where the archive's requests begin or end), what the
    archive's evidence shows (read only): days never requested included."""
    if dataset:
        dataset = resolve_name(dataset)
    with Reader(path) as db:
        days = cov.day_coverage(db, dataset=dataset, start=start, end=end, detail=detail)
        names = dict.fromkeys(d.dataset for d in days)
        readings = {d: cov.server_reading(db, d).describe() for d in names}
    first = last = None
    if days:
        first = start or datetime.fromisoformat(min(d.day for d in days)).replace(tzinfo=UTC)
        last = end or datetime.fromisoformat(max(d.day for d in days)).replace(
            tzinfo=UTC, hour=23, minute=45
        )
    return CoverageReport(days, readings, first, last)
