"""How tests/data/archive-v1.sqlite3 was made: a schema-v1 archive written by archiver as
it was before schema 2 (commit 9325b0e). Run from a checkout of that commit:

    git worktree add /tmp/v1 9325b0e && cd /tmp/v1
    python /path/to/make_v1.py /tmp/archive-v1.sqlite3 2 202502010245

Seven interval datasets 00:00-02:45, a daily pull of interactionSegments and agent (the
daily segments repeat interval rows, which v1 deduplicated across the two), then a late
update and a re-pull (new versions).
"""
import sys
from pathlib import Path
sys.path.insert(0, ".")
from tests.pulltools import pull, params
from archiver.simulator import SimConfig, Simulator
out = Path(sys.argv[1])
rows = int(sys.argv[2]) if len(sys.argv) > 2 else 3
hours_end = sys.argv[3] if len(sys.argv) > 3 else "202502010545"
for f in out.parent.glob(out.name + "*"):
    f.unlink()
with Simulator(SimConfig(rows_per_interval=rows)) as sim:
    p = params(["interactionSegments", "workflowTrace", "transcript", "cxAgentLoginLogout",
                "queue", "agentLoginLogoutByQueue", "mpccdr"], "202502010000", hours_end)
    r = pull(sim, out, p); print("interval", r.status)
    p = params(["interactionSegments", "agent"], "20250201", "20250201", daily=True)
    r = pull(sim, out, p); print("daily", r.status)
    import requests
    requests.post(sim.base_url + "/_simulator/late-updates", json={"datasets": ["interactionSegments"], "share": 0.3}, timeout=10)
    p = params(["interactionSegments"], "202502010000", hours_end)
    r = pull(sim, out, p); print("late", r.status)
import sqlite3
c = sqlite3.connect(out)
print(c.execute("pragma user_version").fetchone(), c.execute("select dataset, count(*) from records group by 1").fetchall())
c.execute("PRAGMA wal_checkpoint(TRUNCATE)"); c.execute("VACUUM"); c.close()
