"""Checkpoints of an archive (archiver/archive/checkpoint.py): written after every pull,
verify-archive and export by the use cases themselves, so the CLI and the GUI leave the same
record; printed by ``archiver checkpoint`` for keeping elsewhere.

A checkpoint is signed with the local signing key when it can be loaded (never created for
this: a key is made by ``archiver keys create`` or the first bundle export); otherwise it
is written unsigned and says why."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from archiver.archive import checkpoint as cp
from archiver.archive.errors import StorageError
from archiver.archive.queries import audit
from archiver.archive.queries.reader import Reader
from archiver.archive.store import Archive
from archiver.export import keys
from archiver.export.trust import revocations

Checkpoint = cp.Checkpoint
CheckpointError = cp.CheckpointError
Recorded = cp.Recorded
parse = cp.parse
sidecar_path = cp.sidecar_path
sidecar_bytes = cp.sidecar_bytes

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "Recorded",
    "certificates",
    "current",
    "describe",
    "parse",
    "record",
    "sidecar_bytes",
    "sidecar_path",
    "signer",
]


def signer(
    identity: keys.SigningIdentity | None = None, key_dir: Path | None = None
) -> tuple[cp.KeySigner | None, str]:
    """The signer of checkpoints, or None and why not (no key, no passphrase)."""
    if identity is None:
        try:
            identity = keys.load(key_dir)
        except FileNotFoundError:
            return None, "no signing key"
        except (keys.SigningKeyError, ValueError, OSError) as exc:
            return None, f"the signing key could not be loaded: {exc}"
    rev = revocations(identity.key_path.parent).get(identity.fingerprint)
    if rev is not None:
        return None, f"the signing key was revoked on {rev.when()}"
    if not isinstance(identity.key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        return None, f"the signing key ({type(identity.key).__name__}) cannot sign checkpoints"
    return cp.KeySigner(identity.key, identity.fingerprint), ""


def certificates(key_dir: Path | None = None) -> dict[str, x509.Certificate]:
    """Certificates checkpoint signatures are checked with, by fingerprint: the local
    signing certificate (no passphrase needed to read it)."""
    cert = keys.current_certificate(key_dir)
    if cert is None:
        return {}
    return {keys.cert_fingerprint(cert): cert}


def record(
    path: Path,
    cause: str,
    *,
    identity: keys.SigningIdentity | None = None,
    key_dir: Path | None = None,
    archive: Archive | None = None,
) -> Recorded:
    """Write a checkpoint into the archive's audit log and its sidecar (``cause``: what
    was just done). Raises StorageError / OSError when the archive cannot be written."""
    sign, why = signer(identity, key_dir)
    if archive is not None:
        return cp.record(archive, cause, sign, why)
    with Archive(path, create=False) as a:
        return cp.record(a, cause, sign, why)


def try_record(
    path: Path,
    cause: str,
    *,
    identity: keys.SigningIdentity | None = None,
    key_dir: Path | None = None,
) -> tuple[Recorded | None, str]:
    """:func:`record`, or None and why it could not be written (a read-only medium)."""
    try:
        return record(path, cause, identity=identity, key_dir=key_dir), ""
    except (StorageError, OSError) as exc:
        return None, f"{type(exc).__name__}: {exc}"


def current(path: Path, *, key_dir: Path | None = None) -> Checkpoint:
    """The archive's checkpoint now, signed if the signing key can be loaded (read only:
    nothing is written)."""
    sign, why = signer(None, key_dir)
    with Reader(path) as db:
        return audit.checkpoint(db, "checkpoint", sign, why)


def describe(rec: Recorded) -> list[str]:
    """What a written checkpoint left behind, in words."""
    c = rec.checkpoint
    signed = f"signed by {c.signer}" if c.signer else f"unsigned: {c.unsigned}"
    lines = [f"Checkpoint recorded ({signed}): {c.short()}"]
    if rec.sidecar_error:
        lines.append(f"Warning: the sidecar {rec.sidecar} was not written ({rec.sidecar_error})")
    else:
        lines.append(f"Checkpoint appended to {rec.sidecar}")
    return lines
