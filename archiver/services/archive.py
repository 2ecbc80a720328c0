"""The archive's own use cases: verify it, back it up, export a dataset, report coverage.

Each writes its custody entry (``verify-archive``, ``backup``, ``export-dataset``) itself,
whichever front-end called it; verify-archive and export-dataset also write a checkpoint
(services/checkpoints.py)."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from archiver import iofailure, outputs
from archiver.archive.errors import NotAnArchive, StorageError
from archiver.archive.queries import bundle as bundle_q
from archiver.archive.queries import coverage as cov
from archiver.archive.queries.reader import Reader
from archiver.archive.schema import ArchiveVersionError
from archiver.archive.store import Archive, check_archive_file
from archiver.archive.verify import VerifyReport, verify_archive
from archiver.datasets import resolve_name
from archiver.export import keys
from archiver.export.csvsafe import MODES as CSV_FORMULA_MODES
from archiver.export.warehouse import FORMATS, ExportError, check_out
from archiver.export.warehouse import export_dataset as _export_dataset
from archiver.services import checkpoints, witnesses
from archiver.timerange import format_range

AT_ENDING = cov.AT_ENDING
NEVER_REQUESTED = cov.NEVER_REQUESTED
STATE_WORDS = cov.STATE_WORDS
DayCoverage = cov.DayCoverage
#: a path a command will not write (the message says why): outputs.Refused
Refused = outputs.Refused

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
    "NotAnArchive",
    "Refused",
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
    quick: bool = False,
    witnesses: Iterable[Path] = (),
) -> VerifyReport:
    """Recompute every checksum and chain and prove the past: every checkpoint recorded
    (audit log, sidecar) or given (``expect``) must be a prefix of the chains.

    On success the archive records that it was verified (``via``: who asked, e.g. "cli" or
    "gui") and writes a checkpoint, unless ``read_only``. A read-only medium still verifies
    (the report says nothing could be recorded). An archive of an older schema is brought
    to the current one first (backed up, then migrated: the migration keeps every stored
    value as it was, so an edit is still found); with ``read_only`` a temporary migrated copy
    is checked instead and the file is left as it is. ``identity``: the key that signs the
    checkpoint (None: the one in ``key_dir``, when it can be loaded).

    ``witnesses``: bundles handed out earlier (a zip, a bundle folder, a folder of bundles):
    each is verified, then the archive's chains must extend the heads it carries
    (services/witnesses.py). ``quick``: chains, checksums and checkpoints only; nothing is
    replayed (the report says so).

    Nothing but a real archive is opened: a FIFO, a device, an empty or non-SQLite file, a
    SQLite database that is not an archive raise :class:`NotAnArchive` before anything is
    read or written, and a path where no file is raises FileNotFoundError (verification
    never makes an archive)."""
    if not path.exists():
        raise FileNotFoundError(f"No archive at {path}: nothing to verify.")
    check_archive_file(path)
    if not read_only:
        _bring_up_to_date(path)
    seen = _witnesses(path, list(witnesses), key_dir)
    report = verify_archive(
        path,
        progress,
        expect=[*expect, *seen.checkpoints],
        certs=checkpoints.certificates(key_dir),
        quick=quick,
    )
    for problem in seen.problems:
        report.add(problem)
    report.notes.extend(seen.notes)
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


def _witnesses(path: Path, paths: list[Path], key_dir: Path | None) -> witnesses.Witnesses:
    if not paths:
        return witnesses.Witnesses()
    with Reader(path) as db:
        archive_id = bundle_q.archive_id(db)
    return witnesses.read(paths, archive_id, key_dir)


def _bring_up_to_date(path: Path) -> None:
    """Open the archive once for writing: migrations run (with their backup) if it is old."""
    try:
        Archive(path, create=False).close()
    except NotAnArchive:
        raise
    except (StorageError, OSError):
        pass  # a read-only medium: verify_archive checks a migrated copy
    except ArchiveVersionError:
        pass  # newer, or lowered: verify_archive says which, and the file stays as it is


def _record_verified(
    path: Path,
    report: VerifyReport,
    via: str,
    key_dir: Path | None,
    identity: keys.SigningIdentity | None = None,
) -> None:
    try:
        with Archive(path, create=False) as a:
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
                    "replayed": report.replayed,
                    "external_checkpoints": report.external,
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
    """A consistent copy through SQLite's backup API, as a new file: never over a file of
    the archive's set (by resolved path or inode), an existing file, a link, a FIFO or a
    device (:class:`Refused`, before anything is written). The checkpoint sidecar is copied
    beside it first, as a new file too (so every line it holds is a prefix of the copy, even
    while a pull appends). A full disk, a read-only medium or a refused permission (of the
    copy's place, or of the archive, which must record the backup) raises
    :class:`~archiver.iofailure.IOFailure`, with nothing left behind."""
    protect = [outputs.ArchiveSet.of(path)]
    side_out = checkpoints.sidecar_path(out)
    made: list[Path] = []
    with iofailure.naming(path, done=NOTHING_WRITTEN):  # (a read-only medium, say)
        db = Reader(path)
    with db:
        outputs.check_new(out, protect=protect)
        outputs.check_new(side_out, protect=protect, flag="--out's sidecar")
        check_custody(path)  # (after what refuses --out: a refusal changes nothing)
        sidecar = checkpoints.sidecar_bytes(path)
        with iofailure.naming(out, output=True, done=NOTHING_WRITTEN):
            out.parent.mkdir(mode=outputs.PRIVATE_DIR, parents=True, exist_ok=True)
            if sidecar is not None:
                with outputs.new_file(side_out, protect=protect, flag="--out's sidecar") as f:
                    f.write(sidecar)
                made.append(side_out)
            try:
                db.backup_to(out)
            except BaseException:
                _remove(made)  # ours, made a moment ago
                raise
            made.append(out)
    try:
        with iofailure.naming(path, done=_NOT_RECORDED.format(what="the backup")):
            with Archive(path, create=False) as a:
                a.audit("backup", {"to": str(out.resolve())})
    except iofailure.IOFailure:
        _remove(made)
        raise
    return out


#: what a failed export or backup says instead of "nothing archived was lost"
NOTHING_WRITTEN = "nothing archived was lost and nothing was written"
_NOT_RECORDED = "nothing archived was lost; {what} was removed, as the archive could not record it"


def check_custody(path: Path) -> None:
    """Before making anything that the archive must record (an export, a backup): can it
    record it? A read-only or refused archive is said at once, with nothing written."""
    if not path.exists():
        return  # the reader says there is no archive
    with iofailure.naming(path, done=NOTHING_WRITTEN):
        with Archive(path, create=False) as a:
            a.check_writable()


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
    overwrite: bool = False,
) -> int:
    """Rows of one dataset stream for a data warehouse; returns how many were written.
    ``csv_formulas``: ``escape`` (default: formula cells neutralised, reversibly) or ``raw``.
    ``out`` must be new (never a file of the archive's set, a link or a special file);
    ``overwrite`` lets a csv or jsonl export replace an existing file."""
    dataset = resolve_name(dataset)
    if fmt in FORMATS:  # what refuses --out first: a refusal changes nothing
        check_out(fmt, dataset, out, path, overwrite)
    check_custody(path)
    with iofailure.naming(out, output=True, done=NOTHING_WRITTEN):
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
            overwrite=overwrite,
        )
    try:
        with iofailure.naming(path, done=_NOT_RECORDED.format(what="the export")):
            _record_export(
                path,
                dataset,
                fmt,
                out,
                n,
                (dataset_type, all_versions, csv_formulas, overwrite),
                (start, end),
            )
    except iofailure.IOFailure:
        _remove_export(fmt, dataset, out)
        raise
    return n


def _remove(paths: list[Path]) -> None:
    """Remove files this command made a moment ago (a read-only disk refuses even that)."""
    for p in paths:
        with contextlib.suppress(OSError):
            p.unlink()


def _remove_export(fmt: str, dataset: str, out: Path) -> None:
    """Remove what a finished export-dataset wrote (its file, or its dataset= directory)."""
    if fmt == "parquet":
        shutil.rmtree(out / f"dataset={dataset}", ignore_errors=True)
    else:
        _remove([out])


def _record_export(
    path: Path,
    dataset: str,
    fmt: str,
    out: Path,
    n: int,
    how: tuple[str, bool, str, bool],
    days: tuple[date | None, date | None],
) -> None:
    """The export's custody entry and checkpoint (``how``: dataset type, all versions, CSV
    formula mode, overwrite; ``days``: from and to)."""
    dataset_type, all_versions, csv_formulas, overwrite = how
    start, end = days
    with Archive(path, create=False) as a:
        a.audit(
            "export-dataset",
            {
                "dataset": dataset,
                "dataset_type": dataset_type,
                "format": fmt,
                "out": str(out.resolve()),
                "rows": n,
                "all_versions": all_versions,
                **({"overwrite": True} if overwrite else {}),
                **({"csv_formulas": csv_formulas} if fmt == "csv" else {}),
                "from": start.isoformat() if start else None,
                "to": end.isoformat() if end else None,
            },
        )
        checkpoints.record(path, "export-dataset", archive=a)


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
