"""How tests/data/archive-v4.sqlite3 was made: a schema-4 archive written by archiver as it
was before schema 5 (commit c7ec9e0: versions ordered by COMMIT_TS as text, chunk outcomes
without evidence of their own, quarantined responses not chained). Run from an export of
that commit:

    mkdir /tmp/v4 && git archive c7ec9e0 | tar -x -C /tmp/v4 && cd /tmp/v4
    python /path/to/make_v4.py /tmp/archive-v4.sqlite3

What it holds, so that migrating it to schema 5 exercises what the migration re-derives:

- a row of agentAux whose first version's COMMIT_TS is ``2025-02-03T00:26:58Z`` and whose
  revision is ``2025-02-03T00:26:58.5Z`` (Go's RFC 3339 nano form): schema 4 keeps the
  first as the latest (text order); schema 5 the revision;
- a row whose two versions differ in content and write the same instant as
  ``2025-02-03T00:30:00+00:00`` and ``2025-02-03T00:30:00Z``: no conflict in schema 4, a
  conflict in schema 5;
- a chunk that failed (every request answered 500) and a dataset refused (403): outcomes
  schema 4 kept in its coverage table alone, which the migration states in its entry;
- quarantined (garbled) responses, a 202 left pending and retried, a run cancelled and
  resumed, and a ``verify-archive`` entry.
"""

import json
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, ".")
from archiver.api.pages import Page
from archiver.api.query import Query
from archiver.archive.store import Archive
from archiver.services import archive as archive_service
from archiver.simulator import SimConfig, Simulator
from archiver.timerange import Chunk
from tests.pulltools import FAST, engine_for, params, pull

HEADERS = [
    {"name": "ROW_ID", "type": "string"},
    {"name": "STARTTIME_UTC", "type": "datetime"},
    {"name": "COMMIT_TS", "type": "datetime"},
    {"name": "I_AUXTIME", "type": "number"},
]


def _page(records, token, next_token, number):
    body = {
        "columnHeaders": HEADERS,
        "records": records,
        "pagination": {"pageSize": 200, "prevPageToken": "", "nextPageToken": next_token},
    }
    raw = json.dumps(body, separators=(",", ":")).encode()
    when = datetime(2025, 2, 4, 1, 0, number, tzinfo=UTC)
    url = "http://127.0.0.1:1/api/analytics/v2/datasets/agentAux"
    return Page(raw, 200, url, when, HEADERS, token, records, next_token, number)


def crafted(out: Path) -> None:
    """Two pages of one walk of agentAux 2025-02-03 00:00–00:45, through the writer."""
    p = params(["agentAux"], "202502030000", "202502030045")
    chunk = Chunk("agentAux", "interval", "", p.start, p.end)
    query = Query("agentAux", p.start, chunk.request_end, "interval", None, 200).params()
    first = [
        ["row-a", "2025-02-03T00:15:00Z", "2025-02-03T00:26:58Z", "10"],
        ["row-b", "2025-02-03T00:15:00Z", "2025-02-03T00:30:00+00:00", "20"],
    ]
    later = [
        ["row-a", "2025-02-03T00:15:00Z", "2025-02-03T00:26:58.5Z", "11"],
        ["row-b", "2025-02-03T00:15:00Z", "2025-02-03T00:30:00Z", "21"],
    ]
    with Archive(out) as a:
        a.start_run("crafted", "http://127.0.0.1:1", p.as_dict(), p.hash)
        a.begin_chunk(chunk, "crafted", None, "202502030100")
        a.store_page("crafted", chunk, _page(first, None, "t2", 1), query)
        a.store_page("crafted", chunk, _page(later, "t2", "", 2), query)
        a.finish_run("crafted", "finished", {"crafted": True})


def main() -> None:
    out = Path(sys.argv[1])
    for f in out.parent.glob(out.name + "*"):
        f.unlink()
    with Simulator(SimConfig(rows_per_interval=3, garble_rate=0.1)) as sim:
        q = params(["queue"], "202502010000", "202502010245", page_size=5)
        print("garbled", pull(sim, out, q, quarantine_retries=20).status)
        sim.set_faults(garble_rate=0.0, accepted_first=1)
        w = params(["agent"], "202502010000", "202502010245")
        print("202", pull(sim, out, w).status)
        sim.set_faults(accepted_first=0)
        eng = engine_for(sim, out)
        for _ in eng.run(eng.plan_retry_pending()):
            pass
        print("retry pending", eng.result.status)
        c = params(["workflowTrace"], "202502010000", "202502010545", page_size=5)
        eng = engine_for(sim, out, workers=1)
        for prog in eng.run(eng.plan(c)):
            if prog.totals().pages >= 3:
                eng.cancel()
        print("cancelled", eng.result.status)
        print("resumed", pull(sim, out, c, workers=1).status)
        sim.set_faults(fail_rate=1.0)
        f = params(["mpccdr"], "202502010000", "202502010045")
        quick = FAST.__class__(attempts=2, initial=0.001, max_delay=0.01, jitter=0.001)
        print("failing", pull(sim, out, f, retry=quick).status)
        sim.set_faults(fail_rate=0.0, entitled=False)
        n = params(["interactionSegments"], "202502010000", "202502010245")
        print("refused", pull(sim, out, n).status)
    crafted(out)
    print(archive_service.verify(out, via="make_v4").summary())
    conn = sqlite3.connect(out)
    print("schema", conn.execute("PRAGMA user_version").fetchone()[0])
    print(conn.execute("SELECT state, count(*) FROM coverage GROUP BY state").fetchall())
    conn.close()


if __name__ == "__main__":
    main()
