"""``archiver export`` (signed audit bundle), ``archiver verify``, ``archiver keys`` and
``archiver trust``."""

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
     unknown profile, a non-empty --out directory or an existing DIR.zip, a timestamp
     authority that fails, an archive that cannot be read
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
    e.add_argument(
        "--zip", action="store_true", help="also write DIR.zip (refused if that file exists)"
    )
    e.add_argument(
        "--tsa-url",
        metavar="URL",
        default=None,
        help=f"RFC 3161 timestamp authority for trusted time: a document timestamp on the report "
        f"and a timestamp token on the tag-manifest signature (default: ${bundles.ENV_TSA_URL}, "
        "else none)",
    )
    e.add_argument("--key-dir", type=Path, default=None, help=argparse.SUPPRESS)
    e.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="the bundle directory to create"
    )
    e.set_defaults(func=run_bundle_export)

    v = sub.add_parser(
        "verify",
        help="verify an audit bundle (directory or zip) and that its signer is trusted",
        description="Check every file hash, the tag manifest, the CMS and PDF signatures (and "
        "their RFC 3161 timestamps, if any), that CSV, JSONL and raw pages agree, and that the "
        "signer is trusted: the local signing key (current or retired), a certificate of the "
        "trust store (archiver trust), or the one given with --expect-fingerprint.",
        epilog="exit codes: 0 verified and the signer trusted; 3 intact, but the signer (or a "
        "timestamp authority) is not trusted; 1 failed: changed, damaged, refused, or signed "
        "by another than the expected signer; 2 usage error",
    )
    v.add_argument("bundle", type=Path, metavar="BUNDLE")
    v.add_argument(
        "--expect-fingerprint",
        type=_fingerprint,
        metavar="SHA256",
        help="the signer certificate's SHA-256 fingerprint you obtained out of band (hex, colons "
        "optional): trust only this signer for this check; another signer fails (exit 1)",
    )
    v.add_argument("--key-dir", type=Path, default=None, help=argparse.SUPPRESS)
    v.set_defaults(func=run_verify)

    t = sub.add_parser(
        "trust",
        help="the certificates whose bundles `archiver verify` trusts",
        description="add CERT.pem (or a bundle directory or zip: its signer.pem), list, or "
        "remove FINGERPRINT. The local signing key's certificates, current and retired, are "
        "always trusted. add --tsa ROOT.pem: the root certificate a timestamp authority must "
        "chain to (never a signer).",
    )
    t.add_argument("action", choices=("add", "list", "remove"))
    t.add_argument("target", nargs="?", metavar="CERT|FINGERPRINT")
    t.add_argument(
        "--tsa",
        type=Path,
        metavar="ROOT.pem",
        help="add: trust this root certificate for timestamp authorities (not for signers)",
    )
    t.add_argument("--key-dir", type=Path, default=None, help=argparse.SUPPRESS)
    t.set_defaults(func=run_trust)

    k = sub.add_parser("keys", help="show, create or import the signing key")
    k.add_argument("action", choices=("show", "create", "import"))
    k.add_argument(
        "--force",
        action="store_true",
        help="create/import: replace an existing key; the old key and certificate are kept "
        "(renamed with their fingerprint) and stay trusted for verification",
    )
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


def _fingerprint(text: str) -> str:
    try:
        return keys.parse_fingerprint(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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
                tsa=args.tsa_url,
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
    if result.demo:
        print(f"{bundles.DEMO}: the archive holds rows of the simulator; the bundle says so.")
    print(
        f"Bundle {result.bundle_id} written to {result.path}"
        + (f" and {result.zip_path}" if result.zip_path else "")
    )
    print(bundles.contents_line(result))
    print(f"Signer certificate SHA-256: {fingerprint}")
    print(
        "Give this fingerprint to the recipient separately (not with the bundle): it is how they know the bundle is yours."
    )
    for line in bundles.coverage_lines(result):
        print(line)
    print(
        f"Check it with `archiver verify {result.path}` or the commands in {result.path / 'VERIFY.txt'}."
    )


def run_verify(args: argparse.Namespace) -> int:
    if not args.bundle.exists():
        print(f"archiver verify: {args.bundle}: no such file or directory", file=sys.stderr)
        return 2
    rep = bundles.verify(
        args.bundle, expect_fingerprint=args.expect_fingerprint, key_dir=args.key_dir
    )
    print(rep.summary())
    if rep.state == bundles.UNTRUSTED and not rep.signer_trusted:
        print(_pin_advice(args.bundle, rep.fingerprint))
    return rep.exit_code


def _pin_advice(bundle: Path, fingerprint: str) -> str:
    where = bundles.printable(str(bundle))
    return (
        "Anyone can make an intact bundle with a key of their own: compare this fingerprint with "
        "one you obtained from the signer out of band (not from the bundle or the message that "
        "brought it). If they are the same, pin it for this check:\n"
        f"  archiver verify {where} --expect-fingerprint {fingerprint}\n"
        "or trust this signer from now on:\n"
        f"  archiver trust add {where}"
    )


def run_trust(args: argparse.Namespace) -> int:
    try:
        if args.action == "list":
            _print_trust(*keys.trust_list(args.key_dir), keys.trust_store_dir(args.key_dir))
            return 0
        if args.tsa and (args.target or args.action != "add"):
            print("archiver trust: --tsa ROOT.pem goes with add, alone", file=sys.stderr)
            return 2
        target = args.tsa or args.target
        if not target:
            what = (
                "CERT.pem (or a bundle), or --tsa ROOT.pem"
                if args.action == "add"
                else "FINGERPRINT"
            )
            print(f"archiver trust {args.action}: give {what}", file=sys.stderr)
            return 2
        if args.action == "remove":
            for gone in keys.trust_remove(str(target), key_dir=args.key_dir):
                print(f"No longer trusted: {bundles.printable(gone.subject)} {gone.fingerprint}")
            return 0
        kind = keys.TSA if args.tsa else keys.SIGNER
        added = keys.trust_add(Path(target), kind=kind, key_dir=args.key_dir)
        print(
            f"Trusted ({'timestamp authority root' if args.tsa else 'signer'}): "
            f"{bundles.printable(added.subject)}\nSHA-256 fingerprint: {added.fingerprint}"
        )
        return 0
    except ValueError as exc:
        print(f"archiver trust: {exc}", file=sys.stderr)
        return 2
    except keys.TrustError as exc:
        print(f"archiver trust: {bundles.printable(str(exc))}", file=sys.stderr)
        return 1


def _print_trust(local: list[keys.TrustedCert], store: list[keys.TrustedCert], where: Path) -> None:
    print("Always trusted (the local signing key):")
    for t in local or []:
        print(f"  {t.fingerprint}  {bundles.printable(t.subject)}  ({t.source})")
    if not local:
        print("  (no signing key yet)")
    print(f"Trust store ({where}):")
    for t in store:
        kind = "" if t.kind == keys.SIGNER else "  [timestamp authority root]"
        print(f"  {t.fingerprint}  {bundles.printable(t.subject)}  added {t.added or '?'}{kind}")
    if not store:
        print("  (empty: `archiver trust add CERT.pem` adds one)")


def run_keys(args: argparse.Namespace) -> int:
    try:
        retired = ""
        if args.action == "show":
            ident = keys.load(args.key_dir)
        elif args.action == "create":
            ident, retired = keys.create(args.key_dir, force=args.force)
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
                force=args.force,
            )
    except FileNotFoundError:
        print(
            "No signing key yet: `archiver keys create` makes one (the first export does too).",
            file=sys.stderr,
        )
        return 1
    except keys.KeyExistsError as exc:
        print(f"archiver keys {args.action}: {exc}", file=sys.stderr)
        return 1
    except keys.SigningKeyError as exc:
        print(f"archiver keys: {exc}", file=sys.stderr)
        return 4
    print(
        f"Subject: {bundles.printable(ident.subject)}\nSHA-256 fingerprint: {ident.fingerprint}\nCertificate: {ident.cert_path}"
    )
    if retired:
        print(f"Retired (kept, still trusted for verification): {retired}")
    if args.action == "show":
        for cert, why in keys.local_certificates(args.key_dir)[1:]:
            print(f"Retired: {keys.cert_fingerprint(cert)} ({why})")
    return 0
