"""Archive commands: verify-archive, checkpoint, backup, export-dataset, coverage, login."""

from __future__ import annotations

import argparse
import getpass
import json
import sqlite3
import sys
from datetime import UTC, datetime, time
from pathlib import Path

from archiver.cli import common, monitor
from archiver.counts import LATEST, RECORDS
from archiver.credentials import (
    ENV_SECRET,
    NO_KEYRING_ADVICE,
    CredentialError,
    keyring_available,
    store_secret,
)
from archiver.datasets import UnknownDatasetError
from archiver.services import archive as archive_service
from archiver.services import checkpoints
from archiver.timerange import RangeError, parse_day


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    v = sub.add_parser(
        "verify-archive",
        help="recompute every checksum and chain of an archive, and prove its past",
        description="Recompute every page and record checksum and both hash chains (a page's "
        "chain covers its metadata too), and re-derive every record from its raw page. Every "
        "checkpoint the audit log and the sidecar (ARCHIVE.checkpoints) record, and every "
        "--expect-head given, must be a prefix of the chains; coverage and run summaries must "
        "not claim more than the pages present. Exits 1 on any mismatch, naming the first. "
        "On success it records a verify-archive entry and a checkpoint, unless --read-only.",
    )
    common.add_archive(v)
    v.add_argument(
        "--read-only",
        action="store_true",
        help="check without writing anything (no audit entry, no checkpoint)",
    )
    v.add_argument(
        "--expect-head",
        action="append",
        default=[],
        metavar="N:HEX",
        help="a checkpoint kept elsewhere (page count and page-chain head, as `archiver "
        "checkpoint` prints it; or pages:N:HEX/audit:M:HEX) that must be a prefix of the "
        "archive's chains (repeatable)",
    )
    v.add_argument("--json", action="store_true", help="print only one JSON document")
    v.set_defaults(func=run_verify)

    k = sub.add_parser(
        "checkpoint",
        help="print the archive's current checkpoint, to keep elsewhere",
        description="Print the archive's checkpoint now: page count and page-chain head, audit "
        "entry count and audit head, signed with the local signing key when it can be loaded. "
        "Keep it outside the archive (mail, ticket, print); `archiver verify-archive "
        "--expect-head N:HEX` later proves the archive still begins with what it held. "
        "Writes nothing.",
    )
    common.add_archive(k)
    k.add_argument("--json", action="store_true", help="the signed checkpoint record as JSON")
    k.set_defaults(func=run_checkpoint)

    b = sub.add_parser("backup", help="copy an archive safely (SQLite backup API)")
    common.add_archive(b)
    b.add_argument("--out", type=Path, required=True, metavar="PATH", help="backup file to write")
    b.set_defaults(func=run_backup)

    e = sub.add_parser(
        "export-dataset",
        help="export a dataset for a data warehouse (csv, jsonl, parquet)",
        description="Rows of one dataset stream, exact API strings, for a data warehouse: the "
        "latest records (the newest version of each row), or every record with "
        "--all-versions. --from/--to select whole ROW_DATE_UTC days: a time of day is "
        "refused, never widened to its day (00:00 for --from and 23:45 for --to, the day's "
        "first and last interval, are accepted).",
    )
    common.add_archive(e)
    e.add_argument(
        "--dataset",
        required=True,
        type=common.dataset_name,
        metavar="NAME",
        help="one of the 13 datasets (any case)",
    )
    e.add_argument(
        "--from",
        dest="start",
        metavar="START",
        help="first ROW_DATE_UTC day (YYYYMMDD or YYYY-MM-DD); whole days only: a time is "
        "refused unless 00:00, never widened",
    )
    e.add_argument(
        "--to",
        dest="end",
        metavar="END",
        help="last ROW_DATE_UTC day, included; a time is refused unless 23:45 (the day's last "
        "interval)",
    )
    e.add_argument("--format", required=True, choices=archive_service.FORMATS)
    e.add_argument(
        "--dataset-type",
        choices=("interval", "daily"),
        default="interval",
        help="15-minute rows (interval, the default) or daily rows: never mixed in one file",
    )
    e.add_argument(
        "--all-versions",
        action="store_true",
        help="every archived version, not only the latest per key",
    )
    e.add_argument(
        "--csv-formulas",
        choices=archive_service.CSV_FORMULA_MODES,
        default="escape",
        help="csv: escape (default) prefixes ' to cells that a spreadsheet would run as a formula "
        "(=, -, @, tab, CR; plain numbers excepted) or change (+ phone numbers, digits with a "
        "leading 0: kept as text) and to cells starting with ', header included, so it can be "
        "undone exactly; raw writes the exact strings",
    )
    e.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="PATH",
        help="file (csv, jsonl; not a directory) or directory (parquet: dataset=NAME/ must not "
        "exist in it yet)",
    )
    e.set_defaults(func=run_export_dataset)

    c = sub.add_parser(
        "coverage",
        help="what the archive holds per dataset and day, from its own evidence",
        description="Per dataset stream and UTC day of the range, counted in 15-minute intervals "
        "(days for daily streams): the day's state, intervals requested, walked to completion, "
        "pending (202), not entitled, failed, unfinished, never requested, intervals with rows "
        "and intervals that came back empty, and the records (every version) whose own "
        "interval lies on the day; and the server's reading of an interval `ending` as the "
        "archive's walks show it. Every day of the range is listed, days never requested "
        "included; the closing line counts them. --from/--to name whole UTC days: a time of "
        "day is refused (never widened), except 00:00 for --from and 23:45 (a day's last "
        "interval) for --to. Without them: from the first to the last day the archive asked "
        "for.",
    )
    common.add_archive(c)
    c.add_argument(
        "--dataset", type=common.dataset_name, metavar="NAME", help="one dataset only (any case)"
    )
    c.add_argument(
        "--from",
        dest="start",
        metavar="START",
        help="first UTC day (YYYYMMDD, YYYY-MM-DD); a time is refused unless 00:00",
    )
    c.add_argument(
        "--to",
        dest="end",
        metavar="END",
        help="last UTC day, included; a time is refused unless 23:45 (the day's last interval)",
    )
    c.add_argument("--json", action="store_true", help="JSON instead of a table")
    c.set_defaults(func=run_coverage)

    login = sub.add_parser(
        "login",
        help="store a client secret in the OS keyring",
        description=f"Store the client secret in the OS keyring (never in a file). Without a keyring, set {ENV_SECRET} for headless runs.",
    )
    common.add_tenant(login)
    login.add_argument(
        "--secret-stdin", action="store_true", help="read the secret from standard input (scripts)"
    )
    login.set_defaults(func=run_login)


def run_verify(args: argparse.Namespace) -> int:
    clock = monitor.Clock()
    path = common.archive_path(args)
    try:
        expect = [checkpoints.parse(text, source="--expect-head") for text in args.expect_head]
        report = archive_service.verify(path, via="cli", read_only=args.read_only, expect=expect)
    except (
        FileNotFoundError,
        sqlite3.DatabaseError,
        checkpoints.CheckpointError,
        archive_service.ArchiveVersionError,
    ) as exc:
        print(f"archiver verify-archive: {exc}", file=sys.stderr)
        if args.json:
            monitor.emit(clock.doc("verify-archive", "error", 2, archive=path, error=str(exc)))
        return 2
    code = 0 if report.ok else 1
    if args.json:
        monitor.emit(monitor.verify_doc(clock, report, path, code))
    else:
        print(report.summary())
    return code


def run_checkpoint(args: argparse.Namespace) -> int:
    path = common.archive_path(args)
    try:
        cp = checkpoints.current(path)
    except (FileNotFoundError, sqlite3.DatabaseError) as exc:
        print(f"archiver checkpoint: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(cp.as_dict(), indent=2, ensure_ascii=False))
        return 0
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
    return 0


def run_backup(args: argparse.Namespace) -> int:
    path = common.archive_path(args)
    try:
        archive_service.backup(path, args.out)
    except (FileNotFoundError, FileExistsError) as exc:
        print(f"archiver backup: {exc}", file=sys.stderr)
        return 2
    print(f"Backed up {path} to {args.out}")
    return 0


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
            all_versions=args.all_versions,
            csv_formulas=args.csv_formulas,
        )
    except (archive_service.ExportError, RangeError, FileNotFoundError) as exc:
        print(f"archiver export-dataset: {exc}", file=sys.stderr)
        return 2
    kind = "daily" if args.dataset_type == "daily" else "15-minute"
    what = (RECORDS if args.all_versions else LATEST).of(n)
    print(f"Exported {what} ({kind}) of {args.dataset} to {args.out}")
    return 0


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
    except (RangeError, UnknownDatasetError, FileNotFoundError) as exc:
        print(f"archiver coverage: {exc}", file=sys.stderr)
        return 2
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
        return 0
    if not report.days:
        print("Nothing requested in this range yet: pull it first (archiver pull …).")
        return 0
    _print_coverage(report)
    return 0


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
        more = (d.never_requested, d.with_rows, d.empty, d.records)
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
        return 2
    ok, why = keyring_available()
    if not ok:
        print(f"archiver login: {NO_KEYRING_ADVICE} ({why})", file=sys.stderr)
        return 1
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
        return 2
    try:
        store_secret(tenant.label, cid, secret)
    except CredentialError as exc:
        print(f"archiver login: {exc}", file=sys.stderr)
        return 1
    print(f"Stored the secret for {cid} at {tenant.label} in the OS keyring.")
    return 0
