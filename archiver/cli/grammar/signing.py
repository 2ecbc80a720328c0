"""The arguments of ``archiver keys show|create|import|destroy-retired`` (the signing key)
and ``archiver trust add|list|remove|revoke`` (whose signatures ``archiver verify``
accepts)."""

from __future__ import annotations

import argparse
from pathlib import Path

from archiver.cli import exits
from archiver.cli.grammar.base import actions, add_secret_stdin, command, handles
from archiver.credentials import ENV_PASSPHRASE

HANDLERS = "archiver.cli.signing"


def _key_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--key-dir", type=Path, default=None, help=argparse.SUPPRESS)  # tests


def _force(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--force",
        action="store_true",
        help="replace an existing key; the old key and certificate are kept (renamed with "
        "their fingerprint) and stay trusted for verification",
    )


def keys(k: argparse.ArgumentParser) -> None:
    sub = actions(
        k,
        "The signing key that audit bundles and checkpoints are signed with: an ECDSA P-256 "
        "key and a self-signed certificate, created on first export, stored encrypted. Its "
        f"passphrase is in the OS keyring, or comes from {ENV_PASSPHRASE}.",
    )
    show = command(sub, "show", "the signing key's certificate (no passphrase needed)")
    handles(
        show,
        f"{HANDLERS}:run_keys_show",
        exits.KEYS_SHOW,
        description="Show the signing key's subject, certificate fingerprint and files, and the "
        "retired keys still trusted. Reads only the certificate: no passphrase is needed.",
    )
    _key_dir(show)

    create = command(sub, "create", "make a new signing key and self-signed certificate")
    handles(
        create,
        f"{HANDLERS}:run_keys_create",
        exits.KEYS_CREATE,
        description="Make a new ECDSA P-256 signing key and a self-signed certificate, valid "
        "for ten years. The certificate's subject names the signer on every bundle's cover "
        "and in `archiver verify`; give your organisation's with --subject. Refused while a "
        "key exists, unless --force.",
    )
    create.add_argument(
        "--subject",
        metavar="DN",
        help='the signer\'s distinguished name, e.g. "CN=Compliance Office,O=Example Ltd,C=GB" '
        "(RFC 4514; CN required; default: CN=Archiver audit signer (USER@HOST),O=archiver)",
    )
    _force(create)
    _key_dir(create)

    imp = command(sub, "import", "use an existing key and certificate (PKCS#12 or PEM)")
    handles(
        imp,
        f"{HANDLERS}:run_keys_import",
        exits.KEYS_IMPORT,
        description="Import a key and its certificate (one your organisation issued): a "
        "PKCS#12 file, or a PEM private key and certificate. The key is stored encrypted "
        "with the passphrase from the OS keyring or "
        f"{ENV_PASSPHRASE}. Refused while a key exists, unless --force.",
    )
    files = imp.add_mutually_exclusive_group(required=True)
    files.add_argument("--pkcs12", type=Path, metavar="FILE", help="a PKCS#12 file (.p12, .pfx)")
    files.add_argument(
        "--key", type=Path, metavar="KEY.pem", help="a PEM private key (with --cert)"
    )
    imp.add_argument("--cert", type=Path, metavar="CERT.pem", help="its PEM certificate")
    add_secret_stdin(imp, "the file's password", "--password-stdin")
    _force(imp)
    _key_dir(imp)

    destroy = command(
        sub, "destroy-retired", "remove the retired private keys (their certificates stay)"
    )
    handles(
        destroy,
        f"{HANDLERS}:run_keys_destroy_retired",
        exits.KEYS_DESTROY_RETIRED,
        description="Remove the private keys retired by `keys create --force` or `keys "
        "import --force` (key-<FINGERPRINT>.pem). Their certificates are kept, so bundles "
        "they signed still verify; nothing can be signed with them any more. A retired key "
        "whose certificate is missing is kept. The current key is never touched. To stop "
        "trusting what a leaked key signed, revoke it: `archiver trust revoke`.",
    )
    destroy.add_argument(
        "--dry-run", action="store_true", help="list what would be removed, remove nothing"
    )
    _key_dir(destroy)


def trust(t: argparse.ArgumentParser) -> None:
    sub = actions(
        t,
        "The trust store: the certificates whose bundles `archiver verify` accepts besides "
        "the local signing key's (current and retired: trusted unless revoked), the root "
        "certificates timestamp authorities must chain to, and the revoked signers.",
    )
    add = command(sub, "add", "trust a signer's certificate (or a timestamp authority's root)")
    handles(
        add,
        f"{HANDLERS}:run_trust_add",
        exits.TRUST_ADD,
        description="Trust a signer: CERT.pem, or a bundle (directory or zip) whose signer.pem "
        "is added. Compare its fingerprint with one obtained from the signer out of band "
        "first. With --tsa ROOT.pem: trust a root certificate for timestamp authorities "
        "(never for signers).",
    )
    add.add_argument(
        "target",
        nargs="?",
        metavar="CERT|BUNDLE",
        help="a certificate (PEM or DER), or a bundle directory or zip (its signer.pem)",
    )
    add.add_argument(
        "--tsa",
        type=Path,
        metavar="ROOT.pem",
        help="trust this root certificate for timestamp authorities (not for signers)",
    )
    _key_dir(add)

    ls = command(sub, "list", "the trusted certificates")
    handles(
        ls,
        f"{HANDLERS}:run_trust_list",
        exits.TRUST_LIST,
        description="List the local signing key's certificates and the trust store's: "
        "subject, SHA-256 fingerprint and the date each was added; then the revoked signers: "
        "when, why and by whom.",
    )
    _key_dir(ls)

    rm = command(sub, "remove", "stop trusting a certificate")
    handles(
        rm,
        f"{HANDLERS}:run_trust_remove",
        exits.TRUST_REMOVE,
        description="Remove the certificate with this SHA-256 fingerprint from the trust store "
        "(as `archiver trust list` shows it; colons optional). The local signing key's "
        "certificates cannot be removed: they are always trusted.",
    )
    rm.add_argument(
        "fingerprint",
        metavar="FINGERPRINT",
        help="the certificate's SHA-256 fingerprint (hex, colons optional, any case)",
    )
    _key_dir(rm)

    rv = command(sub, "revoke", "stop trusting a signer from now on (any signer, local keys too)")
    handles(
        rv,
        f"{HANDLERS}:run_trust_revoke",
        exits.TRUST_REVOKE,
        description="Revoke the signer with this SHA-256 fingerprint: a certificate of the "
        "trust store, or of the local signing key (current or retired). Its bundles then "
        "verify as INTACT, BUT THE SIGNER WAS REVOKED on DATE (reason), exit 3, unless a "
        "trusted RFC 3161 timestamp (its authority added with `trust add --tsa`) proves the "
        "signature older than the revocation. A revoked local key signs nothing more. "
        "Revocations are kept with the trust store (per user, for every bundle verified "
        "here), listed by `archiver trust list`, and cannot be undone by archiver.",
    )
    rv.add_argument(
        "fingerprint",
        metavar="FINGERPRINT",
        help="the certificate's SHA-256 fingerprint (hex, colons optional, any case)",
    )
    rv.add_argument(
        "--reason",
        required=True,
        metavar="TEXT",
        help='why it is revoked ("key leaked", "left the company"): shown with every verdict',
    )
    _key_dir(rv)
