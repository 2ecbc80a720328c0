"""Intake benchmark: what reading one response costs before anything is stored.

    python benchmarks/intake_benchmark.py            # 200-row pages of three datasets
    python benchmarks/intake_benchmark.py --repeat 50

For real 200-row simulator pages (Go's JSON, as the vendor's service writes it) it times,
per page and in the same run:

- ``json.loads`` alone: how a body was read before issue 18 §6 (the baseline);
- ``load_json``: the one reading (an object_pairs_hook refusing a repeated member name,
  and the unpaired-surrogate check, which looks at every string only when the body holds
  a surrogate escape);
- ``parse_page``: the whole validation the client runs on every page;
- the redaction scan (issue 18 §8) of the raw bytes for the credentials the process holds
  (a client secret and ``--tokens`` bearer tokens), which runs on every response.

and the same body written with every non-ASCII character escaped (``\\uXXXX``, surrogate
pairs for emoji), the worst case of the surrogate check. Prints microseconds per page (best of 7 samples) and
the ratio against ``json.loads``; asserts nothing. Figures on a shared machine are noisy:
compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from archiver.api.pages import load_json, parse_page
from archiver.api.query import Query
from archiver.api.redaction import Redactor
from archiver.datasets import get_dataset
from archiver.simulator import SimConfig, Simulator
from archiver.simulator.query import parse_query
from archiver.simulator.server import go_json

DATASETS = ("interactionSegments", "transcript", "agent")


def page_bodies(dataset: str) -> tuple[bytes, bytes]:
    """A full 200-row page as the simulator serves it, and the same page ASCII-escaped with
    an emoji in its last value (a surrogate pair: the unpaired-surrogate check then looks at
    every string)."""
    sim = Simulator(SimConfig(rows_per_interval=400))
    start = datetime(2025, 2, 3, 14, tzinfo=UTC)
    q = Query(dataset, start, datetime(2025, 2, 3, 17, tzinfo=UTC), page_size=200)
    body = sim.page(parse_query(get_dataset(dataset), q.params()), None)
    plain = go_json(body)
    body["records"][-1][-1] += "\U0001f600"  # escaped as a surrogate pair: the check runs
    return plain, json.dumps(body).encode()


def timed(fn: Callable[[], object], repeat: int) -> float:
    """The fastest sample's microseconds per call (the least disturbed by other work on the machine) (each sample runs it ``repeat`` times)."""
    samples = []
    for _ in range(7):
        t0 = time.perf_counter()
        for _ in range(repeat):
            fn()
        samples.append((time.perf_counter() - t0) / repeat * 1e6)
    return min(samples)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=20, help="calls per sample (7 samples)")
    ap.add_argument("--tokens", type=int, default=8, help="bearer tokens the process holds")
    args = ap.parse_args()
    redactor = Redactor()
    redactor.remember("demo-secret-" + secrets.token_hex(8))
    for _ in range(args.tokens):
        redactor.remember("eyJ" + secrets.token_urlsafe(32))
    print(f"per page, best of 7 samples of {args.repeat} calls; {args.tokens} tokens held")
    head = f"{'dataset':<30}{'body':>9} {'json.loads':>11} {'load_json':>10} {'ratio':>6} "
    print(head + f"{'parse_page':>11} {'ratio':>6} {'redact':>8} {'ratio':>6}")
    for dataset in DATASETS:
        for label, raw in zip(("", " (escaped)"), page_bodies(dataset), strict=True):
            base = timed(lambda raw=raw: json.loads(raw.decode("utf-8")), args.repeat)
            one = timed(lambda raw=raw: load_json(raw), args.repeat)
            full = timed(lambda raw=raw: parse_page(raw, "u", 200, None), args.repeat)
            scan = timed(lambda raw=raw: redactor.data(raw), args.repeat)
            print(
                f"{dataset + label:<30}{len(raw) / 1024:>7.0f} K {base:>9.0f}µs {one:>8.0f}µs "
                f"{one / base:>5.2f}x {full:>9.0f}µs {full / base:>5.2f}x "
                f"{scan:>6.0f}µs {scan / base:>5.2f}x"
            )


if __name__ == "__main__":
    main()
