"""Retention benchmark: bytes reclaimed by disposing half of a month, and the time to plan
and apply the disposition of a whole month.

    python benchmarks/retention_benchmark.py                  # 30 days, 4 rows per interval
    python benchmarks/retention_benchmark.py --days 30 --rows 20 --datasets interactionSegments,workflowTrace,transcript

One archive is pulled from the embedded simulator (in this process, over loopback HTTP),
with a 6y schedule on every dataset pulled. Then, each on its own copy:

- **half**: the plan as of the day that makes the month's first half past retention is
  applied; prints the archive's bytes before and after (VACUUM gives the space back);
- **month**: the plan as of the day that makes the whole month past retention is timed,
  then applied (its time includes the signed certificate and the VACUUM).

The baseline in the same run is a full copy of the archive through SQLite's backup API (what
a disposition's VACUUM rewrites at most): the ratios say how the plan and the apply compare
with rewriting the file once. Prints figures; asserts nothing. On a shared machine the
times are noisy; the ratios less so.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _bytes(path: Path) -> int:
    return sum(os.stat(f"{path}{s}").st_size for s in ("", "-wal") if os.path.exists(f"{path}{s}"))


def _copy(src: Path, dst: Path) -> float:
    t0 = time.perf_counter()
    a, b = sqlite3.connect(src), sqlite3.connect(dst)
    with b:
        a.backup(b)
    a.close()
    b.close()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--rows", type=int, default=4, help="rows per interval (simulator)")
    ap.add_argument("--datasets", default="interactionSegments,workflowTrace,transcript")
    args = ap.parse_args()

    from archiver.export import keys
    from archiver.services import retention
    from archiver.simulator import SimConfig, Simulator
    from tests.pulltools import params, pull

    os.environ.setdefault("ARCHIVER_KEY_PASSPHRASE", "retention benchmark passphrase")
    tmp = Path(tempfile.mkdtemp(prefix="retention-bench-"))
    datasets = args.datasets.split(",")
    first = date(2025, 2, 1)
    last = first + timedelta(days=args.days - 1)
    src = tmp / "month.sqlite3"
    sim = Simulator(SimConfig(rows_per_interval=args.rows))
    sim.start()
    t0 = time.perf_counter()
    try:
        pull(
            sim,
            src,
            params(datasets, first.strftime("%Y%m%d"), last.strftime("%Y%m%d"), page_size=200),
        )
    finally:
        sim.stop()
    pulled = time.perf_counter() - t0
    ident = keys.load_or_create(tmp / "keys" / "signing")
    for ds in datasets:
        retention.set_schedule(src, ds, "6y", reason="benchmark")
    conn = sqlite3.connect(src)
    (pages,) = conn.execute("SELECT count(*) FROM pages").fetchone()
    (records,) = conn.execute("SELECT count(*) FROM records").fetchone()
    conn.close()
    print(
        f"archive: {args.days} days of {', '.join(datasets)} at {args.rows} rows per interval: "
        f"{pages:,} pages, {records:,} records, {_bytes(src) / 1e6:,.1f} MB (pulled in {pulled:.1f} s)"
    )
    base = _copy(src, tmp / "baseline.sqlite3")
    print(f"baseline: a full copy through the backup API: {base:.2f} s")

    # half of the month: as of the day after the middle day, six years on
    half = tmp / "half.sqlite3"
    _copy(src, half)
    mid = first + timedelta(days=args.days // 2)
    as_of = date(mid.year + 6, mid.month, mid.day)
    before = _bytes(half)
    p = retention.make_plan(half, as_of)
    done = retention.apply(half, p.plan_id, "benchmark: half", as_of=as_of, identity=ident)
    after = _bytes(half)
    print(
        f"half a month (as of {as_of}): disposed {len(p.pages):,} pages, {p.records:,} records, "
        f"{p.intervals:,} intervals; archive {before / 1e6:,.1f} MB before, "
        f"{after / 1e6:,.1f} MB after ({(before - after) / 1e6:,.1f} MB reclaimed, "
        f"{100 * (before - after) / before:.0f} %)"
    )
    del done

    # the whole month: the plan, then its apply, timed
    whole = tmp / "whole.sqlite3"
    _copy(src, whole)
    end = last + timedelta(days=1)
    as_of = date(end.year + 6, end.month, end.day)
    t0 = time.perf_counter()
    p = retention.make_plan(whole, as_of)
    plan_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    done = retention.apply(whole, p.plan_id, "benchmark: month", as_of=as_of, identity=ident)
    apply_s = time.perf_counter() - t0
    print(
        f"a month (as of {as_of}): {len(p.pages):,} pages, {p.records:,} records: plan {plan_s:.2f} s "
        f"({plan_s / base:.1f}× the baseline copy), apply {apply_s:.2f} s "
        f"({apply_s / base:.1f}× the baseline; the apply makes the plan again, signs, writes the "
        f"certificate and VACUUMs); archive {done.bytes_before / 1e6:,.1f} MB → "
        f"{done.bytes_after / 1e6:,.1f} MB"
    )
    t0 = time.perf_counter()
    from archiver.archive.verify import verify_archive

    rep = verify_archive(whole, sidecar=False)
    print(
        f"verify-archive after the month's disposition: {'OK' if rep.ok else 'FAILED'} in "
        f"{time.perf_counter() - t0:.2f} s ({rep.notes[0] if rep.notes else ''})"
    )
    print(f"files in {tmp}")


if __name__ == "__main__":
    main()
