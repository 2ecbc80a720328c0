"""Checksums and chains: the rules a third party needs to re-check an archive.

- page SHA-256: over the exact response bytes as received.
- record canonical form: the JSON object {column: value} in header order, UTF-8,
  ``json.dumps(obj, ensure_ascii=False, separators=(",", ":"))``; its SHA-256 is the
  record's checksum, and the canonical text is what ``records.values_json`` stores.
- page metadata digest: SHA-256 of the canonical JSON (sorted keys, no spaces, UTF-8) of the
  page's :data:`PAGE_META_FIELDS`, with their stored values (integers as numbers, text as
  strings, NULL as null).
- page chain, by the page's ``chain_rule``, over raw 32-byte digests (hex-decoded), starting
  from 32 zero bytes, stored as lowercase hex:

  - rule 1 (pages stored before schema 3): ``chain_n = SHA-256(chain_{n-1} ‖ sha256_n)``
  - rule 2: ``chain_n = SHA-256(chain_{n-1} ‖ sha256_n ‖ meta_n)``
  - rule 3 (every page since schema 6): as rule 2, ``meta_n`` over the
    :data:`ROOT_META_FIELDS`: rule 2's and the page's ``commit_root`` (the root of its
    per-record commitments, archive/commitments.py)

- audit chain: ``chain_n = SHA-256(chain_{n-1} ‖ sha256_n)``, ``sha256_n`` over the canonical
  JSON of the entry's fields (:func:`audit_entry_digest`).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Mapping, Sequence
from json.encoder import encode_basestring
from operator import add
from typing import Any

GENESIS = "0" * 64

#: Chain rules of a page (``pages.chain_rule``).
CHAIN_BODY = 1  # body hash only: pages archived before schema 3
CHAIN_BODY_META = 2  # body hash and the metadata digest: pages stored from schema 3 to 5
CHAIN_BODY_META_ROOT = 3  # body hash and the metadata digest with the commitment root: since 6
CHAIN_RULES = (CHAIN_BODY, CHAIN_BODY_META, CHAIN_BODY_META_ROOT)

#: The page columns the metadata digest covers (everything but the stored form of the
#: body, which its SHA-256 covers, and the chain itself).
PAGE_META_FIELDS = (
    "page_id",
    "run_id",
    "dataset",
    "dataset_type",
    "chunk_start",
    "query",
    "page_number",
    "request_token",
    "next_token",
    "http_status",
    "url",
    "received_at",
    "size",
    "record_count",
    "columns",
)

#: Rule 3's metadata: rule 2's and the root of the page's per-record commitments.
ROOT_META_FIELDS = (*PAGE_META_FIELDS, "commit_root")

#: What an erasure puts in place of each erased value, in the values and the raw page
#: (archive/erasure.py): a third party reads a rewritten page by it.
ERASED = "[erased]"

#: The audit entry fields its SHA-256 covers.
AUDIT_FIELDS = ("at", "event", "os_user", "tool_version", "run_id", "details")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_record(names: list[str], values: list[str]) -> str:
    """A record's canonical JSON (what its SHA-256 is over): the definition."""
    return json.dumps(
        dict(zip(names, values, strict=True)), ensure_ascii=False, separators=(",", ":")
    )


def canonical_records(names: Sequence[str], records: Sequence[Sequence[str]]) -> list[str]:
    """:func:`canonical_record` of every record of a validated page, several times faster:
    each string is escaped by the JSON encoder's own C function and the column names once
    per page. Only for what parse_page accepted (unique names, string values); equal to the
    definition character for character (tests/core/test_hashing.py)."""
    keys = [encode_basestring(n) + ":" for n in names]
    if len(set(keys)) != len(keys) or any(len(v) != len(keys) for v in records):
        # repeated names (a dict keeps the last) or a short/long record (the definition
        # refuses it): the definition decides
        return [canonical_record(list(names), list(v)) for v in records]
    # map() runs the escaping and the concatenation without a Python frame per value;
    # validated records have as many values as names (parse_page), so nothing is cut short
    return ["{" + ",".join(map(add, keys, map(encode_basestring, vals))) + "}" for vals in records]


def chain_next(previous: str, digest: str) -> str:
    return hashlib.sha256(bytes.fromhex(previous) + bytes.fromhex(digest)).hexdigest()


def canonical_json(obj: object) -> str:
    """Canonical JSON for audit entries: sorted keys, no spaces, UTF-8."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def page_meta_digest(page: Mapping[str, Any] | sqlite3.Row, rule: int = CHAIN_BODY_META) -> str:
    """SHA-256 of the canonical JSON of a page's metadata (its PAGE_META_FIELDS; with chain
    rule 3, its ROOT_META_FIELDS)."""
    fields = ROOT_META_FIELDS if rule == CHAIN_BODY_META_ROOT else PAGE_META_FIELDS
    return sha256_hex(canonical_json({f: page[f] for f in fields}).encode())


def page_chain_next(previous: str, rule: int, sha256: str, meta: str) -> str:
    """The page chain after one page of chain rule ``rule`` (see the module docstring)."""
    if rule == CHAIN_BODY:
        return chain_next(previous, sha256)
    if rule in (CHAIN_BODY_META, CHAIN_BODY_META_ROOT):
        raw = bytes.fromhex(previous) + bytes.fromhex(sha256) + bytes.fromhex(meta)
        return hashlib.sha256(raw).hexdigest()
    raise ValueError(f"unknown chain rule {rule!r}")


def audit_entry_digest(entry: Mapping[str, Any]) -> str:
    """SHA-256 of an audit entry: the canonical JSON of its AUDIT_FIELDS, ``details`` as
    the JSON object it holds."""
    return sha256_hex(canonical_json({f: entry[f] for f in AUDIT_FIELDS}).encode())
