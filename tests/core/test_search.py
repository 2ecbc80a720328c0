"""Full-text search (issue 19 §1): the query language, the column rule on every dataset the
simulator serves in every reading, the index kept by pulls and rebuilt, grouped hits,
`archiver search` and `archiver index rebuild`, the access log, verify-archive's check.

Real parts: archives are pulled over HTTP from the simulator on 127.0.0.1 into real SQLite
files; the CLI runs in-process (tests/clitools.run_cli)."""

from __future__ import annotations

import json
import random
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from archiver.api.pages import Page
from archiver.archive import searchindex, values
from archiver.archive.queries import search as q
from archiver.archive.queries.reader import Reader
from archiver.archive.searchfields import BOOKKEEPING, classify
from archiver.archive.store import Archive
from archiver.datasets import DATASET_NAMES, DATASETS
from archiver.searchquery import MAX_NESTING, And, Not, Or, QueryError, Term, parse
from archiver.services import search as searching
from archiver.simulator import SimConfig, Simulator
from archiver.system import lock as locks
from archiver.timerange import Chunk
from tests.clitools import run_cli
from tests.pulltools import params, pull

#: its module fixtures are built once, on one xdist worker
pytestmark = pytest.mark.xdist_group("search")

HOUR = ("202502010000", "202502010045")


def _pull(arc: Path, start: str = HOUR[0], end: str = HOUR[1], **cfg) -> Path:
    sim = Simulator(SimConfig(rows_per_interval=cfg.pop("rows_per_interval", 8), **cfg))
    sim.start()
    try:
        pull(sim, arc, params(DATASET_NAMES, start, end, page_size=200))
    finally:
        sim.stop()
    return arc


def _copy(src: Path, dst: Path) -> Path:
    a, b = sqlite3.connect(src), sqlite3.connect(dst)
    with b:
        a.backup(b)
    a.close()
    b.close()
    return dst


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> Path:
    """Every dataset, one hour, default reading: read it, never write to it (a search
    writes its audit entry: tests that search use ``archive``, a copy)."""
    return _pull(tmp_path_factory.mktemp("search") / "a.sqlite3")


@pytest.fixture
def archive(shared, tmp_path) -> Path:
    return _copy(shared, tmp_path / "a.sqlite3")


def _values(arc: Path, dataset: str, column: str) -> list[tuple[int, str]]:
    conn = sqlite3.connect(arc)
    try:
        return conn.execute(
            f"SELECT record_id, {values.quote(column)} FROM {values.table(dataset)}"
        ).fetchall()
    finally:
        conn.close()


def _hits(arc: Path, text: str, **kw) -> q.Found:
    with Reader(arc) as r:
        return q.search(r, parse(text), **kw)


def _record_ids(found: q.Found) -> set[int]:
    return {rid for h in found.hits for _d, rid in h.records}


# -- the query language -------------------------------------------------------------------
def test_query_language_reads_words_phrases_prefixes_fields_and_operators():
    query = parse('refund "call me back" cancel* agent:José AND (a OR b) NOT c')
    assert isinstance(query.expr, And)
    items = query.expr.items
    assert items[0] == Term("refund", None, False, False, 0)
    assert items[1] == Term("call me back", None, False, True, 7)
    assert items[2] == Term("cancel", None, True, False, 22)
    assert items[3].field == "agent" and items[3].text == "José"
    assert isinstance(items[4], Or)
    assert isinstance(items[5], Not) and items[5].item == Term("c", None, False, False, 58)
    phone = parse('phone:"+1 (555) 010-0100"').expr
    assert phone == Term("15550100100", "phone", False, True, 0)
    assert parse("dataset:InteractionSegments").expr.text == "interactionSegments"
    ranged = parse("x date:2025-03-01..2025-03-31")
    assert ranged.first == datetime(2025, 3, 1, tzinfo=UTC)
    assert ranged.last == datetime(2025, 3, 31, 23, 45, tzinfo=UTC)
    assert parse("refund and cancel").expr.items[1].text == "and"  # lower case: a word


@pytest.mark.parametrize(
    "text,position,words",
    [
        ("", 0, "empty"),
        ("   ", 0, "empty"),
        ("refund OR", 7, "nothing on its right"),
        ("OR refund", 0, "nothing on its left"),
        ("refund AND", 7, "nothing on its right"),
        ("a AND AND b", 2, "nothing on its right"),
        ("(refund", 0, "not closed"),
        ("refund)", 6, "closes no"),
        ('say "hello', 4, "no closing quote"),
        ("agnet:x", 0, "Did you mean agent:"),
        ("agent: x", 0, "needs a value"),
        ("x*y", 1, "only ends a word"),
        ("@@", 0, "no letter or digit"),
        ("NOT refund", 0, "NOT only takes away"),
        ("a OR NOT b", 5, "NOT only takes away"),
        ("phone:abc", 6, "digits"),
        ("dataset:segmentz", 8, "Unknown dataset"),
        ("x date:2025-13-01", 7, "not a date"),
        ("x date:2025-03-02..2025-03-01", 7, "ends before it starts"),
        ("x OR date:2025-03-01", 5, "whole query"),
        ('"a"b', 3, "space after"),
    ],
)
def test_a_malformed_query_is_our_error_with_the_position(text, position, words):
    with pytest.raises(QueryError) as caught:
        parse(text)
    assert caught.value.position == position, caught.value
    assert words in caught.value.message
    assert caught.value.pointer().splitlines()[1] == " " * position + "^"


def test_user_text_never_reaches_the_index_raw(archive):
    """FTS5 syntax typed by a person is searched as words: no SQLite error, ever."""
    for text in (
        "NEAR(refund cancel)",
        "refund^",
        "{TRANSCRIPT_TEXT}: bonjour",
        "TRANSCRIPT_TEXT:bonjour",
        '" OR "',
        "-refund",
        "refund +cancel",
        "'; DROP TABLE records; --",
        "col : x",
        "x:",
        "*",
        "a**",
    ):
        try:
            found = _hits(archive, text)
        except QueryError:
            continue
        assert isinstance(found, q.Found)
    rnd = random.Random(19)
    alphabet = "abc \"()*:-+^{}NOTANDOR '\\é返金0123"
    for _ in range(400):
        text = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 14)))
        try:
            query = parse(text)
        except QueryError as exc:
            assert 0 <= exc.position <= len(text)
            continue
        with Reader(archive) as r:
            q.search(r, query)  # no sqlite3.Error escapes


def test_a_deeply_nested_query_is_our_error_never_the_indexs(archive):
    """Parentheses and NOT nest only so deep: deeper is our error at the level too deep,
    never FTS5's "parser stack overflow" (an SQLite error passed to the user) nor a
    RecursionError; every query as deep as allowed runs in the index."""
    shapes = [
        "(refund OR {})",
        "(refund {})",
        "(refund NOT {})",
        "(refund NOT (Bonjour OR {}))",
        "(text:refund OR agent:x* {})",
        "NOT {}",
    ]
    for shape in shapes:
        for depth in (MAX_NESTING + 1, 30, 60):
            text = "request " + _nest(shape, depth)
            with pytest.raises(QueryError) as caught:
                parse(text)
            assert "nested" in caught.value.message
            assert text[caught.value.position] in "(N"
        levels = shape.count("(") + shape.count("NOT")
        deepest = "request " + _nest(shape, MAX_NESTING // levels)
        with Reader(archive) as r:
            q.search(r, parse(deepest))  # no sqlite3.Error escapes
    for text in (
        "refund " + "NOT " * MAX_NESTING + "cancel",
        "(" * MAX_NESTING + "x" + ")" * MAX_NESTING,
    ):
        with Reader(archive) as r:
            q.search(r, parse(text))
    with pytest.raises(QueryError, match="nested"):
        parse("(" * 990 + "x" + ")" * 990)  # as deep as the longest query can be
    out = run_cli("search", "(" * 300 + "refund" + ")" * 300, "--archive", archive)
    assert out.code == 2 and "nested" in out.err and "fts5" not in out.err, out.err


def _nest(shape: str, depth: int) -> str:
    text = "x"
    for _ in range(depth):
        text = shape.format(text)
    return text


def test_a_query_of_only_nots_is_refused_however_grouped():
    """'NOT a (NOT b NOT c)' looks for nothing, as 'NOT a NOT b' does: refused, not a list
    of nearly everything."""
    for text, position in (
        ("NOT refund (NOT cancel NOT x)", 12),
        ("(NOT refund) (NOT cancel)", 1),
        ("NOT a (NOT b OR NOT c)", 7),
        ("(x OR NOT y) NOT z", 6),
    ):
        with pytest.raises(QueryError) as caught:
            parse(text)
        assert "NOT only takes away" in caught.value.message
        assert caught.value.position == position, (text, caught.value.position)
    for text in ("NOT a (b NOT c)", "(a OR b) NOT c", "NOT a (b OR (c NOT d))"):
        parse(text)


# -- which columns are indexed, and as what -----------------------------------------------
#: what the rule decides for the columns an investigator looks for (the rest: text or not)
EXPECTED = {
    ("transcript", "TRANSCRIPT_TEXT"): "text",
    ("transcript", "INTERACTION_ID"): "interaction",
    ("transcript", "AGENT_ID"): "agent",
    ("transcript", "CHANNEL"): "channel",
    ("transcript", "TRANSCRIPT_ID"): "id",
    ("interactionSegments", "INTERACTION_ID"): "interaction",
    ("interactionSegments", "SOURCE_PHONE_NUMBER"): "phone",
    ("interactionSegments", "SOURCE_EMAIL"): "email",
    ("interactionSegments", "FIRST_LAST_NAME"): "text",
    ("interactionSegments", "INTERACTION_NOTES"): "text",
    ("interactionSegments", "COMPLETION_DISPLAY_NAME"): "text",
    ("interactionSegments", "QUEUE_NAME"): "queue",
    ("interactionSegments", "QUEUE_ID"): "queue",
    ("interactionSegments", "USER_ID"): "agent",
    ("interactionSegments", "COMM_TYPE"): "channel",
    ("interactionSegments", "INTERACTION_SEGMENT_ID"): "id",
    ("workflowTrace", "WORKFLOWSESSION_INTERACTIONID"): "interaction",
    ("workflowTrace", "UPDATEHISTORYITEM_PROMPT"): "text",
    ("workflowTrace", "UPDATEHISTORYITEM_LABEL"): "text",
    ("workflowTrace", "WORKFLOWSESSION_CHANNELTYPE"): "channel",
    ("workflowTrace", "WORKFLOWSESSION_ID"): "id",
    ("workflowTrace", "WORKFLOWSESSION_WORKFLOWVERSIONNUMBER"): "",
    ("workflowTrace", "FORMATTED_HISTORYITEM_DURATION"): "",
    ("mpccdr", "INTERACTION_ID"): "interaction",
    ("mpccdr", "CALLING_NUMBER"): "phone",
    ("mpccdr", "CALLED_NUMBER"): "phone",
    ("mpccdr", "CALL_ID"): "id",
    ("mpccdr", "DISCONNECT_REASON"): "text",
    ("agent", "AGENT_ID"): "agent",
    ("agent", "AGENT_NAME"): "agent",
    ("agent", "AGENT_EMAIL"): "email",
    ("agent", "CHANNEL"): "channel",
    ("queue", "QUEUE_NAME"): "queue",
    ("agentAux", "STATUS"): "text",
    ("agentAux", "AGENT_TAGS"): "text",
    ("agentByQueue", "QUEUE_ID"): "queue",
    ("agentLoginSessions", "LOGOUT_REASON"): "text",
    ("agentLoginSessions", "STATION_ID"): "id",
    ("agentLoginLogoutByQueue", "SESSION_ID"): "id",
    ("cxAgentLoginLogout", "USER_ID"): "agent",
    ("cxAgentLoginLogout", "ID"): "id",
    ("cxAgentLoginLogout", "STATUS"): "text",
    ("clientSessions", "AGENT_ID"): "agent",
    ("clientSessions", "BROWSER"): "text",
    ("workflow", "WORKFLOW_NAME"): "text",
    ("workflow", "WORKFLOW_ID"): "id",
}

READINGS = {
    "default": {},
    "one row per message (shared ids)": {"shared_ids": True},
    "no ROW_ID": {"omit_row_id": tuple(DATASET_NAMES)},
    "exclusive ending": {"ending": "exclusive"},
}


@pytest.mark.parametrize("reading", list(READINGS))
def test_the_rule_on_every_dataset_the_simulator_serves(tmp_path, reading):
    """Every column of every dataset is decided; the columns an investigator looks for are
    in their field; numbers, times and the pipeline's bookkeeping are not indexed; each
    index holds exactly what its values say (verify-archive's check finds nothing)."""
    arc = _pull(tmp_path / "a.sqlite3", **READINGS[reading])
    conn = sqlite3.connect(arc)
    try:
        for dataset in DATASET_NAMES:
            decided = {d.column: d.field for d in searchindex.decisions(conn, dataset)}
            assert set(decided) == set(values.table_columns(conn, dataset)), dataset
            types = dict(DATASETS[dataset].columns)
            for column, field in decided.items():
                if types.get(column, "string") != "string" or column in BOOKKEEPING:
                    assert field == "", (dataset, column, field)
                want = EXPECTED.get((dataset, column))
                if want is not None:
                    assert field == want, (dataset, column, field)
            assert searchindex.state(conn, dataset).ready, dataset
        assert searchindex.check(conn) == []
    finally:
        conn.close()
    found = _hits(arc, "dataset:transcript")
    assert found.records == len(_values(arc, "transcript", "TRANSCRIPT_TEXT"))


def test_the_rule_reads_names_and_values():
    assert classify("x", "CALLBACK_NUMBER", "string", ["+1 555 010 0100", ""]) == "phone"
    assert classify("x", "VERSION_NUMBER", "string", ["1.0", "2.3"]) == ""
    assert classify("x", "PAGE_NUMBER", "string", ["12"]) == ""
    assert classify("x", "CUSTOMER_PHONE", "string", []) == "phone"
    assert classify("x", "CONTACT", "string", ["a@b.example", "c@d.example"]) == "email"
    assert classify("x", "CONTACT", "string", ["+15550100100"]) == "phone"
    assert classify("x", "AGENT_EMAIL", "string", ["not an address"]) == "text"
    assert classify("x", "REFERENCE", "string", ["ORD-1234567", "ORD-7654321"]) == "id"
    assert classify("x", "STARTED", "string", ["2025-02-01T10:00:00Z"]) == ""
    assert classify("x", "COUNT", "number", ["3"]) == ""
    assert classify("x", "DISPOSITION", "string", ["Resolved", "Follow up"]) == "text"
    assert classify("x", "COMMIT_TS", "string", ["anything"]) == ""


# -- searching ---------------------------------------------------------------------------
def _an_interaction(arc: Path) -> str:
    """An interaction with segments, trace steps and a transcript."""
    conn = sqlite3.connect(arc)
    try:
        return conn.execute(
            """SELECT s.INTERACTION_ID FROM vals_interactionSegments s
               JOIN vals_transcript t ON t.INTERACTION_ID = s.INTERACTION_ID
               JOIN vals_workflowTrace w ON w.WORKFLOWSESSION_INTERACTIONID = s.INTERACTION_ID
               LIMIT 1"""
        ).fetchone()[0]
    finally:
        conn.close()


def test_an_interactions_records_are_one_hit(shared):
    iid = _an_interaction(shared)
    found = _hits(shared, f"interaction:{iid}")
    assert [h.interaction for h in found.hits] == [iid]
    conn = sqlite3.connect(shared)
    try:
        expected = {
            (d, rid)
            for d, col in (
                ("interactionSegments", "INTERACTION_ID"),
                ("workflowTrace", "WORKFLOWSESSION_INTERACTIONID"),
                ("transcript", "INTERACTION_ID"),
                ("mpccdr", "INTERACTION_ID"),
            )
            for (rid,) in conn.execute(f"SELECT record_id FROM vals_{d} WHERE {col}=?", (iid,))
        }
    finally:
        conn.close()
    assert set(found.hits[0].records) == expected
    assert {"interactionSegments", "workflowTrace", "transcript"} <= set(found.hits[0].datasets)
    prefix = _hits(shared, f"interaction:{iid[:-3]}*")
    assert iid in {h.interaction for h in prefix.hits}


def test_hits_are_newest_first_and_records_without_interactions_stand_alone(shared):
    found = _hits(shared, "dataset:agent OR dataset:transcript")
    newest = [h.newest for h in found.hits]
    assert newest == sorted(newest, reverse=True)
    agents = [h for h in found.hits if h.datasets == ("agent",)]
    assert agents and all(h.interaction is None and len(h.records) == 1 for h in agents)
    assert found.records == len(_values(shared, "agent", "ROW_ID")) + len(
        _values(shared, "transcript", "ROW_ID")
    )


def test_fields_find_what_they_name(shared):
    conn = sqlite3.connect(shared)
    phone, email, iid_p, iid_e = conn.execute(
        """SELECT p.SOURCE_PHONE_NUMBER, e.SOURCE_EMAIL, p.INTERACTION_ID, e.INTERACTION_ID
           FROM vals_interactionSegments p, vals_interactionSegments e
           WHERE p.SOURCE_PHONE_NUMBER != '' AND e.SOURCE_EMAIL != '' LIMIT 1"""
    ).fetchone()
    agent_id, agent_name = conn.execute(
        "SELECT AGENT_ID, AGENT_NAME FROM vals_agent WHERE AGENT_NAME LIKE '% %' LIMIT 1"
    ).fetchone()
    conn.close()
    digits = phone.lstrip("+")
    spaced = f"+{digits[0]} {digits[1:4]} {digits[4:7]} {digits[7:]}"
    assert iid_p in {h.interaction for h in _hits(shared, f'phone:"{spaced}"').hits}
    assert iid_p in {h.interaction for h in _hits(shared, f"phone:{digits[:6]}*").hits}
    assert iid_e in {h.interaction for h in _hits(shared, f"email:{email}").hits}
    assert _hits(shared, f"phone:{digits}").hits == _hits(shared, f'phone:"{spaced}"').hits
    by_name = _hits(shared, f'agent:"{agent_name}"')
    assert any(h.datasets == ("agent",) for h in by_name.hits)
    folded = agent_name.encode("ascii", "ignore").decode() == agent_name
    if not folded:  # accents are ignored: José finds Jose and the other way round
        import unicodedata

        plain = "".join(
            c for c in unicodedata.normalize("NFD", agent_name) if not unicodedata.combining(c)
        )
        assert _record_ids(_hits(shared, f'agent:"{plain}"')) == _record_ids(by_name)
    by_id = _hits(shared, f"agent:{agent_id}")
    assert {"agent", "interactionSegments"} <= {d for h in by_id.hits for d in h.datasets}
    # a field a dataset lacks matches nothing in it; an unqualified word matches any column
    assert not any("agent" in h.datasets for h in _hits(shared, f"phone:{digits}").hits)
    assert _record_ids(_hits(shared, f"agent:{agent_id}")) <= _record_ids(_hits(shared, agent_id))
    chats = _hits(shared, "channel:chat dataset:transcript")
    assert chats.hits and all(h.datasets == ("transcript",) for h in chats.hits)


def test_and_or_not_and_phrases(shared):
    a = _record_ids(_hits(shared, "Bonjour"))
    b = _record_ids(_hits(shared, "Done"))
    assert a and b
    assert _record_ids(_hits(shared, "Bonjour OR Done")) == a | b
    assert _record_ids(_hits(shared, "Bonjour Done")) == a & b
    assert _record_ids(_hits(shared, "Bonjour AND Done")) == a & b
    assert _record_ids(_hits(shared, "Bonjour NOT Done")) == a - b
    phrase = _record_ids(_hits(shared, '"anything else"'))
    assert phrase and phrase <= _record_ids(_hits(shared, "anything else"))
    assert _record_ids(_hits(shared, "bonj*")) >= a
    agents = _record_ids(_hits(shared, "dataset:agent"))
    assert _record_ids(_hits(shared, "dataset:agent NOT channel:phone")) < agents


def test_a_utc_range_limits_the_records(shared):
    everything = _hits(shared, "dataset:interactionSegments")
    first = datetime(2025, 2, 1, 0, 15, tzinfo=UTC)
    last = datetime(2025, 2, 1, 0, 30, tzinfo=UTC)
    part = _hits(shared, "dataset:interactionSegments", first=first, last=last)
    assert 0 < part.records < everything.records
    assert {h.newest for h in part.hits} <= {"202502010015", "202502010030"}
    same = _hits(shared, "dataset:interactionSegments date:202502010015..202502010030")
    assert same.hits == part.hits


def test_every_version_is_searched_and_said_so(tmp_path):
    arc = tmp_path / "a.sqlite3"
    sim = Simulator(SimConfig(rows_per_interval=6))
    sim.start()
    try:
        p = params(["interactionSegments"], HOUR[0], HOUR[1], page_size=200)
        pull(sim, arc, p)
        sim.late_update(["interactionSegments"], 0.5)
        pull(sim, arc, p)
    finally:
        sim.stop()
    conn = sqlite3.connect(arc)
    old, new = conn.execute("SELECT record_id, by_id FROM superseded LIMIT 1").fetchone()
    segment = conn.execute(
        "SELECT INTERACTION_SEGMENT_ID FROM vals_interactionSegments WHERE record_id=?", (old,)
    ).fetchone()[0]
    conn.close()
    found = _hits(arc, f"id:{segment}")
    assert {old, new} <= _record_ids(found)
    with Reader(arc) as r:
        shown = q.snippets(r, parse(f"id:{segment}"), [("interactionSegments", old)], ("<", ">"))
    assert shown[0].superseded and f"<{segment}>" in shown[0].text


def test_snippets_mark_the_words_found_with_unforgeable_marks(shared):
    marks = searching.new_marks()
    assert marks != searching.new_marks()
    with Reader(shared) as r:
        query = parse('"anything else"')
        hit = q.search(r, query).hits[0]
        shown = q.snippets(r, query, hit.records, marks)
    assert all(f"{marks[0]}anything else{marks[1]}" in s.text for s in shown)


# -- kept by every pull, rebuilt, checked ---------------------------------------------------
def test_each_pull_keeps_the_index_and_it_equals_a_rebuild(tmp_path):
    arc = _pull(tmp_path / "a.sqlite3", "202502010000", "202502010015")
    before = _hits(arc, "dataset:transcript").records
    _pull(arc, "202502010100", "202502010115")  # a second pull: new records, incrementally
    after = _hits(arc, "dataset:transcript")
    assert after.records > before
    assert after.records == len(_values(arc, "transcript", "ROW_ID"))
    conn = sqlite3.connect(arc)
    assert searchindex.check(conn) == []
    conn.close()
    hits = _hits(arc, "Bonjour OR refund").hits
    assert run_cli("index", "rebuild", "--archive", arc).code == 0
    assert _hits(arc, "Bonjour OR refund").hits == hits


def test_a_page_that_brings_a_column_gets_it_decided_and_indexed(tmp_path):
    """A tenant's columnHeaders decide (the guide says "inspect columnHeaders"): a column
    the registry does not know is sorted by its name and values, and indexed."""
    arc = _pull(tmp_path / "a.sqlite3", "202502010000", "202502010000")
    names = [*DATASETS["transcript"].column_names, "CUSTOMER_CALLBACK_NUMBER", "SENTIMENT_NOTE"]
    cols = [{"name": n, "type": "string"} for n in names]
    row = {n: "" for n in names} | {
        "ROW_ID": "f" * 32,
        "TRANSCRIPT_ID": "00d0" + "e" * 22,
        "INTERACTION_ID": "00ad" + "e" * 22,
        "STARTTIME_UTC": "2025-02-01T02:00:00Z",
        "ROW_DATE_UTC": "2025-02-01",
        "COMMIT_TS": "2025-02-01T02:30:00.000Z",
        "TRANSCRIPT_TEXT": "Customer: where is my parcel",
        "CUSTOMER_CALLBACK_NUMBER": "+15550199999",
        "SENTIMENT_NOTE": "furious about the zeppelin delay",
    }
    records = [[row[n] for n in names]]
    raw = json.dumps({"columnHeaders": cols, "records": records}).encode()
    start = datetime(2025, 2, 1, 2, 0, tzinfo=UTC)
    page = Page(raw, 200, "https://x.invalid/transcript", start, cols, None, records, "", 1)
    chunk = Chunk("transcript", "interval", "", start, start)
    with Archive(arc) as a:
        a.start_run("r", "t", {}, "h")
        a.store_page("r", chunk, page, {"interval": "x"})
    conn = sqlite3.connect(arc)
    decided = {d.column: d.field for d in searchindex.decisions(conn, "transcript")}
    assert decided["CUSTOMER_CALLBACK_NUMBER"] == "phone"
    assert decided["SENTIMENT_NOTE"] == "text"
    assert searchindex.check(conn) == []
    conn.close()
    assert _hits(arc, "zeppelin").records == 1
    assert _hits(arc, "phone:15550199999").records == 1
    assert _hits(arc, "parcel").records == 1


def test_verify_archive_compares_the_index_with_the_records(archive):
    assert run_cli("verify-archive", "--archive", archive, "--read-only").code == 0
    conn = sqlite3.connect(archive)
    cols = [r[1] for r in conn.execute("PRAGMA table_info(vals_transcript_fts)")]
    quoted = ", ".join(values.quote(c) for c in cols)
    row = conn.execute(f"SELECT record_id, {quoted} FROM vals_transcript LIMIT 1").fetchone()
    with conn:  # hide one message from every search
        conn.execute(
            f"INSERT INTO vals_transcript_fts(vals_transcript_fts, rowid, {quoted}) "
            f"VALUES ('delete', ?, {','.join('?' * len(cols))})",
            row,
        )
    conn.close()
    res = run_cli("verify-archive", "--archive", archive, "--read-only")
    assert res.code == 1
    assert "search index: vals_transcript_fts does not index the same 1 row as" in res.out
    assert "archiver index rebuild" in res.out
    assert run_cli("index", "rebuild", "--archive", archive).code == 0
    assert run_cli("verify-archive", "--archive", archive, "--read-only").code == 0


def test_a_changed_field_decision_is_found(archive):
    conn = sqlite3.connect(archive)
    with conn:
        conn.execute(
            "UPDATE search_columns SET field='' WHERE dataset='transcript' AND \"column\"='TRANSCRIPT_TEXT'"
        )
    assert any("TRANSCRIPT_TEXT is indexed as not indexed" in p for p in searchindex.check(conn))
    conn.close()


def test_an_archive_without_an_index_is_not_searched_until_rebuilt(archive):
    """An archive written before the index existed: search refuses (nothing would be found
    in what it does not cover), verify-archive notes it, a rebuild makes it."""
    conn = sqlite3.connect(archive)
    with conn:
        for d in DATASET_NAMES:
            conn.execute(f"DROP TABLE IF EXISTS {searchindex.fts_table(d)}")
            for t in ("ai", "ad", "au"):
                conn.execute(f"DROP TRIGGER IF EXISTS vals_{d}_{t}")
        conn.execute("DROP TABLE search_columns")
    conn.close()
    res = run_cli("search", "Bonjour", "--archive", archive)
    assert res.code == 1 and "archiver index rebuild" in res.err
    verified = run_cli("verify-archive", "--archive", archive, "--read-only")
    assert verified.code == 0 and "not searchable yet (no search index)" in verified.out
    assert run_cli("index", "rebuild", "--archive", archive).code == 0
    assert run_cli("search", "Bonjour", "--archive", archive).code == 0


def test_index_rebuild_holds_the_archives_lock(archive):
    held = locks.acquire(archive, "archiver pull --all")
    try:
        res = run_cli("index", "rebuild", "--archive", archive)
    finally:
        held.release()
    assert res.code == 6 and "archive busy: pull running since" in res.err
    res = run_cli("index", "rebuild", "--archive", archive)
    assert res.code == 0 and "Rebuilt the search index" in res.out
    with Reader(archive) as r:
        last = r.conn.execute(
            "SELECT event, details FROM audit_log ORDER BY entry_id DESC LIMIT 1"
        ).fetchone()
    assert last[0] == "search index rebuilt"
    assert json.loads(last[1])["records"]["transcript"] > 0
    assert run_cli("index", "rebuild", "--archive", archive.with_name("none.sqlite3")).code == 2


# -- the command line and the access log --------------------------------------------------
def _audit(arc: Path, event: str) -> list[dict]:
    conn = sqlite3.connect(arc)
    try:
        return [
            json.loads(d)
            for (d,) in conn.execute("SELECT details FROM audit_log WHERE event=?", (event,))
        ]
    finally:
        conn.close()


def test_archiver_search_exit_codes_and_output(archive):
    res = run_cli("search", '"anything else"', "--archive", archive, "--limit", "2")
    assert res.code == 0
    assert res.out.splitlines()[0].startswith("")
    assert "hits for '\"anything else\"', everything archived" in res.out
    assert "⟦anything else⟧" in res.out
    assert "The newest 2 of" in res.out
    none = run_cli("search", "zzqqxxnothing", "--archive", archive)
    assert none.code == 3 and "Nothing found" in none.out
    bad = run_cli("search", "refund OR", "--archive", archive)
    assert bad.code == 2
    assert "OR has nothing on its right (at position 8)" in bad.err
    assert "refund OR\n       ^" in bad.err
    assert (
        run_cli("search", "x", "--archive", archive, "--from", "20250202", "--to", "20250201").code
        == 2
    )
    assert run_cli("search", "x", "--archive", archive, "--limit", "0").code == 2
    assert run_cli("search", "x", "--archive", archive.with_name("no.sqlite3")).code == 2
    assert run_cli("search", "x", "--archive", archive, "--dataset", "segmentz").code == 2


def test_archiver_search_json_and_its_access_log_entry(archive):
    res = run_cli(
        "search",
        "Bonjour OR Done",
        "--archive",
        archive,
        "--dataset",
        "transcript",
        "--from",
        "2025-02-01T00:15Z",
        "--to",
        "2025-02-01T00:30Z",
        "--json",
    )
    assert res.code == 0
    doc = json.loads(res.out)
    assert doc["command"] == "search" and doc["exit_code"] == 0
    assert doc["datasets"] == ["transcript"]
    assert doc["hits"] == len(doc["results"]) or len(doc["results"]) == 20
    assert doc["marks"] == ["⟦", "⟧"]
    first = doc["results"][0]
    assert first["datasets"] == ["transcript"] and first["interaction"]
    assert first["newest"].startswith("2025-02-01 00:")
    assert "⟦" in first["snippets"][0]["text"]
    [entry] = _audit(archive, "search")
    assert entry["query"] == "Bonjour OR Done"
    assert entry["datasets"] == ["transcript"]
    assert entry["hits"] == doc["hits"] and entry["records"] == doc["records"]
    assert entry["from"] == "2025-02-01T00:15:00+00:00"
    assert entry["to"] == "2025-02-01T00:30:00+00:00"
    assert entry["range"] == "2025-02-01 00:15 – 00:30 UTC, last interval included"
    assert entry["via"] == "cli"
    run_cli("search", "zzqqxxnothing", "--archive", archive)
    assert [e["hits"] for e in _audit(archive, "search")] == [doc["hits"], 0]
    bad = run_cli("search", "(x", "--archive", archive, "--json")
    assert bad.code == 2 and json.loads(bad.out)["status"] == "error"
    assert len(_audit(archive, "search")) == 2  # a query that cannot be read searched nothing


def test_the_case_use_case_gets_interaction_ids_and_the_hit_count(archive):
    iid = _an_interaction(archive)
    ids, count = searching.interaction_ids(archive, f"interaction:{iid}")
    assert ids == [iid] and count == 1
    ids, count = searching.interaction_ids(archive, "dataset:agent OR dataset:transcript")
    assert count > len(ids) > 0  # agent records are hits, not interactions
    assert [e["via"] for e in _audit(archive, "search")] == ["case", "case"]


def test_a_search_that_cannot_be_logged_is_not_shown(archive, monkeypatch):
    def refuse(*_a, **_k):
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(Archive, "audit", refuse)
    with pytest.raises(searching.NotRecorded):
        searching.search(archive, "Bonjour")
    res = run_cli("search", "Bonjour", "--archive", archive)
    assert res.code == 1 and "not shown" in res.err and "⟦" not in res.out


# -- the first hits, before every hit is counted ------------------------------------------
@pytest.mark.parametrize("walk", [False, True], ids=["read whole", "walked newest first"])
def test_the_first_hits_are_the_newest_of_all(shared, monkeypatch, walk):
    """What a screen shows first is exactly the head of the whole answer, whether a
    dataset's matches are read whole or its records walked newest first."""
    monkeypatch.setattr(q, "READ_COST", 1e12 if walk else 0.0)
    iid = _an_interaction(shared)
    with Reader(shared) as r:
        for text in (
            "Bonjour",
            "Done OR Bonjour",
            '"anything else"',
            "bonj*",
            "dataset:agent",
            "dataset:agent NOT channel:phone",
            "dataset:transcript NOT Done",
            f"interaction:{iid}",
            "channel:chat date:202502010015..202502010030",
        ):
            query = parse(text)
            whole = q.search(r, query).hits
            for want in (1, 5, 20):
                assert q.first_hits(r, query, want) == whole[:want], (text, want)
        first = datetime(2025, 2, 1, 0, 15, tzinfo=UTC)
        query = parse("dataset:interactionSegments OR Bonjour")
        ranged = q.search(r, query, first=first, datasets=["transcript", "interactionSegments"])
        assert (
            q.first_hits(r, query, 7, first=first, datasets=["transcript", "interactionSegments"])
            == ranged.hits[:7]
        )


def test_choosing_how_to_find_the_first_hits_reads_no_whole_table(shared):
    """Whether a dataset's matches are read whole or its records walked is decided by the
    span of its record ids: two steps down the rowid b-tree, never a pass over the values
    table or an index of it (that pass cost every search two seconds on a 5.8 GB
    archive, a word found nowhere included)."""
    seen = 0
    with Reader(shared) as r:
        for dataset in DATASET_NAMES:
            if not values.table_columns(r.conn, dataset):
                continue
            table = values.table(dataset)
            lo, hi, n = r.conn.execute(
                f"SELECT min(record_id), max(record_id), count(*) FROM {table}"
            ).fetchone()
            assert q.id_span(r, table) == hi - lo + 1 >= n > 0
            steps = [row[3] for row in r.conn.execute("EXPLAIN QUERY PLAN " + q.id_span_sql(table))]
            assert [s for s in steps if s.startswith("SCAN") and s != "SCAN CONSTANT ROW"] == []
            assert sum(s.startswith("SEARCH") for s in steps) == 2, steps
            seen += 1
    assert seen == len(DATASET_NAMES)


def test_a_search_stopped_after_its_first_hits_logs_what_it_showed(archive):
    from archiver.jobs import Cancel, Cancelled

    cancel = Cancel()
    job = searching.search_job(archive, "Bonjour OR Done", cancel, shown=5, via="gui")
    top = next(job)
    assert len(top.hits) == 5
    cancel.set()  # a newer search replaces it
    with pytest.raises(Cancelled):
        next(job)
    [entry] = _audit(archive, "search")
    assert entry["counted"] is False and entry["hits"] == 5 and entry["via"] == "gui"
    assert entry["records"] == sum(len(h.records) for h in top.hits)


def _documented_fields() -> dict[tuple[str, str], str]:
    """docs/search.md's table of what the rule gives for the simulator's datasets."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "search.md").read_text()
    table = text.split("| dataset | agent |", 1)[1].split("\n\n", 1)[0]
    lines = [line for line in table.splitlines()[2:] if line.startswith("| ")]
    fields = ["agent", "queue", "channel", "phone", "email", "interaction", "id", "text"]
    out: dict[tuple[str, str], str] = {}
    for line in lines:
        cells = [c.strip() for c in line.strip("|").split("|")]
        for field, cell in zip(fields, cells[1:], strict=True):
            for column in filter(None, (c.strip() for c in cell.split(","))):
                out[(cells[0], column)] = field
    return out


@pytest.mark.parametrize("reading", ["default", "one row per message (shared ids)"])
def test_the_documented_table_is_what_the_rule_gives(tmp_path, reading):
    documented = _documented_fields()
    assert {d for d, _c in documented} == set(DATASET_NAMES)
    arc = _pull(tmp_path / "a.sqlite3", **READINGS[reading])
    conn = sqlite3.connect(arc)
    try:
        for dataset in DATASET_NAMES:
            for d in searchindex.decisions(conn, dataset):
                assert documented.get((dataset, d.column), "") == d.field, (dataset, d.column)
    finally:
        conn.close()


def test_the_index_adds_only_tables_the_registry_can_classify(tmp_path, monkeypatch):
    """Everything the search index adds to an archive is named as index tables (local
    state, searchindex.TABLES); nothing of the evidence changes."""
    indexed = _pull(tmp_path / "a.sqlite3")
    run_cli("search", "Bonjour", "--archive", indexed)
    monkeypatch.setattr(searchindex.SearchIndex, "after_page", lambda *_a, **_k: None)
    plain = _pull(tmp_path / "b.sqlite3")

    def schema(arc: Path) -> dict[str, set[str]]:
        conn = sqlite3.connect(arc)
        try:
            out: dict[str, set[str]] = {}
            for kind, name in conn.execute("SELECT type, name FROM sqlite_master"):
                out.setdefault(kind, set()).add(name)
            return out
        finally:
            conn.close()

    a, b = schema(indexed), schema(plain)
    added = a["table"] - b["table"]
    assert added and all(searchindex.is_index_table(t) for t in added)
    assert not any(searchindex.is_index_table(t) for t in b["table"])
    assert b["table"] <= a["table"] and b.get("view", set()) == a.get("view", set())
    assert a["trigger"] == b["trigger"]  # the writer indexes each page: no triggers
    assert set(searchindex.TABLES) == {"search_columns", "vals_<dataset>_fts"}
    conn = sqlite3.connect(indexed)
    assert searchindex.replay_check(conn, []) == []
    conn.close()


def test_an_index_kept_by_triggers_is_made_again(archive):
    """An index an earlier build kept with sqlite-utils' triggers would index each page twice
    beside the writer's own insert: it is not searched, and the next page makes it again."""
    conn = sqlite3.connect(archive)
    with conn:
        conn.execute(
            "CREATE TRIGGER vals_transcript_ai AFTER INSERT ON vals_transcript BEGIN SELECT 1; END"
        )
    assert not searchindex.state(conn, "transcript").ready
    conn.close()
    assert run_cli("search", "Bonjour", "--archive", archive).code == 1
    _pull(archive, "202502010100", "202502010100")
    conn = sqlite3.connect(archive)
    assert searchindex.state(conn, "transcript").ready
    assert searchindex.check(conn) == []
    conn.close()


def test_transcript_messages_follow_a_sequence_column_where_there_is_one(tmp_path):
    """The guide documents no message order: messages come in the order delivered, unless
    the tenant's transcript has a sequence column, which orders them."""
    from archiver.archive.queries.review import ArchiveReader

    arc = tmp_path / "a.sqlite3"
    names = [
        "ROW_ID",
        "INTERACTION_ID",
        "STARTTIME_UTC",
        "COMMIT_TS",
        "MESSAGE_SEQ",
        "TRANSCRIPT_TEXT",
    ]
    cols = [{"name": n, "type": "string"} for n in names]
    start = datetime(2025, 2, 1, 2, 0, tzinfo=UTC)
    delivered = [("3", "third"), ("1", "first"), ("10", "tenth"), ("2", "second")]
    records = [
        [f"{k:032x}", "00ad" + "e" * 22, "2025-02-01T02:00:00Z", "2025-02-01T02:30:00Z", n, t]
        for k, (n, t) in enumerate(delivered)
    ]
    raw = json.dumps({"columnHeaders": cols, "records": records}).encode()
    page = Page(raw, 200, "https://x.invalid/transcript", start, cols, None, records, "", 1)
    chunk = Chunk("transcript", "interval", "", start, start)
    with Archive(arc) as a:
        a.start_run("r", "t", {}, "h")
        a.store_page("r", chunk, page, {"interval": "x"})
    with ArchiveReader(arc) as r:
        shown = [m["TRANSCRIPT_TEXT"] for m in r.transcript("00ad" + "e" * 22)]
    assert shown == ["first", "second", "third", "tenth"]
