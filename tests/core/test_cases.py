"""Cases and legal holds (issue 19 §2, §3, §5): `archiver case …` and `archiver hold …`,
custody entries as the source of the case tables (the writer and verify-archive's replay
make them from the entries alike), refusals that change nothing, the question the
retention work asks (which holds cover this interaction, these records, this interval),
and the access log.

Real parts: archives pulled over HTTP from the simulator on 127.0.0.1 into real SQLite
files; the CLI runs in-process (tests/clitools.run_cli)."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from archiver.archive import cases as store
from archiver.archive.queries import cases as q
from archiver.archive.queries.reader import Reader
from archiver.archive.queries.review import ArchiveReader
from archiver.datasets import DATASET_NAMES
from archiver.services import cases
from archiver.simulator import SimConfig, Simulator
from tests.clitools import run_cli
from tests.pulltools import params, pull

#: its module fixtures are built once, on one xdist worker
pytestmark = pytest.mark.xdist_group("cases")

HOUR = ("202502010000", "202502010045")


def _copy(src: Path, dst: Path) -> Path:
    a, b = sqlite3.connect(src), sqlite3.connect(dst)
    with b:
        a.backup(b)
    a.close()
    b.close()
    return dst


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> Path:
    """Every dataset, one hour: read it, never write to it (tests use ``archive``)."""
    arc = tmp_path_factory.mktemp("cases") / "a.sqlite3"
    sim = Simulator(SimConfig(rows_per_interval=6))
    sim.start()
    try:
        pull(sim, arc, params(DATASET_NAMES, *HOUR, page_size=200))
    finally:
        sim.stop()
    return arc


@pytest.fixture
def archive(shared, tmp_path) -> Path:
    return _copy(shared, tmp_path / "a.sqlite3")


def _ids(arc: Path, dataset: str = "interactionSegments", n: int = 3) -> list[str]:
    conn = sqlite3.connect(arc)
    try:
        column = "WORKFLOWSESSION_INTERACTIONID" if dataset == "workflowTrace" else "INTERACTION_ID"
        return [
            r[0]
            for r in conn.execute(
                f"SELECT DISTINCT {column} FROM vals_{dataset} ORDER BY 1 LIMIT ?", (n,)
            )
        ]
    finally:
        conn.close()


def _events(arc: Path) -> list[tuple[str, dict]]:
    conn = sqlite3.connect(arc)
    try:
        return [
            (e, json.loads(d))
            for e, d in conn.execute("SELECT event, details FROM audit_log ORDER BY entry_id")
        ]
    finally:
        conn.close()


def _replay(arc: Path) -> list[str]:
    conn = sqlite3.connect(arc)
    try:
        return store.replay_check(conn)
    finally:
        conn.close()


def _case(arc: Path, *args: str):
    return run_cli("case", *args, "--archive", arc)


# -- the case's life ------------------------------------------------------------------------
def test_a_case_is_created_filled_shown_and_closed_from_the_command_line(archive):
    a, b, c = _ids(archive)
    out = _case(
        archive, "create", "Smith complaint", "--reason", "complaint 17", "--reference", "C-17"
    )
    assert out.code == 0, out.err
    assert "Case 'Smith complaint' created" in out.out
    assert (
        _case(archive, "add", "smith COMPLAINT", "--interaction", a, "--interaction", b).code == 0
    )
    listed = json.loads(_case(archive, "list", "--json").out)
    assert [
        (x["name"], x["state"], x["interactions"], x["reference"]) for x in listed["cases"]
    ] == [("Smith complaint", "open", 2, "C-17")]
    shown = json.loads(_case(archive, "show", "Smith complaint", "--json").out)["case"]
    assert {m["interaction"] for m in shown["interactions"]} == {a, b}
    member = shown["interactions"][0]
    assert member["added"] == "by hand" and member["added_by"] and member["added_at"]
    assert member["records"]["interactionSegments"] >= 1 and member["channel"]
    assert (
        _case(archive, "remove", "Smith complaint", "--interaction", b, "--reason", "not hers").code
        == 0
    )
    closed = _case(archive, "close", "Smith complaint", "--reason", "answered")
    assert closed.code == 0 and "can no longer change" in closed.out
    refused = _case(archive, "add", "Smith complaint", "--interaction", c)
    assert refused.code == 1 and "closed" in refused.err
    events = [e for e, _ in _events(archive)]
    assert [e for e in events if e.startswith("case")] == [
        "case created",
        "case changed",
        "case changed",
        "case closed",
    ]
    with Reader(archive) as r:
        d = q.case_detail(r, "Smith complaint")
    assert d is not None and d.ids == [a] and d.summary.closed_reason == "answered"
    assert [e.event for e in d.history] == [
        "case created",
        "case changed",
        "interaction opened",
        "case changed",
        "case closed",
    ]
    assert _replay(archive) == []


def test_what_makes_no_sense_is_refused_and_changes_nothing(archive):
    a, _b, _ = _ids(archive)
    assert _case(archive, "create", "One", "--reason", "r").code == 0
    before = _events(archive)
    twice = _case(archive, "create", "ONE", "--reason", "again")
    assert twice.code == 1 and "exists already" in twice.err
    unknown = _case(
        archive,
        "add",
        "One",
        "--interaction",
        "no-such-id",
        "--interaction",
        a,
        "--interaction",
        "other-id",
    )
    assert unknown.code == 1
    assert (
        "no-such-id" in unknown.err
        and "other-id" in unknown.err
        and "Nothing was added" in unknown.err
    )
    assert _case(archive, "add", "Nobody", "--interaction", a).code == 1
    assert _case(archive, "remove", "One", "--interaction", a).code == 1  # not in it
    assert _case(archive, "create", "  ", "--reason", "r").code == 2
    assert _case(archive, "create", "Two", "--reason", " ").code == 2
    assert run_cli("case", "add", "One", "--archive", archive).code == 2  # neither flag
    assert _case(archive, "add", "One", "--interaction", a, "--from", "20250201").code == 2
    assert _events(archive) == before  # nothing written by any of them
    assert _case(archive, "add", "One", "--interaction", a).code == 0
    again = _case(archive, "add", "One", "--interaction", a)
    assert again.code == 3 and "already" in again.out
    assert _case(archive, "show", "Nobody").code == 1
    missing = run_cli("case", "list", "--archive", archive.with_name("nope.sqlite3"))
    assert missing.code == 2 and not archive.with_name("nope.sqlite3").exists()


def test_adding_by_search_records_the_search_with_each_interaction(archive):
    assert _case(archive, "create", "Bonjour", "--reason", "French chats").code == 0
    out = _case(
        archive, "add", "Bonjour", "--search", "Bonjour", "--from", HOUR[0], "--to", HOUR[1]
    )
    assert out.code == 0, out.err
    assert "found by the search 'Bonjour'" in out.out
    with Reader(archive) as r:
        d = q.case_detail(r, "bonjour")
    assert d is not None and d.members and len(d.searches) == 1
    s = d.searches[0]
    assert s.query == "Bonjour" and s.hits >= s.found == s.added == len(d.members)
    assert s.range.startswith("2025-02-01 00:00") and s.first and s.last
    assert all(m.search == s for m in d.members)
    # the search itself is in the access log, before the change that records it
    events = _events(archive)
    search = [i for i, (e, dd) in enumerate(events) if e == "search" and dd["query"] == "Bonjour"]
    change = [i for i, (e, _) in enumerate(events) if e == "case changed"]
    assert search and change and search[-1] < change[-1]
    # the same search again adds nothing new (exit 3); a query that cannot be read is usage
    same = _case(
        archive, "add", "Bonjour", "--search", "Bonjour", "--from", HOUR[0], "--to", HOUR[1]
    )
    assert same.code == 3 and "all in case 'Bonjour' already" in same.out
    bad = _case(archive, "add", "Bonjour", "--search", "Bonjour OR")
    assert bad.code == 2 and "position" in bad.err
    nothing = _case(archive, "add", "Bonjour", "--search", "zzzqqqxxx")
    assert nothing.code == 3 and "found no interaction" in nothing.out
    assert _replay(archive) == []


def test_an_interaction_known_only_by_its_workflow_trace_or_transcript_can_be_added(archive):
    trace_only = _ids(archive, "workflowTrace", 1)[0]
    message = _ids(archive, "transcript", 1)[0]
    assert _case(archive, "create", "T", "--reason", "r").code == 0
    assert (
        _case(archive, "add", "T", "--interaction", trace_only, "--interaction", message).code == 0
    )


# -- holds -----------------------------------------------------------------------------------
def test_a_hold_covers_the_cases_interactions_records_and_intervals_naming_the_case(archive):
    a, b, c = _ids(archive)
    _case(archive, "create", "Held", "--reason", "litigation")
    _case(archive, "add", "Held", "--interaction", a, "--interaction", b)
    placed = run_cli("hold", "place", "Held", "--reason", "court order 4", "--archive", archive)
    assert placed.code == 0, placed.err
    assert cases.holds_on_interactions(archive, [a, b, c]).keys() == {a, b}
    shown = json.loads(_case(archive, "show", "Held", "--json").out)["case"]
    assert [m["held_by"] for m in shown["interactions"]] == [["Held"], ["Held"]]
    assert "[LEGAL HOLD: Held]" in _case(archive, "show", "Held").out
    hold = cases.holds_on_interactions(archive, [a])[a][0]
    assert hold.case == "Held" and hold.reason == "court order 4" and hold.in_place
    conn = sqlite3.connect(archive)
    records = {
        ds: [r[0] for r in conn.execute(f"SELECT record_id FROM vals_{ds} WHERE {col} = ?", (a,))]
        for ds, col in (
            ("interactionSegments", "INTERACTION_ID"),
            ("workflowTrace", "WORKFLOWSESSION_INTERACTIONID"),
        )
    }
    other = conn.execute(
        "SELECT record_id FROM vals_interactionSegments WHERE INTERACTION_ID = ?", (c,)
    ).fetchone()[0]
    agent = conn.execute("SELECT record_id FROM vals_agent LIMIT 1").fetchone()[0]
    interval = conn.execute(
        "SELECT r.interval_start FROM records r JOIN vals_interactionSegments v USING (record_id) WHERE v.INTERACTION_ID = ?",
        (a,),
    ).fetchone()[0]
    conn.close()
    held = cases.holds_on_records(
        archive, [*records["interactionSegments"], *records["workflowTrace"], other, agent]
    )
    assert set(held) == {*records["interactionSegments"], *records["workflowTrace"]}
    t = datetime.strptime(interval, "%Y%m%d%H%M").replace(tzinfo=UTC)
    covers = cases.holds_in_interval(archive, t, t)
    assert a in {c.interaction for c in covers}
    assert all(c.hold.case == "Held" for c in covers)
    assert (
        cases.holds_in_interval(
            archive, datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC)
        )
        == []
    )
    with pytest.raises(cases.Held, match="Held"):
        cases.refuse_if_held(archive, interactions=[c, a])
    with pytest.raises(cases.Held, match="record"):
        cases.refuse_if_held(archive, records=records["interactionSegments"])
    with pytest.raises(cases.Held):
        cases.refuse_if_held(archive, interval=(t, t))
    cases.refuse_if_held(archive, interactions=[c], records=[other, agent])  # not held
    # a held case keeps its interactions, refuses a second hold and cannot be closed
    assert _case(archive, "remove", "Held", "--interaction", a).code == 1
    assert run_cli("hold", "place", "Held", "--reason", "x", "--archive", archive).code == 1
    closing = _case(archive, "close", "Held")
    assert closing.code == 1 and "hold release" in closing.err
    # an interaction added while held is held at once
    _case(archive, "add", "Held", "--interaction", c)
    assert c in cases.held_interactions(archive)
    released = run_cli("hold", "release", "Held", "--reason", "settled", "--archive", archive)
    assert released.code == 0
    assert cases.held_interactions(archive) == {}
    assert run_cli("hold", "release", "Held", "--reason", "again", "--archive", archive).code == 1
    assert _case(archive, "remove", "Held", "--interaction", a).code == 0
    with Reader(archive) as r:
        hs = q.holds(r)
    assert [(h.reason, h.released_reason) for h in hs] == [("court order 4", "settled")]
    assert _replay(archive) == []


# -- the replay ------------------------------------------------------------------------------
def _busy_case(arc: Path) -> None:
    a, b, c = _ids(arc)
    _case(arc, "create", "Replayed", "--reason", "r", "--reference", "X-1")
    _case(arc, "add", "Replayed", "--interaction", a, "--interaction", b)
    _case(arc, "add", "Replayed", "--search", "Bonjour")
    run_cli("hold", "place", "Replayed", "--reason", "hold", "--archive", arc)
    run_cli("hold", "release", "Replayed", "--reason", "done", "--archive", arc)
    _case(arc, "remove", "Replayed", "--interaction", a)
    _case(arc, "create", "Closed", "--reason", "r")
    _case(arc, "add", "Closed", "--interaction", c)
    _case(arc, "close", "Closed")


@pytest.mark.parametrize(
    "edit,words",
    [
        (
            "UPDATE case_interactions SET added_by = 'mallory' WHERE rowid = 1",
            "added_by is 'mallory'",
        ),
        ("DELETE FROM case_interactions WHERE rowid = 1", "missing (its audit entries state it)"),
        (
            "INSERT INTO case_interactions VALUES ('Replayed', 'forged', 1, 'x', 'y', NULL)",
            "case_interactions (Replayed, forged): no audit entry states this row",
        ),
        ("UPDATE cases SET closed_at = NULL, closed_entry = NULL WHERE name = 'Closed'", "closed_"),
        ("UPDATE case_holds SET released_entry = NULL", "released_entry"),
        ("UPDATE case_searches SET hits = 0", "hits is 0"),
        ("UPDATE cases SET reason = 'other' WHERE name = 'Replayed'", "reason is 'other'"),
    ],
)
def test_the_replay_makes_every_case_row_again_from_the_entries(archive, edit, words):
    _busy_case(archive)
    assert _replay(archive) == []
    conn = sqlite3.connect(archive)
    conn.execute(edit)
    conn.commit()
    found = store.replay_check(conn)
    conn.close()
    assert found and any(words in f for f in found), found


def test_the_replay_reports_an_entry_the_rule_forbids():
    e = store.Entry
    forged = [
        e(1, "2025-01-01T00:00:00Z", "case created", "u", {"case": "A", "reason": "r"}),
        e(2, "2025-01-01T00:01:00Z", "case closed", "u", {"case": "A"}),
        e(
            3,
            "2025-01-01T00:02:00Z",
            "case changed",
            "u",
            {"case": "a", "change": "added", "interactions": ["x"]},
        ),
        e(4, "2025-01-01T00:03:00Z", "case created", "u", {"case": "a", "reason": "r"}),
    ]
    state, problems = store.fold(forged)
    assert [p.split(" (")[0] for p in problems] == ["audit entry 3", "audit entry 4"]
    assert "closed" in problems[0] and "exists already" in problems[1]
    assert state.get("A") is not None and not state.get("A").members


def test_case_tables_are_only_those_the_registry_names(archive):
    """Everything the case work adds to an archive is its four tables (and their index),
    classified in archive/cases.TABLES for verify-archive's registry."""
    conn = sqlite3.connect(archive)
    before = {
        n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table','view')")
    }
    conn.close()
    _busy_case(archive)
    conn = sqlite3.connect(archive)
    after = {
        n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table','view')")
    }
    conn.close()
    assert after - before == set(store.TABLES)
    assert all(kind == "replayed" for kind, _ in store.TABLES.values())


def test_an_archive_without_cases_has_none_and_replays_clean(shared):
    with Reader(shared) as r:
        assert q.case_list(r) == [] and q.held_interactions(r) == {} and q.holds(r) == []
    conn = sqlite3.connect(shared)
    assert store.replay_check(conn) == []
    conn.close()


# -- the access log --------------------------------------------------------------------------
def test_who_looked_at_an_interaction_and_when_is_answered_by_the_audit_log(archive):
    a, b, _ = _ids(archive)
    conn = sqlite3.connect(archive)
    (phone,) = conn.execute(
        "SELECT SOURCE_PHONE_NUMBER FROM vals_interactionSegments WHERE SOURCE_PHONE_NUMBER != '' LIMIT 1"
    ).fetchone()
    conn.close()
    run_cli("search", f"interaction:{a}", "--archive", archive)
    run_cli("search", f"phone:{phone}", "--archive", archive)
    _case(archive, "create", "Look", "--reason", "r")
    _case(archive, "add", "Look", "--interaction", a)
    shown = _case(archive, "show", "Look")
    assert shown.code == 0 and a in shown.out
    events = _events(archive)
    opened = [d for e, d in events if e == "interaction opened"]
    assert opened and opened[-1]["interactions"] == [a] and opened[-1]["case"] == "Look"
    with ArchiveReader(archive) as r:
        about = q.entries_about(r, a)
        entries = {e.entry_id: e for e in r.audit_log()}
        assert q.entries_about(r, b) == []
        assert [entries[i].event for i in q.entries_about(r, phone)] == ["search"]
        assert q.entries_about(r, a, ["interaction opened"]) == about[:1]
        assert q.entry_ids(r, ["search"])
    kinds = [entries[i].event for i in about]
    assert kinds == ["interaction opened", "case changed", "case created", "search"]
    assert all(entries[i].os_user and entries[i].at for i in about)


def test_the_audit_summaries_say_what_each_case_entry_did(archive):
    from archiver.archive.auditlog import summarise

    _busy_case(archive)
    lines = [summarise(e, d) for e, d in _events(archive) if e.startswith(("case", "hold"))]
    assert "case 'Replayed' opened: r (reference X-1)" in lines
    assert any("added to case 'Replayed' by hand" in x for x in lines)
    assert any("found by the search 'Bonjour'" in x for x in lines)
    assert "legal hold on case 'Replayed' released: done" in lines
    assert "case 'Closed' closed" in lines


@pytest.mark.parametrize(
    "edit,words",
    [
        ("UPDATE case_holds SET released_entry = NULL", "released_entry"),
        (
            "UPDATE case_holds SET released_entry = NULL, released_at = NULL, "
            "released_by = NULL, released_reason = NULL",
            "case_holds",
        ),
        ("DELETE FROM case_holds", "case_holds"),
        (
            "DELETE FROM case_interactions WHERE rowid = (SELECT min(rowid) FROM case_interactions)",
            "missing (its audit entries state it)",
        ),
        ("DROP TABLE case_holds", "the case tables are missing"),
        ("UPDATE cases SET name = 'Other' WHERE name = 'Closed'", "cases"),
    ],
)
def test_verify_archive_fails_an_edited_case_or_hold_table(archive, edit, words):
    """verify-archive itself (not only the replay function) re-derives the case tables from
    the audit entries: a hold released or removed by SQL, a member taken out, fails it."""
    _busy_case(archive)
    run_cli("hold", "place", "Replayed", "--reason", "again", "--archive", archive)
    assert run_cli("verify-archive", "--archive", archive).code == 0
    conn = sqlite3.connect(archive)
    conn.executescript(edit)
    conn.commit()
    conn.close()
    out = run_cli("verify-archive", "--archive", archive)
    assert out.code == 1, out.out + out.err
    assert words in out.out + out.err


def test_json_commands_print_one_json_document_when_they_fail_too(archive, tmp_path):
    """`case show --json` and `case list --json` print one JSON document whatever happens,
    as `archiver search --json` does: a script reading stdout gets the error and the code."""
    for args, code in (
        (("case", "show", "Nobody", "--json", "--archive", archive), 1),
        (("case", "show", "", "--json", "--archive", archive), 2),
        (("case", "list", "--json", "--archive", tmp_path / "none.sqlite3"), 2),
    ):
        out = run_cli(*args)
        assert out.code == code, out.err
        doc = json.loads(out.out)
        assert doc["exit_code"] == code and doc["ok"] is False and doc["error"], doc
        assert doc["error"] in out.err
