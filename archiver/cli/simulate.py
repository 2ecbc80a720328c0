"""``archiver simulate``: serve the simulated Historical API on loopback."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from archiver.cli.common import dataset_name
from archiver.simulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, SimConfig, Simulator
from archiver.simulator.query import ENDINGS


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "simulate",
        help="serve a simulated Historical API on loopback",
        description="Serve a deterministic simulation of the Avaya Infinity Historical API. "
        "Prints its base URL as the first line, then serves until stopped (Ctrl-C).",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port (default 0: a free port)")
    p.add_argument("--seed", type=int, default=1, help="data seed (default 1)")
    p.add_argument(
        "--rows-per-interval",
        type=int,
        default=75,
        help="about how many rows each dataset has per 15-minute interval (default 75)",
    )
    p.add_argument(
        "--epoch", default="2025-01-01", help="first day with data, YYYY-MM-DD (default 2025-01-01)"
    )
    p.add_argument(
        "--client-id",
        default=DEFAULT_CLIENT_ID,
        help=f"client id accepted (default {DEFAULT_CLIENT_ID})",
    )
    p.add_argument(
        "--client-secret",
        default=DEFAULT_CLIENT_SECRET,
        help="client secret accepted (default: the documented demo secret)",
    )
    # readings of what the vendor guide leaves open (docs/simulator.md)
    p.add_argument(
        "--ending",
        choices=ENDINGS,
        default="inclusive",
        help="reading of interval=...,ending:X for interval queries: inclusive serves X, "
        "exclusive stops before X (default inclusive; daily queries are always inclusive)",
    )
    p.add_argument(
        "--omit-row-id",
        action="append",
        default=[],
        type=dataset_name,
        metavar="DATASET",
        help="serve DATASET without its ROW_ID column (repeatable)",
    )
    p.add_argument(
        "--shared-ids",
        action="store_true",
        help="ids that repeat within a response: transcripts as one row per message "
        "(shared TRANSCRIPT_ID), cxAgentLoginLogout statuses sharing their session's ID",
    )
    p.add_argument("--latency-ms", type=float, default=0.0, help="delay per data request")
    p.add_argument(
        "--cache-buckets",
        type=int,
        default=512,
        help="15-minute buckets of generated rows kept in memory (default 512)",
    )
    p.add_argument(
        "--fail-rate", type=float, default=0.0, help="share of data requests answered 500 (0..1)"
    )
    p.add_argument(
        "--accepted-first",
        type=int,
        default=0,
        metavar="K",
        help="answer the first K requests of each query with 202",
    )
    p.add_argument(
        "--token-ttl",
        type=float,
        default=900.0,
        metavar="S",
        help="access token lifetime in seconds (default 900)",
    )
    p.add_argument(
        "--no-entitlement",
        action="store_true",
        help="answer 403 for the Analytics Insights datasets",
    )
    p.add_argument(
        "--redirect-401", action="store_true", help="answer 401 as a 302 redirect to a login page"
    )
    p.add_argument(
        "--escaped-links", action="store_true", help="put a literal \\u0026 in links.next"
    )
    p.add_argument(
        "--garble-rate",
        type=float,
        default=0.0,
        help="share of pages whose body is corrupted (malformed JSON)",
    )
    p.add_argument(
        "--truncate-rate",
        type=float,
        default=0.0,
        help="share of pages cut off mid-body (connection closed)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        epoch = datetime.strptime(args.epoch, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        print(f"archiver simulate: --epoch {args.epoch!r} is not YYYY-MM-DD", file=sys.stderr)
        return 2
    cfg = SimConfig(
        host=args.host,
        port=args.port,
        seed=args.seed,
        rows_per_interval=args.rows_per_interval,
        cache_buckets=args.cache_buckets,
        client_id=args.client_id,
        client_secret=args.client_secret,
        epoch=epoch,
        ending=args.ending,
        omit_row_id=tuple(dict.fromkeys(args.omit_row_id)),
        shared_ids=args.shared_ids,
        latency_ms=args.latency_ms,
        fail_rate=args.fail_rate,
        accepted_first=args.accepted_first,
        token_ttl=args.token_ttl,
        entitled=not args.no_entitlement,
        redirect_401=args.redirect_401,
        escaped_links=args.escaped_links,
        garble_rate=args.garble_rate,
        truncate_rate=args.truncate_rate,
    )
    sim = Simulator(cfg)
    try:
        url = sim.bind()
    except OSError as exc:
        print(
            f"archiver simulate: cannot listen on {args.host}:{args.port}: {exc.strerror}. "
            "Choose another --port (0 picks a free one).",
            file=sys.stderr,
        )
        return 1
    print(url, flush=True)
    print(
        f"client id: {cfg.client_id}  (secret: see --client-secret; docs/simulator.md)", flush=True
    )
    omitted = ", ".join(cfg.omit_row_id) or "none"
    print(
        f"readings: ending {cfg.ending}; ROW_ID omitted from: {omitted}; "
        f"shared ids: {'on' if cfg.shared_ids else 'off'}",
        flush=True,
    )
    print(
        "control API: POST /_simulator/late-updates, GET|POST /_simulator/faults, "
        "GET /_simulator/stats. Ctrl-C stops.",
        flush=True,
    )
    try:
        sim.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0
