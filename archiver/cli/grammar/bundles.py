"""The arguments of ``archiver export`` (a signed audit bundle) and ``archiver verify``."""

from __future__ import annotations

import argparse
from pathlib import Path

from archiver.cli import exits
from archiver.cli.common import add_archive
from archiver.cli.grammar.base import add_versions, handles
from archiver.export.redact import PROFILES

HANDLERS = "archiver.cli.bundle_cmds"


def export(e: argparse.ArgumentParser) -> None:
    from archiver.export.timestamps import ENV_TSA_URL  # only export's grammar shows it

    handles(
        e,
        f"{HANDLERS}:run_export",
        exits.EXPORT,
        description="Export interactionSegments and workflowTrace rows in scope as a signed "
        "BagIt bundle (PDF report, CSV, JSONL, raw pages) that can be verified without "
        "archiver. A segment is in scope when its own 15-minute interval (from STARTTIME_UTC) "
        "lies in --from … --to; its interaction's workflow trace comes with it.\n\n"
        "With --case NAME instead: a case production, the same signed bundle of the case's "
        "interactions, every interactionSegments, workflowTrace, transcript and mpccdr row of "
        "each whatever its date, the case's name, reason, reference, searches and legal hold "
        "on the cover and in bag-info.txt, and the coverage gaps of the intervals they span; "
        "--load-file concordance adds an eDiscovery load file (docs/cases.md).",
    )
    add_archive(e)
    e.add_argument(
        "--case",
        metavar="NAME",
        help="a case production: the case's interactions, whatever their dates (instead of "
        "--from/--to and the filters)",
    )
    e.add_argument(
        "--load-file",
        choices=("concordance",),
        metavar="FORMAT",
        help="with --case: add an eDiscovery load file: concordance (a Concordance DAT, one "
        "document per interaction, with each interaction's native PDF and plain text)",
    )
    e.add_argument(
        "--from",
        dest="start",
        metavar="START",
        help="the first 15-minute interval: YYYYMMDDHHmm or an ISO time on a 15-minute mark "
        "(UTC unless it has an offset), or a day (YYYYMMDD, YYYY-MM-DD: from its 00:00); "
        "required unless --case",
    )
    e.add_argument(
        "--to",
        dest="end",
        metavar="END",
        help="the last 15-minute interval, inclusive, as for archiver pull (--to 202502010045 "
        "ends at 01:00), or a day (through its last interval); required unless --case",
    )
    e.add_argument(
        "--interaction",
        action="append",
        default=[],
        metavar="ID",
        help="only this interaction (repeatable)",
    )
    e.add_argument("--agent", metavar="ID", help="only segments handled by this agent (USER_ID)")
    e.add_argument("--queue", metavar="ID", help="only segments of this queue (QUEUE_ID)")
    e.add_argument(
        "--channel",
        metavar="NAME",
        help="only segments of this channel (COMM_TYPE: voice, chat, email, …)",
    )
    add_versions(e, "the latest version per row (default) or every archived version")
    e.add_argument(
        "--redact",
        default="none",
        choices=sorted(PROFILES),
        metavar="PROFILE",
        help=f"redaction profile: {', '.join(sorted(PROFILES))} (default none)",
    )
    e.add_argument(
        "--allow-empty",
        action="store_true",
        help="write a bundle even when nothing archived is in scope (otherwise: exit 3)",
    )
    e.add_argument(
        "--zip",
        action="store_true",
        help="also write DIR.zip (refused if anything has that name: a file, a link, a FIFO)",
    )
    e.add_argument(
        "--tsa-url",
        metavar="URL",
        default=None,
        help="RFC 3161 timestamp authority for trusted time: a document timestamp on the "
        "report and a timestamp token on the tag-manifest signature (default: "
        f"${ENV_TSA_URL}, else none)",
    )
    e.add_argument("--key-dir", type=Path, default=None, help=argparse.SUPPRESS)
    e.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="DIR",
        help="the bundle directory to create: new, or an empty folder (never a file, a link, "
        "a FIFO, a device or one of the archive's files)",
    )


def _fingerprint(text: str) -> str:
    from archiver.services.keys import parse_fingerprint  # only when the flag is given

    try:
        return parse_fingerprint(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def verify(v: argparse.ArgumentParser) -> None:
    handles(
        v,
        f"{HANDLERS}:run_verify",
        exits.VERIFY,
        description="Check every file hash, the tag manifest, the CMS and PDF signatures (and "
        "their RFC 3161 timestamps, if any), that CSV, JSONL and raw pages agree, and that the "
        "signer is trusted: the local signing key (current or retired), a certificate of the "
        "trust store (archiver trust), or the one given with --expect-fingerprint.",
    )
    v.add_argument(
        "bundle", type=Path, metavar="BUNDLE", help="the bundle: its directory or its zip"
    )
    v.add_argument(
        "--expect-fingerprint",
        type=_fingerprint,
        metavar="SHA256",
        help="the signer certificate's SHA-256 fingerprint you obtained out of band (hex, colons "
        "optional): trust only this signer for this check; another signer fails (exit 1)",
    )
    v.add_argument("--key-dir", type=Path, default=None, help=argparse.SUPPRESS)
