"""COMMIT_TS is a time: parsed (any fraction length, Z or an offset), never ordered as text;
versions with the same time are ordered by receipt; a value that is not a time is kept,
shown as such and ordered before timed versions (archive/versions.py)."""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from archiver.api.pages import Page
from archiver.api.query import Query
from archiver.archive.chunks import splits_record
from archiver.archive.queries.review import ArchiveReader
from archiver.archive.store import Archive
from archiver.archive.verify import verify_archive
from archiver.archive.versions import (
    NOT_A_TIME,
    commit_utc,
    describe,
    order_key,
    same_commit,
)
from archiver.services import archive as archive_service
from archiver.simulator.query import commit_ts_form
from archiver.timerange import Chunk
from tests.pulltools import params, pull

ROOT = Path(__file__).resolve().parents[2]
V4 = ROOT / "tests" / "data" / "archive-v4.sqlite3"


@pytest.mark.parametrize(
    "text, utc",
    [
        ("2025-11-25T00:26:58Z", "2025-11-25T00:26:58"),
        ("2025-11-25T00:26:58.5Z", "2025-11-25T00:26:58.5"),
        ("2025-11-25T00:26:58.500Z", "2025-11-25T00:26:58.5"),
        ("2025-11-25T00:26:58.500000000+00:00", "2025-11-25T00:26:58.5"),
        ("2025-11-25T01:26:58.25+01:00", "2025-11-25T00:26:58.25"),
        ("2025-11-24T19:26:58-0500", "2025-11-25T00:26:58"),
        ("2025-11-25 00:26:58", "2025-11-25T00:26:58"),
        ("2025-11-25T00:26:58.123456789012Z", "2025-11-25T00:26:58.123456789012"),
        ("", None),
        ("yesterday", None),
        ("2025-02-30T00:00:00Z", None),
        ("2025-11-25T00:26:58+24:00", None),
    ],
)
def test_commit_ts_read_as_a_time(text, utc):
    assert commit_utc(text) == utc


def test_versions_order_by_time_then_receipt_never_as_text():
    assert "2025-11-25T00:26:58Z" > "2025-11-25T00:26:58.5Z"  # text gets it wrong
    assert order_key("2025-11-25T00:26:58.5Z", (1, 0)) > order_key("2025-11-25T00:26:58Z", (2, 0))
    # the same instant written two ways: the later received is the newer
    assert same_commit("2025-11-25T00:26:58.5+00:00", "2025-11-25T00:26:58.500Z")
    assert order_key("2025-11-25T00:26:58.5+00:00", (2, 0)) > order_key(
        "2025-11-25T00:26:58.500Z", (1, 9)
    )
    # not a time: before every time, among themselves by receipt
    assert order_key("n/a", (9, 9)) < order_key("2000-01-01T00:00:00Z", (1, 0))
    assert order_key("n/a", (2, 0)) > order_key("", (1, 0))
    assert same_commit("", "") and not same_commit("n/a", "")
    assert (
        describe("n/a") == f"n/a ({NOT_A_TIME})"
        and describe("2025-11-25T00:26:58Z") == "2025-11-25T00:26:58Z"
    )


def test_the_simulator_serves_each_form():
    v = "2025-11-25T00:26:58.500Z"
    assert commit_ts_form(v, "ms") == v
    assert commit_ts_form(v, "nano") == "2025-11-25T00:26:58.5Z"
    assert commit_ts_form("2025-11-25T00:26:58.000Z", "nano") == "2025-11-25T00:26:58Z"
    assert commit_ts_form(v, "offset") == "2025-11-25T00:26:58.500+00:00"


def _latest(arc: Path, dataset: str) -> dict[str, str]:
    """ROW_ID → COMMIT_TS of the latest version of every row."""
    conn = sqlite3.connect(arc)
    out = dict(
        conn.execute(
            f"""SELECT v.ROW_ID, v.COMMIT_TS FROM latest l JOIN vals_{dataset} v
                ON v.record_id = l.record_id"""
        ).fetchall()
    )
    conn.close()
    return out


def _export_latest(arc: Path, dataset: str, out: Path) -> dict[str, str]:
    archive_service.export_dataset(arc, dataset, "csv", out)
    with out.open(encoding="utf-8-sig", newline="") as f:
        return {r["ROW_ID"]: r["COMMIT_TS"] for r in csv.DictReader(f)}


def test_a_revision_in_the_same_second_is_the_latest(sim_factory, tmp_path):
    """Go's nano form: the first version ``…:28Z``, its revision ``…:28.501Z`` (which sorts
    before it as text). The revision is the latest: in the archive, the export, row history."""
    sim = sim_factory(commit_ts="nano")
    arc = tmp_path / "a.sqlite3"
    p = params(["queue"], "20250201", "20250201", page_size=200)
    assert pull(sim, arc, p).exit_code == 0
    whole = [r for r in sim.truth("queue", p.start, p.end) if r[7].endswith(":28Z")]
    assert whole, "the seed's data holds a COMMIT_TS on a whole second"
    row_id, first = whole[0][0], whole[0][7]
    real = sim.clock
    at = datetime.fromisoformat(first.replace("Z", "+00:00")).replace(microsecond=500_000)
    sim.clock = lambda: at
    sim.late_update(["queue"], 1.0)  # every row committed before `at`: a new version
    sim.clock = real
    assert pull(sim, arc, p).exit_code == 0
    revision = first[:-1] + ".501Z"
    assert first > revision  # as text the first version would be the latest
    assert _latest(arc, "queue")[row_id] == revision
    assert _export_latest(arc, "queue", tmp_path / "q.csv")[row_id] == revision
    with ArchiveReader(arc) as r:
        conn = sqlite3.connect(arc)
        (rid,) = conn.execute(
            "SELECT record_id FROM vals_queue WHERE ROW_ID=? AND COMMIT_TS=?", (row_id, first)
        ).fetchone()
        conn.close()
        history = [v.commit_ts for v in r.versions(rid)]
    assert history == [first, revision]
    assert verify_archive(arc).ok


def test_the_same_instant_written_another_way_is_a_conflict(sim_factory, tmp_path):
    """``…+00:00`` and ``…Z`` name one instant: other content with the same COMMIT_TS is a
    conflict, and the version received later is the latest."""
    sim = sim_factory()
    arc = tmp_path / "a.sqlite3"
    p = params(["queue"], "202502010000", "202502010045", page_size=200)
    assert pull(sim, arc, p).exit_code == 0
    rows = len(sim.truth("queue", p.start, p.end))
    sim.set_faults(commit_ts="offset")
    assert pull(sim, arc, p).exit_code == 0
    conn = sqlite3.connect(arc)
    conflicts = conn.execute("SELECT commit_ts FROM conflicts").fetchall()
    conn.close()
    assert len(conflicts) >= rows and all(ts.endswith("+00:00") for (ts,) in conflicts)
    latest = _latest(arc, "queue")
    assert latest and all(ts.endswith("+00:00") for ts in latest.values())
    exported = _export_latest(arc, "queue", tmp_path / "q.csv")
    assert all(ts.endswith("+00:00") for ts in exported.values())
    assert verify_archive(arc).ok


HEADERS = [
    {"name": "ROW_ID", "type": "string"},
    {"name": "STARTTIME_UTC", "type": "datetime"},
    {"name": "COMMIT_TS", "type": "datetime"},
    {"name": "I_AUXTIME", "type": "number"},
]


def _write(arc: Path, pages: list[list[list[str]]]) -> None:
    """Pages of one walk of agentAux 2025-02-03 00:00–00:45, through the real writer."""
    p = params(["agentAux"], "202502030000", "202502030045")
    chunk = Chunk("agentAux", "interval", "", p.start, p.end)
    query = Query("agentAux", p.start, chunk.request_end, "interval", None, 200).params()
    layout = splits_record([("agentAux", p.start, p.end, False, None)])
    with Archive(arc) as a:
        a.start_run("crafted", "http://127.0.0.1:1", p.as_dict(), p.hash, layout)
        token: str | None = None
        for n, records in enumerate(pages, 1):
            nxt = f"t{n + 1}" if n < len(pages) else ""
            body = {
                "columnHeaders": HEADERS,
                "records": records,
                "pagination": {"nextPageToken": nxt},
            }
            raw = json.dumps(body, separators=(",", ":")).encode()
            when = datetime(2025, 2, 4, 1, 0, n, tzinfo=UTC)
            url = "http://127.0.0.1:1/api/analytics/v2/datasets/agentAux"
            page = Page(raw, 200, url, when, HEADERS, token, records, nxt, n)
            a.store_page("crafted", chunk, page, query)
            token = nxt


def test_a_commit_ts_that_is_not_a_time_is_kept_shown_and_ordered_first(tmp_path):
    arc = tmp_path / "a.sqlite3"
    _write(
        arc,
        [
            [
                ["row-a", "2025-02-03T00:15:00Z", "yesterday", "1"],
                ["row-b", "2025-02-03T00:15:00Z", "2025-02-03T00:30:00Z", "1"],
            ],
            [
                ["row-a", "2025-02-03T00:15:00Z", "2025-02-03T00:30:00Z", "2"],
                ["row-b", "2025-02-03T00:15:00Z", "n/a", "2"],
            ],
        ],
    )
    latest = _latest(arc, "agentAux")
    assert latest == {"row-a": "2025-02-03T00:30:00Z", "row-b": "2025-02-03T00:30:00Z"}
    conn = sqlite3.connect(arc)
    (rid,) = conn.execute("SELECT record_id FROM vals_agentAux WHERE COMMIT_TS='n/a'").fetchone()
    conn.close()
    with ArchiveReader(arc) as r:
        versions = r.versions(rid)
    assert [v.commit_ts for v in versions] == ["n/a", "2025-02-03T00:30:00Z"]
    assert versions[0].commit_text == f"n/a ({NOT_A_TIME})"
    assert verify_archive(arc).ok


def test_migration_to_5_recomputes_versions_and_records_it(tmp_path):
    """The schema-4 fixture kept ``…:58Z`` as the latest over its revision ``…:58.5Z`` and
    saw no conflict between ``+00:00`` and ``Z``: migrated (backup first), the revision is
    the latest, the conflict is recorded, and the migrate entry says what changed."""
    arc = Path(shutil.copy(V4, tmp_path / "old.sqlite3"))
    assert _latest(arc, "agentAux")["row-a"] == "2025-02-03T00:26:58Z"
    Archive(arc).close()
    assert len(list(tmp_path.glob("old.sqlite3.v4-*.bak"))) == 1
    assert _latest(arc, "agentAux") == {
        "row-a": "2025-02-03T00:26:58.5Z",
        "row-b": "2025-02-03T00:30:00Z",
    }
    conn = sqlite3.connect(arc)
    (details,) = conn.execute(
        "SELECT details FROM audit_log WHERE event='migrate' AND details LIKE '%\"to\":5%'"
    ).fetchone()
    conflicts = conn.execute("SELECT row_key, commit_ts FROM conflicts").fetchall()
    conn.close()
    d = json.loads(details)
    assert d["rederived"]["superseded"] >= 2 and d["rederived"]["conflicts"] == 1
    assert d["rederived"]["records.conflict"] == 1
    assert conflicts == [("row-b", "2025-02-03T00:30:00Z")]
    states = {o["state"] for o in d["outcomes"]}
    assert states == {"failed", "not_entitled"}  # what no archived response explained
    rep = verify_archive(arc)
    assert rep.ok, rep.summary()
