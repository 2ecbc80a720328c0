"""The review screens' reads (archiver.archive.queries, through ArchiveReader): the lazy
Audit tab, the Interactions empty state, and the browser's queries (every fast path gives
exactly the answer of the plain one)."""

from __future__ import annotations

import requests

from archiver.archive.queries import browse
from archiver.archive.queries.review import ArchiveReader
from tests.pulltools import params, pull


def test_audit_ids_newest_first_and_entries_by_id(sim, tmp_path):
    arc = tmp_path / "a.sqlite3"
    pull(sim, arc, params(["queue"], "202502010000", "202502010045"))
    pull(sim, arc, params(["queue"], "202502010100", "202502010145"))
    with ArchiveReader(arc) as r:
        ids = list(r.audit_ids())
        log = r.audit_log()
        assert ids == [e.entry_id for e in log] and ids == sorted(ids, reverse=True)
        some = ids[1:3]
        entries = r.audit_entries(some)
        assert set(entries) == set(some)
        for e in log:
            if e.entry_id in entries:
                assert entries[e.entry_id] == e
        assert r.audit_entries([]) == {}
        assert r.has_records("queue") and not r.has_records("interactionSegments")


def _archive(sim, tmp_path):
    """Queue rows, some of them re-issued later (two versions)."""
    arc = tmp_path / "a.sqlite3"
    p = params(["queue"], "202502010000", "202502010545")
    pull(sim, arc, p)
    requests.post(
        sim.base_url + "/_simulator/late-updates",
        json={"datasets": ["queue"], "share": 0.3},
        timeout=10,
    )
    pull(sim, arc, p)
    return arc


def test_a_first_window_is_the_start_of_the_whole_answer(sim, tmp_path):
    arc = _archive(sim, tmp_path)
    with ArchiveReader(arc) as r:
        for kw in (
            {"latest_only": True},
            {"sort": "WAITTIME", "descending": True},
            {"sort": "QUEUE_NAME", "latest_only": True},
            {"search": "a", "latest_only": True},
            {"column_filter": ("CHANNEL", "o")},
        ):
            whole = list(r.record_ids("queue", **kw))
            assert whole, kw
            assert list(r.record_ids("queue", limit=7, **kw)) == whole[:7], kw


def test_a_single_stream_sort_equals_the_sort_through_records(sim, tmp_path, monkeypatch):
    arc = _archive(sim, tmp_path)
    with ArchiveReader(arc) as r:
        assert browse._streams_of(r, "queue") == [browse._stream(r, "queue")]
        fast = list(r.record_ids("queue", sort="WAITTIME", latest_only=True))
        # as if daily rows shared the values table
        monkeypatch.setattr(browse, "_streams_of", lambda _db, _d: [1, 2])
        slow = list(r.record_ids("queue", sort="WAITTIME", latest_only=True))
        assert fast == slow and len(fast) < r.dataset_counts()["queue"]
        superseded = {x for (x,) in r.conn.execute("SELECT record_id FROM superseded")}
        assert superseded and not superseded & set(fast)


def test_dataset_names_list_what_the_counts_list(sim, tmp_path):
    arc = _archive(sim, tmp_path)
    with ArchiveReader(arc) as r:
        counts, names = r.dataset_counts(), r.dataset_names()
    assert list(names) == list(counts)
    assert {n for n, c in counts.items() if c} == {n for n, c in names.items() if c} == {"queue"}


def test_a_sort_of_a_stream_not_archived_finds_nothing_of_the_other_stream(sim, tmp_path):
    """Only daily rows archived: the (empty) 15-minute stream must not show them."""
    arc = tmp_path / "a.sqlite3"
    pull(sim, arc, params(["queue"], "20250201", "20250203", daily=True))
    with ArchiveReader(arc) as r:
        daily = list(r.record_ids("queue daily", sort="WAITTIME"))
        assert daily and list(r.record_ids("queue", sort="WAITTIME")) == []
        assert list(r.record_ids("queue", sort="WAITTIME", latest_only=True)) == []
