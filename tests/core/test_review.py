"""archiver.review's reads behind the lazy Audit tab and the Interactions empty state."""

from __future__ import annotations

from archiver.review import ArchiveReader
from tests.pulltools import params, pull


def test_audit_ids_newest_first_and_entries_by_id(sim, tmp_path):
    arc = tmp_path / "a.sqlite3"
    pull(sim, arc, params(["queue"], "202502010000", "202502010045"))
    pull(sim, arc, params(["queue"], "202502010100", "202502010145"))
    with ArchiveReader(arc) as r:
        ids = list(r.audit_ids())
        log = r.audit_log()
        assert ids == [e["entry_id"] for e in log] and ids == sorted(ids, reverse=True)
        some = ids[1:3]
        entries = r.audit_entries(some)
        assert set(entries) == set(some)
        for e in log:
            if e["entry_id"] in entries:
                assert tuple(entries[e["entry_id"]]) == tuple(e)
        assert r.audit_entries([]) == {}
        assert r.has_records("queue") and not r.has_records("interactionSegments")
