"""verify-archive replays the evidence: every table the archive states is re-derived from
the raw pages and the custody entries and compared (archive/replay.py), every table and
view is classified (archive/tables.py), and each attack of the 2026-12-07 pass that edits
what the archive states is found."""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from archiver import exitcodes
from archiver.api.retry import RetryPolicy
from archiver.archive import tables
from archiver.archive.coverage import day_coverage
from archiver.archive.verify import verify_archive
from archiver.export import keys
from archiver.export.bundle import export_bundle
from archiver.export.scope import Scope
from archiver.jobs import drive
from archiver.services import archive as archive_service
from archiver.simulator import SimConfig, Simulator
from tests.clitools import run_cli
from tests.echo import EchoSimulator
from tests.pulltools import engine_for, params, pull

ROOT = Path(__file__).resolve().parents[2]
ALL = [
    "agent",
    "queue",
    "agentAux",
    "agentByQueue",
    "workflow",
    "interactionSegments",
    "workflowTrace",
    "mpccdr",
    "transcript",
    "agentLoginSessions",
    "agentLoginLogoutByQueue",
    "cxAgentLoginLogout",
    "clientSessions",
]
ONCE = RetryPolicy(attempts=2, initial=0.001, max_delay=0.01, jitter=0.001)


@pytest.fixture(autouse=True)
def _no_real_key(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("ARCHIVER_KEY_PASSPHRASE", raising=False)


def _copy(src: Path, dst: Path) -> Path:
    a, b = sqlite3.connect(src), sqlite3.connect(dst)
    with b:
        a.backup(b)
    a.close()
    b.close()
    return dst


@pytest.fixture(scope="module")
def used(tmp_path_factory) -> Path:
    """An archive used every way this build can: all 13 datasets, daily rows, a filtered
    pull, quarantined responses, a key fallback, late updates, conflicts, a 202 left pending
    and retried, a 403, a failed chunk, columns the guide does not name (``RECORD_ID``,
    ``row_id``), a page the archive cannot hold (quarantined, its chunk failed), responses
    that echoed our credentials (redacted), a search, a case and a legal hold, a bundle, a
    warehouse export, a verification."""
    d = tmp_path_factory.mktemp("used")
    arc = d / "used.sqlite3"
    cfg = SimConfig(
        rows_per_interval=3, garble_rate=0.1, omit_row_id=("transcript",), shared_ids=True
    )
    with pytest.MonkeyPatch.context() as mp, Simulator(cfg) as sim:
        mp.setenv("XDG_DATA_HOME", str(d / "xdg"))
        mp.setenv("ARCHIVER_KEY_PASSPHRASE", "pw")
        day = params(ALL, "202502010000", "202502010245", page_size=20)
        assert pull(sim, arc, day, quarantine_retries=30).exit_code == 0
        sim.set_faults(garble_rate=0.0, commit_ts="offset")  # the same instants, other text
        q = params(["queue"], "202502010000", "202502010245", page_size=20)
        assert pull(sim, arc, q).exit_code == 0
        sim.set_faults(commit_ts="nano")
        sim.late_update(["queue", "interactionSegments"], 0.3)
        assert pull(sim, arc, q).exit_code == 0
        assert pull(sim, arc, params(["agent"], "20250201", "20250201", daily=True)).exit_code == 0
        flt = params(["queue"], "202502010000", "202502010145", filter="CHANNEL:phone")
        assert pull(sim, arc, flt).exit_code == 0
        sim.set_faults(accepted_first=1)
        assert (
            pull(sim, arc, params(["agent"], "202502020000", "202502020045")).exit_code
            == exitcodes.PARTIAL
        )
        sim.set_faults(accepted_first=0)
        eng = engine_for(sim, arc)
        for _ in eng.run(eng.plan_retry_pending()):
            pass
        assert eng.result.exit_code == 0
        sim.set_faults(entitled=False)
        seg = params(["interactionSegments"], "202502030000", "202502030245")
        assert pull(sim, arc, seg).exit_code == exitcodes.NOT_ENTITLED
        sim.set_faults(entitled=True, fail_rate=1.0)
        failing = params(["mpccdr"], "202502040000", "202502040045")
        assert pull(sim, arc, failing, retry=ONCE).exit_code == exitcodes.FAILED
        sim.set_faults(fail_rate=0.0)
        # columns the guide does not name, one page too wide for a table (2,100 columns)
        odd = SimConfig(rows_per_interval=2, extra_columns=(("RECORD_ID", "7"), ("row_id", "x")))
        with Simulator(odd) as extra:
            cols = params(["queue", "workflow"], "202502050000", "202502050045")
            assert pull(extra, arc, cols).exit_code == 0
        wide = SimConfig(
            rows_per_interval=2,
            extra_columns=tuple((f"C{i}", "v") for i in range(2100)),
            extra_column_datasets=("agentAux",),
        )
        with Simulator(wide) as extra:
            both = params(["agentAux", "workflow"], "202502060000", "202502060045")
            assert pull(extra, arc, both).exit_code == exitcodes.PARTIAL
        # a server that echoes our credentials: a 400, a 403, a 202, real pages
        with EchoSimulator(SimConfig(rows_per_interval=2, token_ttl=4)) as echo:
            echoed = params(
                ["agent", "agentAux", "mpccdr", "interactionSegments"],
                "202502070000",
                "202502070045",
            )
            pull(echo, arc, echoed, retry=ONCE)
        assert run_cli("index", "rebuild", "--archive", str(arc)).code == 0
        assert run_cli("search", "dataset:interactionSegments", "--archive", str(arc)).code == 0
        (one,) = (
            sqlite3.connect(arc)
            .execute('SELECT "INTERACTION_ID" FROM vals_interactionSegments LIMIT 1')
            .fetchone()
        )
        case = ["--archive", str(arc)]
        assert run_cli("case", "create", "Used", "--reason", "r", *case).code == 0
        assert run_cli("case", "add", "Used", "--interaction", one, *case).code == 0
        assert run_cli("hold", "place", "Used", "--reason", "court order", *case).code == 0
        ident = keys.load_or_create(d / "signing")
        drive(export_bundle(arc, Scope(date(2025, 2, 1), date(2025, 2, 1)), d / "bundle", ident))
        archive_service.export_dataset(arc, "queue", "csv", d / "queue.csv")
        # a disposition: 2025-02-01 past a 6y schedule
        for ds in ("agent", "transcript"):  # daily rows, a 202 retried, hash keys
            assert run_cli("retention", "set", ds, "6y", *case).code == 0
        as_of = ["--as-of", "2031-02-02"]
        plan = json.loads(run_cli("retention", "plan", *as_of, "--json", *case).out)
        assert plan["pages"]
        apply = ["--plan", plan["plan_id"], "--reason", "annual", "--key-dir", str(d / "signing")]
        assert run_cli("retention", "apply", *apply, *as_of, *case).code == 0
        assert archive_service.verify(arc, via="test").ok
    return arc


@pytest.fixture
def arc(used, tmp_path) -> Path:
    return _copy(used, tmp_path / "a.sqlite3")


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


def _problems(arc: Path) -> list[str]:
    rep = verify_archive(arc, sidecar=False)
    assert not rep.ok, "the edit was not found"
    return rep.problems


# -- the registry -------------------------------------------------------------------------------
def test_every_table_and_view_of_a_fully_used_archive_is_classified(used):
    conn = sqlite3.connect(used)
    found = tables.schema_objects(conn)
    conn.close()
    names = {n for _, n in found}
    assert {"pages", "records", "coverage", "runs", "quarantine", "conflicts", "key_rules"} <= names
    assert all(f"vals_{ds}" in names for ds in ALL)
    missing = [f"{kind} {name}" for kind, name in found if tables.classify(name) is None]
    assert not missing, f"neither chained, replayed nor local state: {missing}"


def test_every_registry_entry_is_one_kind_with_a_reason_and_replayed_ones_a_check():
    entries = {**tables.TABLES, **tables.PREFIXES}
    for name, entry in entries.items():
        assert entry.kind in (tables.CHAINED, tables.REPLAYED, tables.LOCAL), name
        assert entry.reason and "\n" not in entry.reason, name
        assert (entry.check is not None) == (entry.kind == tables.REPLAYED), name
    # every replayed entry is shown failing below: a new one without an edit here fails
    assert {n for n, e in entries.items() if e.kind == tables.REPLAYED} == set(EDITS)


def test_the_fully_used_archive_replays(used, tmp_path):
    out = run_cli("verify-archive", "--archive", str(_copy(used, tmp_path / "u.sqlite3")))
    assert out.returncode == 0, out.stdout
    assert out.stdout.startswith("OK: replayed "), out.stdout
    conn = sqlite3.connect(used)
    for sql in (
        "SELECT count(*) FROM pages WHERE http_status = 403",
        "SELECT count(*) FROM pages WHERE http_status = 202",
        "SELECT count(*) FROM quarantine",
        "SELECT count(*) FROM key_rules",
        "SELECT count(*) FROM conflicts",
        "SELECT count(*) FROM superseded",
        "SELECT count(*) FROM audit_log WHERE event = 'chunk failed'",
        "SELECT count(*) FROM audit_log WHERE event = 'quarantined'",
        "SELECT count(*) FROM coverage WHERE state = 'not_entitled'",
        "SELECT count(*) FROM coverage WHERE filter != ''",
        "SELECT count(*) FROM value_columns WHERE name != stored",
        "SELECT count(*) FROM quarantine WHERE error LIKE 'the archive cannot hold this page%'",
        "SELECT count(*) FROM audit_log WHERE event = 'credentials redacted'",
        "SELECT count(*) FROM audit_log WHERE event = 'search'",
        "SELECT count(*) FROM audit_log WHERE event = 'export'",
        "SELECT count(*) FROM cases",
        "SELECT count(*) FROM case_holds",
        "SELECT count(*) FROM search_columns",
    ):
        assert conn.execute(sql).fetchone()[0] > 0, sql
    conn.close()


#: An edit of each replayed table (prefix entries by one of their tables), and the name the
#: first problem starts with.
EDITS = {
    "records": (
        ["UPDATE records SET interval_start = '209901010000' WHERE record_id = 3"],
        "records (",
    ),
    "vals_": (
        [
            "UPDATE vals_queue SET WAITTIME = '999999' WHERE record_id = (SELECT min(record_id) FROM vals_queue)"
        ],
        "vals_queue (",
    ),
    "streams": (
        ["INSERT INTO streams(dataset, dataset_type) VALUES ('workflow', 'daily')"],
        "streams (",
    ),
    "column_sets": (
        ["INSERT INTO column_sets(dataset, names) VALUES ('queue', '[\"X\"]')"],
        "column_sets (",
    ),
    "superseded": (
        ["DELETE FROM superseded WHERE rowid = (SELECT min(rowid) FROM superseded)"],
        "superseded (",
    ),
    "conflicts": (
        ["DELETE FROM conflicts WHERE conflict_id = (SELECT max(conflict_id) FROM conflicts)"],
        "conflicts (",
    ),
    "schema_changes": (
        ["UPDATE schema_changes SET description = 'nothing' WHERE change_id = 2"],
        "schema_changes (",
    ),
    "key_rules": (["UPDATE key_rules SET reason = 'looked fine'"], "key_rules ("),
    "coverage": (
        ["UPDATE coverage SET ending_rows = ending_rows + 1 WHERE rowid = 1"],
        "coverage (",
    ),
    "runs": (["UPDATE runs SET os_user = 'someone else'"], "runs ("),
    "quarantine": (["UPDATE quarantine SET error = 'nothing wrong'"], "quarantine ("),
    "meta": (
        ["UPDATE meta SET value = '1999-01-01T00:00:00.000Z' WHERE key = 'created_at'"],
        "meta (",
    ),
    "records_view": (
        [
            "DROP VIEW records_view",
            "CREATE VIEW records_view AS SELECT r.*, s.dataset, s.dataset_type FROM records r JOIN streams s USING (stream_id) WHERE r.conflict = 0",
        ],
        "records_view (view)",
    ),
    "latest": (
        [
            "DROP VIEW latest",
            "CREATE VIEW latest AS SELECT r.*, s.dataset, s.dataset_type FROM records r JOIN streams s USING (stream_id) WHERE r.record_id % 2 = 0",
        ],
        "latest (view)",
    ),
    "record_values": (
        [
            "DROP VIEW record_values",
            "CREATE VIEW record_values AS SELECT NULL AS record_id, NULL AS dataset, NULL AS values_json WHERE 0",
        ],
        "record_values (view)",
    ),
    "value_columns": (
        ["UPDATE value_columns SET name = 'ROW_ID ' WHERE name = 'ROW_ID' AND dataset = 'queue'"],
        "value_columns",
    ),
    "cases": (["UPDATE cases SET reason = 'nothing to see'"], "cases ("),
    "case_interactions": (
        ["UPDATE case_interactions SET added_by = 'mallory'"],
        "case_interactions (",
    ),
    "case_searches": (
        [
            "INSERT INTO case_searches(entry, case_name, query, first, last, range, searched_at, searched_by, hits, found, added) VALUES (999, 'Used', 'x', '', '', '', '', 'mallory', 0, 0, 0)"
        ],
        "case_searches (",
    ),
    "case_holds": (["UPDATE case_holds SET reason = 'none'"], "case_holds ("),
    "retention_schedules": (
        ["UPDATE retention_schedules SET period = '1d'"],
        "retention_schedules (",
    ),
    "dispositions": (["UPDATE dispositions SET reason = 'other'"], "dispositions ("),
    "disposed_pages": (
        ["DELETE FROM disposed_pages WHERE page_id = (SELECT min(page_id) FROM disposed_pages)"],
        "disposed_pages (",
    ),
    "disposed_intervals": (
        [
            "DELETE FROM disposed_intervals WHERE interval_start = "
            "(SELECT min(interval_start) FROM disposed_intervals)"
        ],
        "disposed_intervals (",
    ),
    "chain_head": (
        [
            "DROP VIEW chain_head",
            "CREATE VIEW chain_head AS SELECT 'x' AS pages_chain, 0 AS pages, 'y' AS audit_chain, 0 AS audit_entries",
        ],
        "chain_head (view)",
    ),
}


@pytest.mark.parametrize("name", sorted(EDITS))
def test_an_edit_of_each_replayed_table_is_named(arc, name):
    sql, first = EDITS[name]
    _edit(arc, *sql)
    problems = _problems(arc)
    assert any(p.startswith(first) for p in problems), problems


def test_a_table_nobody_classified_fails(arc):
    _edit(arc, "CREATE TABLE notes (text TEXT)", "CREATE VIEW shown AS SELECT 1")
    problems = " ".join(_problems(arc))
    assert "notes (table): archiver does not know it" in problems
    assert "shown (view): archiver does not know it" in problems


# -- the attacks ---------------------------------------------------------------------------------
@pytest.fixture
def part_of_a_day(sim_factory, tmp_path) -> Path:
    sim = sim_factory()
    arc = tmp_path / "part.sqlite3"
    assert pull(sim, arc, params(["queue"], "202511250000", "202511250045")).exit_code == 0
    return arc


def test_coverage_claiming_a_whole_day_after_pulling_part_of_it_fails(part_of_a_day):
    """The pages' own query says what was asked: 00:00 – 01:00 (the one-interval overlap)."""
    arc = part_of_a_day
    assert verify_archive(arc).ok
    conn = sqlite3.connect(arc)
    conn.execute(
        "UPDATE coverage SET chunk_end='202511252345', request_end='202511260000' "
        "WHERE chunk_start='202511250000'"
    )
    conn.commit()
    conn.row_factory = sqlite3.Row
    day = day_coverage(conn)[0]
    conn.close()
    assert day.walked == 96  # what the edit claims (and a bundle would state)
    problems = _problems(arc)
    assert problems[0].startswith("coverage (queue interval 202511250000): chunk_end is "), problems
    assert "'202511252345', its responses show '202511250045'" in problems[0]


def test_coverage_claiming_done_for_a_refused_or_failed_chunk_fails(arc):
    _edit(
        arc,
        "UPDATE coverage SET state = 'done', message = NULL WHERE state = 'not_entitled' "
        "AND dataset = 'interactionSegments'",
    )
    assert _problems(arc)[0].startswith("coverage (interactionSegments interval 20250203")
    _edit(
        arc,
        "UPDATE coverage SET state = 'done', message = NULL WHERE state = 'failed' "
        "AND dataset = 'agentAux'",  # the chunk a page too wide for a table failed
    )
    assert any(p.startswith("coverage (agentAux interval 20250206") for p in _problems(arc))


@pytest.fixture
def conflicted(sim_factory, tmp_path) -> Path:
    """Genuine conflicts: the same rows served again with COMMIT_TS written `+00:00`."""
    sim = sim_factory()
    arc = tmp_path / "c.sqlite3"
    p = params(["queue"], "202502010000", "202502010045")
    assert pull(sim, arc, p).exit_code == 0
    sim.set_faults(commit_ts="offset")
    assert pull(sim, arc, p).exit_code == 0
    conn = sqlite3.connect(arc)
    assert conn.execute("SELECT count(*) FROM conflicts").fetchone()[0] > 0
    conn.close()
    return arc


def test_a_hidden_conflict_is_found(conflicted):
    assert verify_archive(conflicted).ok
    _edit(conflicted, "UPDATE records SET conflict = 0", "DELETE FROM conflicts")
    problems = _problems(conflicted)
    assert problems[0].startswith("conflicts (queue, its row 1): missing"), problems
    assert any("conflict is 0, the page shows 1" in p for p in problems), problems


def test_an_invented_conflict_is_found(part_of_a_day):
    _edit(part_of_a_day, "UPDATE records SET conflict = 1 WHERE record_id = 5")
    problems = _problems(part_of_a_day)
    assert any("record 5): conflict is 1, the page shows 0" in p for p in problems), problems


def test_schema_changes_hiding_a_column_is_found(part_of_a_day, tmp_path):
    arc = part_of_a_day
    conn = sqlite3.connect(arc)
    (current,) = conn.execute("SELECT current FROM schema_changes WHERE dataset='queue'").fetchone()
    conn.close()
    cols = [c for c in json.loads(current) if c["name"] != "WAITTIME"]
    _edit(arc, f"UPDATE schema_changes SET current = '{json.dumps(cols)}' WHERE dataset='queue'")
    n = archive_service.export_dataset(arc, "queue", "csv", tmp_path / "q.csv")
    header = (tmp_path / "q.csv").read_text(encoding="utf-8-sig").splitlines()[0].split(",")
    assert n and "WAITTIME" not in header  # the edit's effect
    assert _problems(arc)[0].startswith("schema_changes (queue, its row 1): current is ")


# -- quick -----------------------------------------------------------------------------------------
def test_quick_checks_chains_and_says_it_did_not_replay(part_of_a_day):
    _edit(part_of_a_day, "UPDATE records SET conflict = 1 WHERE record_id = 5")
    out = run_cli("verify-archive", "--archive", str(part_of_a_day), "--quick", "--read-only")
    assert out.returncode == 0, out.stdout
    assert out.stdout.startswith("OK (quick: chains and checksums only, nothing was replayed)")
    full = run_cli("verify-archive", "--archive", str(part_of_a_day), "--read-only")
    assert full.returncode == 1 and "conflict is 1" in full.stdout


# -- outcomes with evidence --------------------------------------------------------------------------
def test_a_refusal_is_archived_and_the_failure_has_its_entry(used):
    conn = sqlite3.connect(used)
    (body,) = conn.execute(
        "SELECT count(*) FROM pages WHERE http_status = 403 AND dataset = 'interactionSegments'"
    ).fetchone()
    assert body >= 1  # each 403 asked is archived; chunks not asked follow from them
    refused = conn.execute(
        "SELECT count(*) FROM coverage WHERE dataset='interactionSegments' AND state='not_entitled'"
    ).fetchone()[0]
    assert refused == 3
    (details,) = conn.execute(
        "SELECT details FROM audit_log WHERE event = 'chunk failed'"
    ).fetchone()
    conn.close()
    d = json.loads(details)
    assert d["dataset"] == "mpccdr" and "HTTP 500" in d["message"] and d["after_page"] > 0


def test_a_walk_whose_page_tokens_do_not_chain_is_found(sim_factory, tmp_path):
    """A chunk's pages are one walk only if each was asked with the token the one before it
    gave: a page in between removed (its records too, the chain recomputed by someone who
    knows the format) is found by the tokens, not only by the chain."""
    sim = sim_factory()
    arc = tmp_path / "w.sqlite3"
    assert (
        pull(sim, arc, params(["queue"], "202502010000", "202502010045", page_size=5)).exit_code
        == 0
    )
    assert verify_archive(arc).ok
    conn = sqlite3.connect(arc)
    (pid,) = conn.execute(
        "SELECT page_id FROM pages WHERE page_number = 2 ORDER BY page_id LIMIT 1"
    ).fetchone()
    conn.close()
    gone = f"SELECT record_id FROM records WHERE page_id = {pid}"
    _edit(
        arc,
        f"DELETE FROM vals_queue WHERE record_id IN ({gone})",
        f"DELETE FROM superseded WHERE record_id IN ({gone}) OR by_id IN ({gone})",
        f"DELETE FROM records WHERE page_id = {pid}",
        f"DELETE FROM pages WHERE page_id = {pid}",
    )
    problems = _problems(arc)
    assert any(
        f"page {pid + 1} (queue " in p and "its pages do not chain" in p for p in problems
    ), problems
