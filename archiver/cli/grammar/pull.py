"""``archiver pull``'s arguments."""

from __future__ import annotations

import argparse

from archiver.api.limits import (
    DEFAULT_MAX_BODY_MB,
    DEFAULT_MAX_PAGES_PER_CHUNK,
    DEFAULT_REQUEST_DEADLINE,
    MAX_WORKERS,
)
from archiver.api.query import BULK_PAGE_SIZE
from archiver.cli import exits
from archiver.cli.common import add_archive, add_tenant
from archiver.cli.grammar.base import add_dataset_type, handles
from archiver.datasets import DATASET_NAMES


def pull(p: argparse.ArgumentParser) -> None:
    handles(
        p,
        "archiver.cli.pull:run",
        exits.PULL,
        description="Pull datasets into the archive. The range is split into day chunks fetched "
        "by several workers; rerunning an interrupted command resumes it.",
    )
    add_tenant(p)
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--dataset", action="append", metavar="NAME", help="dataset to pull (repeatable, any case)"
    )
    which.add_argument("--all", action="store_true", help=f"all {len(DATASET_NAMES)} datasets")
    p.add_argument(
        "--from",
        dest="start",
        metavar="START",
        help="start: YYYYMMDDHHmm, YYYYMMDD or ISO (UTC unless an offset is given)",
    )
    p.add_argument(
        "--to",
        dest="end",
        metavar="END",
        help="end, inclusive as the API's 'ending' (a date alone: the whole day)",
    )
    add_dataset_type(
        p,
        "15-minute rows (interval, the default) or daily rows (the API's datasetType)",
        daily_alias=True,
    )
    p.add_argument(
        "--filter", metavar="COL:value", help="API filter, e.g. CHANNEL:phone or QUEUE_ID:003d*"
    )
    p.add_argument(
        "--page-size",
        type=int,
        default=BULK_PAGE_SIZE,
        metavar="N",
        help=f"records per page, 1-200 (default {BULK_PAGE_SIZE})",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=4,
        metavar="N",
        help=f"concurrent workers, 1-{MAX_WORKERS} (default 4)",
    )
    add_archive(p)
    p.add_argument(
        "--create-dirs",
        action="store_true",
        help="create the archive's folder if it does not exist (otherwise a missing folder "
        "is refused: a typo should not scatter archives)",
    )
    p.add_argument("--resume", action="store_true", help="continue the newest interrupted run")
    p.add_argument(
        "--retry-pending", action="store_true", help="retry chunks left pending by 202 responses"
    )
    p.add_argument(
        "--wait-pending", action="store_true", help="on 202, keep retrying with the guide's backoff"
    )
    p.add_argument(
        "--incremental",
        action="store_true",
        help="continue each dataset from its last completed chunk",
    )
    p.add_argument(
        "--lookback",
        default="2d",
        metavar="DURATION",
        help="with --incremental: re-read this much (e.g. 2d, 12h; default 2d)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print only one JSON document (status, exit_code, totals, errors, archive, "
        "duration): for monitoring",
    )
    p.add_argument(
        "--unattended",
        action="store_true",
        help="a scheduled run (archiver schedule sets it): recorded in the audit log",
    )
    limits = p.add_argument_group(
        "response limits",
        "a response crossing one fails its chunk, naming the limit; what arrived is quarantined",
    )
    limits.add_argument(
        "--max-body-mb",
        type=int,
        default=DEFAULT_MAX_BODY_MB,
        metavar="MB",
        help=f"largest response body, on the wire and decompressed (default {DEFAULT_MAX_BODY_MB})",
    )
    limits.add_argument(
        "--request-deadline",
        type=float,
        default=DEFAULT_REQUEST_DEADLINE,
        metavar="S",
        help="longest one request may take, connection to last byte "
        f"(default {DEFAULT_REQUEST_DEADLINE:g} s)",
    )
    limits.add_argument(
        "--max-pages-per-chunk",
        type=int,
        default=DEFAULT_MAX_PAGES_PER_CHUNK,
        metavar="N",
        help=f"most pages one chunk (one day) may have (default {DEFAULT_MAX_PAGES_PER_CHUNK:,})",
    )
    p.add_argument("--retry-initial", type=float, default=1.0, metavar="S", help=argparse.SUPPRESS)
    p.add_argument(
        "--not-ready-initial", type=float, default=30.0, metavar="S", help=argparse.SUPPRESS
    )
