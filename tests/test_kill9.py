"""kill -9 the pull process at random moments, rerun: nothing lost, nothing duplicated."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

from archiver.archive.verify import verify_archive
from tests.pulltools import archived, identities, params, pull, truth

KILLS = 12


def test_kill_9_at_random_moments_then_rerun(sim_factory, tmp_path):
    sim = sim_factory(latency_ms=20, rows_per_interval=20)
    arc = tmp_path / "killed.sqlite3"
    cmd = [
        sys.executable,
        "-m",
        "archiver",
        "pull",
        "--base-url",
        sim.base_url,
        "--dataset",
        "interactionSegments",
        "--dataset",
        "queue",
        "--from",
        "20250201",
        "--to",
        "20250204",
        "--page-size",
        "50",
        "--workers",
        "3",
        "--archive",
        str(arc),
        "--json",
    ]
    env = dict(os.environ, ARCHIVER_CLIENT_ID="archiver-demo", ARCHIVER_CLIENT_SECRET="demo-secret")
    rnd = random.Random(20261128)
    kills = 0
    progress = []
    for _ in range(KILLS):
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rnd.uniform(0.45, 1.1))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=60)
        if arc.exists():
            conn = sqlite3.connect(arc)
            progress.append(conn.execute("SELECT count(*) FROM records").fetchone()[0])
            conn.close()
    assert kills >= 10, f"only {kills} kills landed"
    assert progress[-1] > 0
    final = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stdout + final.stderr
    reference = tmp_path / "reference.sqlite3"
    p = params(["interactionSegments", "queue"], "20250201", "20250204", page_size=50)
    pull(sim, reference, p)
    got, want = set(identities(arc)), set(identities(reference))
    assert got == want, (
        f"missing {sorted(want - got)[:3]} ({len(want - got)}), extra {sorted(got - want)[:3]} ({len(got - want)})"
    )
    for ds in p.datasets:
        assert archived(arc, ds) == truth(sim, ds, p)
    rep = verify_archive(arc)
    assert rep.ok, rep.summary()
    print(
        f"\nkill -9: {kills} kills, records after each: {progress}; final {len(identities(arc))} records equal the reference"
    )
