"""``archiver export`` (signed audit bundle), ``archiver verify`` and ``archiver keys``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from archiver.cli import common
from archiver.jobs import drive
from archiver.services import bundles, keys
from archiver.timerange import RangeError, parse_bound

EXPORT_EXIT_CODES = """exit codes:
  0  the bundle is written and signed
  2  usage error: a bad or inverted --from/--to, a time off the 15-minute marks, an
     unknown profile, a non-empty --out directory, an archive that cannot be read
  3  nothing archived is in scope: no bundle is written (--allow-empty writes one that
     says so)
  4  the signing key cannot be used (passphrase: ARCHIVER_KEY_PASSPHRASE or the keyring)
  130 cancelled (Ctrl-C): nothing is left behind
"""
EXIT_EMPTY = 3


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    e = sub.add_parser(
        "export",
        help="write a signed audit bundle of interactions",
        description="Export interactionSegments and workflowTrace rows in scope as a signed BagIt "
        "bundle (PDF report, CSV, JSONL, raw pages) that can be verified without archiver. "
        "A segment is in scope when its own 15-minute interval (from STARTTIME_UTC) lies in "
        "--from … --to; its interaction's workflow trace comes with it.",
        epilog=EXPORT_EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common.add_archive(e)
    e.add_argument(
        "--from",
        dest="start",
        required=True,
        metavar="START",
        help="the first 15-minute interval: YYYYMMDDHHmm or an ISO time on a 15-minute mark "
        "(UTC unless it has an offset), or a day (YYYYMMDD, YYYY-MM-DD: from its 00:00)",
    )
    e.add_argument(
        "--to",
        dest="end",
        required=True,
        metavar="END",
        help="the last 15-minute interval, inclusive, as for archiver pull (--to 202502010045 "
        "ends at 01:00), or a day (through its last interval)",
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
    e.add_argument(
        "--versions",
        choices=("latest", "all"),
        default="latest",
        help="latest version per row (default) or every archived version",
    )
    e.add_argument(
        "--redact",
        default="none",
        choices=sorted(bundles.PROFILES),
        metavar="PROFILE",
        help=f"redaction profile: {', '.join(sorted(bundles.PROFILES))} (default none)",
    )
    e.add_argument(
        "--allow-empty",
        action="store_true",
        help="write a bundle even when nothing archived is in scope (otherwise: exit 3)",
    )
    e.add_argument("--zip", action="store_true", help="also write DIR.zip")
    e.add_argument("--key-dir", type=Path, default=None, help=argparse.SUPPRESS)
    e.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="the bundle directory to create"
    )
    e.set_defaults(func=run_bundle_export)

    v = sub.add_parser(
        "verify",
        help="verify an audit bundle (directory or zip)",
        description="Check every file hash, the tag manifest, the CMS and PDF signatures, and that CSV, JSONL and raw pages agree. Exits 1 naming the first problem.",
    )
    v.add_argument("bundle", type=Path, metavar="BUNDLE")
    v.set_defaults(func=run_verify)

    k = sub.add_parser("keys", help="show, create or import the signing key")
    k.add_argument("action", choices=("show", "create", "import"))
    k.add_argument("--pkcs12", type=Path, help="import: a PKCS#12 file")
    k.add_argument("--key", type=Path, help="import: a PEM private key")
    k.add_argument("--cert", type=Path, help="import: a PEM certificate")
    k.add_argument(
        "--password-stdin",
        action="store_true",
        help="import: read the file's password from standard input",
    )
    k.add_argument("--key-dir", type=Path, default=None, help=argparse.SUPPRESS)
    k.set_defaults(func=run_keys)


def _scope(args: argparse.Namespace) -> bundles.Scope:
    """The scope the arguments name, exactly (15-minute marks, or refused)."""
    start = parse_bound(args.start, is_end=False, daily=False)
    end = parse_bound(args.end, is_end=True, daily=False)
    scope = bundles.Scope(
        start,
        end,
        tuple(args.interaction),
        args.agent,
        args.queue,
        args.channel,
        args.versions,
        args.redact,
    )
    try:
        scope.check()
    except bundles.ScopeError as exc:
        raise RangeError(f"{exc} (--from {args.start} --to {args.end})") from None
    return scope


def run_bundle_export(args: argparse.Namespace) -> int:
    try:
        scope = _scope(args)
        ident = keys.load_or_create(args.key_dir)
    except RangeError as exc:
        print(f"archiver export: {exc}", file=sys.stderr)
        return 2
    except keys.SigningKeyError as exc:
        print(f"archiver export: {exc}", file=sys.stderr)
        return 4
    try:
        result = drive(
            bundles.export(
                common.archive_path(args),
                scope,
                args.out,
                identity=ident,
                make_zip=args.zip,
                allow_empty=args.allow_empty,
            ),
            lambda line: print(line, file=sys.stderr),
        )
    except bundles.EmptySelection as exc:
        print(
            f"archiver export: {exc}\n"
            "Check --from/--to and the filters (`archiver coverage` shows what is archived), "
            "pull that window first, or add --allow-empty to write a signed bundle that "
            "records the empty selection.",
            file=sys.stderr,
        )
        return EXIT_EMPTY
    except (bundles.BundleError, FileNotFoundError) as exc:
        print(f"archiver export: {exc}", file=sys.stderr)
        return 2
    _print_result(result, ident.fingerprint)
    return 0


def _print_result(result: bundles.BundleResult, fingerprint: str) -> None:
    print(
        f"Bundle {result.bundle_id} written to {result.path}"
        + (f" and {result.zip_path}" if result.zip_path else "")
    )
    print(
        f"{result.interactions:,} interactions, {result.segments:,} segment rows, {result.traces:,} trace rows, report {result.pages:,} pages"
    )
    print(f"Signer certificate SHA-256: {fingerprint}")
    if result.gaps:
        print(f"Coverage: {len(result.gaps)} gap(s) stated in the report and bag-info.txt:")
        for g in result.gaps[:20]:
            print(f"  {g}")
    print(
        f"Check it with `archiver verify {result.path}` or the commands in {result.path / 'VERIFY.txt'}."
    )


def run_verify(args: argparse.Namespace) -> int:
    rep = bundles.verify(args.bundle)
    print(rep.summary())
    return 0 if rep.ok else 1


def run_keys(args: argparse.Namespace) -> int:
    try:
        if args.action == "show":
            ident = keys.load(args.key_dir)
        elif args.action == "create":
            ident = keys.create(args.key_dir)
        else:
            if not (args.pkcs12 or (args.key and args.cert)):
                print(
                    "archiver keys import: give --pkcs12 FILE, or --key KEY.pem --cert CERT.pem",
                    file=sys.stderr,
                )
                return 2
            password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else None
            ident = keys.import_file(
                pkcs12=args.pkcs12,
                key=args.key,
                cert=args.cert,
                password=password,
                directory=args.key_dir,
            )
    except FileNotFoundError:
        print(
            "No signing key yet: `archiver keys create` makes one (the first export does too).",
            file=sys.stderr,
        )
        return 1
    except keys.SigningKeyError as exc:
        print(f"archiver keys: {exc}", file=sys.stderr)
        return 4
    print(
        f"Subject: {ident.subject}\nSHA-256 fingerprint: {ident.fingerprint}\nCertificate: {ident.cert_path}"
    )
    return 0
