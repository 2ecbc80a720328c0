"""One reading of each page (issue 18 §6): a body that names a member twice anywhere
(``records``, a column header's ``name``, pagination's ``nextPageToken``, a 202's
``columnHeaders``) has two readings (Python keeps the last value, other parsers the first),
so it is a malformed page: quarantined with the reason, never archived. verify-archive's
re-reading of archived pages refuses the same bodies."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from archiver.api.pages import AmbiguousBody, Page, load_json
from archiver.archive.store import Archive
from archiver.timerange import Chunk
from tests.clitools import run_cli
from tests.hostile import Hostile, real_page

ENV = {"ARCHIVER_CLIENT_ID": "hostile-client", "ARCHIVER_CLIENT_SECRET": "hostile-secret"}


def pull(server: Hostile, arc: Path, *more: str):
    return run_cli(
        "pull",
        "--base-url",
        server.base_url,
        "--archive",
        arc,
        "--dataset",
        "queue",
        "--from",
        "202502010000",
        "--to",
        "202502010045",
        "--workers",
        "1",
        "--retry-initial",
        "0.01",
        *more,
        env=ENV,
    )


def rows(arc: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(arc)
    try:
        return list(conn.execute(sql))
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("attack", "member", "status"),
    [
        ("dup_records", "records", 200),
        ("dup_header", "name", 200),
        ("dup_pagination", "nextPageToken", 200),
        ("dup_202", "columnHeaders", 202),
    ],
)
def test_a_repeated_member_name_is_a_malformed_page(tmp_path, attack, member, status):
    arc = tmp_path / "a.sqlite3"
    with Hostile(attack) as server:
        r = pull(server, arc)
    assert r.code == 1, r.err
    [(state, message)] = rows(arc, "SELECT state, message FROM coverage")
    why = f"repeats the member name {member!r}"
    assert state == "failed" and why in message and "two readings" in message
    quarantine = rows(arc, "SELECT http_status, error FROM quarantine")
    assert len(quarantine) == 4  # the first try and three retries, each kept as evidence
    assert all(s == status and why in e for s, e in quarantine)
    assert rows(arc, "SELECT count(*) FROM pages") == [(0,)]  # nothing of it archived
    assert rows(arc, "SELECT count(*) FROM records") == [(0,)]
    assert why in r.out
    assert run_cli("verify-archive", "--archive", arc).code == 0


def test_the_same_page_without_the_repeat_is_archived(tmp_path):
    arc = tmp_path / "a.sqlite3"
    with Hostile("ok") as server:
        r = pull(server, arc)
    assert r.code == 0, r.err
    assert rows(arc, "SELECT count(*) FROM records")[0][0] == len(real_page()["records"])


def test_load_json_refuses_repeats_at_any_depth_and_unpaired_surrogates():
    assert load_json(b'{"a": {"b": [{"c": 1, "d": 2}]}}') == {"a": {"b": [{"c": 1, "d": 2}]}}
    for raw in (b'{"a": 1, "a": 1}', b'{"a": {"b": [{"c": 1, "c": 2}]}}', b'[{"x": 0, "x": 0}]'):
        with pytest.raises(AmbiguousBody, match="repeats the member name"):
            load_json(raw)
    assert load_json(b'["\\ud83d\\ude00"]') == ["\U0001f600"]  # a pair is one character
    for raw in (b'["\\ud800"]', b'{"\\udc00": "x"}', b'{"k": ["a", "\\uDBFF"]}'):
        with pytest.raises(AmbiguousBody, match="unpaired surrogate"):
            load_json(raw)


def test_verify_archive_rereads_an_archived_page_the_same_way(tmp_path):
    """An archive written before this rule may hold a page with two readings: the records
    it states are one reading of it, so verify-archive fails and names the page."""
    arc = tmp_path / "a.sqlite3"
    body = real_page()
    text = '{"records": [], ' + json.dumps(body)[1:]
    page = Page(
        text.encode(),
        200,
        "http://127.0.0.1/api/analytics/v2/datasets/queue",
        datetime(2025, 2, 1, 1, tzinfo=UTC),
        body["columnHeaders"],
        None,
        body["records"],
        "",
        1,
    )
    start, end = datetime(2025, 2, 1, tzinfo=UTC), datetime(2025, 2, 1, 0, 45, tzinfo=UTC)
    chunk = Chunk("queue", "interval", "", start, end)
    with Archive(arc) as a:
        a.start_run("r1", "t", {}, "h")
        a.store_page("r1", chunk, page, {"interval": "starting:202502010000,ending:202502010100"})
    r = run_cli("verify-archive", "--archive", arc)
    assert r.code == 1
    assert "page 1" in r.out and "repeats the member name 'records'" in r.out
