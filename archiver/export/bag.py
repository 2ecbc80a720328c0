"""BagIt (RFC 8493) writing and checking, and the detached CMS signature of the tag manifest."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from archiver.export.keys import SigningIdentity

BAGIT_TXT = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
MANIFEST = "manifest-sha256.txt"
TAGMANIFEST = "tagmanifest-sha256.txt"
SIGNATURE = "tagmanifest-sha256.txt.p7s"
SIGNER = "signer.pem"
VERIFY = "VERIFY.txt"
TAG_FILES = ("bagit.txt", "bag-info.txt", MANIFEST, SIGNER, VERIFY)
#: bag-info.txt's field naming the timestamp authority of a timestamped bundle
TSA_FIELD = "Archiver-Timestamp-Authority"
#: bag-info.txt's field marking a bundle of simulated data (``yes``; absent otherwise)
DEMO_FIELD = "Archiver-Demo"
#: the words a bundle of simulated data carries on its cover, in bag-info.txt, VERIFY.txt
#: and in the verdict of `archiver verify` (and why)
DEMO = "DEMO — simulated data"
DEMO_WHY = (
    "the archive these rows come from was pulled (in part or whole) from archiver's embedded "
    "Historical API simulator (the app's demo mode or the self-test), not from a tenant: "
    "this bundle is no evidence of anything that happened"
)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def payload_files(bag: Path) -> list[Path]:
    return sorted(p for p in (bag / "data").rglob("*") if p.is_file())


def write_manifest(bag: Path, files: list[Path], name: str) -> None:
    """`<sha256>  <relative path>` lines: the format `sha256sum -c` reads."""
    lines = [f"{sha256_file(p)}  {p.relative_to(bag).as_posix()}\n" for p in files]
    (bag / name).write_text("".join(lines), encoding="utf-8", newline="\n")


def payload_oxum(files: list[Path]) -> str:
    return f"{sum(p.stat().st_size for p in files)}.{len(files)}"


def write_bag_info(bag: Path, fields: list[tuple[str, str]]) -> None:
    lines = []
    for k, v in fields:
        v = " ".join(str(v).split())  # one line per field: no newlines inside values
        lines.append(f"{k}: {v}\n")
    (bag / "bag-info.txt").write_text("".join(lines), encoding="utf-8", newline="\n")


def sign_tagmanifest(bag: Path, ident: SigningIdentity, timestamper: Any = None) -> None:
    """The detached CMS signature of the tag manifest; with a ``timestamper`` (an RFC 3161
    client) it carries a timestamp token of its signature value as an unsigned attribute."""
    data = (bag / TAGMANIFEST).read_bytes()
    sig = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(data)
        .add_signer(ident.cert, ident.key, hashes.SHA256())
        .sign(
            serialization.Encoding.DER,
            [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary],
        )
    )
    if timestamper is not None:
        from archiver.export.timestamps import add_signature_timestamp

        sig = add_signature_timestamp(sig, timestamper)
    (bag / SIGNATURE).write_bytes(sig)


_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f\\]")


def unsafe_path(name: str) -> str | None:
    """Why ``name`` is not a plain relative path inside a bag (None when it is one): no
    absolute path, drive, backslash, control character, empty, ``.`` or ``..`` part."""
    if not name:
        return "an empty path"
    if _UNSAFE.search(name):
        return "a path with a backslash or a control character"
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "an absolute path"
    if any(part in ("", ".", "..") for part in name.split("/")):
        return "a path that leaves its directory or is not in plain form"
    return None


def parse_manifest_text(text: str, label: str) -> dict[str, str]:
    """``<sha256>  <path>`` lines; ValueError for a malformed line, a path that is not a
    plain relative one (it could point outside the bag) or a path listed twice."""
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        digest, sep, name = line.partition("  ")
        if not sep or not _HEX64.fullmatch(digest):
            raise ValueError(f"{label} line {n} is not '<sha256>  <path>'")
        why = unsafe_path(name)
        if why:
            raise ValueError(f"{label} line {n} names {why}: {name!r} (refused)")
        if name in out:
            raise ValueError(f"{label} lists {name!r} twice")
        out[name] = digest.lower()
    return out


def parse_manifest(path: Path) -> dict[str, str]:
    return parse_manifest_text(path.read_text(encoding="utf-8"), path.name)


def read_bag_info(bag: Path) -> dict[str, str]:
    info: dict[str, str] = {}
    for line in (bag / "bag-info.txt").read_text(encoding="utf-8").splitlines():
        k, sep, v = line.partition(":")
        if sep:
            info[k.strip()] = v.strip()
    return info
