"""Rows expected / archived / missing per range length, under both readings of `ending`.

    python benchmarks/completeness_table.py [--dataset interactionSegments] [--rows-per-interval 75]

For each reading the embedded simulator can serve (`--ending inclusive|exclusive`) and each
range (one interval, 6 hours, 1 day, 3 days, 17 days) it pulls into a fresh archive through
the real engine over HTTP on 127.0.0.1, then compares the archived rows of the range's
intervals with the simulator's ground truth, row for row, and prints a table.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from archiver.api import Credentials, Tenant
from archiver.api.retry import RetryPolicy
from archiver.archive import coverage
from archiver.pull.engine import PullEngine, PullParams
from archiver.simulator import SimConfig, Simulator
from archiver.timerange import parse_bound

RANGES = (
    ("one interval", "202502010415", "202502010415"),
    ("6 hours", "202502010600", "202502011145"),
    ("1 day", "20250201", "20250201"),
    ("3 days", "20250201", "20250203"),
    ("17 days", "20250201", "20250217"),
)


def run(dataset: str, rows: int, ending: str, start: str, end: str, tmp: Path) -> dict:
    p = PullParams(
        (dataset,),
        parse_bound(start, is_end=False, daily=False),
        parse_bound(end, is_end=True, daily=False),
        False,
        None,
        200,
    )
    with Simulator(SimConfig(rows_per_interval=rows, ending=ending)) as sim:
        arc = tmp / f"{ending}-{start}-{end}.sqlite3"
        eng = PullEngine(
            arc,
            Tenant.from_base_url(sim.base_url),
            Credentials(sim.config.client_id, sim.config.client_secret),
            retry=RetryPolicy(attempts=8, initial=0.01, max_delay=0.1, jitter=0.01),
        )
        t0 = time.perf_counter()
        for _ in eng.run(eng.plan(p)):
            pass
        took = time.perf_counter() - t0
        want = {tuple(r) for r in sim.truth(dataset, p.start, p.end)}
        conn = sqlite3.connect(arc)
        conn.row_factory = sqlite3.Row
        got = {
            tuple(json.loads(v).values())
            for (v,) in conn.execute(
                "SELECT v.values_json FROM records_view r JOIN record_values v USING (record_id)"
                " WHERE r.dataset=? AND r.dataset_type='interval'"
                " AND r.interval_start BETWEEN ? AND ?",
                (dataset, f"{p.start:%Y%m%d%H%M}", f"{p.end:%Y%m%d%H%M}"),
            )
        }
        extra_ok = {tuple(r) for r in sim.truth(dataset, p.start, p.end + timedelta(minutes=15))}
        beyond = {
            tuple(json.loads(v).values())
            for (v,) in conn.execute(
                "SELECT values_json FROM record_values WHERE dataset=?", (dataset,)
            )
        } - extra_ok
        reading = coverage.server_reading(conn).verdict
        conn.close()
    assert eng.result is not None
    return {
        "expected": len(want),
        "archived": len(got & want),
        "missing": len(want - got),
        "foreign": len(got - want) + len(beyond),
        "exit": eng.result.exit_code,
        "reading": reading,
        "seconds": took,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="interactionSegments")
    ap.add_argument("--rows-per-interval", type=int, default=75)
    args = ap.parse_args()
    print(f"dataset {args.dataset}, {args.rows_per_interval} rows per interval (simulator)")
    print(
        "| reading | range | rows expected | archived | missing | not in truth | exit | reading shown | s |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |")
    with tempfile.TemporaryDirectory() as d:
        for ending in ("inclusive", "exclusive"):
            for name, start, end in RANGES:
                r = run(args.dataset, args.rows_per_interval, ending, start, end, Path(d))
                print(
                    f"| {ending} | {name} | {r['expected']:,} | {r['archived']:,} | {r['missing']:,} "
                    f"| {r['foreign']:,} | {r['exit']} | {r['reading']} | {r['seconds']:.1f} |"
                )


if __name__ == "__main__":
    main()
