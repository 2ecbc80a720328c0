"""Archive commands: verify-archive, checkpoint, backup, export-dataset, coverage, login."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from datetime import UTC, datetime, time

from archiver.archive import UnreadableArchive
from archiver.cli import common, monitor
from archiver.counts import LATEST, RECORDS
from archiver.credentials import (
    NO_KEYRING_ADVICE,
    CredentialError,
    keyring_available,
    store_secret,
)
from archiver.datasets import UnknownDatasetError
from archiver.exitcodes import FAILED, OK, USAGE
from archiver.services import archive as archive_service
from archiver.services import checkpoints
from archiver.timerange import RangeError, parse_day


def run_verify(args: argparse.Namespace) -> int:
    clock = monitor.Clock()
    path = common.archive_path(args)
    try:
        expect = [checkpoints.parse(text, source="--expect-head") for text in args.expect_head]
        report = archive_service.verify(
            path,
            via="cli",
            read_only=args.read_only,
            expect=expect,
            quick=args.quick,
            witnesses=args.witness,
        )
    except (
        FileNotFoundError,
        UnreadableArchive,
        checkpoints.CheckpointError,
        archive_service.ArchiveVersionError,
    ) as exc:
        print(f"archiver verify-archive: {exc}", file=sys.stderr)
        if args.json:
            monitor.emit(clock.doc("verify-archive", "error", USAGE, archive=path, error=str(exc)))
        return USAGE
    code = OK if report.ok else FAILED
    if args.json:
        monitor.emit(monitor.verify_doc(clock, report, path, code))
    else:
        print(report.summary())
    return code


def run_checkpoint(args: argparse.Namespace) -> int:
    path = common.archive_path(args)
    try:
        cp = checkpoints.current(path)
    except (FileNotFoundError, UnreadableArchive) as exc:
        print(f"archiver checkpoint: {exc}", file=sys.stderr)
        return USAGE
    if args.json:
        print(json.dumps(cp.as_dict(), indent=2, ensure_ascii=False))
        return OK
    print(cp.short())
    print(f"archive {path.resolve()} (id {cp.archive_id}), taken {cp.at}")
    if cp.signature:
        print(f"signed by {cp.signer} ({cp.alg}): {cp.signature}")
    else:
        print(f"unsigned: {cp.unsigned}")
    print(
        f"Keep this outside the archive; `archiver verify-archive --expect-head "
        f"{cp.pages}:{cp.chain_head}` proves the archive still begins with these pages."
    )
    return OK


def run_backup(args: argparse.Namespace) -> int:
    path = common.archive_path(args)
    try:
        archive_service.backup(path, args.out)
    except (FileNotFoundError, FileExistsError, archive_service.Refused, UnreadableArchive) as exc:
        print(f"archiver backup: {exc}", file=sys.stderr)
        return USAGE
    print(f"Backed up {path} to {args.out}")
    return OK


def run_export_dataset(args: argparse.Namespace) -> int:
    try:
        start = parse_day(args.start, is_end=False) if args.start else None
        end = parse_day(args.end, is_end=True) if args.end else None
        n = archive_service.export_dataset(
            common.archive_path(args),
            args.dataset,
            args.format,
            args.out,
            dataset_type=args.dataset_type,
            start=start,
            end=end,
            all_versions=args.versions == "all",
            csv_formulas=args.csv_formulas,
            overwrite=args.overwrite,
        )
    except (archive_service.ExportError, RangeError, FileNotFoundError, UnreadableArchive) as exc:
        print(f"archiver export-dataset: {exc}", file=sys.stderr)
        return USAGE
    kind = "daily" if args.dataset_type == "daily" else "15-minute"
    what = (RECORDS if args.versions == "all" else LATEST).of(n)
    print(f"Exported {what} ({kind}) of {args.dataset} to {args.out}")
    return OK


def run_coverage(args: argparse.Namespace) -> int:
    try:
        start = end = None
        if args.start:
            start = datetime.combine(parse_day(args.start, is_end=False), time(0, 0), UTC)
        if args.end:
            end = datetime.combine(parse_day(args.end, is_end=True), time(23, 45), UTC)
        if start and end and start > end:
            raise RangeError("The start of the range is after its end.")
        report = archive_service.coverage(
            common.archive_path(args), dataset=args.dataset, start=start, end=end
        )
    except (RangeError, UnknownDatasetError, FileNotFoundError, UnreadableArchive) as exc:
        print(f"archiver coverage: {exc}", file=sys.stderr)
        return USAGE
    if args.json:
        doc = {
            "range": report.range_text(),
            "ending_reading": report.readings,
            "days": [d.as_dict() for d in report.days],
            "not_walked": report.not_walked,
            "days_never_requested": report.days_never_requested,
            "never_requested": report.never_requested,
            "verdict": report.verdict(),
        }
        print(json.dumps(doc, indent=2))
        return OK
    if not report.days:
        print("Nothing requested in this range yet: pull it first (archiver pull …).")
        return OK
    _print_coverage(report)
    return OK


_COVERAGE_HEAD = (
    "dataset",
    "type",
    "day",
    "state",
    "requested",
    "walked",
    "pending",
    "not entitled",
    "failed",
    "unfinished",
    "never requested",
    "disposed",
    "with rows",
    "empty",
    "records",
)


def _print_coverage(report: archive_service.CoverageReport) -> None:
    print(
        f"Coverage of {report.range_text()}, per UTC day in 15-minute intervals (daily "
        "streams: days); records: every version whose own interval lies on the day."
    )
    table: list[tuple[str, ...]] = [_COVERAGE_HEAD]
    for d in report.days:
        counts = (d.requested, d.walked, d.pending, d.not_entitled, d.failed, d.unfinished)
        more = (d.never_requested, d.disposed, d.with_rows, d.empty, d.records)
        table.append(
            (d.dataset, d.dataset_type, d.day, d.state_words, *(f"{n:,}" for n in counts + more))
        )
    widths = [max(len(r[i]) for r in table) for i in range(len(_COVERAGE_HEAD))]
    for r in table:
        cells = (
            c.ljust(w) if i < 4 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        print("  ".join(cells).rstrip())
    print()
    for name, text in report.readings.items():
        print(f"{name}: the server's reading of an interval `ending`: {text}")
    notes = report.notes()
    for n in notes[:20]:
        print("  " + n)
    if len(notes) > 20:
        print(f"  … and {len(notes) - 20} more notes (--json lists every day)")
    print(report.verdict())


def run_login(args: argparse.Namespace) -> int:
    try:
        tenant = common.tenant(args)
    except ValueError as exc:
        print(f"archiver login: {exc}", file=sys.stderr)
        return USAGE
    ok, why = keyring_available()
    if not ok:
        print(f"archiver login: {NO_KEYRING_ADVICE} ({why})", file=sys.stderr)
        return FAILED
    try:
        cid = args.client_id or input("Client id: ").strip()
        if args.secret_stdin:
            secret = sys.stdin.readline().rstrip("\r\n")
        else:
            secret = getpass.getpass(f"Client secret for {cid} at {tenant.label}: ")
    except EOFError:
        secret = ""
    if not cid or not secret:
        print("archiver login: no client id or secret entered; nothing stored", file=sys.stderr)
        return USAGE
    try:
        store_secret(tenant.label, cid, secret)
    except CredentialError as exc:
        print(f"archiver login: {exc}", file=sys.stderr)
        return FAILED
    print(f"Stored the secret for {cid} at {tenant.label} in the OS keyring.")
    return OK
