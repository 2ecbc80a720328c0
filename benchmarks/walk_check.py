"""Walk N days of a dataset from a running ``archiver simulate`` and check exactly-once.

    archiver simulate --fail-rate 0.2 --token-ttl 5 &   # prints its URL
    python benchmarks/walk_check.py URL --days 7

Compares the walked records with a fault-free simulator of the same seed in this process
(the ground truth) and prints counts, duplicates, retries, token refreshes and rows/s.
The query's ``ending`` is the last interval of the N days; ``--ending`` says how the
walked simulator reads it (``archiver simulate --ending``): exclusive serves one interval
fewer, and the ground truth is that reading's selection.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

import requests

from archiver.api import Credentials, HistoricalClient, Page, Query, Tenant
from archiver.api.retry import RetryPolicy
from archiver.simulator import SimConfig, Simulator
from archiver.simulator.query import ENDINGS

INTERVAL = timedelta(minutes=15)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--dataset", default="interactionSegments")
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--start", default="2025-02-01")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rows-per-interval", type=int, default=75)
    ap.add_argument(
        "--ending",
        choices=ENDINGS,
        default="inclusive",
        help="how the walked simulator reads ending:X (its --ending; default inclusive)",
    )
    args = ap.parse_args()
    start = datetime.strptime(args.start, "%Y-%m-%d").replace(tzinfo=UTC)
    end = start + timedelta(days=args.days) - INTERVAL
    query = Query(args.dataset, start, end, page_size=200)
    last = end if args.ending == "inclusive" else end - INTERVAL  # what that reading selects
    try:  # the control API tells the reading it serves; a mismatch explains a failed check
        served = requests.get(args.url + "/_simulator/faults", timeout=10).json().get("ending")
    except (requests.RequestException, ValueError):
        served = None
    if served and served != args.ending:
        print(f"warning: the simulator reads ending as {served}, not {args.ending} (--ending)")
    client = HistoricalClient(
        Tenant.from_base_url(args.url),
        Credentials("archiver-demo", "demo-secret"),
        retry=RetryPolicy(attempts=10, initial=0.05, max_delay=1.0, jitter=0.05),
    )
    t0 = time.perf_counter()
    keys: list[str] = []
    records = []
    pages = 0
    for page in client.pages(query):
        if isinstance(page, Page):
            pages += 1
            records.extend(page.records)
            keys.extend(r[0] for r in page.records)
    elapsed = time.perf_counter() - t0
    truth = Simulator(SimConfig(seed=args.seed, rows_per_interval=args.rows_per_interval)).truth(
        args.dataset, start, last
    )
    print(
        f"dataset {args.dataset}, {args.days} days, {pages} pages in {elapsed:.1f} s ({len(records) / elapsed:,.0f} rows/s)"
    )
    print(
        f"rows walked {len(records):,}; distinct keys {len(set(keys)):,}; duplicates {len(keys) - len(set(keys))}"
    )
    print(
        f"ending read as {args.ending}: intervals {start:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M}"
    )
    print(f"ground truth {len(truth):,} rows; identical to the walk, in order: {records == truth}")
    print(
        f"requests {client.stats['requests']}, retries {client.stats['retries']}, auth replays {client.stats['auth_replays']}, tokens fetched {client.tokens.refreshes}"
    )


if __name__ == "__main__":
    main()
