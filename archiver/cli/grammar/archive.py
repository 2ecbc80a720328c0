"""The arguments of the archive commands: verify-archive, checkpoint, backup, export-dataset,
coverage, login."""

from __future__ import annotations

import argparse
from pathlib import Path

from archiver.cli import exits
from archiver.cli.common import add_archive, add_tenant, dataset_name
from archiver.cli.grammar.base import add_dataset_type, add_secret_stdin, add_versions, handles
from archiver.credentials import ENV_SECRET
from archiver.datasets import DATASET_NAMES
from archiver.export.csvsafe import MODES as CSV_FORMULA_MODES

HANDLERS = "archiver.cli.archive_cmds"


def verify_archive(v: argparse.ArgumentParser) -> None:
    handles(
        v,
        f"{HANDLERS}:run_verify",
        exits.VERIFY_ARCHIVE,
        description="Recompute every page checksum and both hash chains (a page's chain covers "
        "its metadata too); every checkpoint the audit log and the sidecar (ARCHIVE.checkpoints) "
        "record, every --expect-head and every --witness bundle's chain heads must be a prefix "
        "of the chains. Then replay: everything the archive states (records and their values, "
        "latest versions, conflicts, columns, key rules, coverage, runs and their summaries, "
        "quarantine, the views) is re-derived from the raw pages and the custody entries and "
        "compared. Exits 1 on any difference, naming the table, the key and the first field "
        "that differs. On success it records a verify-archive entry and a checkpoint, unless "
        "--read-only.",
    )
    add_archive(v)
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
    v.add_argument(
        "--witness",
        action="append",
        default=[],
        type=Path,
        metavar="BUNDLE",
        help="an audit bundle handed out earlier (a .zip, a bundle folder, or a folder of "
        "bundles): its signature is verified, then the archive's chains must extend the chain "
        "heads it carries (repeatable)",
    )
    v.add_argument(
        "--quick",
        action="store_true",
        help="chains and checksums only (and the checkpoints and witnesses): nothing is "
        "replayed, and the result says so",
    )
    v.add_argument("--json", action="store_true", help="print only one JSON document")


def checkpoint(k: argparse.ArgumentParser) -> None:
    handles(
        k,
        f"{HANDLERS}:run_checkpoint",
        exits.CHECKPOINT,
        description="Print the archive's checkpoint now: page count and page-chain head, audit "
        "entry count and audit head, signed with the local signing key when it can be loaded. "
        "Keep it outside the archive (mail, ticket, print); `archiver verify-archive "
        "--expect-head N:HEX` later proves the archive still begins with what it held. "
        "Writes nothing.",
    )
    add_archive(k)
    k.add_argument("--json", action="store_true", help="the signed checkpoint record as JSON")


def backup(b: argparse.ArgumentParser) -> None:
    handles(
        b,
        f"{HANDLERS}:run_backup",
        exits.BACKUP,
        description="Copy the archive to a new file through SQLite's backup API: a consistent "
        "copy even while a pull writes to it.",
    )
    add_archive(b)
    b.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="PATH",
        help="the backup file to write: a new file (never the archive or one of its files, a "
        "link, a FIFO or a device); its sidecar PATH.checkpoints is made beside it",
    )


def export_dataset(e: argparse.ArgumentParser) -> None:
    handles(
        e,
        f"{HANDLERS}:run_export_dataset",
        exits.EXPORT_DATASET,
        description="Rows of one dataset stream, exact API strings, for a data warehouse: the "
        "latest records (the newest version of each row), or every record with --versions "
        "all. 15-minute and daily rows are never mixed in one file. --from/--to select whole "
        "ROW_DATE_UTC days: a time of day is refused, never widened to its day (00:00 for "
        "--from and 23:45 for --to, the day's first and last interval, are accepted).",
    )
    add_archive(e)
    e.add_argument(
        "--dataset",
        required=True,
        type=dataset_name,
        metavar="NAME",
        help=f"one of the {len(DATASET_NAMES)} datasets (any case)",
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
    from archiver.export.warehouse import FORMATS  # only export-dataset's grammar needs it

    e.add_argument("--format", required=True, choices=FORMATS)
    add_dataset_type(
        e, "15-minute rows (interval, the default) or daily rows: never mixed in one file"
    )
    add_versions(
        e,
        "the latest record of each row (default) or every archived version",
        all_alias=True,
    )
    e.add_argument(
        "--csv-formulas",
        choices=CSV_FORMULA_MODES,
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
        help="a new file (csv, jsonl) or a directory (parquet: dataset=NAME/ must not exist in "
        "it yet); never the archive or one of its files, a link, a FIFO or a device",
    )
    e.add_argument(
        "--overwrite",
        action="store_true",
        help="csv, jsonl: replace an existing file at --out (never one of the archive's "
        "files, a link or a special file)",
    )


def coverage(c: argparse.ArgumentParser) -> None:
    handles(
        c,
        f"{HANDLERS}:run_coverage",
        exits.COVERAGE,
        description="Per dataset stream and UTC day of the range, counted in 15-minute "
        "intervals (days for daily streams): the day's state, intervals requested, walked to "
        "completion, pending (202), not entitled, failed, unfinished, never requested, "
        "intervals with rows and intervals that came back empty, and the records (every "
        "version) whose own interval lies on the day; and the server's reading of an interval "
        "`ending` as the archive's walks show it. Every day of the range is listed, days never "
        "requested included; the closing line counts them. --from/--to name whole UTC days: a "
        "time of day is refused (never widened), except 00:00 for --from and 23:45 (a day's "
        "last interval) for --to. Without them: from the first to the last day the archive "
        "asked for.",
    )
    add_archive(c)
    c.add_argument(
        "--dataset", type=dataset_name, metavar="NAME", help="one dataset only (any case)"
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


def login(p: argparse.ArgumentParser) -> None:
    handles(
        p,
        f"{HANDLERS}:run_login",
        exits.LOGIN,
        description="Store the client secret in the OS keyring (never in a file). Without a "
        f"keyring, set {ENV_SECRET} for headless runs.",
    )
    add_tenant(p)
    add_secret_stdin(p, "the client secret")
