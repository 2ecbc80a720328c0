"""The signing key that bundles are signed with: show, create, import."""

from __future__ import annotations

from pathlib import Path

from archiver.export.keys import (
    SigningIdentity,
    SigningKeyError,
    create,
    import_pem,
    import_pkcs12,
    load,
    load_or_create,
)

__all__ = [
    "SigningIdentity",
    "SigningKeyError",
    "create",
    "import_file",
    "load",
    "load_or_create",
]


def import_file(
    *,
    pkcs12: Path | None = None,
    key: Path | None = None,
    cert: Path | None = None,
    password: str | None = None,
    directory: Path | None = None,
) -> SigningIdentity:
    """Import a key and its certificate (a PKCS#12 file, or PEM key + certificate)."""
    if pkcs12:
        return import_pkcs12(pkcs12, password, directory)
    if key and cert:
        return import_pem(key, cert, password, directory)
    raise ValueError("give --pkcs12 FILE, or --key KEY.pem --cert CERT.pem")
