"""Per-record commitments: each page commits, at receipt, to each of its records separately,
so that a record can be erased later and every other record of its page still proven.

For every row ``i`` of a stored page (its position in the page's ``records``):

- ``salt_i``: 32 random bytes (``os.urandom``), kept in ``record_salts``, apart from the
  record and from its commitment;
- ``c_i = SHA-256(salt_i ‖ UTF-8(canonical_i))``, where ``canonical_i`` is the row's
  canonical form (archive/hashing.canonical_record: the JSON object of its columns in header
  order), kept in ``record_commitments`` with the record the row is (``record_id``: the row's
  own record, or the one archived earlier when the row repeats it);
- the page's commitment root ``SHA-256(c_0 ‖ c_1 ‖ … ‖ c_{n-1})`` over the raw 32-byte
  commitments in row order (``SHA-256("")`` for a page without records), stored in
  ``pages.commit_root``; chain rule 3 puts it in the page's chained metadata.

A flat hash over the ordered list, not a Merkle tree: verification always holds every
commitment of the page (they are kept, an erased record's too), so a per-record inclusion
proof would buy nothing, and a flat hash is one line to re-check with any tool.

An erasure destroys the erased rows' salts, and a disposition the salts of every row of the
pages it disposes of: their commitments stay (the root still holds), and without the salt a
commitment confirms no guess of what was erased or disposed. Pages stored before
schema 6 get their commitments at the migration, and the migration's ``migrate`` entry
records that (and a chain over those roots): they prove the records as they were then, not
at receipt.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from archiver.archive.hashing import GENESIS, chain_next

SALT_BYTES = 32
#: the root of a page without records: SHA-256 of nothing
EMPTY_ROOT = hashlib.sha256(b"").hexdigest()

#: How the table registry (verify-archive's replay) classifies the tables this module makes.
TABLES: dict[str, tuple[str, str]] = {
    "record_commitments": (
        "replayed",
        "each page's commitments hash to its commit_root, which the page chain covers (rule 3) "
        "or the migration to version 6 recorded; each kept one is recomputed from its salt "
        "and the page's row (archive/erasure.replay_check)",
    ),
    "record_salts": (
        "replayed",
        "with the page's row, each salt gives the row's commitment; a salt is missing only "
        "where an `erasure applied` entry names the row or a `disposition applied` entry its "
        "page, and a disposed page keeps none (archive/erasure.replay_check)",
    ),
}

DDL = (
    """CREATE TABLE IF NOT EXISTS record_commitments (
        page_id    INTEGER NOT NULL,
        row_index  INTEGER NOT NULL,       -- 0-based position in the page's records
        record_id  INTEGER NOT NULL,       -- the record this row is (first seen here or earlier)
        commitment BLOB NOT NULL,          -- SHA-256(salt ‖ canonical form), 32 bytes
        PRIMARY KEY (page_id, row_index)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS record_commitments_record ON record_commitments(record_id)",
    """CREATE TABLE IF NOT EXISTS record_salts (
        page_id    INTEGER NOT NULL,
        row_index  INTEGER NOT NULL,
        salt       BLOB NOT NULL,          -- 32 random bytes; deleted when the row is erased
        PRIMARY KEY (page_id, row_index)
    ) WITHOUT ROWID""",
)


def ensure_tables(conn: sqlite3.Connection) -> None:
    for stmt in DDL:
        conn.execute(stmt)


def commitment(salt: bytes, canonical: str) -> bytes:
    """``SHA-256(salt ‖ UTF-8(canonical))``: the definition."""
    return hashlib.sha256(salt + canonical.encode("utf-8", "surrogatepass")).digest()


def root(commitments: Iterable[bytes]) -> str:
    """The page's commitment root (hex): SHA-256 over its rows' commitments in order."""
    h = hashlib.sha256()
    for c in commitments:
        h.update(c)
    return h.hexdigest()


@dataclass(frozen=True)
class PageCommitments:
    """A page's salts, commitments and root, computed before the writer stores it."""

    salts: list[bytes]
    commitments: list[bytes]
    root: str


def commit_page(canons: Sequence[str]) -> PageCommitments:
    """Fresh salts and the commitments of a page's rows (their canonical forms, in order)."""
    pool = os.urandom(SALT_BYTES * len(canons))
    salts = [pool[i * SALT_BYTES : (i + 1) * SALT_BYTES] for i in range(len(canons))]
    made = [commitment(s, c) for s, c in zip(salts, canons, strict=True)]
    return PageCommitments(salts, made, root(made))


def store(
    conn: sqlite3.Connection, page_id: int, made: PageCommitments, record_ids: Sequence[int]
) -> None:
    """The page's salts and commitments (in the page's transaction)."""
    if not made.commitments:
        return
    conn.executemany(
        "INSERT INTO record_commitments(page_id, row_index, record_id, commitment) VALUES (?,?,?,?)",
        [
            (page_id, i, rid, c)
            for i, (rid, c) in enumerate(zip(record_ids, made.commitments, strict=True))
        ],
    )
    conn.executemany(
        "INSERT INTO record_salts(page_id, row_index, salt) VALUES (?,?,?)",
        [(page_id, i, s) for i, s in enumerate(made.salts)],
    )


def page_record_ids(
    conn: sqlite3.Connection, page_id: int, stream_id: int, marks: Sequence[tuple[int, str]]
) -> list[int]:
    """The record each row of a just-stored page is: the rows first archived by this page
    by their position, the others (a record received again) by stream, key and sha8."""
    own = dict(conn.execute("SELECT row_index, record_id FROM records WHERE page_id=?", (page_id,)))
    out: list[int] = []
    for i, (s8, key) in enumerate(marks):
        rid = own.get(i)
        if rid is None:
            hit = conn.execute(
                "SELECT record_id FROM records WHERE stream_id=? AND sha8=? AND row_key=? "
                "ORDER BY record_id LIMIT 1",
                (stream_id, s8, key),
            ).fetchone()
            rid = int(hit[0]) if hit else 0
        out.append(int(rid))
    return out


# -- the migration to version 6 ---------------------------------------------------------------
def migrate_to_6(conn: sqlite3.Connection) -> dict[str, Any]:
    """Every page stored so far gets its commitments now, from its rows as the page body holds
    them (so a record edited in the values table is not blessed), and ``pages.commit_root``;
    returns what the ``migrate`` entry records: how many pages and records, that their
    commitments are from the migration, not receipt, and a chain over their roots."""
    from archiver.api.errors import PageValidationError
    from archiver.api.pages import parse_page
    from archiver.archive.compact import sha8, stream_id
    from archiver.archive.identity import page_identities
    from archiver.archive.rekey import abandoned_rules, page_body

    conn.execute("ALTER TABLE pages ADD COLUMN commit_root TEXT")
    ensure_tables(conn)
    gone = abandoned_rules(conn)
    pages = records = 0
    chain = GENESIS
    rows = conn.execute(
        "SELECT page_id, dataset, dataset_type, http_status, url, request_token, encoding, body "
        "FROM pages ORDER BY page_id"
    ).fetchall()
    for pid, ds, dtype, status, url, token, enc, body in rows:
        canons: list[str] = []
        rids: list[int] = []
        if status == 200:
            try:
                headers, recs, _next = parse_page(page_body(enc, body), url, 200, token)
            except (PageValidationError, ValueError):
                headers, recs = [], []
            if recs:
                names = [h["name"] for h in headers]
                ids, _rule, _fb = page_identities(ds, dtype, names, recs, set())
                canons = [i.canon for i in ids]
                sid = stream_id(conn, ds, dtype, create=False) or 0
                # the record each row is, under the key the archive stored it by
                rids = _migrated_ids(conn, pid, sid, ids, gone.get((ds, dtype), set()), sha8)
        made = commit_page(canons)
        store(conn, pid, made, rids)
        conn.execute("UPDATE pages SET commit_root=? WHERE page_id=?", (made.root, pid))
        chain = chain_next(chain, made.root)
        pages += 1
        records += len(canons)
    return {
        "commitments": "computed at migration, not at receipt",
        "commitment_pages": pages,
        "commitment_records": records,
        "commitment_chain": chain,
    }


def _migrated_ids(
    conn: sqlite3.Connection, pid: int, sid: int, ids: Sequence[Any], gone: set[str], sha8: Any
) -> list[int]:
    own = dict(conn.execute("SELECT row_index, record_id FROM records WHERE page_id=?", (pid,)))
    out = []
    for i, ident in enumerate(ids):
        rid = own.get(i)
        if rid is None:
            hit = conn.execute(
                "SELECT record_id FROM records WHERE stream_id=? AND sha8=? ORDER BY record_id LIMIT 1",
                (sid, sha8(ident.sha256)),
            ).fetchone()
            rid = int(hit[0]) if hit else 0
        out.append(int(rid))
    return out


# -- verification -------------------------------------------------------------------------------
def migration_chain(entries: Iterable[Mapping[str, Any]]) -> tuple[int, str] | None:
    """(pages, commitment_chain) of the migration to version 6 (None: created at 6)."""
    for e in entries:
        d = e.get("details") or {}
        if e.get("event") == "migrate" and d.get("to") == 6:
            return int(d.get("commitment_pages", 0)), str(d.get("commitment_chain", ""))
    return None
