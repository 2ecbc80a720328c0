"""``archiver export`` (a signed audit bundle) and ``archiver verify``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from archiver.archive import UnreadableArchive
from archiver.cli import common
from archiver.exitcodes import EMPTY, KEY_UNUSABLE, OK, USAGE
from archiver.jobs import drive
from archiver.services import bundles, cases, keys
from archiver.timerange import RangeError, parse_bound


def _scope(args: argparse.Namespace) -> bundles.Scope | bundles.CaseScope:
    """The scope the arguments name, exactly (15-minute marks, or refused); a case's."""
    if args.case is not None:
        given = [
            flag
            for flag, value in (
                ("--from", args.start),
                ("--to", args.end),
                ("--interaction", args.interaction),
                ("--agent", args.agent),
                ("--queue", args.queue),
                ("--channel", args.channel),
            )
            if value
        ]
        if given:
            raise RangeError(
                f"--case exports the case's interactions whatever their dates: leave out "
                f"{', '.join(given)}"
            )
        return bundles.case_scope(
            common.archive_path(args), args.case, versions=args.versions, redact=args.redact
        )
    if args.load_file:
        raise RangeError("--load-file goes with --case (a case production)")
    missing = [f for f, v in (("--from", args.start), ("--to", args.end)) if not v]
    if missing:
        raise RangeError(f"the range is needed: {' and '.join(missing)} (or --case NAME)")
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


def run_export(args: argparse.Namespace) -> int:
    """Usage errors first (2), then an empty scope (3), then the signing key (4): the key
    is loaded only once there is something to sign (services.bundles.export)."""
    try:
        scope = _scope(args)
    except (RangeError, FileNotFoundError, UnreadableArchive, cases.CaseRefused) as exc:
        print(f"archiver export: {exc}", file=sys.stderr)
        return USAGE
    try:
        result = drive(
            bundles.export(
                common.archive_path(args),
                scope,
                args.out,
                key_dir=args.key_dir,
                make_zip=args.zip,
                allow_empty=args.allow_empty,
                tsa=args.tsa_url,
                load_file=args.load_file,
            ),
            lambda line: print(line, file=sys.stderr),
        )
    except bundles.EmptySelection as exc:
        if args.case is not None:
            print(f"archiver export: {exc}", file=sys.stderr)
            return EMPTY
        print(
            f"archiver export: {exc}\n"
            "Check --from/--to and the filters (`archiver coverage` shows what is archived), "
            "pull that window first, or add --allow-empty to write a signed bundle that "
            "records the empty selection.",
            file=sys.stderr,
        )
        return EMPTY
    except keys.SigningKeyError as exc:
        print(f"archiver export: {exc}", file=sys.stderr)
        return KEY_UNUSABLE
    except (bundles.BundleError, FileNotFoundError, UnreadableArchive) as exc:
        print(f"archiver export: {exc}", file=sys.stderr)
        return USAGE
    _print_result(result)
    return OK


def _print_result(result: bundles.BundleResult) -> None:
    if result.demo:
        print(f"{bundles.DEMO}: the archive holds rows of the simulator; the bundle says so.")
    if result.case is not None:
        print(f"Case production of case {result.case!r}")
    print(
        f"Bundle {result.bundle_id} written to {result.path}"
        + (f" and {result.zip_path}" if result.zip_path else "")
    )
    print(bundles.contents_line(result))
    print(f"Signer certificate SHA-256: {result.fingerprint}")
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
        return USAGE
    rep = bundles.verify(
        args.bundle, expect_fingerprint=args.expect_fingerprint, key_dir=args.key_dir
    )
    print(rep.summary())
    if rep.state == bundles.UNTRUSTED and not rep.signer_trusted:
        print(_pin_advice(args.bundle, rep.fingerprint))
    elif rep.state == bundles.REVOKED:
        print(
            "The signer's certificate was revoked here (`archiver trust list` shows it): a "
            "signature it made after the revocation, or one no trusted timestamp dates, "
            "proves nothing."
        )
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
