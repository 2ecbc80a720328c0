"""Signed audit bundles: export one from the archive (custody entry ``export``), verify one
received from anywhere (bundles live outside the archive: verifying writes nothing)."""

from __future__ import annotations

import threading
from collections.abc import Generator
from pathlib import Path

from archiver.export import keys
from archiver.export.bundle import (
    BundleError,
    BundleResult,
    EmptySelection,
    ExportCancelled,
    export_bundle,
)
from archiver.export.redact import PROFILES
from archiver.export.scope import Scope, ScopeError
from archiver.export.verify import BundleReport, verify_bundle

__all__ = [
    "PROFILES",
    "BundleError",
    "BundleResult",
    "EmptySelection",
    "ExportCancelled",
    "Scope",
    "ScopeError",
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
    allow_empty: bool = False,
    workers: int | None = None,
) -> Generator[str, None, BundleResult]:
    """Write a bundle (yields progress lines, returns the result). The signing key is the
    one given, or the local one (created on first use). A scope with nothing archived
    raises EmptySelection (nothing written) unless ``allow_empty``."""
    ident = identity or keys.load_or_create(key_dir)
    return (
        yield from export_bundle(
            archive,
            scope,
            out,
            ident,
            make_zip=make_zip,
            cancel=cancel,
            allow_empty=allow_empty,
            workers=workers,
        )
    )


def verify(bundle: Path) -> BundleReport:
    return verify_bundle(bundle)
