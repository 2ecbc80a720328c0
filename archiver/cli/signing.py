"""``archiver keys show|create|import|destroy-retired`` (the signing key) and ``archiver
trust add|list|remove|revoke`` (the certificates whose bundles ``archiver verify``
accepts)."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from archiver.exitcodes import FAILED, KEY_UNUSABLE, OK, USAGE
from archiver.services import keys
from archiver.services.bundles import printable

NO_KEY = "No signing key yet: `archiver keys create` makes one (the first export does too)."


# -- keys -------------------------------------------------------------------------------------
def run_keys_show(args: argparse.Namespace) -> int:
    """The certificate only: no passphrase is asked for or needed."""
    try:
        info = keys.show(args.key_dir)
    except FileNotFoundError:
        print(NO_KEY, file=sys.stderr)
        return FAILED
    print(
        f"Subject: {printable(info.subject)}\nSHA-256 fingerprint: {info.fingerprint}\n"
        f"Certificate: {info.cert_path}\nKey (encrypted): {info.key_path}"
    )
    for fingerprint, why in info.retired:
        print(f"Retired: {fingerprint} ({why})")
    return OK


def run_keys_create(args: argparse.Namespace) -> int:
    try:
        ident, retired = keys.create(args.key_dir, force=args.force, subject=args.subject)
    except ValueError as exc:  # the --subject
        print(f"archiver keys create: --subject {printable(str(exc))}", file=sys.stderr)
        return USAGE
    except keys.KeyExistsError as exc:
        print(f"archiver keys create: {exc}", file=sys.stderr)
        return FAILED
    except keys.SigningKeyError as exc:
        print(f"archiver keys create: {exc}", file=sys.stderr)
        return KEY_UNUSABLE
    _print_identity(ident)
    if retired:
        print(f"Retired (kept, still trusted for verification): {retired}")
    return OK


def run_keys_import(args: argparse.Namespace) -> int:
    if args.key and not args.cert:
        print("archiver keys import: --key KEY.pem goes with --cert CERT.pem", file=sys.stderr)
        return USAGE
    if args.pkcs12 and args.cert:
        print("archiver keys import: --cert goes with --key, not --pkcs12", file=sys.stderr)
        return USAGE
    password = sys.stdin.readline().rstrip("\r\n") if args.secret_stdin else None
    try:
        try:
            ident = _import(args, password)
        except (ValueError, TypeError):
            if password is not None or not sys.stdin.isatty():
                raise
            # encrypted, and no password given: ask for it, as login asks for a secret
            password = getpass.getpass(f"Password of {args.pkcs12 or args.key}: ")
            ident = _import(args, password)
    except FileNotFoundError as exc:
        print(f"archiver keys import: {exc.filename}: no such file", file=sys.stderr)
        return USAGE
    except keys.KeyExistsError as exc:
        print(f"archiver keys import: {exc}", file=sys.stderr)
        return FAILED
    except (keys.SigningKeyError, ValueError, TypeError) as exc:
        # a wrong or missing password, a certificate of another key, not a key file
        print(f"archiver keys import: {printable(str(exc))}", file=sys.stderr)
        return KEY_UNUSABLE
    _print_identity(ident)
    return OK


def run_keys_destroy_retired(args: argparse.Namespace) -> int:
    removed, kept = keys.destroy_retired(args.key_dir, dry_run=args.dry_run)
    verb = "Would remove" if args.dry_run else "Removed"
    for r in removed:
        print(
            f"{verb} {r.key_path} (its certificate {r.cert_path.name} stays: bundles it "
            "signed still verify)"
        )
    for r, why in kept:
        print(f"Kept {r.key_path}: {why}", file=sys.stderr)
    if not removed and not kept:
        print("No retired private keys.")
    return FAILED if kept else OK


def _import(args: argparse.Namespace, password: str | None) -> keys.SigningIdentity:
    return keys.import_file(
        pkcs12=args.pkcs12,
        key=args.key,
        cert=args.cert,
        password=password,
        directory=args.key_dir,
        force=args.force,
    )


def _print_identity(ident: keys.SigningIdentity) -> None:
    print(
        f"Subject: {printable(ident.subject)}\nSHA-256 fingerprint: {ident.fingerprint}\n"
        f"Certificate: {ident.cert_path}"
    )


# -- trust ------------------------------------------------------------------------------------
def run_trust_add(args: argparse.Namespace) -> int:
    if bool(args.tsa) == bool(args.target):
        print(
            "archiver trust add: give CERT.pem (or a bundle), or --tsa ROOT.pem (one of them)",
            file=sys.stderr,
        )
        return USAGE
    kind = keys.TSA if args.tsa else keys.SIGNER
    try:
        added = keys.trust_add(Path(args.tsa or args.target), kind=kind, key_dir=args.key_dir)
    except keys.TrustError as exc:
        print(f"archiver trust add: {printable(str(exc))}", file=sys.stderr)
        return FAILED
    print(
        f"Trusted ({'timestamp authority root' if args.tsa else 'signer'}): "
        f"{printable(added.subject)}\nSHA-256 fingerprint: {added.fingerprint}"
    )
    return OK


def run_trust_list(args: argparse.Namespace) -> int:
    local, store = keys.trust_list(args.key_dir)
    print("Always trusted (the local signing key):")
    for t in local:
        print(f"  {t.fingerprint}  {printable(t.subject)}  ({t.source})")
    if not local:
        print("  (no signing key yet)")
    print(f"Trust store ({keys.trust_store_dir(args.key_dir)}):")
    for t in store:
        kind = "" if t.kind == keys.SIGNER else "  [timestamp authority root]"
        print(f"  {t.fingerprint}  {printable(t.subject)}  added {t.added or '?'}{kind}")
    if not store:
        print("  (empty: `archiver trust add CERT.pem` adds one)")
    revoked, unreadable = keys.trust_revocations(args.key_dir)
    if revoked or unreadable:
        print("Revoked (not trusted for signatures made after):")
    for r in revoked:
        print(
            f"  {r.fingerprint}  {printable(r.subject)}  revoked {r.when()}"
            f"{' by ' + printable(r.by) if r.by else ''}: {printable(r.reason)}"
        )
    for path in unreadable:
        print(f"  ! {path}: not a revocation archiver can read")
    return OK


def run_trust_revoke(args: argparse.Namespace) -> int:
    try:
        rev = keys.trust_revoke(args.fingerprint, args.reason, key_dir=args.key_dir)
    except ValueError as exc:  # not a fingerprint, or no reason
        print(f"archiver trust revoke: {exc}", file=sys.stderr)
        return USAGE
    except keys.TrustError as exc:
        print(f"archiver trust revoke: {printable(str(exc))}", file=sys.stderr)
        return FAILED
    print(f"Revoked: {printable(rev.subject)} {rev.fingerprint}")
    print(f"on {rev.when()}: {printable(rev.reason)}")
    print(
        "Its bundles now verify as INTACT, BUT THE SIGNER WAS REVOKED, unless a trusted "
        "timestamp proves them older."
    )
    return OK


def run_trust_remove(args: argparse.Namespace) -> int:
    try:
        gone = keys.trust_remove(args.fingerprint, key_dir=args.key_dir)
    except ValueError as exc:  # not a fingerprint
        print(f"archiver trust remove: {exc}", file=sys.stderr)
        return USAGE
    except keys.TrustError as exc:
        print(f"archiver trust remove: {printable(str(exc))}", file=sys.stderr)
        return FAILED
    for cert in gone:
        print(f"No longer trusted: {printable(cert.subject)} {cert.fingerprint}")
    return OK
