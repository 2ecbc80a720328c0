"""Forge an archive the way an insider with a copy could: change values of one archived
record and the raw page it came from, consistently (record SHA-256, page body, page
SHA-256), with the append-only triggers dropped (as tests/core/test_archive.py tampers).
A bundle exported from the forgery is intact; only its signer can tell it apart."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from archiver.archive import triggers, values
from archiver.archive.compact import sha8
from archiver.archive.hashing import canonical_record, sha256_hex
from archiver.archive.rekey import page_body


def forge_record(
    archive: Path, dataset: str, column: str, changes: dict[str, str], day: str
) -> dict[str, str]:
    """Change ``changes`` (column → new value) in the first latest ``dataset`` record of
    ``day`` whose ``column`` is not empty, and in its raw page. Returns the old values."""
    conn = sqlite3.connect(archive)
    try:
        for table in triggers.evidence_tables(conn):
            conn.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            conn.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
        ids = [
            r
            for (r,) in conn.execute(
                """SELECT record_id FROM latest
                   WHERE dataset = ? AND dataset_type = 'interval' AND substr(interval_start, 1, 8) = ?
                   ORDER BY row_key""",
                (dataset, day.replace("-", "")),
            )
        ]
        stored = values.fetch(conn, dataset, ids)
        record_id = next(r for r in ids if stored[r].get(column))
        vals = dict(stored[record_id])
        page_id, row_index = conn.execute(
            "SELECT page_id, row_index FROM records WHERE record_id = ?", (record_id,)
        ).fetchone()
        old = {k: vals[k] for k in changes}
        old_json = json.dumps(vals, ensure_ascii=False, separators=(",", ":"))
        vals.update(changes)
        new_json = json.dumps(vals, ensure_ascii=False, separators=(",", ":"))
        encoding, body = conn.execute(
            "SELECT encoding, body FROM pages WHERE page_id = ?", (page_id,)
        ).fetchone()
        page = json.loads(page_body(encoding, body))
        names = [c["name"] for c in page["columnHeaders"]]
        record = page["records"][row_index]
        assert canonical_record(names, record) == old_json, "page and record disagree"
        for k, v in changes.items():
            record[names.index(k)] = v
        assert canonical_record(names, record) == new_json
        raw = json.dumps(page, ensure_ascii=False).encode()
        for k, v in changes.items():
            conn.execute(
                f'UPDATE {values.table(dataset)} SET "{k}" = ? WHERE record_id = ?',
                (v, record_id),
            )
        conn.execute(
            "UPDATE records SET sha8 = ? WHERE record_id = ?",
            (sha8(sha256_hex(new_json.encode())), record_id),
        )
        conn.execute(
            "UPDATE pages SET encoding = 'identity', body = ?, size = ?, sha256 = ? WHERE page_id = ?",
            (raw, len(raw), sha256_hex(raw), page_id),
        )
        conn.commit()
        return old
    finally:
        conn.close()
