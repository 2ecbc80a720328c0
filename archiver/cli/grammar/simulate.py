"""``archiver simulate``'s arguments."""

from __future__ import annotations

import argparse

from archiver.cli import exits
from archiver.cli.common import dataset_name
from archiver.cli.grammar.base import handles


def extra_column(text: str) -> tuple[str, str]:
    """``NAME=VALUE`` (split at the first ``=``; NAME must not be empty)."""
    name, eq, value = text.partition("=")
    if not eq or not name:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
    return name, value


def simulate(p: argparse.ArgumentParser) -> None:
    # the simulator's defaults live with it; only this grammar imports it
    from archiver.simulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
    from archiver.simulator.query import COMMIT_TS_FORMS, ENDINGS

    handles(
        p,
        "archiver.cli.simulate:run",
        exits.SIMULATE,
        description="Serve a deterministic simulation of the Avaya Infinity Historical API "
        "on loopback. Prints its base URL as the first line and the credentials it accepts "
        "on the second, then serves until stopped (Ctrl-C).",
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
        help=f"client secret accepted (default {DEFAULT_CLIENT_SECRET}: a demo credential, "
        "printed in the banner)",
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
        "--commit-ts",
        choices=COMMIT_TS_FORMS,
        default="ms",
        help="how COMMIT_TS is written: ms (2025-11-25T00:26:58.500Z, the default), nano (Go's "
        "RFC 3339 nano form: 00:26:58.5Z, a whole second as 00:26:58Z) or offset "
        "(00:26:58.500+00:00)",
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
    p.add_argument(
        "--extra-column",
        action="append",
        default=[],
        type=extra_column,
        metavar="NAME=VALUE",
        help="add a column NAME (any text: RECORD_ID, row_id, …) to every page, every row "
        "holding VALUE (repeatable)",
    )
    p.add_argument(
        "--extra-column-dataset",
        action="append",
        default=[],
        type=dataset_name,
        metavar="DATASET",
        help="add the --extra-column columns to DATASET's pages only (repeatable; default: "
        "every dataset)",
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
