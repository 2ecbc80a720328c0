"""BagIt (RFC 8493) writing and checking, and the detached CMS signature of the tag manifest."""

from __future__ import annotations

import hashlib
from pathlib import Path

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


def sign_tagmanifest(bag: Path, ident: SigningIdentity) -> None:
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
    (bag / SIGNATURE).write_bytes(sig)


def parse_manifest(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64:
            raise ValueError(f"{path.name} line {n} is not '<sha256>  <path>'")
        out[name.strip()] = digest.lower()
    return out


def read_bag_info(bag: Path) -> dict[str, str]:
    info: dict[str, str] = {}
    for line in (bag / "bag-info.txt").read_text(encoding="utf-8").splitlines():
        k, sep, v = line.partition(":")
        if sep:
            info[k.strip()] = v.strip()
    return info
