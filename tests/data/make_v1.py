"""How tests/data/archive-v1.sqlite3 was made: a schema-v1 archive written by archiver as
it was before schema 2 (commit 9325b0e). Run from a checkout of that commit:

    git worktree add /tmp/v1 9325b0e && cd /tmp/v1
    python /path/to/make_v1.py /tmp/archive-v1.sqlite3 2 202502010245

Seven interval datasets 00:00-02:45, a daily pull of interactionSegments and agent (the
daily segments repeat interval rows, which v1 deduplicated across the two), then a late
update and a re-pull (new versions).
"""

import sqlite3
import sys
from pathlib import Path

import requests

sys.path.insert(0, ".")
from archiver.simulator import SimConfig, Simulator
from tests.pulltools import params, pull

DATASETS = [
    "interactionSegments",
    "workflowTrace",
    "transcript",
    "cxAgentLoginLogout",
    "queue",
    "agentLoginLogoutByQueue",
    "mpccdr",
]


def main() -> None:
    out = Path(sys.argv[1])
    rows = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    last = sys.argv[3] if len(sys.argv) > 3 else "202502010545"
    for f in out.parent.glob(out.name + "*"):
        f.unlink()
    with Simulator(SimConfig(rows_per_interval=rows)) as sim:
        print("interval", pull(sim, out, params(DATASETS, "202502010000", last)).status)
        daily = params(["interactionSegments", "agent"], "20250201", "20250201", daily=True)
        print("daily", pull(sim, out, daily).status)
        requests.post(
            sim.base_url + "/_simulator/late-updates",
            json={"datasets": ["interactionSegments"], "share": 0.3},
            timeout=10,
        )
        print("late", pull(sim, out, params(["interactionSegments"], "202502010000", last)).status)
    c = sqlite3.connect(out)
    print(c.execute("SELECT dataset, count(*) FROM records GROUP BY 1").fetchall())
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.execute("VACUUM")
    c.close()


if __name__ == "__main__":
    main()
