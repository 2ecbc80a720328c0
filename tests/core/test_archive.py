"""Archive integrity: append-only triggers, tamper detection, migrations, backup, exports."""

from __future__ import annotations

import csv
import hashlib
import json
import sqlite3
import zlib

import pytest

from archiver.archive import schema, triggers, values
from archiver.archive.compact import sha8
from archiver.archive.store import Archive
from archiver.archive.verify import verify_archive
from archiver.export.csvsafe import unescape_cell
from archiver.export.warehouse import export_dataset
from tests.clitools import run_cli
from tests.pulltools import params, pull


@pytest.fixture
def archive(sim, tmp_path):
    arc = tmp_path / "a.sqlite3"
    # one worker: interactionSegments pages come first, so page and record ids are stable
    p = params(["interactionSegments", "agentLoginLogoutByQueue"], "20250201", "20250201")
    pull(sim, arc, p, workers=1)
    conn = sqlite3.connect(arc)
    first = conn.execute(
        "SELECT DISTINCT dataset FROM records_view WHERE record_id <= 200"
    ).fetchall()
    conn.close()
    assert first == [("interactionSegments",)]
    return arc


def _tamper(arc, *sql: str) -> None:
    conn = sqlite3.connect(arc)
    for table in triggers.evidence_tables(conn):
        conn.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
        conn.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
    for s in sql:
        conn.execute(s)
    conn.commit()
    conn.close()


@pytest.mark.parametrize("table", ["pages", "records", "audit_log"])
def test_evidence_tables_refuse_update_and_delete(archive, table):
    conn = sqlite3.connect(archive)
    col = {"pages": "url", "records": "row_key", "audit_log": "event"}[table]
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute(f"UPDATE {table} SET {col} = 'x'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute(f"DELETE FROM {table}")
    conn.close()


def test_clean_archive_verifies(archive):
    out = run_cli("verify-archive", "--archive", str(archive))
    assert out.returncode == 0, out.stdout + out.stderr
    pages = sqlite3.connect(archive).execute("SELECT count(*) FROM pages").fetchone()[0]
    assert out.stdout.startswith(f"OK: replayed {pages:,} pages into "), out.stdout
    assert "Page chain head: " in out.stdout


def test_one_byte_changed_in_a_page_is_found(archive):
    """A byte of the response changed (the body re-compressed, as an editor would store it)."""
    conn = sqlite3.connect(archive)
    stored, encoding = conn.execute("SELECT body, encoding FROM pages WHERE page_id=3").fetchone()
    conn.close()
    assert encoding == "zlib"
    body = bytearray(zlib.decompress(stored))
    body[100] ^= 0x01
    _tamper(archive)
    c = sqlite3.connect(archive)
    c.execute("UPDATE pages SET body=? WHERE page_id=3", (zlib.compress(bytes(body)),))
    c.commit()
    c.close()
    rep = verify_archive(archive)
    assert not rep.ok and rep.problems[0].startswith("page 3 ") and "SHA-256" in rep.problems[0]
    out = run_cli("verify-archive", "--archive", str(archive))
    assert out.returncode == 1 and "FAILED: page 3 " in out.stdout
    assert "append-only triggers missing" in out.stdout


def test_one_byte_changed_in_a_stored_compressed_page_is_found(archive):
    conn = sqlite3.connect(archive)
    stored = bytearray(conn.execute("SELECT body FROM pages WHERE page_id=3").fetchone()[0])
    conn.close()
    stored[100] ^= 0x01
    _tamper(archive)
    c = sqlite3.connect(archive)
    c.execute("UPDATE pages SET body=? WHERE page_id=3", (bytes(stored),))
    c.commit()
    c.close()
    rep = verify_archive(archive)
    # zlib's own check (or the SHA-256 of what it unpacks to) fails: never silently OK
    assert not rep.ok and rep.problems[0].startswith("page 3")
    assert "cannot be decoded" in rep.problems[0] or "SHA-256" in rep.problems[0]


def test_page_replaced_with_recomputed_checksum_breaks_the_chain(archive):
    conn = sqlite3.connect(archive)
    raw = zlib.decompress(conn.execute("SELECT body FROM pages WHERE page_id=2").fetchone()[0])
    conn.close()
    forged = raw.replace(b"connected", b"CONNECTED", 1)
    assert forged != raw
    import hashlib

    _tamper(archive, "SELECT 1")
    c = sqlite3.connect(archive)
    c.execute(
        "UPDATE pages SET body=?, sha256=? WHERE page_id=2",
        (zlib.compress(forged), hashlib.sha256(forged).hexdigest()),
    )
    c.commit()
    c.close()
    rep = verify_archive(archive)
    assert not rep.ok and "page 2: hash chain broken" in rep.problems[0]


def test_record_edited_is_found(archive):
    _tamper(
        archive,
        """UPDATE vals_interactionSegments SET WAIT_TIME = '1' || WAIT_TIME WHERE record_id = 7""",
    )
    rep = verify_archive(archive)
    assert not rep.ok and any("record 7" in p for p in rep.problems)


def test_record_edited_with_recomputed_checksum_is_found(archive):
    conn = sqlite3.connect(archive)
    obj = values.fetch(conn, "interactionSegments", [9])[9]
    conn.close()
    obj["INTERACTION_NOTES"] = "nothing to see"
    forged = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    import hashlib

    _tamper(archive)
    c = sqlite3.connect(archive)
    c.execute(
        "UPDATE vals_interactionSegments SET INTERACTION_NOTES=? WHERE record_id=9",
        ("nothing to see",),
    )
    c.execute(
        "UPDATE records SET sha8=? WHERE record_id=9",
        (sha8(hashlib.sha256(forged.encode()).hexdigest()),),
    )
    c.commit()
    c.close()
    rep = verify_archive(archive)
    assert not rep.ok and rep.problems[0].startswith("records (interactionSegments page ")
    assert "record 9): sha8 is " in rep.problems[0]
    assert any(
        p.startswith("vals_interactionSegments (") and "INTERACTION_NOTES is 'nothing to see'" in p
        for p in rep.problems
    ), rep.problems


def test_record_deleted_is_found(archive):
    _tamper(
        archive,
        "DELETE FROM records WHERE record_id = 11",
        "DELETE FROM vals_interactionSegments WHERE record_id = 11",
        "DELETE FROM superseded WHERE record_id = 11 OR by_id = 11",
    )
    rep = verify_archive(archive)
    assert not rep.ok
    assert any("missing: the page's record is not archived" in p for p in rep.problems)


def test_record_added_is_found(archive):
    _tamper(
        archive,
        """INSERT INTO streams(dataset, dataset_type) VALUES ('interactionSegments', 'daily')""",
        """INSERT INTO records(stream_id, row_key, key_kind, interval_start, sha8, columns_id,
               page_id, row_index)
           SELECT (SELECT stream_id FROM streams WHERE dataset_type='daily'), row_key, key_kind,
               interval_start, sha8, columns_id, page_id, row_index
           FROM records WHERE record_id = 5""",
    )
    rep = verify_archive(archive)
    assert not rep.ok and "records 5 and " in " ".join(rep.problems)
    assert "both claim it" in " ".join(rep.problems)


def test_page_deleted_is_found(archive):
    _tamper(archive, "DELETE FROM records WHERE page_id = 4", "DELETE FROM pages WHERE page_id = 4")
    rep = verify_archive(archive)
    assert not rep.ok and "pages 4–4 are missing" in rep.problems[0]


def test_audit_entry_edited_is_found(archive):
    _tamper(archive, "UPDATE audit_log SET os_user = 'someone-else' WHERE entry_id = 1")
    rep = verify_archive(archive)
    assert not rep.ok and "audit entry 1" in rep.problems[0]


def test_future_schema_version_is_refused(tmp_path):
    arc = tmp_path / "future.sqlite3"
    conn = sqlite3.connect(arc)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(schema.ArchiveVersionError, match="newer than this archiver"):
        Archive(arc)


def test_migration_backs_up_first(tmp_path, monkeypatch):
    arc = tmp_path / "a.sqlite3"
    Archive(arc).close()
    ran = []
    now = schema.SCHEMA_VERSION
    monkeypatch.setattr(schema, "SCHEMA_VERSION", now + 1)
    monkeypatch.setitem(
        schema.MIGRATIONS,
        now + 1,
        lambda conn: ran.append(conn.execute("SELECT count(*) FROM meta").fetchone()[0]),
    )
    Archive(arc).close()
    backups = list(tmp_path.glob(f"a.sqlite3.v{now}-*.bak"))
    assert ran == [3] and len(backups) == 1
    assert sqlite3.connect(backups[0]).execute("PRAGMA user_version").fetchone()[0] == now


def test_backup_command_uses_backup_api(archive, tmp_path):
    out_file = tmp_path / "copy.sqlite3"
    out = run_cli("backup", "--archive", str(archive), "--out", str(out_file))
    assert out.returncode == 0, out.stderr
    assert verify_archive(out_file).ok
    assert run_cli("backup", "--archive", str(archive), "--out", str(out_file)).returncode == 2
    events = [e for (e,) in sqlite3.connect(archive).execute("SELECT event FROM audit_log")]
    assert events[-1] == "backup"


def test_export_jsonl_is_exact(archive, tmp_path):
    out = tmp_path / "x.jsonl"
    n = export_dataset(archive, "interactionSegments", "jsonl", out)
    lines = out.read_text(encoding="utf-8").splitlines()
    conn = sqlite3.connect(archive)
    ids = [
        r
        for (r,) in conn.execute(
            "SELECT record_id FROM latest WHERE dataset='interactionSegments' ORDER BY interval_start, row_key, record_id"
        )
    ]
    stored = values.fetch(conn, "interactionSegments", ids)
    assert n == len(lines) == len(ids)
    for line, rid in zip(lines, ids, strict=True):
        obj = json.loads(line)
        data = {k: v for k, v in obj.items() if not k.startswith("_")}
        assert data == stored[rid] and list(data) == list(stored[rid])
        canon = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        assert obj["_record_sha256"] == hashlib.sha256(canon.encode()).hexdigest()
        assert obj["_page_sha256"]


def test_export_csv_rfc4180(archive, tmp_path):
    out = tmp_path / "x.csv"
    n = export_dataset(archive, "interactionSegments", "csv", out)
    raw = out.read_bytes()
    assert b"\r\n" in raw
    with out.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    assert len(body) == n and header[0] == "ROW_ID" and "_record_sha256" in header
    conn = sqlite3.connect(archive)
    ids = [
        r
        for (r,) in conn.execute("SELECT record_id FROM latest WHERE dataset='interactionSegments'")
    ]
    want = sorted(
        tuple(v.values()) for v in values.fetch(conn, "interactionSegments", ids).values()
    )
    ncols = len(want[0])
    # formula cells are escaped by default (csvsafe's reversible rule)
    assert sorted(tuple(unescape_cell(c) for c in r[:ncols]) for r in body) == want
    assert any("\n" in cell for r in body for cell in r)  # multi-line notes survive


def test_export_parquet_partitioned(archive, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "pq"
    n = export_dataset(archive, "interactionSegments", "parquet", out, all_versions=True)
    files = list(out.glob("dataset=interactionSegments/row_date=*/part-0.parquet"))
    assert files and sum(pq.read_table(f).num_rows for f in files) == n
    table = pq.read_table(files[0])
    assert all(str(t) == "string" for t in table.schema.types)


def test_export_dataset_cli(archive, tmp_path):
    out = tmp_path / "x.jsonl"
    res = run_cli(
        "export-dataset",
        "--archive",
        str(archive),
        "--dataset",
        "agentLoginLogoutByQueue",
        "--format",
        "jsonl",
        "--from",
        "2025-02-01",
        "--to",
        "20250201",
        "--out",
        str(out),
    )
    assert res.returncode == 0, res.stderr
    assert out.read_text().count("\n") > 0
    res = run_cli(
        "export-dataset",
        "--archive",
        str(archive),
        "--dataset",
        "queue",
        "--format",
        "csv",
        "--out",
        str(tmp_path / "x.csv"),
    )
    assert res.returncode == 2 and "no queue data" in res.stderr
