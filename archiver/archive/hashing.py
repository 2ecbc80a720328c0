"""Checksums and chains: the rules a third party needs to re-check an archive.

- page SHA-256: over the exact response bytes as received.
- record canonical form: the JSON object {column: value} in header order, UTF-8,
  ``json.dumps(obj, ensure_ascii=False, separators=(",", ":"))``; its SHA-256 is the
  record's checksum, and the canonical text is what ``records.values_json`` stores.
- chain: ``chain_n = SHA-256(bytes(chain_{n-1}) ‖ bytes(sha_n))`` over the raw 32-byte
  digests, starting from 32 zero bytes; stored as lowercase hex.
"""

from __future__ import annotations

import hashlib
import json

GENESIS = "0" * 64


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_record(names: list[str], values: list[str]) -> str:
    return json.dumps(
        dict(zip(names, values, strict=True)), ensure_ascii=False, separators=(",", ":")
    )


def chain_next(previous: str, digest: str) -> str:
    return hashlib.sha256(bytes.fromhex(previous) + bytes.fromhex(digest)).hexdigest()


def canonical_json(obj: object) -> str:
    """Canonical JSON for audit entries: sorted keys, no spaces, UTF-8."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
