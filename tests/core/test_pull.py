"""The pull engine and the archive against the real simulator, real SQLite files."""

from __future__ import annotations

import itertools
import sqlite3
import threading

import pytest
import requests

from archiver.archive.verify import verify_archive
from archiver.pull.engine import EXIT_CANCELLED, EXIT_ENTITLEMENT, EXIT_OK, EXIT_PARTIAL
from archiver.timerange import split
from tests.clock import ManualClock
from tests.pulltools import (
    archived,
    archived_in_range,
    coverage,
    engine_for,
    identities,
    params,
    pull,
    truth,
    walked_truth,
)


@pytest.mark.slow
def test_pull_equals_ground_truth_row_for_row(sim, tmp_path):
    arc = tmp_path / "a.sqlite3"
    p = params(
        ["interactionSegments", "workflowTrace", "queue", "agentLoginLogoutByQueue"],
        "20250201",
        "20250203",
    )
    res = pull(sim, arc, p)
    assert res.exit_code == EXIT_OK and res.status == "finished"
    for ds in p.datasets:
        want = truth(sim, ds, p)
        assert want and archived_in_range(arc, ds, p) == want, ds
        assert archived(arc, ds) == walked_truth(sim, ds, p), ds
    assert verify_archive(arc).ok
    cov = coverage(arc)
    assert set(cov.values()) == {"done"} and len(cov) == 4 * 24  # 3 days in 3-hour chunks
    # a re-pull finds every row again (none new): coverage counts the rows each chunk received
    # (each chunk also receives the interval after it: the overlap that covers either reading)
    pull(sim, arc, p)
    conn = sqlite3.connect(arc)
    for ds in p.datasets:
        got, at_end = conn.execute(
            "SELECT sum(rows), sum(ending_rows) FROM coverage WHERE dataset=?", (ds,)
        ).fetchone()
        assert got - at_end == len(truth(sim, ds, p)), ds
    conn.close()


def test_chunking_matches_one_query_for_odd_bounds(sim, tmp_path):
    arc = tmp_path / "a.sqlite3"
    p = params(["queue"], "202502011730", "202502030415")
    assert pull(sim, arc, p).exit_code == EXIT_OK
    assert archived(arc, "queue") == walked_truth(sim, "queue", p)


def test_daily_pull(sim, tmp_path):
    arc = tmp_path / "a.sqlite3"
    p = params(["agent", "interactionSegments"], "20250201", "20250203", daily=True)
    assert pull(sim, arc, p).exit_code == EXIT_OK
    for ds in p.datasets:
        assert archived(arc, ds) == walked_truth(sim, ds, p)


def test_filtered_pull(sim, tmp_path):
    arc = tmp_path / "a.sqlite3"
    p = params(["queue"], filter="CHANNEL:phone")
    assert pull(sim, arc, p).exit_code == EXIT_OK
    assert archived(arc, "queue") == walked_truth(sim, "queue", p) != []


@pytest.mark.slow
def test_repull_adds_nothing_and_late_updates_add_exactly_new_versions(sim, tmp_path):
    arc = tmp_path / "a.sqlite3"
    p = params(["interactionSegments", "queue"])
    first = pull(sim, arc, p)
    before = identities(arc)
    second = pull(sim, arc, p)
    assert identities(arc) == before
    again = second.progress.totals()  # every row received again (overlaps included): none new
    assert again.new_rows == 0 and again.duplicates == again.rows >= len(before)
    old_truth = walked_truth(sim, "interactionSegments", p)
    requests.post(
        sim.base_url + "/_simulator/late-updates",
        json={"datasets": ["interactionSegments"], "share": 0.2},
        timeout=10,
    )
    new_truth = walked_truth(sim, "interactionSegments", p)
    changed = set(new_truth) - set(old_truth)
    assert changed
    third = pull(sim, arc, p)
    assert third.progress.datasets["interactionSegments"].new_rows == len(changed)
    assert third.progress.datasets["queue"].new_rows == 0
    assert archived(arc, "interactionSegments") == sorted(old_truth + list(changed))
    assert archived(arc, "interactionSegments", latest=True) == new_truth
    assert first.run_id != third.run_id
    assert verify_archive(arc).ok


def test_same_key_and_commit_ts_with_other_content_is_a_conflict(sim, tmp_path):
    arc = tmp_path / "a.sqlite3"
    p = params(["queue"], "20250201", "20250201")
    pull(sim, arc, p)
    # the server re-serves a row with the same key and COMMIT_TS but a changed value
    from archiver.simulator import data

    real = sim.model._generate

    def tampered(ds, start, minutes):
        rows = real(ds, start, minutes)
        if ds.name == "queue" and rows:
            rows = [dict(rows[0], WAITTIME="999999"), *rows[1:]]
        return rows

    sim.model._generate = tampered
    sim.model._cache.clear()
    res = pull(sim, arc, p)
    assert res.progress.datasets["queue"].conflicts >= 1
    conn = sqlite3.connect(arc)
    n_conf = conn.execute("SELECT count(*) FROM conflicts").fetchone()[0]
    flagged = conn.execute("SELECT count(*) FROM records WHERE conflict=1").fetchone()[0]
    conn.close()
    assert n_conf == flagged >= 1
    assert verify_archive(arc).ok
    assert data  # module imported for the patch target


@pytest.mark.slow
def test_faults_500s_short_tokens_302_and_escaped_links(sim_factory, tmp_path):
    # the server's clock moves 0.05 s a page: its 2 s tokens expire every 40 pages, long
    # before the client's own (real) clock says so, and the expiry is answered with a 302
    clock = ManualClock()
    sim = sim_factory(
        fail_rate=0.2, token_ttl=2, redirect_401=True, escaped_links=True, clock=clock
    )
    arc = tmp_path / "a.sqlite3"
    p = params(["interactionSegments", "queue"], "20250201", "20250202", page_size=20)
    eng = engine_for(sim, arc, workers=3)
    for _ in eng.run(eng.plan(p)):
        clock.advance(0.05)
    assert eng.result.exit_code == EXIT_OK, eng.result.summary()
    for ds in p.datasets:
        assert archived(arc, ds) == walked_truth(sim, ds, p)
    assert sim.stats["status_500"] > 0
    assert sim.stats["status_302"] > 0 and sim.stats["tokens_issued"] > 2
    assert verify_archive(arc).ok


def test_garbled_pages_are_quarantined_and_retried(sim_factory, tmp_path):
    sim = sim_factory(garble_rate=0.15)
    arc = tmp_path / "a.sqlite3"
    p = params(["interactionSegments"], page_size=20)
    res = pull(sim, arc, p, quarantine_retries=20)
    assert res.exit_code == EXIT_OK
    assert archived(arc, "interactionSegments") == walked_truth(sim, "interactionSegments", p)
    conn = sqlite3.connect(arc)
    errors = [e for (e,) in conn.execute("SELECT error FROM quarantine")]
    conn.close()
    assert len(errors) == sim.stats["garbled"] > 0
    assert all("invalid JSON" in e or "not UTF-8" in e for e in errors)
    assert res.progress.totals().quarantined == len(errors)
    assert verify_archive(arc).ok


def test_persistently_garbled_chunk_fails_at_its_cursor_then_resumes(sim_factory, tmp_path):
    sim = sim_factory()
    arc = tmp_path / "a.sqlite3"
    p = params(["interactionSegments"], "20250201", "20250201", page_size=20)
    eng = engine_for(sim, arc, quarantine_retries=1)
    gen = eng.run(eng.plan(p))
    # let two pages through, then garble everything
    seen = 0
    for prog in gen:
        if prog.datasets["interactionSegments"].pages >= 2 and not seen:
            sim.set_faults(garble_rate=1.0)
            seen = 1
    res = eng.result
    d = res.progress.datasets["interactionSegments"]
    # failed chunks: exit 3 when some other chunk finished, 1 when none did
    assert res.status == "failed" and res.exit_code == (EXIT_PARTIAL if d.chunks_done else 1)
    assert d.failed >= 1 and d.failed + d.chunks_done == d.chunks_total
    assert "malformed" in d.message
    assert len(archived(arc, "interactionSegments")) >= 40
    sim.set_faults(garble_rate=0.0)
    res2 = pull(sim, arc, p)
    assert res2.exit_code == EXIT_OK
    assert archived(arc, "interactionSegments") == walked_truth(sim, "interactionSegments", p)
    assert verify_archive(arc).ok


def test_202_chunks_become_pending_then_retry_pending(sim_factory, tmp_path):
    sim = sim_factory(accepted_first=1)
    arc = tmp_path / "a.sqlite3"
    p = params(["queue"])
    n = len(split("queue", p.start, p.end, daily=False))
    res = pull(sim, arc, p)
    assert res.exit_code == EXIT_PARTIAL and res.progress.datasets["queue"].pending == n
    assert set(coverage(arc).values()) == {"pending"}
    conn = sqlite3.connect(arc)
    assert conn.execute("SELECT count(*) FROM pages WHERE http_status=202").fetchone()[0] == n
    assert (
        conn.execute("SELECT count(*) FROM coverage WHERE next_retry_at IS NOT NULL").fetchone()[0]
        == n
    )
    conn.close()
    eng = engine_for(sim, arc)
    plan = eng.plan_retry_pending()
    assert len(plan.items) == n
    for _ in eng.run(plan):
        pass
    assert eng.result.exit_code == EXIT_OK
    assert set(coverage(arc).values()) == {"done"}
    assert archived(arc, "queue") == walked_truth(sim, "queue", p)


def test_wait_pending_retries_with_backoff(sim_factory, tmp_path):
    sim = sim_factory(accepted_first=2)
    arc = tmp_path / "a.sqlite3"
    p = params(["queue"], "20250201", "20250201")
    res = pull(sim, arc, p, wait_pending=True)
    assert res.exit_code == EXIT_OK
    assert archived(arc, "queue") == walked_truth(sim, "queue", p)


def test_dataset_without_entitlement(sim_factory, tmp_path):
    sim = sim_factory(entitled=False)
    arc = tmp_path / "a.sqlite3"
    p = params(["queue", "interactionSegments"])
    res = pull(sim, arc, p)
    assert res.exit_code == EXIT_ENTITLEMENT
    d = res.progress.datasets["interactionSegments"]
    assert d.state == "not entitled" and "Analytics Insights" in d.message
    assert res.progress.datasets["queue"].state == "done"
    assert archived(arc, "queue") == walked_truth(sim, "queue", p)
    cov = coverage(arc)
    assert cov[("interactionSegments", "202502010000")] == "not_entitled"


@pytest.mark.slow
def test_cancel_then_resume(sim_factory, tmp_path):
    sim = sim_factory(latency_ms=20, rows_per_interval=20)
    arc = tmp_path / "a.sqlite3"
    p = params(["interactionSegments", "queue"], "20250201", "20250202", page_size=50)
    eng = engine_for(sim, arc, workers=2)
    for prog in eng.run(eng.plan(p)):
        if prog.totals().pages >= 10:
            eng.cancel()
    res = eng.result
    assert res.exit_code == EXIT_CANCELLED and res.status == "interrupted"
    partial = identities(arc)
    assert partial
    sim.set_faults(latency_ms=0)  # slow answers only so that the cancel lands mid-walk
    eng2 = engine_for(sim, arc)
    plan = eng2.plan(p)
    assert plan.resumed and plan.run_id == res.run_id
    for _ in eng2.run(plan):
        pass
    assert eng2.result.exit_code == EXIT_OK
    for ds in p.datasets:
        assert archived(arc, ds) == walked_truth(sim, ds, p)
    assert set(partial) <= set(identities(arc))
    assert verify_archive(arc).ok


def test_resume_with_a_token_the_server_rejects_restarts_the_chunk(sim_factory, tmp_path):
    sim = sim_factory(latency_ms=10)
    arc = tmp_path / "a.sqlite3"
    p = params(["interactionSegments"], "20250201", "20250201", page_size=10)
    eng = engine_for(sim, arc, workers=1)
    for prog in eng.run(eng.plan(p)):
        if prog.totals().pages >= 3:
            eng.cancel()
    sim.set_faults(latency_ms=0)  # slow answers only so that the cancel lands mid-walk
    sim._token_secret = b"rotated"  # the server no longer knows the saved cursor
    res = pull(sim, arc, p)
    assert res.exit_code == EXIT_OK
    assert archived(arc, "interactionSegments") == walked_truth(sim, "interactionSegments", p)


def test_incremental(sim_factory, tmp_path):
    from datetime import timedelta

    from tests.pulltools import utc

    now = utc(2025, 2, 3, 6, 10)
    sim = sim_factory(clock=lambda: now)
    arc = tmp_path / "a.sqlite3"
    eng = engine_for(sim, arc)
    eng.now = lambda: now  # readiness judged on the simulator's clock
    with pytest.raises(ValueError, match="needs --from"):
        eng.plan_incremental(
            ["queue"],
            daily=False,
            filter=None,
            lookback=timedelta(days=1),
            start=None,
            page_size=200,
            now=now,
        )
    plan = eng.plan_incremental(
        ["queue"],
        daily=False,
        filter=None,
        lookback=timedelta(days=1),
        start=utc(2025, 2, 1),
        page_size=200,
        now=now,
    )
    assert plan.items[0].chunk.start_key == "202502010000"
    assert plan.items[-1].chunk.end_key == "202502030515"  # ended 30 minutes before "now"
    _contiguous(plan.items)
    for _ in eng.run(plan):
        pass
    assert eng.result.exit_code == EXIT_OK
    later = utc(2025, 2, 3, 9, 0)
    plan2 = eng.plan_incremental(
        ["queue"],
        daily=False,
        filter=None,
        lookback=timedelta(hours=2),
        start=None,
        page_size=200,
        now=later,
    )
    assert plan2.items[0].chunk.start_key == "202502030000"  # last end 05:15 minus 2 h, to midnight
    assert plan2.items[-1].chunk.end_key == "202502030815"
    _contiguous(plan2.items)


def _contiguous(items) -> None:
    from datetime import timedelta

    for a, b in itertools.pairwise(items):
        assert b.chunk.start == a.chunk.end + timedelta(minutes=15)


def test_memory_stays_bounded_by_queue(sim_factory, tmp_path):
    """The writer queue is bounded: workers block instead of piling pages in memory."""
    sim = sim_factory(rows_per_interval=5)
    eng = engine_for(sim, tmp_path / "a.sqlite3", workers=3)
    gen = eng.run(eng.plan(params(["queue"], "20250201", "20250205", page_size=5)))
    next(gen)
    writers = [t for t in threading.enumerate() if t.name == "archive-writer"]
    assert writers and writers[0].jobs.maxsize == 2 * 3 + 2
    for _ in gen:
        pass
    assert eng.result.exit_code == EXIT_OK


def test_schema_drift_is_recorded(sim, tmp_path, monkeypatch):
    import dataclasses

    from archiver import datasets

    arc = tmp_path / "a.sqlite3"
    p = params(["queue"], "20250201", "20250201")
    pull(sim, arc, p)
    queue = datasets.DATASETS["queue"]
    drifted = dataclasses.replace(queue, columns=(*queue.columns, ("SERVICE_LEVEL", "number")))
    monkeypatch.setitem(datasets.DATASETS, "queue", drifted)
    real = sim.model._generate
    monkeypatch.setattr(
        sim.model,
        "_generate",
        lambda ds, start, minutes: [
            dict(r, SERVICE_LEVEL="0.95") for r in real(ds, start, minutes)
        ],
    )
    sim.model._cache.clear()
    pull(sim, arc, params(["queue"], "20250202", "20250202"))
    conn = sqlite3.connect(arc)
    changes = conn.execute(
        "SELECT description FROM schema_changes WHERE dataset='queue' ORDER BY change_id"
    ).fetchall()
    conn.close()
    assert [c[0] for c in changes] == ["first seen", "added SERVICE_LEVEL"]
    assert verify_archive(arc).ok


def test_a_pull_stores_its_pages_compressed_and_the_hash_is_over_the_bytes_received(sim, tmp_path):
    import hashlib
    import sqlite3
    import zlib

    arc = tmp_path / "a.sqlite3"
    pull(sim, arc, params(["queue"], "202502010000", "202502010245"))
    conn = sqlite3.connect(arc)
    rows = conn.execute("SELECT encoding, body, sha256, size FROM pages").fetchall()
    conn.close()
    assert rows and {r[0] for r in rows} == {"zlib"}
    for _, body, sha, size in rows:
        raw = zlib.decompress(body)
        assert hashlib.sha256(raw).hexdigest() == sha and len(raw) == size > len(body)
