"""Attacks on verify-archive's replay by an insider with SQL access to the archive file
(the attack pass on issue 18): each edit below once passed verify-archive."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from archiver.archive.verify import verify_archive
from tests.clitools import run_cli
from tests.pulltools import params, pull


@pytest.fixture(autouse=True)
def _no_real_key(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("ARCHIVER_KEY_PASSPHRASE", raising=False)


@pytest.fixture
def small(sim_factory, tmp_path) -> Path:
    sim = sim_factory(rows_per_interval=3)
    arc = tmp_path / "small.sqlite3"
    assert pull(sim, arc, params(["queue"], "202511250000", "202511250045")).exit_code == 0
    return arc


def _edit(arc: Path, *sql: str) -> None:
    """Behind the archive's back: each trigger dropped and re-created by its saved SQL."""
    conn = sqlite3.connect(arc)
    saved = conn.execute("SELECT name, sql FROM sqlite_master WHERE type='trigger'").fetchall()
    for name, _ in saved:
        conn.execute(f'DROP TRIGGER "{name}"')
    for s in sql:
        conn.execute(s)
    for _, text in saved:
        conn.execute(text)
    conn.commit()
    conn.close()


def _state(arc: Path) -> tuple[int, int, str]:
    conn = sqlite3.connect(arc)
    try:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        (entries,) = conn.execute("SELECT count(*) FROM audit_log").fetchone()
        (by,) = conn.execute("SELECT value FROM meta WHERE key='created_by'").fetchone()
    finally:
        conn.close()
    return version, entries, by


def test_a_lowered_schema_version_is_found_and_nothing_is_migrated(small):
    """PRAGMA user_version lowered to 4 on a version-5 archive: the migration to version 5
    would re-derive the tables (hiding their edits) and restate the meta table as found (a
    forged creator), and verify-archive ran it, on the file itself, and said OK."""
    arc = small
    _edit(
        arc,
        "UPDATE meta SET value='archiver 9.9 (forged)' WHERE key='created_by'",
        "PRAGMA user_version = 4",
    )
    before = _state(arc)
    res = run_cli("verify-archive", "--archive", str(arc))
    assert res.code == 1, res.out + res.err
    assert "FAILED" in res.out
    assert "schema version 4" in res.out and "lowered" in res.out, res.out
    assert _state(arc) == before  # not migrated, nothing recorded
    assert not list(arc.parent.glob("*.bak"))
    rep = verify_archive(arc, sidecar=False)
    assert not rep.ok and "lowered" in rep.problems[0]
    # nor does any writer migrate it
    res = run_cli("index", "rebuild", "--archive", str(arc))
    assert res.code != 0 and "lowered" in res.err, res.out + res.err
    assert _state(arc) == before


@pytest.mark.parametrize("event", ["migrate", "archive created"])
def test_a_second_statement_of_the_archive_identity_is_refused(small, event):
    """The audit chain is extended by anyone holding the file (no key needed, and every
    checkpoint and witness stays a prefix): an appended ``migrate`` to version 5 or a second
    ``archive created`` restated the meta table (a back-dated creation) and the replay took
    the last statement as true."""
    from archiver.archive import auditlog

    arc = small
    conn = sqlite3.connect(arc, isolation_level=None)
    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    meta["created_at"] = "2020-01-01T00:00:00.000Z"
    conn.execute("BEGIN")
    conn.execute("UPDATE meta SET value = ? WHERE key = 'created_at'", (meta["created_at"],))
    details = (
        {"from": 4, "to": 5, "pages": 0, "meta": meta, "rederived": {}, "outcomes": []}
        if event == "migrate"
        else meta
    )
    auditlog.append(conn, event, details, None)
    conn.execute("COMMIT")
    conn.close()
    rep = verify_archive(arc)
    assert not rep.ok, "the restated identity was taken"
    text = " ".join(rep.problems)
    assert "meta" in text and "states the archive's identity again" in text, rep.problems


def test_a_trigger_archiver_did_not_create_fails(small, sim_factory):
    """A trigger is code the archive runs on archiver's next write: one that silently drops
    every seventh value row of later pulls (RAISE(IGNORE)), or an append-only trigger
    re-created to do nothing, passed verify-archive (only missing names were noticed)."""
    arc = small
    conn = sqlite3.connect(arc)
    conn.execute(
        "CREATE TRIGGER keep BEFORE INSERT ON vals_queue WHEN NEW.rowid % 7 = 0 "
        "BEGIN SELECT RAISE(IGNORE); END"
    )
    conn.execute("DROP TRIGGER records_no_update")
    conn.execute(
        "CREATE TRIGGER records_no_update BEFORE UPDATE ON records WHEN 0 "
        "BEGIN SELECT RAISE(ABORT, 'records is evidence: append-only'); END"
    )
    conn.commit()
    conn.close()
    res = run_cli("verify-archive", "--archive", str(arc))
    assert res.code == 1, res.out
    assert "trigger keep (on vals_queue): not one archiver creates" in res.out, res.out
    assert "trigger records_no_update (on records): its definition is not" in res.out, res.out
    rep = verify_archive(arc, sidecar=False, quick=True)  # a chain-level fact: quick says it too
    assert not rep.ok


def test_a_value_row_of_no_record_fails(small, sim_factory):
    """A values row no record owns is read by nothing the replay compared, so it passed; it
    takes the id of the next record, and every later pull of the dataset then failed every
    page as one "the archive cannot hold" (blaming the API), for ever."""
    arc = small
    conn = sqlite3.connect(arc)
    (last,) = conn.execute("SELECT max(record_id) FROM records").fetchone()
    conn.execute('INSERT INTO vals_queue(record_id, "ROW_ID") VALUES (?, ?)', (last + 1, "planted"))
    conn.commit()
    conn.close()
    assert run_cli("index", "rebuild", "--archive", str(arc)).code == 0  # the index agrees
    problems = " ".join(_problems(arc))
    assert f"vals_queue (record {last + 1}): no record of queue owns this row" in problems


def test_a_values_table_or_view_of_no_dataset_fails(small):
    """The ``vals_`` prefix classified any table or view as a dataset's values."""
    _edit(small, "CREATE TABLE vals_notes (x TEXT)", "CREATE VIEW vals_shown AS SELECT 1 AS x")
    problems = " ".join(_problems(small))
    assert "vals_notes (table): not the values table of a dataset" in problems, problems
    assert "vals_shown (view): not the values table of a dataset" in problems, problems


def test_a_superseded_row_of_no_record_fails(small):
    """superseded was read joined with the records it names: a row naming the id the next
    record will get passed, and would hide that record from "latest" (export-dataset,
    Browse) once a pull stores it."""
    arc = small
    conn = sqlite3.connect(arc)
    (last,) = conn.execute("SELECT max(record_id) FROM records").fetchone()
    conn.execute("INSERT INTO superseded(record_id, by_id) VALUES (?, 1)", (last + 1,))
    conn.commit()
    conn.close()
    problems = " ".join(_problems(arc))
    assert f"superseded (record {last + 1}, by 1): no such record" in problems, problems


def test_an_index_archiver_did_not_create_fails(small):
    """A unique index over later rows only (``WHERE record_id > N``) passed, then made every
    later pull of the dataset fail each page as one "the archive cannot hold"."""
    arc = small
    conn = sqlite3.connect(arc)
    (last,) = conn.execute("SELECT max(record_id) FROM records").fetchone()
    conn.execute(
        f'CREATE UNIQUE INDEX vals_queue_once ON vals_queue("QUEUE_ID") WHERE record_id > {last}'
    )
    conn.execute("DROP INDEX records_key")
    conn.execute("CREATE UNIQUE INDEX records_key ON records(stream_id, row_key)")
    conn.commit()
    conn.close()
    res = run_cli("verify-archive", "--archive", str(arc))
    assert res.code == 1, res.out
    assert "index vals_queue_once (on vals_queue): not one archiver creates" in res.out, res.out
    assert "index records_key (on records): its definition is not" in res.out, res.out


def _problems(arc: Path) -> list[str]:
    rep = verify_archive(arc, sidecar=False)
    assert not rep.ok, "the edit was not found"
    return rep.problems
