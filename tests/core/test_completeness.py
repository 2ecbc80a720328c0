"""Completeness under either reading of an interval `ending`, keys that hold, honest outcomes.

Every pull here talks HTTP to the real simulator on 127.0.0.1, serving one reading or the
other (`--ending inclusive|exclusive`), and is compared row for row with its ground truth.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from datetime import timedelta

import pytest

from archiver.api.errors import PageValidationError
from archiver.api.pages import parse_page
from archiver.archive import coverage as cov
from archiver.archive.verify import verify_archive
from archiver.pull.engine import EXIT_ERROR, EXIT_OK, EXIT_PARTIAL
from tests.pulltools import (
    archived,
    archived_in_range,
    engine_for,
    params,
    pull,
    truth,
    utc,
    walked_truth,
)

READINGS = ("inclusive", "exclusive")
#: (name, --from, --to): one interval, 6 hours, 1 day, 3 days, 17 days
RANGES = (
    ("one interval", "202502010415", "202502010415"),
    ("6 hours", "202502010600", "202502011145"),
    ("1 day", "20250201", "20250201"),
    ("3 days", "20250201", "20250203"),
    ("17 days", "20250201", "20250217"),
)
#: the 3- and 17-day walks take seconds each
CASES = [
    pytest.param(*r, id=r[0], marks=[pytest.mark.slow] if r[0] in ("3 days", "17 days") else [])
    for r in RANGES
]


def _audit_rows(arc) -> list[dict]:
    conn = sqlite3.connect(arc)
    try:
        return [
            json.loads(d)
            for (d,) in conn.execute(
                "SELECT details FROM audit_log WHERE event='pull finished' ORDER BY entry_id"
            )
        ]
    finally:
        conn.close()


@pytest.mark.parametrize("ending", READINGS)
@pytest.mark.parametrize("name,start,end", CASES)
def test_pull_equals_ground_truth_under_either_reading(
    sim_factory, tmp_path, ending, name, start, end
):
    rows = 2 if name == "17 days" else 6
    sim = sim_factory(ending=ending, rows_per_interval=rows)
    arc = tmp_path / "a.sqlite3"
    p = params(["interactionSegments", "queue"], start, end, page_size=200)
    res = pull(sim, arc, p)
    assert res.exit_code == EXIT_OK, res.summary()
    for ds in p.datasets:
        want = truth(sim, ds, p)
        got = archived_in_range(arc, ds, p)
        missing = set(want) - set(got)
        assert not missing and got == want, f"{ds}: {len(missing)} of {len(want)} rows missing"
        assert archived(arc, ds) == walked_truth(sim, ds, p)  # nothing but real rows
    conn = sqlite3.connect(arc)
    conn.row_factory = sqlite3.Row
    reading = cov.server_reading(conn)
    days = cov.day_coverage(conn)
    conn.close()
    # one exclusive interval cannot show the reading: no rows at `ending` and none archived
    # there from another walk — so it is stated as not shown, never guessed
    expect = "unknown" if (name, ending) == ("one interval", "exclusive") else ending
    assert reading.verdict == expect, reading
    assert all(d.walked == d.requested and not d.unfinished for d in days)
    # the custody record counts what the archive holds
    summary = _audit_rows(arc)[-1]["summary"]
    conn = sqlite3.connect(arc)
    for ds in p.datasets:
        n = conn.execute("SELECT count(*) FROM records_view WHERE dataset=?", (ds,)).fetchone()[0]
        assert summary["datasets"][ds]["new_versions"] == n
        assert summary["datasets"][ds]["chunks_done"] == summary["datasets"][ds]["chunks"]
    conn.close()
    assert summary["ending_reading"].startswith(expect.replace("unknown", "not shown"))
    assert verify_archive(arc).ok


@pytest.mark.parametrize("ending", READINGS)
def test_range_ending_at_the_newest_ready_interval(sim_factory, tmp_path, ending):
    """The last chunk's overlap interval is not ready yet: no 202 for a ready chunk."""
    now = utc(2025, 2, 1, 6, 10)  # the newest ready interval starts 05:15 (ends 05:30)
    sim = sim_factory(ending=ending, clock=lambda: now)
    arc = tmp_path / "a.sqlite3"
    p = params(["queue"], "202502010000", "202502010515", page_size=200)
    eng = engine_for(sim, arc)
    eng.now = lambda: now  # the engine judges readiness on the same clock as the server
    for _ in eng.run(eng.plan(p)):
        pass
    res = eng.result
    assert res.exit_code == EXIT_OK, res.summary()
    assert archived_in_range(arc, "queue", p) == truth(sim, "queue", p)
    conn = sqlite3.connect(arc)
    conn.row_factory = sqlite3.Row
    last = conn.execute("SELECT * FROM coverage ORDER BY chunk_start DESC LIMIT 1").fetchone()
    if ending == "inclusive":
        # the overlap asked for 05:30 (not ready: 202), so the chunk was asked again up
        # to 05:15 and says so; earlier chunks proved the reading, so 05:15 counts as walked
        assert last["overlap_dropped"] == 1 and last["request_end"] == "202502010515"
        assert "without the one-interval overlap" in last["message"]
        assert conn.execute("SELECT count(*) FROM pages WHERE http_status=202").fetchone()[0] == 1
    else:
        assert last["overlap_dropped"] == 0 and last["request_end"] == "202502010530"
    days = cov.day_coverage(conn)
    assert days[0].walked == days[0].requested == 22
    conn.close()
    # a second run knows the reading: it asks without the overlap at once, no wasted 202
    if ending == "inclusive":
        later = utc(2025, 2, 1, 6, 25)  # newest ready: 05:30; the overlap 05:45 is not
        sim.clock = lambda: later
        eng2 = engine_for(sim, arc)
        eng2.now = lambda: later
        p2 = params(["queue"], "202502010530", "202502010530", page_size=200)
        for _ in eng2.run(eng2.plan(p2)):
            pass
        assert eng2.result.exit_code == EXIT_OK
        conn = sqlite3.connect(arc)
        assert conn.execute("SELECT count(*) FROM pages WHERE http_status=202").fetchone()[0] == 1
        msg = conn.execute(
            "SELECT message FROM coverage WHERE chunk_start='202502010530'"
        ).fetchone()[0]
        conn.close()
        assert "show the server's `ending` is inclusive" in msg


def test_unproven_last_interval_is_a_stated_gap(sim_factory, tmp_path):
    """Asked without overlap and the reading never shown: the last interval is not claimed."""
    now = utc(2025, 2, 1, 1, 10)  # newest ready: 00:15
    sim = sim_factory(clock=lambda: now)
    arc = tmp_path / "a.sqlite3"
    p = params(["queue"], "202502010015", "202502010015", page_size=200)
    eng = engine_for(sim, arc)
    eng.now = lambda: now
    for _ in eng.run(eng.plan(p)):
        pass
    assert eng.result.exit_code == EXIT_OK
    conn = sqlite3.connect(arc)
    conn.row_factory = sqlite3.Row
    # rows at 00:15 came back for `ending:…0015`: that itself proves the inclusive reading
    assert cov.server_reading(conn).verdict == "inclusive"
    assert cov.gaps(conn, ["queue"], utc(2025, 2, 1, 0, 15), utc(2025, 2, 1, 0, 15)) == []
    # an archive that cannot show it must state the interval as a gap
    conn.execute("PRAGMA query_only=OFF")
    conn.execute("UPDATE coverage SET ending_rows=0")
    conn.execute("DELETE FROM superseded")
    conn.execute("DROP TRIGGER records_no_delete")
    conn.execute("DELETE FROM records")
    gaps = cov.gaps(conn, ["queue"], utc(2025, 2, 1, 0, 15), utc(2025, 2, 1, 0, 15))
    conn.close()
    assert gaps and "reading of `ending` is not shown" in gaps[0]


@pytest.mark.slow
@pytest.mark.parametrize("omit", [False, True])
def test_repeated_ids_lose_nothing_from_latest(sim_factory, tmp_path, omit):
    datasets = ["transcript", "cxAgentLoginLogout"]
    sim = sim_factory(
        shared_ids=True, rows_per_interval=20, omit_row_id=tuple(datasets) if omit else ()
    )
    arc = tmp_path / "a.sqlite3"
    p = params(datasets, "20250201", "20250201", page_size=200)
    assert pull(sim, arc, p).exit_code == EXIT_OK
    conn = sqlite3.connect(arc)
    for ds in datasets:
        want = walked_truth(sim, ds, p)
        assert len(want) > len({r[0] if omit else r[1] for r in want})  # ids do repeat
        # rows identical in every column (a repeated chat line once ROW_ID is gone) are one
        # record: the raw page keeps both; nothing distinguishable is lost
        assert archived(arc, ds, latest=True) == sorted(set(want)), ds
        kinds = {
            k
            for (k,) in conn.execute(
                "SELECT DISTINCT key_kind FROM records_view WHERE dataset=?", (ds,)
            )
        }
        rules = conn.execute(
            "SELECT rule, fallback, reason FROM key_rules WHERE dataset=?", (ds,)
        ).fetchall()
        if omit:  # no ROW_ID: the natural key repeats in one response → content hash, recorded
            assert "hash" in kinds and rules and rules[0][:2] == ("natural", "hash")
            assert "repeats with different content in one response" in rules[0][2]
        else:
            assert kinds == {"ROW_ID"} and not rules
    events = [e for (e,) in conn.execute("SELECT event FROM audit_log")]
    conn.close()
    assert ("key fallback" in events) == omit
    assert verify_archive(arc).ok


def test_omitted_row_id_falls_back_to_the_natural_key(sim_factory, tmp_path):
    sim = sim_factory(omit_row_id=("interactionSegments",))
    arc = tmp_path / "a.sqlite3"
    p = params(["interactionSegments", "queue"], "20250201", "20250201")
    assert pull(sim, arc, p).exit_code == EXIT_OK
    conn = sqlite3.connect(arc)
    kinds = dict(
        conn.execute("SELECT dataset, group_concat(DISTINCT key_kind) FROM records_view GROUP BY 1")
    )
    conn.close()
    assert kinds == {"interactionSegments": "natural", "queue": "ROW_ID"}
    assert archived(arc, "interactionSegments", latest=True) == walked_truth(
        sim, "interactionSegments", p
    )
    assert verify_archive(arc).ok


def test_worker_exception_fails_the_chunk_names_it_and_the_run(sim, tmp_path, monkeypatch):
    from archiver.api.client import HistoricalClient

    real = HistoricalClient.pages

    def pages(self, query, token=None):
        if query.dataset == "queue" and query.interval.startswith("starting:202502010300"):
            raise KeyError("boom in the worker")
        yield from real(self, query, token)

    monkeypatch.setattr(HistoricalClient, "pages", pages)
    arc = tmp_path / "a.sqlite3"
    res = pull(sim, arc, params(["queue"], "20250201", "20250201"))
    assert res.exit_code == EXIT_PARTIAL and res.status == "failed"
    assert "202502010300" in res.error and "KeyError" in res.error
    conn = sqlite3.connect(arc)
    state, msg = conn.execute(
        "SELECT state, message FROM coverage WHERE chunk_start='202502010300'"
    ).fetchone()
    done = conn.execute("SELECT count(*) FROM coverage WHERE state='done'").fetchone()[0]
    conn.close()
    assert state == "failed" and "boom in the worker" in msg and done == 23
    assert _audit_rows(arc)[-1]["status"] == "failed"
    # nothing finished at all: exit 1
    res = pull(sim, tmp_path / "b.sqlite3", params(["queue"], "202502010300", "202502010345"))
    assert res.exit_code == EXIT_ERROR and res.status == "failed"


def test_unreachable_api_is_a_failure_not_success(tmp_path):
    from archiver.api import Credentials, Tenant
    from archiver.pull.engine import PullEngine
    from tests.pulltools import FAST

    eng = PullEngine(
        tmp_path / "x.sqlite3",
        Tenant.from_base_url("http://127.0.0.1:1"),
        Credentials("a", "b"),
        retry=FAST,
    )
    for _ in eng.run(eng.plan(params(["queue"], "20250101", "20250102"))):
        pass
    res = eng.result
    assert res.exit_code == EXIT_ERROR and res.status == "failed"
    assert res.summary()["datasets"]["queue"]["chunks_done"] == 0
    assert "127.0.0.1:1" in (res.error or "")


def test_deeply_nested_body_is_a_validation_error():
    raw = b'{"columnHeaders":' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    with pytest.raises(PageValidationError, match="nested too deeply"):
        parse_page(raw, "http://127.0.0.1/x", 200, None)


def test_daily_and_interval_rows_are_separate_streams(sim, tmp_path):
    from archiver.export.warehouse import export_dataset

    arc = tmp_path / "a.sqlite3"
    pi = params(["interactionSegments"], "20250201", "20250201")
    pd = params(["interactionSegments"], "20250201", "20250201", daily=True)
    pull(sim, arc, pi)
    pull(sim, arc, pd)
    conn = sqlite3.connect(arc)
    counts = dict(
        conn.execute(
            "SELECT dataset_type, count(*) FROM records_view WHERE dataset='interactionSegments'"
            " GROUP BY 1"
        )
    )
    conn.close()
    assert counts["daily"] == len(truth(sim, "interactionSegments", pd))
    assert counts["interval"] == len(walked_truth(sim, "interactionSegments", pi))
    n_i = export_dataset(arc, "interactionSegments", "jsonl", tmp_path / "i.jsonl")
    n_d = export_dataset(
        arc, "interactionSegments", "jsonl", tmp_path / "d.jsonl", dataset_type="daily"
    )
    assert (n_i, n_d) == (counts["interval"], counts["daily"])
    conn = sqlite3.connect(arc)
    conn.row_factory = sqlite3.Row
    types = {(d.dataset_type, d.day, d.requested, d.state) for d in cov.day_coverage(conn)}
    conn.close()
    # both streams list the same days: the next day's 00:00 was walked as the last
    # chunk's `ending` (the simulator reads it inclusively), the rest of it never requested
    assert types == {
        ("interval", "2025-02-01", 96, "done"),
        ("interval", "2025-02-02", 1, "never_requested"),
        ("daily", "2025-02-01", 1, "done"),
        ("daily", "2025-02-02", 0, "never_requested"),
    }


def test_split_keeps_range_derived_boundaries():
    from archiver.timerange import split

    a = split("queue", utc(2025, 2, 1), utc(2025, 2, 3, 23, 45), daily=False)
    assert a == split("queue", utc(2025, 2, 1), utc(2025, 2, 3, 23, 45), daily=False)
    assert all(c.start.hour % 3 == 0 and c.start.minute == 0 for c in a)  # 3-hour chunks
    assert all(x.request_end == y.start for x, y in itertools.pairwise(a))
    one = split("queue", utc(2025, 2, 1, 4, 15), utc(2025, 2, 1, 4, 15), daily=False)
    assert len(one) == 1 and one[0].request_end == utc(2025, 2, 1, 4, 30)
    assert one[0].end_key == "202502010415"
    assert timedelta(minutes=15) == one[0].request_end - one[0].end
