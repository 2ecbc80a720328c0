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

**Revocations** (``archiver trust revoke FINGERPRINT --reason TEXT``) are kept in the trust
store too, one JSON file per revoked certificate in ``trust/revoked/`` (fingerprint, subject,
when, why, who, the certificate). Any signer known here can be revoked: a trust-store entry
or a local signing key, retired or current. A revoked signer's bundles are INTACT, BUT THE
SIGNER WAS REVOKED, unless a trusted timestamp (RFC 3161, its authority chaining to a
``tsa`` root) proves the signature older than the revocation. They are not custody events
of an archive: whom a person trusts is theirs, per user like the trust store, and it must
hold for every bundle they verify, with or without an archive at hand.
"""

from __future__ import annotations

import getpass
import json
import os
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from archiver import outputs
from archiver.export import keys

SIGNER, TSA = "signer", "tsa"
KINDS = (SIGNER, TSA)
REVOKED_DIR = "revoked"
REVOCATION_FORMAT = "archiver-revocation/1"
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


# -- revocations -------------------------------------------------------------------------
@dataclass(frozen=True)
class Revocation:
    """A signer no longer trusted from ``at`` on, and why."""

    fingerprint: str
    at: datetime  # aware, UTC
    reason: str
    subject: str = ""
    by: str = ""
    path: Path | None = None

    def when(self) -> str:
        """The moment of the revocation as shown to people: ``2026-12-07 09:30:00 UTC``."""
        return f"{self.at:%Y-%m-%d %H:%M:%S} UTC"

    def as_dict(self, cert: x509.Certificate | None) -> dict[str, Any]:
        return {
            "format": REVOCATION_FORMAT,
            "fingerprint": self.fingerprint,
            "subject": self.subject,
            "revoked_at": self.at.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "reason": self.reason,
            "by": self.by,
            "certificate": cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
            if cert is not None
            else None,
        }

    @classmethod
    def from_dict(cls, d: Any, path: Path | None = None) -> Revocation:
        if not isinstance(d, dict) or d.get("format") != REVOCATION_FORMAT:
            raise ValueError(f"not an {REVOCATION_FORMAT} record")
        at = datetime.fromisoformat(str(d["revoked_at"]).replace("Z", "+00:00"))
        if at.tzinfo is None:
            raise ValueError("a revocation time without its offset")
        return cls(
            keys.parse_fingerprint(str(d["fingerprint"])),
            at.astimezone(UTC),
            str(d.get("reason") or ""),
            str(d.get("subject") or ""),
            str(d.get("by") or ""),
            path,
        )


def revoked_dir(key_dir: Path | None = None) -> Path:
    return store_dir(key_dir) / REVOKED_DIR


def revocations(key_dir: Path | None = None) -> dict[str, Revocation]:
    """The revoked signers by fingerprint. A file that cannot be read as a revocation is
    skipped (``archiver trust list`` names it: :func:`unreadable_revocations`)."""
    found: dict[str, Revocation] = {}
    d = revoked_dir(key_dir)
    for path in sorted(d.glob("*.json")) if d.is_dir() else []:
        try:
            rev = Revocation.from_dict(
                json.loads(outputs.read_app_file(path, what="the revocation")), path
            )
        except (OSError, ValueError, KeyError, TypeError):
            continue
        found.setdefault(rev.fingerprint, rev)
    return found


def unreadable_revocations(key_dir: Path | None = None) -> list[Path]:
    d = revoked_dir(key_dir)
    known = {r.path for r in revocations(key_dir).values()}
    return [p for p in sorted(d.glob("*.json")) if p not in known] if d.is_dir() else []


def revoke(
    fingerprint: str, reason: str, key_dir: Path | None = None, *, now: datetime | None = None
) -> Revocation:
    """Revoke the signer with ``fingerprint`` (any spelling): a certificate of the trust
    store or of the local signing key, retired or current. ValueError for an empty reason
    or not a fingerprint; TrustError when no certificate here has it, or it is revoked
    already."""
    fp = keys.parse_fingerprint(fingerprint)
    why = " ".join(reason.split())
    if not why:
        raise ValueError("give the reason for the revocation (--reason TEXT)")
    done = revocations(key_dir).get(fp)
    if done is not None:
        raise TrustError(f"{fp} was revoked already, on {done.when()} ({done.reason})")
    known = [t for t in local_signers(key_dir) + entries(key_dir) if t.fingerprint == fp]
    if not known:
        raise TrustError(
            f"{fp} is not a signer known here (neither the local signing key's, current or "
            f"retired, nor in the trust store {store_dir(key_dir)}): add its certificate with "
            "`archiver trust add CERT.pem` first, then revoke it"
        )
    try:
        who = getpass.getuser()
    except Exception:  # no login name
        who = ""
    at = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    rev = Revocation(fp, at, why, " ".join(known[0].subject.split()), who)
    d = revoked_dir(key_dir)
    d.mkdir(mode=outputs.PRIVATE_DIR, parents=True, exist_ok=True)
    path = d / f"{keys.fingerprint_file_name(fp)}.json"
    data = json.dumps(rev.as_dict(known[0].cert), indent=2, ensure_ascii=False) + "\n"
    try:
        outputs.write_app_file(path, data.encode("utf-8"), what="the revocation")
    except (FileExistsError, outputs.Refused) as exc:
        raise TrustError(f"{path} could not be written: {exc}") from None
    return Revocation(rev.fingerprint, rev.at, rev.reason, rev.subject, rev.by, path)


@dataclass(frozen=True)
class TrustPolicy:
    """What one verification trusts. ``expect``: the one signer fingerprint accepted;
    ``revoked``: signers no longer trusted from a moment on (whatever else says so)."""

    signers: dict[str, str] = field(default_factory=dict)  # fingerprint → why trusted
    tsa_roots: tuple[x509.Certificate, ...] = ()
    expect: str | None = None
    revoked: dict[str, Revocation] = field(default_factory=dict)

    @classmethod
    def local(cls, key_dir: Path | None = None, expect: str | None = None) -> TrustPolicy:
        """The local signing key's certificates, the trust store of ``key_dir`` and its
        revocations."""
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
        return cls(
            signers,
            tuple(roots),
            keys.parse_fingerprint(expect) if expect else None,
            revocations(key_dir),
        )

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
