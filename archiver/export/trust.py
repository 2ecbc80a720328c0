"""Whom `archiver verify` trusts: the signer of a bundle, and the timestamp authorities.

A bundle carries its own certificate (signer.pem), so a bundle that is intact proves only
that *someone* signed it. It is VERIFIED when its signer is also trusted here:

- the local signing key's certificate, current or retired (``keys.local_certificates``);
- a certificate in the trust store: a directory of PEM files next to the signing key's
  directory (``<user data>/archiver/trust``), one per certificate, named by its SHA-256
  fingerprint, each starting with ``Subject:``, ``Kind:`` and ``Added:`` lines;
- or, for one check, the fingerprint given with ``--expect-fingerprint``: then that is the
  only signer accepted, and another one is a failure, not merely untrusted.

Trust-store entries of kind ``tsa`` are the roots that timestamp authorities (RFC 3161) must
chain to (the only ones: not the operating system's TLS roots); they never make a bundle's
signer trusted.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from archiver import outputs
from archiver.export import keys

SIGNER, TSA = "signer", "tsa"
KINDS = (SIGNER, TSA)
#: the largest certificate file `trust add` reads (a certificate is a few kilobytes)
MAX_CERT_BYTES = 256 * 1024


class TrustError(Exception):
    """A trust-store operation could not be done; the message says why."""


def store_dir(key_dir: Path | None = None) -> Path:
    """The trust store: ``trust`` next to the signing key's directory."""
    return (key_dir or keys.default_dir()).parent / "trust"


@dataclass(frozen=True)
class TrustedCert:
    cert: x509.Certificate
    kind: str
    source: str  # "the trust store", "the local signing key", …
    added: str = ""
    path: Path | None = None

    @property
    def fingerprint(self) -> str:
        return keys.cert_fingerprint(self.cert)

    @property
    def subject(self) -> str:
        return self.cert.subject.rfc4514_string()


def _headers(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("-----BEGIN"):
            break
        k, sep, v = line.partition(":")
        if sep:
            out[k.strip().lower()] = v.strip()
    return out


def entries(key_dir: Path | None = None) -> list[TrustedCert]:
    """The trust store's certificates (unreadable files are skipped)."""
    d = store_dir(key_dir)
    found = []
    for path in sorted(d.glob("*.pem")) if d.is_dir() else []:
        try:  # an app file: never read through a link, never a FIFO or a device
            data = outputs.read_app_file(path, what="the trust-store entry")
            text = data.decode("utf-8", errors="replace")
            cert = x509.load_pem_x509_certificate(text.encode())
        except (OSError, ValueError):
            continue
        head = _headers(text)
        kind = head.get("kind", SIGNER)
        found.append(
            TrustedCert(
                cert,
                kind if kind in KINDS else SIGNER,
                "the trust store",
                head.get("added", ""),
                path,
            )
        )
    return found


def local_signers(key_dir: Path | None = None) -> list[TrustedCert]:
    """The local signing key's certificates (always trusted; not in the store)."""
    return [TrustedCert(c, SIGNER, why) for c, why in keys.local_certificates(key_dir)]


def read_certificate(source: Path) -> x509.Certificate:
    """A certificate from a PEM or DER file, or the signer.pem of a bundle (its directory
    or its zip)."""
    if source.is_dir():
        source = source / "signer.pem"
    try:
        if source.is_file() and zipfile.is_zipfile(source):
            data = _signer_from_zip(source)
        else:
            if source.stat().st_size > MAX_CERT_BYTES:
                raise TrustError(
                    f"{source} is larger than a certificate ({MAX_CERT_BYTES:,} bytes)"
                )
            data = source.read_bytes()
    except OSError as exc:
        raise TrustError(f"cannot read {source}: {exc.strerror or exc}") from None
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError:
        raise TrustError(f"{source} holds no X.509 certificate (PEM or DER)") from None


def _signer_from_zip(path: Path) -> bytes:
    with zipfile.ZipFile(path) as z:
        found = [i for i in z.infolist() if i.filename.rsplit("/", 1)[-1] == "signer.pem"]
        if len(found) != 1:
            raise TrustError(f"{path} holds {len(found)} signer.pem entries, expected one")
        if found[0].file_size > MAX_CERT_BYTES:
            raise TrustError(f"{path}: signer.pem is larger than a certificate")
        return z.read(found[0])


def add(cert: x509.Certificate, kind: str = SIGNER, key_dir: Path | None = None) -> TrustedCert:
    """Add ``cert`` to the trust store (TrustError when it is trusted already)."""
    if kind not in KINDS:
        raise TrustError(f"unknown kind {kind!r}: {' or '.join(KINDS)}")
    fp = keys.cert_fingerprint(cert)
    for known in local_signers(key_dir) + entries(key_dir):
        if known.fingerprint == fp and known.kind == kind:
            raise TrustError(f"{fp} is trusted already ({known.source})")
    d = store_dir(key_dir)
    d.mkdir(parents=True, exist_ok=True)
    added = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    subject = " ".join(cert.subject.rfc4514_string().split())
    text = f"Subject: {subject}\nKind: {kind}\nAdded: {added}\n" + cert.public_bytes(
        serialization.Encoding.PEM
    ).decode("ascii")
    path = d / f"{keys.fingerprint_file_name(fp)}{'' if kind == SIGNER else '.' + kind}.pem"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise TrustError(f"{path} exists already") from None
    with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    return TrustedCert(cert, kind, "the trust store", added, path)


def remove(fingerprint: str, key_dir: Path | None = None) -> list[TrustedCert]:
    """Remove the store's entries with this fingerprint (any spelling); returns them.
    TrustError when there are none (or it is the local signing key's)."""
    fp = keys.parse_fingerprint(fingerprint)
    gone = [e for e in entries(key_dir) if e.fingerprint == fp]
    if not gone:
        local = [s for s in local_signers(key_dir) if s.fingerprint == fp]
        if local:
            raise TrustError(
                f"{fp} is {local[0].source}'s certificate: it is always trusted, "
                "not an entry of the trust store"
            )
        raise TrustError(f"{fp} is not in the trust store ({store_dir(key_dir)})")
    for e in gone:
        if e.path is not None:
            e.path.unlink()
    return gone


@dataclass(frozen=True)
class TrustPolicy:
    """What one verification trusts. ``expect``: the one signer fingerprint accepted."""

    signers: dict[str, str] = field(default_factory=dict)  # fingerprint → why trusted
    tsa_roots: tuple[x509.Certificate, ...] = ()
    expect: str | None = None

    @classmethod
    def local(cls, key_dir: Path | None = None, expect: str | None = None) -> TrustPolicy:
        """The local signing key's certificates and the trust store of ``key_dir``."""
        signers: dict[str, str] = {}
        roots = []
        for t in local_signers(key_dir) + entries(key_dir):
            if t.kind == TSA:
                roots.append(t.cert)
            else:
                why = (
                    t.source
                    if t.path is None
                    else f"a certificate in the trust store (added {t.added or 'at an unknown time'})"
                )
                signers.setdefault(t.fingerprint, why)
        return cls(signers, tuple(roots), keys.parse_fingerprint(expect) if expect else None)

    def judge(self, fingerprint: str) -> tuple[str, str]:
        """("trusted", why) | ("untrusted", why) | ("mismatch", why) for a signer."""
        if self.expect:
            if fingerprint == self.expect:
                return "trusted", "signed by the certificate whose fingerprint was expected"
            return "mismatch", (
                f"the signer's certificate is not the one expected: its SHA-256 is {fingerprint}, "
                f"expected {self.expect}"
            )
        why = self.signers.get(fingerprint)
        if why:
            return "trusted", f"signed by {why}"
        return "untrusted", (
            "its certificate is neither the local signing key's nor in the trust store"
        )
