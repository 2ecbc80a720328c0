"""The signing key that bundles are signed with (show, create, import), and the trust
store: the certificates whose bundles `archiver verify` accepts besides the local key's."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from archiver.export import trust
from archiver.export.keys import (
    CERT_FILE,
    KEY_FILE,
    KeyExistsError,
    PassphraseNeeded,
    PassphraseSource,
    RetiredKey,
    SigningIdentity,
    SigningKeyError,
    WrongPassphrase,
    cert_fingerprint,
    current_certificate,
    default_dir,
    import_pem,
    import_pkcs12,
    load,
    load_or_create,
    local_certificates,
    parse_fingerprint,
    parse_subject,
    passphrase_source,
    store_passphrase,
    tighten_files,
)
from archiver.export.keys import create as _create
from archiver.export.keys import destroy_retired as _destroy_retired
from archiver.export.trust import SIGNER, TSA, Revocation, TrustedCert, TrustError

__all__ = [
    "SIGNER",
    "TSA",
    "KeyExistsError",
    "KeyInfo",
    "PassphraseNeeded",
    "PassphraseSource",
    "RetiredKey",
    "Revocation",
    "SigningIdentity",
    "SigningKeyError",
    "TrustError",
    "TrustedCert",
    "WrongPassphrase",
    "cert_fingerprint",
    "create",
    "current_certificate",
    "destroy_retired",
    "import_file",
    "load",
    "load_or_create",
    "local_certificates",
    "parse_fingerprint",
    "parse_subject",
    "passphrase_source",
    "show",
    "store_passphrase",
    "throwaway",
    "trust_add",
    "trust_add_certificate",
    "trust_list",
    "trust_remove",
    "trust_revocations",
    "trust_revoke",
    "trust_store_dir",
]


@dataclass(frozen=True)
class KeyInfo:
    """The signing key as its certificate describes it."""

    subject: str
    fingerprint: str
    cert_path: Path
    key_path: Path
    #: the retired keys' certificates, still trusted: (fingerprint, which file)
    retired: list[tuple[str, str]] = field(default_factory=list)


def show(directory: Path | None = None) -> KeyInfo:
    """The signing key's certificate and the retired ones, read without the key's
    passphrase (the certificate is public). FileNotFoundError when there is no key."""
    d = directory or default_dir()
    certs = local_certificates(d)
    if not certs or not (d / KEY_FILE).exists() or current_certificate(d) is None:
        raise FileNotFoundError(f"No signing key in {d}")
    tighten_files(d)
    cert = certs[0][0]
    return KeyInfo(
        cert.subject.rfc4514_string(),
        cert_fingerprint(cert),
        d / CERT_FILE,
        d / KEY_FILE,
        [(cert_fingerprint(c), why) for c, why in certs[1:]],
    )


def create(
    directory: Path | None = None, *, force: bool = False, subject: str | None = None
) -> tuple[SigningIdentity, str]:
    """A new signing key, its certificate issued to ``subject`` (an RFC 4514 name with a
    CN, see parse_subject: ValueError otherwise; default CN=Archiver audit signer
    (USER@HOST)). Refused (KeyExistsError) when one exists, unless ``force``: then the old
    key and certificate are kept, renamed with their fingerprint, and stay trusted for
    verification. Returns the new identity and the retired key's fingerprint ("")."""
    name = parse_subject(subject) if subject is not None else None
    old = current_certificate(directory)
    ident = _create(directory, force=force, subject=name)
    return ident, cert_fingerprint(old) if old is not None else ""


def throwaway(directory: Path, common_name: str) -> SigningIdentity:
    """A new key in ``directory`` (a folder of the app's own, such as the demo's) whose
    passphrase is random and held by the returned identity only: no keyring entry, no
    environment variable is read or written. A key already there is retired: its
    certificate is kept (renamed with its fingerprint), so bundles it signed still verify
    against that folder; its key file goes, as its passphrase was never kept."""
    ident = _create(
        directory, common_name, force=True, passphrase=secrets.token_urlsafe(32).encode()
    )
    for old in directory.glob("key-*.pem"):
        old.unlink()
    return ident


def import_file(
    *,
    pkcs12: Path | None = None,
    key: Path | None = None,
    cert: Path | None = None,
    password: str | None = None,
    directory: Path | None = None,
    force: bool = False,
) -> SigningIdentity:
    """Import a key and its certificate (a PKCS#12 file, or PEM key + certificate); an
    existing key is replaced only with ``force`` (and then retired, not lost)."""
    if pkcs12:
        return import_pkcs12(pkcs12, password, directory, force=force)
    if key and cert:
        return import_pem(key, cert, password, directory, force=force)
    raise ValueError("give --pkcs12 FILE, or --key KEY.pem --cert CERT.pem")


def trust_store_dir(key_dir: Path | None = None) -> Path:
    return trust.store_dir(key_dir)


def trust_add(source: Path, *, kind: str = SIGNER, key_dir: Path | None = None) -> TrustedCert:
    """Trust the certificate in ``source`` (a PEM/DER file, or a bundle's signer.pem given
    as the bundle directory or zip); ``kind`` TSA: a timestamp authority's root."""
    return trust.add(trust.read_certificate(source), kind, key_dir)


def trust_add_certificate(
    pem: bytes, *, kind: str = SIGNER, key_dir: Path | None = None
) -> TrustedCert:
    """Trust a certificate given as PEM bytes (e.g. the signer.pem a verification read)."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise TrustError("not a PEM certificate") from None
    return trust.add(cert, kind, key_dir)


def trust_list(key_dir: Path | None = None) -> tuple[list[TrustedCert], list[TrustedCert]]:
    """The local signing key's certificates (always trusted) and the trust store's."""
    return trust.local_signers(key_dir), trust.entries(key_dir)


def trust_remove(fingerprint: str, *, key_dir: Path | None = None) -> list[TrustedCert]:
    return trust.remove(fingerprint, key_dir)


def trust_revoke(fingerprint: str, reason: str, *, key_dir: Path | None = None) -> Revocation:
    """Revoke a signer known here (the trust store's, or a local key's, retired or current):
    its bundles verify as INTACT, BUT THE SIGNER WAS REVOKED unless a trusted timestamp
    proves them older. ValueError: not a fingerprint, or no reason; TrustError: not known
    here, or revoked already. Kept with the trust store (per user, not per archive)."""
    return trust.revoke(fingerprint, reason, key_dir)


def trust_revocations(
    key_dir: Path | None = None,
) -> tuple[list[Revocation], list[Path]]:
    """The revocations, oldest first, and the files of the revoked folder that cannot be
    read as one."""
    revs = sorted(trust.revocations(key_dir).values(), key=lambda r: r.at)
    return revs, trust.unreadable_revocations(key_dir)


def destroy_retired(
    directory: Path | None = None, *, dry_run: bool = False
) -> tuple[list[RetiredKey], list[tuple[RetiredKey, str]]]:
    """Remove the retired private keys (``key-<FP>.pem``); their certificates stay, so the
    bundles they signed still verify. A key whose certificate is missing is kept (and said
    why). Returns the removed (``dry_run``: to be removed) and the kept."""
    return _destroy_retired(directory, dry_run=dry_run)
