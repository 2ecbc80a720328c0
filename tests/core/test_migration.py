"""Migrating an archive written before schema 2 (tests/data/archive-v1.sqlite3, made by the
archiver of commit 9325b0e: see tests/data/make_v1.py)."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

from archiver.archive import schema, values
from archiver.archive.store import Archive
from archiver.archive.verify import verify_archive

V1 = Path(__file__).parents[1] / "data" / "archive-v1.sqlite3"


def _copy(tmp_path: Path) -> Path:
    arc = tmp_path / "old.sqlite3"
    shutil.copy(V1, arc)
    return arc


def test_v1_archive_migrates_keeps_every_record_and_verifies(tmp_path):
    arc = _copy(tmp_path)
    old = sqlite3.connect(arc)
    assert old.execute("PRAGMA user_version").fetchone()[0] == 1
    before = {
        rid: (ds, sha, values)
        for rid, ds, sha, values in old.execute(
            "SELECT record_id, dataset, sha256, values_json FROM records"
        )
    }
    old.close()
    Archive(arc).close()
    backups = list(tmp_path.glob("old.sqlite3.v1-*.bak"))
    assert (
        len(backups) == 1
        and sqlite3.connect(backups[0]).execute("PRAGMA user_version").fetchone()[0] == 1
    )
    conn = sqlite3.connect(arc)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
    after = {}
    for (ds,) in conn.execute("SELECT DISTINCT dataset FROM streams"):
        ids = [
            r for (r,) in conn.execute("SELECT record_id FROM records_view WHERE dataset=?", (ds,))
        ]
        for rid, v in values.fetch(conn, ds, ids).items():
            canon = json.dumps(v, ensure_ascii=False, separators=(",", ":"))
            after[rid] = (ds, hashlib.sha256(canon.encode()).hexdigest(), canon)
    # every v1 record keeps its id and content (now in its dataset's values table)
    assert all(after.get(rid) == v for rid, v in before.items())
    # rows a daily page repeated from the interval stream now exist in the daily stream too
    daily_rows = sum(
        json.loads(cols) and n
        for cols, n in conn.execute(
            "SELECT columns, record_count FROM pages WHERE dataset='interactionSegments' AND dataset_type='daily' AND http_status=200"
        )
    )
    got = conn.execute(
        "SELECT count(*) FROM records_view WHERE dataset='interactionSegments' AND dataset_type='daily'"
    ).fetchone()[0]
    assert got == daily_rows > 0
    assert len(after) > len(before)
    # queue pages carry ROW_ID: keyed by it; segments (no ROW_ID in v1 pages): natural key
    kinds = dict(
        conn.execute(
            "SELECT dataset, group_concat(DISTINCT key_kind) FROM records_view GROUP BY dataset"
        ).fetchall()
    )
    assert kinds["queue"] == "ROW_ID" and kinds["interactionSegments"] == "natural"
    # latest: one row per key, the newest COMMIT_TS
    newest = conn.execute(
        """SELECT count(*) FROM (SELECT 1 FROM records GROUP BY stream_id, key_kind, row_key)"""
    ).fetchone()[0]
    assert conn.execute("SELECT count(*) FROM latest").fetchone()[0] == newest
    # pages are stored compressed now; their SHA-256 is still over the bytes as received
    assert conn.execute("SELECT DISTINCT encoding FROM pages").fetchall() == [("zlib",)]
    events = [e for (e,) in conn.execute("SELECT event FROM audit_log WHERE event='migrate'")]
    assert len(events) == 3  # 2 → 3, 3 → 4 and 4 → 5 each leave their entry
    # what the old chunks asked and got back at `ending` (inclusive: rows came back)
    cov = conn.execute(
        "SELECT count(*), sum(ending_rows > 0), sum(request_end = chunk_end) FROM coverage WHERE dataset_type='interval'"
    ).fetchone()
    assert cov[0] == cov[2] and cov[1] > 0
    conn.close()
    rep = verify_archive(arc)
    assert rep.ok, rep.summary()


def test_tampered_v1_archive_still_fails_after_migration(tmp_path):
    arc = _copy(tmp_path)
    conn = sqlite3.connect(arc)
    conn.execute("DROP TRIGGER records_no_update")
    conn.execute(
        "UPDATE records SET values_json = replace(values_json, 'AXP', 'AXQ') WHERE record_id = 7"
    )
    conn.commit()
    conn.close()
    Archive(arc).close()
    rep = verify_archive(arc)
    assert not rep.ok and "record 7" in rep.summary()
