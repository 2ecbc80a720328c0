"""Walk N days of a dataset from a running ``archiver simulate`` and check exactly-once.

    archiver simulate --fail-rate 0.2 --token-ttl 5 &   # prints its URL
    python benchmarks/walk_check.py URL --days 7

Compares the walked records with a fault-free simulator of the same seed in this process
(the ground truth) and prints counts, duplicates, retries, token refreshes and rows/s.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

from archiver.api import Credentials, HistoricalClient, Page, Query, Tenant
from archiver.api.retry import RetryPolicy
from archiver.simulator import SimConfig, Simulator


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--dataset", default="interactionSegments")
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--start", default="2025-02-01")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rows-per-interval", type=int, default=75)
    args = ap.parse_args()
    start = datetime.strptime(args.start, "%Y-%m-%d").replace(tzinfo=UTC)
    end = start + timedelta(days=args.days) - timedelta(minutes=15)
    query = Query(args.dataset, start, end, page_size=200)
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
    truth = Simulator(SimConfig(seed=args.seed, rows_per_interval=args.rows_per_interval)).rows(
        args.dataset, query.params()
    )
    print(
        f"dataset {args.dataset}, {args.days} days, {pages} pages in {elapsed:.1f} s ({len(records) / elapsed:,.0f} rows/s)"
    )
    print(
        f"rows walked {len(records):,}; distinct keys {len(set(keys)):,}; duplicates {len(keys) - len(set(keys))}"
    )
    print(f"ground truth {len(truth):,} rows; identical to the walk, in order: {records == truth}")
    print(
        f"requests {client.stats['requests']}, retries {client.stats['retries']}, auth replays {client.stats['auth_replays']}, tokens fetched {client.tokens.refreshes}"
    )


if __name__ == "__main__":
    main()
