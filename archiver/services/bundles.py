"""Signed audit bundles: export one from the archive (custody entry ``export``), verify one
received from anywhere (bundles live outside the archive: verifying writes nothing)."""

from __future__ import annotations

import threading
from collections.abc import Generator
from pathlib import Path

from archiver.export import keys
from archiver.export.bag import DEMO
from archiver.export.bundle import (
    BundleError,
    BundleResult,
    EmptySelection,
    ExportCancelled,
    export_bundle,
)
from archiver.export.redact import PROFILES
from archiver.export.scope import Scope, ScopeError
from archiver.export.timestamps import ENV_TSA_URL, TimestampError, tsa_url
from archiver.export.trust import TrustPolicy
from archiver.export.verify import (
    EXIT_CODES,
    FAILED,
    UNTRUSTED,
    VERIFIED,
    BundleReport,
    printable,
    verify_bundle,
)
from archiver.services import checkpoints

__all__ = [
    "DEMO",
    "ENV_TSA_URL",
    "EXIT_CODES",
    "FAILED",
    "PROFILES",
    "UNTRUSTED",
    "VERIFIED",
    "BundleError",
    "BundleReport",
    "BundleResult",
    "EmptySelection",
    "ExportCancelled",
    "Scope",
    "ScopeError",
    "export",
    "printable",
    "verify",
]


def export(
    archive: Path,
    scope: Scope,
    out: Path,
    *,
    identity: keys.SigningIdentity | None = None,
    key_dir: Path | None = None,
    make_zip: bool = False,
    cancel: threading.Event | None = None,
    allow_empty: bool = False,
    workers: int | None = None,
    tsa: str | None = None,
) -> Generator[str, None, BundleResult]:
    """Write a bundle (yields progress lines, returns the result). The signing key is the
    one given, or the local one (created on first use). A scope with nothing archived
    raises EmptySelection (nothing written) unless ``allow_empty``. ``tsa``: an RFC 3161
    timestamp authority's URL (default: ARCHIVER_TSA_URL, else no trusted time). The
    archive then records a checkpoint signed with the same key (services/checkpoints.py)."""
    try:
        url = tsa_url(tsa)
    except TimestampError as exc:
        raise BundleError(str(exc)) from None
    ident = identity or keys.load_or_create(key_dir)
    result = yield from export_bundle(
        archive,
        scope,
        out,
        ident,
        make_zip=make_zip,
        cancel=cancel,
        allow_empty=allow_empty,
        workers=workers,
        tsa_url=url,
    )
    rec, why = checkpoints.try_record(archive, "export", identity=ident)
    yield from checkpoints.describe(rec) if rec else [f"No checkpoint recorded: {why}"]
    return result


def verify(
    bundle: Path, *, expect_fingerprint: str | None = None, key_dir: Path | None = None
) -> BundleReport:
    """Check a bundle and whether its signer is trusted: the local signing key (current or
    retired), the trust store next to it, or — only it — ``expect_fingerprint`` (any
    spelling; ValueError when it is not a SHA-256 fingerprint)."""
    return verify_bundle(bundle, TrustPolicy.local(key_dir, expect_fingerprint))
