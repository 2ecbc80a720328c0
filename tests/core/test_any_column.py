"""Any column the API sends is archived (issue 18 §5).

A server that adds ``RECORD_ID``, ``record_id``, ``row_id`` beside ``ROW_ID``, a name with a
NUL or other control characters, a very long name or many columns gets them archived: values
tables name their columns themselves (archive/values.py ``stored_name``) and map them to the
API names (``value_columns``), and Browse, export-dataset and the record_values view show the
API names. A page the store cannot hold (more columns than SQLite allows) is quarantined with
the reason and only its chunk fails; every other chunk and dataset is archived. Each of these
stopped the whole run before (``duplicate column name: RECORD_ID``, ``the query contains a
null character``, ``too many arguments on function json_object``, ``too many columns``).
"""

from __future__ import annotations

import csv
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from archiver.api import Page, Query
from archiver.archive import schema, values
from archiver.archive.queries import browse
from archiver.archive.queries.reader import Reader
from archiver.archive.store import Archive
from archiver.archive.verify import verify_archive
from archiver.datasets import get_dataset
from archiver.pull.writer import Ops
from archiver.simulator import SimConfig, Simulator
from archiver.simulator.query import parse_query
from archiver.simulator.server import go_json
from archiver.timerange import Chunk
from tests.clitools import run_cli

NUL = "A\x00B"
CONTROL = "tab\tnew\nline\x1b[31m"
LONG = "L" * 300
ODD = ("RECORD_ID", "record_id", "row_id", "Row_Id", NUL, CONTROL, LONG, "rowid", "q\"uo'te")


def pull(sim, arc: Path, *datasets: str, more: tuple[str, ...] = ()):
    args = ["pull", "--base-url", sim.base_url, "--archive", arc]
    for d in datasets:
        args += ["--dataset", d]
    args += ["--from", "202502010000", "--to", "202502010045", "--workers", "2", *more]
    return run_cli(
        *args, env={"ARCHIVER_CLIENT_ID": "archiver-demo", "ARCHIVER_CLIENT_SECRET": "demo-secret"}
    )


def extras(names, value: str = "v") -> tuple[tuple[str, str], ...]:
    return tuple((n, f"{value}-{i}") for i, n in enumerate(names))


def test_odd_column_names_are_archived_and_shown_by_their_api_names(sim_factory, tmp_path):
    sim = sim_factory(rows_per_interval=4, extra_columns=extras(ODD))
    arc = tmp_path / "a.sqlite3"
    r = pull(sim, arc, "queue", "agent")
    assert r.code == 0, r.out + r.err
    assert "All chunks archived" in r.out
    with Reader(arc) as db:
        names = [n for n, _ in browse.columns(db, "queue")]
        assert names[-len(ODD) :] == list(ODD)  # API order, API names
        ids = browse.record_ids(db, "queue")
        rows = browse.records_by_id(db, "queue", list(ids))
        assert rows and all(
            row.values[n] == f"v-{i}" for row in rows.values() for i, n in enumerate(ODD)
        )
        assert row_of(rows)["ROW_ID"] != ""  # ROW_ID and row_id are two columns
        # sort, filter and search by an odd column work as for any other
        assert len(browse.record_ids(db, "queue", sort=NUL)) == len(ids)
        assert len(browse.record_ids(db, "queue", column_filter=("record_id", "v-1"))) == len(ids)
        assert len(browse.record_ids(db, "queue", search="v-6")) == len(ids)  # LONG's value
        truth = sim.truth("queue", *_window())
        assert len(ids) == len(truth)
    # the mapping: plain names keep theirs, every other one gets a name of our own
    conn = sqlite3.connect(arc)
    mapped = dict(conn.execute("SELECT name, stored FROM value_columns WHERE dataset='queue'"))
    assert mapped["ROW_ID"] == "ROW_ID" and mapped["COMMIT_TS"] == "COMMIT_TS"
    for name in ODD:
        assert mapped[name] == values.stored_name(name) != name and mapped[name].startswith("_")
    view = json.loads(
        conn.execute(
            "SELECT values_json FROM record_values WHERE dataset='queue' LIMIT 1"
        ).fetchone()[0]
    )
    assert all(view[n] == f"v-{i}" for i, n in enumerate(ODD))
    conn.close()
    assert verify_archive(arc).ok


def row_of(rows):
    return next(iter(rows.values())).values


def _window():
    from tests.conftest import utc

    return utc(2025, 2, 1), utc(2025, 2, 1, 1, 0)  # (the chunk's request overlaps 01:00)


def test_export_dataset_writes_the_api_names(sim_factory, tmp_path):
    sim = sim_factory(rows_per_interval=4, extra_columns=extras(ODD))
    arc = tmp_path / "a.sqlite3"
    assert pull(sim, arc, "queue").code == 0
    out = tmp_path / "q.jsonl"
    r = run_cli(
        "export-dataset", "--archive", arc, "--dataset", "queue", "--format", "jsonl", "--out", out
    )
    assert r.code == 0, r.err
    first = json.loads(out.read_text().splitlines()[0])
    assert (
        all(first["values"][n] == f"v-{i}" for i, n in enumerate(ODD))
        if "values" in first
        else all(first[n] == f"v-{i}" for i, n in enumerate(ODD))
    )
    out_csv = tmp_path / "q.csv"
    r = run_cli(
        "export-dataset",
        "--archive",
        arc,
        "--dataset",
        "queue",
        "--format",
        "csv",
        "--csv-formulas",
        "raw",
        "--out",
        out_csv,
    )
    assert r.code == 0, r.err
    with out_csv.open(newline="", encoding="utf-8") as f:
        header = next(csv.reader(f))
    for name in ODD:
        assert name in header


def test_many_columns_fit_and_the_view_keeps_them(sim_factory, tmp_path):
    many = [f"EXTRA_{i:04d}" for i in range(400)]  # json_object takes at most 127 arguments
    sim = sim_factory(rows_per_interval=2, extra_columns=extras(many))
    arc = tmp_path / "a.sqlite3"
    r = pull(sim, arc, "queue")
    assert r.code == 0, r.out + r.err
    conn = sqlite3.connect(arc)
    (text,) = conn.execute("SELECT values_json FROM record_values LIMIT 1").fetchone()
    assert len(json.loads(text)) == len(get_dataset("queue").columns) + 400
    conn.close()
    with Reader(arc) as db:
        ids = browse.record_ids(db, "queue", search="v-399")
        assert len(ids) == len(browse.record_ids(db, "queue"))


def test_a_page_the_store_cannot_hold_fails_only_its_chunk(sim_factory, tmp_path):
    """2,100 extra columns on agent's pages: more than a SQLite table may have (2,000)."""
    wide = [f"C{i}" for i in range(2100)]
    sim = sim_factory(
        rows_per_interval=2, extra_columns=extras(wide), extra_column_datasets=("agent",)
    )
    arc = tmp_path / "a.sqlite3"
    r = pull(sim, arc, "agent", "queue", "workflow")
    assert r.code == 3, r.out + r.err  # partial: the others archived
    conn = sqlite3.connect(arc)
    states = dict(conn.execute("SELECT dataset, state FROM coverage"))
    assert states == {"agent": "failed", "queue": "done", "workflow": "done"}
    (message,) = conn.execute("SELECT message FROM coverage WHERE dataset='agent'").fetchone()
    assert "agent 202502010000" in message and "page 1 was not stored" in message
    assert "2,133 columns" in message and "2,000" not in message  # (1,999 besides the id)
    assert "1,999 besides the record id" in message and "quarantined" in message
    [(status, error, size)] = conn.execute(
        "SELECT http_status, error, length(body) FROM quarantine"
    )
    assert status == 200 and "cannot hold this page" in error and "2,133 columns" in error
    assert size > 2100 * 4
    assert (
        conn.execute("SELECT count(*) FROM pages WHERE dataset='agent'").fetchone()[0] == 0
    )  # nothing of it stored
    assert conn.execute("SELECT count(*) FROM records").fetchone()[0] > 0
    conn.close()
    assert "page 1 was not stored" in r.out
    assert verify_archive(arc).ok
    # a rerun retries the failed chunk alone, and fails it the same way
    again = pull(sim, arc, "agent", "queue", "workflow")
    assert again.code == 3 and "page 1 was not stored" in again.out
    conn = sqlite3.connect(arc)
    assert dict(conn.execute("SELECT dataset, state FROM coverage")) == states
    assert conn.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 2
    conn.close()


def _page(dataset: str, number: int, extra: int = 0, token: str = "") -> Page:
    """A real simulator page of ``dataset`` (00:00–00:45), with ``extra`` columns added."""
    sim = Simulator(
        SimConfig(rows_per_interval=2, extra_columns=extras(f"C{i}" for i in range(extra)))
    )
    q = Query(dataset, *_window())
    body = sim.page(parse_query(get_dataset(dataset), q.params()), None)
    # the page's own pagination says what the walk does next (the replay reads it there)
    body["pagination"]["nextPageToken"] = f"t{number}" if number < 3 else ""
    raw = go_json(body)
    return Page(
        raw,
        200,
        f"http://127.0.0.1/{dataset}",
        datetime.now(UTC),
        body["columnHeaders"],
        token or None,
        body["records"],
        f"t{number}" if number < 3 else "",
        number,
    )


def test_a_refused_page_breaks_its_chunk_and_nothing_else(tmp_path):
    """The writer's side, page by page: page 1 of a chunk stored, page 2 refused (2,100
    columns, on a dataset whose stream and table it would have created), page 3 of that
    chunk not stored; a chunk of the same dataset after it is stored under the stream and
    columns the refusal did not leave behind (the writer forgets what was rolled back)."""
    arc = tmp_path / "a.sqlite3"
    start = datetime(2025, 2, 1, tzinfo=UTC)
    queue = Chunk("queue", "interval", "", start, start + timedelta(minutes=45))
    agent = Chunk("agent", "interval", "", start, start + timedelta(minutes=45))
    later = Chunk(
        "agent", "interval", "", start + timedelta(days=1), start + timedelta(days=1, minutes=45)
    )
    ops = Ops("run")
    q = {"interval": "starting:202502010000,ending:202502010100"}
    with Archive(arc) as a:
        a.start_run("run", "t", {}, "h")
        with a.group():
            assert ops.store_page(a, queue, _page("queue", 1), q)[0] == "page"
            refused = ops.store_page(a, agent, _page("agent", 1, extra=2100), q)
            assert [kind for kind, _ in refused] == ["quarantined", "chunk_state"]
            assert ops.broken(agent) and not ops.broken(queue)
            assert ops.store_page(a, agent, _page("agent", 2), q) is None  # not stored
            assert ops.fail(a, agent, "another failure") is None  # it failed already
            q2 = {"interval": "starting:202502020000,ending:202502020100"}  # its own query
            assert ops.store_page(a, later, _page("agent", 1), q2)[0] == "page"
            assert ops.store_page(a, queue, _page("queue", 2, token="t1"), q)[0] == "page"
    conn = sqlite3.connect(arc)
    cov = {
        r[0]: r[1:]
        for r in conn.execute("SELECT chunk_start || dataset, state, pages FROM coverage")
    }
    assert cov["202502010000agent"] == ("failed", 0)
    assert cov["202502020000agent"][1] == 1 and cov["202502010000queue"][1] == 2
    assert conn.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM streams").fetchone()[0] == 2
    cols = [r[1] for r in conn.execute("PRAGMA table_info(vals_agent)")]
    assert len(cols) == len(get_dataset("agent").columns) + 1  # none of the 2,100
    conn.close()
    assert verify_archive(arc).ok


def test_simulate_takes_extra_columns(tmp_path):
    from archiver.cli.grammar import build_parser

    args = build_parser(["simulate"]).parse_args(
        [
            "simulate",
            "--extra-column",
            "RECORD_ID=7",
            "--extra-column",
            "x=a=b",
            "--extra-column-dataset",
            "QUEUE",
        ]
    )
    assert args.extra_column == [("RECORD_ID", "7"), ("x", "a=b")]
    assert args.extra_column_dataset == ["queue"]
    with pytest.raises(SystemExit):
        build_parser(["simulate"]).parse_args(["simulate", "--extra-column", "novalue"])


def _audit_log_of_version_4(conn: sqlite3.Connection) -> None:
    """The audit log as version 4 wrote it: no `archive created` entry (version 5 writes it,
    and a version-4 archive holding one was lowered: schema.lowered_version), and no
    checkpoint entries (they name audit heads this rewrite changes); the chain recomputed."""
    from archiver.archive.hashing import GENESIS, audit_entry_digest, chain_next

    fields = ("at", "event", "os_user", "tool_version", "run_id", "details")
    rows = conn.execute(
        f"SELECT {', '.join(fields)} FROM audit_log"
        " WHERE event NOT IN ('archive created', 'checkpoint') ORDER BY entry_id"
    ).fetchall()
    conn.execute("DELETE FROM audit_log")
    chain = GENESIS
    for row in rows:
        entry = dict(zip(fields, row, strict=True))
        entry["details"] = json.loads(entry["details"])
        digest = audit_entry_digest(entry)
        chain = chain_next(chain, digest)
        conn.execute(
            f"INSERT INTO audit_log({', '.join(fields)}, sha256, chain) VALUES (?,?,?,?,?,?,?,?)",
            (*row, digest, chain),
        )


def test_an_older_archive_keeps_working(sim_factory, tmp_path):
    """A version-4 archive whose values columns are named by the API (a mixed-case name
    stored as itself) is migrated to version 5: the column renamed to its stored name,
    mapped, its values unchanged; verify-archive and Browse as before."""
    sim = sim_factory(rows_per_interval=3, extra_columns=(("Mixed_Case", "m"),))
    arc = tmp_path / "a.sqlite3"
    assert pull(sim, arc, "queue").code == 0
    stored = values.stored_name("Mixed_Case")
    conn = sqlite3.connect(arc, isolation_level=None)  # what version 4 left on disk
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'").fetchall():
        conn.execute(f'DROP TRIGGER "{name}"')
    conn.execute("DROP VIEW record_values")
    conn.execute(f'ALTER TABLE vals_queue RENAME COLUMN "{stored}" TO "Mixed_Case"')
    conn.execute("DROP TABLE value_columns")
    _audit_log_of_version_4(conn)
    conn.execute("PRAGMA user_version = 4")
    conn.close()
    Path(f"{arc}.checkpoints").unlink()  # (its lines name the audit heads rewritten above)
    with pytest.MonkeyPatch.context() as mp:  # the step this test is about: 4 → 5
        mp.setattr(schema, "SCHEMA_VERSION", 5)
        Archive(arc).close()  # migrates
    conn = sqlite3.connect(arc)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 5
    # version 6's parts (per-record commitments) were written by the pull itself
    conn.execute("PRAGMA user_version = 6")
    conn.commit()
    assert stored in [r[1] for r in conn.execute("PRAGMA table_info(vals_queue)")]
    mapped = dict(conn.execute("SELECT name, stored FROM value_columns"))
    assert mapped["Mixed_Case"] == stored and mapped["ROW_ID"] == "ROW_ID"
    (details,) = conn.execute(
        "SELECT details FROM audit_log WHERE event='migrate' ORDER BY entry_id DESC LIMIT 1"
    ).fetchone()
    assert json.loads(details)["renamed"] == 1
    conn.close()
    with Reader(arc) as db:
        rows = browse.records_by_id(db, "queue", list(browse.record_ids(db, "queue")))
        assert rows and all(r.values["Mixed_Case"] == "m" for r in rows.values())
    assert verify_archive(arc).ok


def test_value_columns_are_replayed_from_the_pages(sim_factory, tmp_path):
    sim = sim_factory(rows_per_interval=3, extra_columns=(("row_id", "x"),))
    arc = tmp_path / "a.sqlite3"
    assert pull(sim, arc, "queue").code == 0
    conn = sqlite3.connect(arc, isolation_level=None)
    assert values.replay_check(conn) == []
    conn.execute("DROP TRIGGER value_columns_no_update")
    conn.execute("UPDATE value_columns SET name='ROW_ID2' WHERE name='row_id'")
    found = values.replay_check(conn)
    assert any("'ROW_ID2'" in p and "rule gives" in p for p in found)
    assert any("lacks column 'row_id'" in p for p in found)
    conn.close()
    report = verify_archive(arc)
    assert not report.ok and "value_columns: queue column 'ROW_ID2'" in report.summary()


def test_search_finds_words_of_a_column_stored_under_another_name(sim_factory, tmp_path):
    """The search index reads values columns by their stored names (values.stored_names):
    words the server sent in a column whose API name is not plain are found, and the
    index checks out in verify-archive."""
    name = "customer note"  # stored as _<sha256>: a space is not plain
    sim = sim_factory(rows_per_interval=4, extra_columns=((name, "zebracrossing ahead"),))
    arc = tmp_path / "a.sqlite3"
    assert pull(sim, arc, "interactionSegments").code == 0
    conn = sqlite3.connect(arc)
    stored = values.stored_names(conn, "interactionSegments")[name]
    conn.close()
    assert stored == values.stored_name(name) != name
    res = run_cli("search", "zebracrossing", "--archive", arc, "--json")
    assert res.code == 0, res.out + res.err
    assert json.loads(res.out)["hits"]
    assert run_cli("verify-archive", "--archive", arc, "--read-only").code == 0
