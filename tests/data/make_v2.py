"""How tests/data/archive-v2.sqlite3 was made: a schema-2 archive written by archiver as it
was before schema 3 (commit 9232bdc: page chains over the body hash only, no checkpoints).
Run from an export of that commit:

    mkdir /tmp/v2 && git archive 9232bdc | tar -x -C /tmp/v2 && cd /tmp/v2
    python /path/to/make_v2.py /tmp/archive-v2.sqlite3

What it holds, so that migrating and verifying it exercises what legitimately varies:
quarantined (garbled) responses, 202 pages of a chunk left pending and retried later, a
run cancelled and resumed with the same run id, a filtered pull, daily rows, a late update
re-pulled, and a ``verify-archive`` audit entry (which states the chain head then). Pages
are stored zlib-compressed except the daily pull's (both encodings).
"""

import sqlite3
import sys
from pathlib import Path

import requests

sys.path.insert(0, ".")
from archiver.services import archive as archive_service
from archiver.simulator import SimConfig, Simulator
from tests.pulltools import engine_for, params, pull


def main() -> None:
    out = Path(sys.argv[1])
    for f in out.parent.glob(out.name + "*"):
        f.unlink()
    with Simulator(SimConfig(rows_per_interval=3, garble_rate=0.1)) as sim:
        p = params(["interactionSegments", "agent"], "202502010000", "202502010145", page_size=5)
        print("garbled", pull(sim, out, p, quarantine_retries=20, compress=True).status)
        sim.set_faults(garble_rate=0.0, accepted_first=1)
        q = params(["queue"], "202502010000", "202502010245")
        print("202", pull(sim, out, q, compress=True).status)
        sim.set_faults(accepted_first=0)
        eng = engine_for(sim, out, compress=True)
        for _ in eng.run(eng.plan_retry_pending()):
            pass
        print("retry pending", eng.result.status)
        c = params(["workflowTrace"], "202502010000", "202502010545", page_size=5)
        eng = engine_for(sim, out, workers=1, compress=True)
        for prog in eng.run(eng.plan(c)):
            if prog.totals().pages >= 3:
                eng.cancel()
        print("cancelled", eng.result.status)
        print("resumed", pull(sim, out, c, workers=1, compress=True).status)
        f = params(["queue"], "202502010000", "202502010245", filter="CHANNEL:phone")
        print("filtered", pull(sim, out, f, compress=True).status)
        d = params(["agent"], "20250201", "20250201", daily=True)
        print("daily", pull(sim, out, d).status)
        requests.post(
            sim.base_url + "/_simulator/late-updates",
            json={"datasets": ["interactionSegments"], "share": 0.3},
            timeout=10,
        )
        print("late", pull(sim, out, p, compress=True).status)
    print(archive_service.verify(out, via="make_v2").summary())
    c = sqlite3.connect(out)
    print(c.execute("SELECT dataset, count(*) FROM records GROUP BY 1").fetchall())
    print(c.execute("SELECT count(*) FROM quarantine").fetchone()[0], "quarantined")
    print(c.execute("SELECT count(*) FROM pages WHERE http_status=202").fetchone()[0], "202s")
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.execute("VACUUM")
    c.close()


if __name__ == "__main__":
    main()
