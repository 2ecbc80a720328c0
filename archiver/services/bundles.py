"""Signed audit bundles: export one from the archive (custody entry ``export``), verify one
received from anywhere (bundles live outside the archive: verifying writes nothing)."""

from __future__ import annotations

import threading
from collections.abc import Generator
from pathlib import Path

from archiver.export import keys
from archiver.export.bundle import BundleError, BundleResult, ExportCancelled, export_bundle
from archiver.export.redact import PROFILES
from archiver.export.scope import Scope
from archiver.export.verify import BundleReport, verify_bundle
from archiver.services import checkpoints

__all__ = [
    "PROFILES",
    "BundleError",
    "BundleReport",
    "BundleResult",
    "ExportCancelled",
    "Scope",
    "export",
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
) -> Generator[str, None, BundleResult]:
    """Write a bundle (yields progress lines, returns the result). The signing key is the
    one given, or the local one (created on first use). The archive then records a
    checkpoint signed with the same key (services/checkpoints.py)."""
    ident = identity or keys.load_or_create(key_dir)
    result = yield from export_bundle(archive, scope, out, ident, make_zip=make_zip, cancel=cancel)
    rec, why = checkpoints.try_record(archive, "export", identity=ident)
    yield from checkpoints.describe(rec) if rec else [f"No checkpoint recorded: {why}"]
    return result


def verify(bundle: Path) -> BundleReport:
    return verify_bundle(bundle)
