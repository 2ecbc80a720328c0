"""kill -9 the pull process while it writes, rerun: nothing lost, nothing duplicated.

Each kill lands once the archive shows progress (new pages committed since the process
started), not after a guessed sleep, so every kill interrupts a run that is really writing
— the first ones during the initial fill, later ones during re-pulls — in both readings
of an interval ``ending``.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter

import pytest

from archiver.archive import sqlitefile
from archiver.archive.verify import verify_archive
from tests.pulltools import archived, archived_in_range, params, truth, walked_truth

#: every test here starts nine pulls as processes and kills eight of them
pytestmark = pytest.mark.slow

KILLS = 8
#: pages to wait for before each kill (varied so kills land at different points of a walk)
STEPS = (1, 3, 8, 15, 25, 35, 20, 40)


def _pages(arc) -> int:
    if not arc.exists():
        return 0
    try:
        conn = sqlitefile.connect(arc, "ro", timeout=5)
        try:
            return conn.execute("SELECT count(*) FROM pages").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:  # the file exists but its schema is not committed yet
        return 0


@pytest.mark.parametrize("ending", ["inclusive", "exclusive"])
def test_kill_9_while_writing_then_rerun(sim_factory, tmp_path, ending):
    sim = sim_factory(latency_ms=15, rows_per_interval=20, ending=ending)
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
    kills = 0
    progress = []
    for n in range(KILLS):
        before = _pages(arc)
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if _pages(arc) >= before + STEPS[n]:
                proc.send_signal(signal.SIGKILL)
                kills += 1
                break
            time.sleep(0.005)
        proc.wait(timeout=60)
        progress.append(_pages(arc))
    assert kills >= KILLS - 1, f"only {kills} of {KILLS} kills landed while pages were written"
    final = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stdout + final.stderr
    # every row the server holds for the walked intervals, each exactly once (a Counter: a
    # row stored twice is as wrong as one lost), compared with its ground truth, not with
    # another pull of the same client
    p = params(["interactionSegments", "queue"], "20250201", "20250204", page_size=50)
    records = 0
    for ds in p.datasets:
        got, want = Counter(archived(arc, ds)), Counter(walked_truth(sim, ds, p))
        lost, extra = want - got, got - want
        assert not lost and not extra, (
            f"{ds}: {lost.total()} rows lost (first {sorted(lost)[:1]}), "
            f"{extra.total()} extra or stored twice (first {sorted(extra)[:1]})"
        )
        assert archived_in_range(arc, ds, p) == truth(sim, ds, p)
        records += got.total()
    rep = verify_archive(arc)
    assert rep.ok, rep.summary()
    print(
        f"\nkill -9 ({ending}): {kills} kills, pages after each: {progress}; "
        f"final {records} records equal the ground truth"
    )
