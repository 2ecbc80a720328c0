"""Replay benchmark: verify-archive of a month of every dataset, full replay beside --quick.

    python benchmarks/replay_benchmark.py            # builds the archive once (cached)
    python benchmarks/replay_benchmark.py --rebuild  # builds it again

The archive is what ``archiver pull --all`` over 30 days makes from the simulator at 20 rows
per interval (``archiver simulate --rows-per-interval 20`` in its own process): every
dataset, every page through the real client and writer. It is cached under /tmp
(``/tmp/archiver-replay-bench/month.sqlite3``) and rebuilt when its schema is not this
build's. Each verification runs in its own process (``tests/rss_main.py``: the peak RSS is
that process's own VmHWM), ``--read-only`` so the archive stays as built. Prints records,
pages, seconds and peak RSS of the full replay and of --quick, and their ratio; asserts
nothing (the targets — a month in at most 60 s and 300 MB — are read off the figures).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from archiver.archive.schema import SCHEMA_VERSION, migrate  # noqa: E402

CACHE = Path("/tmp/archiver-replay-bench")
ARCHIVE = CACHE / "month.sqlite3"
FIRST, LAST = "2025-03-01", "2025-03-30"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["ARCHIVER_CLIENT_ID"] = "archiver-demo"
    env["ARCHIVER_CLIENT_SECRET"] = "demo-secret"
    env["PYTHONPATH"] = str(ROOT)
    return env


def build() -> float:
    """Pull a month of every dataset from a simulator in its own process; seconds taken."""
    CACHE.mkdir(parents=True, exist_ok=True)
    for f in CACHE.glob(ARCHIVE.name + "*"):
        f.unlink()
    sim = subprocess.Popen(
        [sys.executable, "-m", "archiver", "simulate", "--rows-per-interval", "20"],
        stdout=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        assert sim.stdout is not None
        url = sim.stdout.readline().strip()
        t0 = time.perf_counter()
        pulled = subprocess.run(
            [
                sys.executable,
                "-m",
                "archiver",
                "pull",
                "--base-url",
                url,
                "--all",
                "--from",
                FIRST,
                "--to",
                LAST,
                "--archive",
                str(ARCHIVE),
                "--json",
            ],
            capture_output=True,
            text=True,
            env=_env(),
            check=False,
        )
        took = time.perf_counter() - t0
    finally:
        sim.terminate()
        sim.wait()
    if pulled.returncode != 0:
        raise SystemExit(f"the pull failed ({pulled.returncode}): {pulled.stdout[-2000:]}")
    return took


def _schema() -> int | None:
    """The cached archive's schema version; None when there is none, or when it lacks a
    table this build's schema has (an archive built by a branch before another's part of
    the same version landed)."""
    if not ARCHIVE.exists():
        return None
    fresh = sqlite3.connect(":memory:", isolation_level=None)
    conn = sqlite3.connect(f"file:{ARCHIVE}?mode=ro", uri=True)
    try:
        migrate(fresh, None)
        want = {n for (n,) in fresh.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        have = {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if want - have:
            return None
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()
        fresh.close()


def verify(*extra: str) -> dict[str, object]:
    """One verification in its own process: seconds (wall and CPU), peak RSS, exit code,
    its JSON document."""
    with tempfile.TemporaryDirectory() as tmp:
        rss = Path(tmp) / "rss"
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                str(ROOT / "tests" / "rss_main.py"),
                str(rss),
                "verify-archive",
                "--archive",
                str(ARCHIVE),
                "--read-only",
                "--json",
                *extra,
            ],
            capture_output=True,
            text=True,
            env=_env(),
            check=False,
        )
        seconds = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        peak_mb = int(rss.read_text()) / 1024
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    doc = json.loads(done.stdout) if done.stdout.strip() else {}
    return {"seconds": seconds, "cpu": cpu, "rss_mb": peak_mb, "code": done.returncode, "doc": doc}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rebuild", action="store_true", help="build the archive again")
    args = ap.parse_args()
    if args.rebuild or _schema() != SCHEMA_VERSION:
        print(f"building {ARCHIVE} (pull --all, {FIRST} – {LAST}, 20 rows per interval)…")
        print(f"  pulled in {build():.0f} s")
    conn = sqlite3.connect(f"file:{ARCHIVE}?mode=ro", uri=True)
    records = conn.execute("SELECT count(*) FROM records").fetchone()[0]
    pages = conn.execute("SELECT count(*) FROM pages").fetchone()[0]
    conn.close()
    size = ARCHIVE.stat().st_size / 2**20
    print(f"archive: {records:,} records, {pages:,} pages, {size:,.0f} MB ({ARCHIVE})")
    full = verify()
    quick = verify("--quick")
    for name, r in (("full replay", full), ("--quick", quick)):
        doc = r["doc"]
        verdict = doc.get("verdict", "") if isinstance(doc, dict) else ""
        print(
            f"{name:12} {r['seconds']:6.1f} s wall, {r['cpu']:6.1f} s CPU   peak RSS "
            f"{r['rss_mb']:6.0f} MB   exit {r['code']}   {verdict[:60]}"
        )
    ratio = float(full["seconds"]) / max(float(quick["seconds"]), 1e-9)  # type: ignore[arg-type]
    print(f"full replay / quick: {ratio:.1f}x the time")
    print(
        f"per 100k records: {float(full['seconds']) / records * 1e5:.1f} s wall, "  # type: ignore[arg-type]
        f"{float(full['cpu']) / records * 1e5:.1f} s CPU (on a shared machine the wall time "  # type: ignore[arg-type]
        f"depends on the load, {os.getloadavg()[0]:.1f} now: compare CPU time and the ratio)"
    )


if __name__ == "__main__":
    main()
