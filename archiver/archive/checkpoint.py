"""Checkpoints: the archive's chain heads at a moment, kept where truncating the database
cannot reach them.

A checkpoint states the page count and page-chain head, the audit-entry count and audit
head, when and after what it was taken, and (when a signing key was available) an ECDSA
signature over its canonical JSON with the signer's certificate fingerprint. It is written
as an audit entry (``checkpoint``) and appended as one JSON line to the sidecar file
``<archive>.checkpoints`` beside the archive; ``archiver checkpoint`` prints one for
keeping elsewhere. verify-archive checks that every checkpoint it knows of is a *prefix* of
the chains as recomputed now (see archive/history.py).

Short form: ``pages:N:HEX/audit:M:HEX``; ``N:HEX`` alone means pages:N:HEX.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sqlite3
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from archiver import outputs
from archiver.archive.hashing import GENESIS, canonical_json
from archiver.archive.store import Archive
from archiver.timerange import utc_now

FORMAT = "archiver-checkpoint/1"
EVENT = "checkpoint"
SIDECAR_SUFFIX = outputs.SIDECAR_SUFFIX
ECDSA = "ecdsa-sha256"
RSA = "rsa-pkcs1v15-sha256"

_PART = re.compile(r"(?:(pages|audit):)?(\d+):([0-9a-fA-F]{64})")


class CheckpointError(ValueError):
    """Not a checkpoint; the message says what was expected."""


@dataclass(frozen=True)
class Checkpoint:
    pages: int | None
    chain_head: str | None
    audit_entries: int | None = None
    audit_head: str | None = None
    archive_id: str | None = None
    at: str | None = None
    cause: str | None = None
    signer: str | None = None  # SHA-256 fingerprint of the signer's certificate
    alg: str | None = None
    signature: str | None = None  # base64 of the DER signature over payload()
    unsigned: str | None = None  # why it is not signed
    #: where it was found (not part of it): "audit entry 12", "sidecar line 3", "--expect-head"
    source: str = field(default="", compare=False)

    def short(self) -> str:
        parts = []
        if self.pages is not None or self.chain_head:
            parts.append(f"pages:{_count(self.pages)}:{self.chain_head}")
        if self.audit_entries is not None or self.audit_head:
            parts.append(f"audit:{_count(self.audit_entries)}:{self.audit_head}")
        return "/".join(parts)

    def brief(self) -> str:
        """The short form with abbreviated heads, for messages (``?``: a head named
        without its count, as bundles made before counts were added name it)."""
        parts = []
        if self.pages is not None or self.chain_head:
            parts.append(f"pages:{_count(self.pages)}:{(self.chain_head or '')[:12]}…")
        if self.audit_entries is not None or self.audit_head:
            parts.append(f"audit:{_count(self.audit_entries)}:{(self.audit_head or '')[:12]}…")
        return "/".join(parts)

    @property
    def key(self) -> tuple[int | None, str | None, int | None, str | None]:
        """What it claims about the chains (checkpoints claiming the same are one)."""
        return (self.pages, self.chain_head, self.audit_entries, self.audit_head)

    def as_dict(self) -> dict[str, Any]:
        """The record written to the audit log and the sidecar."""
        return {
            "format": FORMAT,
            "archive_id": self.archive_id,
            "at": self.at,
            "cause": self.cause,
            "pages": self.pages,
            "chain_head": self.chain_head,
            "audit_entries": self.audit_entries,
            "audit_head": self.audit_head,
            "signer": self.signer,
            "alg": self.alg,
            "signature": self.signature,
            "unsigned": self.unsigned,
        }

    def payload(self) -> bytes:
        """The bytes signed: the canonical JSON of the record without its signature."""
        d = self.as_dict()
        del d["signature"]
        return canonical_json(d).encode()

    @classmethod
    def from_dict(cls, d: Any, source: str = "") -> Checkpoint:
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise CheckpointError(f"not an {FORMAT} record")
        pages, audit = d.get("pages"), d.get("audit_entries")
        if not isinstance(pages, int) or not _is_hex(d.get("chain_head")):
            raise CheckpointError("no page count and chain head")
        if audit is not None and (not isinstance(audit, int) or not _is_hex(d.get("audit_head"))):
            raise CheckpointError("a malformed audit count or head")
        names = ("archive_id", "at", "cause", "signer", "alg", "signature", "unsigned")
        more = {k: d.get(k) if isinstance(d.get(k), str) else None for k in names}
        return cls(pages, d["chain_head"], audit, d.get("audit_head"), **more, source=source)


def _count(n: int | None) -> str:
    return "?" if n is None else str(n)


def _is_hex(value: Any) -> bool:
    return isinstance(value, str) and bool(re.fullmatch(r"[0-9a-f]{64}", value))


def parse(text: str, source: str = "") -> Checkpoint:
    """``N:HEX``, ``pages:N:HEX``, ``audit:M:HEX`` or ``pages:N:HEX/audit:M:HEX``."""
    found: dict[str, tuple[int, str]] = {}
    for part in text.strip().split("/"):
        m = _PART.fullmatch(part.strip())
        if not m or (m.group(1) or "pages") in found:
            raise CheckpointError(
                f"{text!r} is not a checkpoint: expected N:HEX (page count and page-chain head, "
                "64 hex digits) or pages:N:HEX/audit:M:HEX"
            )
        found[m.group(1) or "pages"] = (int(m.group(2)), m.group(3).lower())
    pages, audit = found.get("pages"), found.get("audit")
    return Checkpoint(
        pages[0] if pages else None,
        pages[1] if pages else None,
        audit[0] if audit else None,
        audit[1] if audit else None,
        source=source or "given",
    )


# -- signing ----------------------------------------------------------------------------
@dataclass(frozen=True)
class KeySigner:
    """Signs checkpoints with a private key (the bundles' signing key)."""

    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    fingerprint: str

    def sign(self, cp: Checkpoint) -> Checkpoint:
        alg = ECDSA if isinstance(self.key, ec.EllipticCurvePrivateKey) else RSA
        body = replace(cp, signer=self.fingerprint, alg=alg, signature=None, unsigned=None)
        if isinstance(self.key, ec.EllipticCurvePrivateKey):
            sig = self.key.sign(body.payload(), ec.ECDSA(hashes.SHA256()))
        else:
            sig = self.key.sign(body.payload(), padding.PKCS1v15(), hashes.SHA256())
        return replace(body, signature=base64.b64encode(sig).decode("ascii"))


def signature_ok(cp: Checkpoint, cert: x509.Certificate) -> bool:
    """Does ``cp``'s signature verify with ``cert``'s public key?"""
    if not cp.signature:
        return False
    try:
        sig = base64.b64decode(cp.signature, validate=True)
        public = cert.public_key()
        if cp.alg == ECDSA and isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(sig, cp.payload(), ec.ECDSA(hashes.SHA256()))
            return True
        if cp.alg == RSA and isinstance(public, rsa.RSAPublicKey):
            public.verify(sig, cp.payload(), padding.PKCS1v15(), hashes.SHA256())
            return True
    except (InvalidSignature, ValueError):
        return False
    return False


# -- taking one -------------------------------------------------------------------------
def heads(conn: sqlite3.Connection) -> tuple[int, str, int, str]:
    """(pages, page-chain head, audit entries, audit head) as stored now."""
    row = conn.execute(
        "SELECT pages, pages_chain, audit_entries, audit_chain FROM chain_head"
    ).fetchone()
    return int(row[0]), row[1] or GENESIS, int(row[2]), row[3] or GENESIS


def current(
    conn: sqlite3.Connection,
    cause: str,
    signer: KeySigner | None = None,
    unsigned: str = "no signing key",
) -> Checkpoint:
    """The archive's checkpoint now (signed when a signer is given)."""
    pages, head, audit, ahead = heads(conn)
    row = conn.execute("SELECT value FROM meta WHERE key='archive_id'").fetchone()
    cp = Checkpoint(
        pages,
        head,
        audit,
        ahead,
        archive_id=row[0] if row else None,
        at=utc_now(),
        cause=cause,
        unsigned=unsigned,
    )
    return signer.sign(cp) if signer else cp


@dataclass
class Recorded:
    checkpoint: Checkpoint
    sidecar: Path
    sidecar_error: str | None = None  # why the sidecar line could not be written


def record(
    archive: Archive,
    cause: str,
    signer: KeySigner | None = None,
    unsigned: str = "no signing key",
) -> Recorded:
    """Write a checkpoint: an audit entry (taken in the same transaction, so nothing comes
    between what it states and the entry), then a line in the sidecar."""
    made: list[Checkpoint] = []

    def make(conn: sqlite3.Connection) -> dict[str, Any]:
        made.append(current(conn, cause, signer, unsigned))
        return made[0].as_dict()

    archive.audit_from(EVENT, make)
    cp = made[0]
    side = sidecar_path(archive.path)
    return Recorded(cp, side, append_sidecar(side, cp))


# -- the sidecar ------------------------------------------------------------------------
def sidecar_path(archive: str | os.PathLike[str]) -> Path:
    """``<archive>.checkpoints`` beside the archive's resolved path (a pull through a link
    appends to the sidecar of the file it writes)."""
    return outputs.sidecar_path(archive)


def _open_sidecar(path: Path, flags: int) -> int:
    """The sidecar, opened as one of archiver's own files: never through a link, never a
    FIFO, device, hard link, SQLite file or another member of its archive's set."""
    archive = path.with_name(path.name[: -len(SIDECAR_SUFFIX)])
    return outputs.open_app_file(
        path,
        flags,
        what="the checkpoint sidecar",
        archive=outputs.ArchiveSet.of(archive),
        text_file=True,
    )


def append_sidecar(path: Path, cp: Checkpoint) -> str | None:
    """Append one JSON line (synced to disk); returns why it failed, or None. A new
    sidecar is created 0600 (private, like the archive), whatever the umask."""
    try:
        fd = _open_sidecar(path, os.O_RDWR | os.O_APPEND | os.O_CREAT)
        with os.fdopen(fd, "ab") as f:
            f.write((canonical_json(cp.as_dict()) + "\n").encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
    except outputs.Refused as exc:
        return str(exc)
    except OSError as exc:
        return f"{type(exc).__name__}: {exc.strerror or exc}"
    return None


def sidecar_bytes(archive: str | os.PathLike[str]) -> bytes | None:
    """The sidecar's bytes as they are now (None when there is none), read as an app file
    (never through a link, a FIFO or a device): a backup copies them."""
    try:
        with os.fdopen(_open_sidecar(sidecar_path(archive), os.O_RDONLY), "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


@dataclass
class Sidecar:
    path: Path
    exists: bool = False
    error: str | None = None  # unreadable
    checkpoints: list[Checkpoint] = field(default_factory=list)
    bad_lines: list[tuple[int, str]] = field(default_factory=list)  # (line, why)


def read_sidecar(archive: str | os.PathLike[str]) -> Sidecar:
    side = Sidecar(sidecar_path(archive))
    try:
        with os.fdopen(_open_sidecar(side.path, os.O_RDONLY), "rb") as f:
            text = f.read().decode("utf-8")
    except FileNotFoundError:
        return side
    except (OSError, UnicodeDecodeError, outputs.Refused) as exc:
        side.exists, side.error = True, str(exc)
        return side
    side.exists = True
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            side.checkpoints.append(Checkpoint.from_dict(json.loads(line), f"sidecar line {n}"))
        except (ValueError, CheckpointError) as exc:
            side.bad_lines.append((n, str(exc)))
    return side
