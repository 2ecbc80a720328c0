"""The arguments of ``archiver search`` and ``archiver index rebuild``."""

from __future__ import annotations

import argparse

from archiver.cli import exits
from archiver.cli.common import add_archive, dataset_name
from archiver.cli.grammar.base import actions, command, handles

HANDLERS = "archiver.cli.search_cmds"

QUERY_HELP = """\
query language (docs/search.md):
  refund                 a word (any case; accents ignored: jose finds José)
  "call me back"         a phrase
  cancel*                a prefix
  a b, a AND b           both;  a OR b: either;  a NOT b: a without b;  ( ) groups
  agent:ID-or-name       also queue:, channel:, phone:, email:, interaction:, id:, text:
  dataset:transcript     records of one dataset
  date:2025-03-01..2025-03-31   a UTC range (first and last day or interval, included)

Results are grouped by interaction (its messages, segments, trace steps and CDR are one
hit), newest first; records of datasets without interactions are hits of their own. Each
found word is shown between ⟦ and ⟧. Every search is recorded in the archive's audit log
(the access log): the query, the range, the datasets and what was found."""


def search(s: argparse.ArgumentParser) -> None:
    handles(
        s,
        f"{HANDLERS}:run_search",
        exits.SEARCH,
        description="Search the archive's full-text index: every version of every record "
        "archived, grouped by interaction, newest first.",
        block=QUERY_HELP,
    )
    s.add_argument("query", metavar="QUERY", help="what to look for (quote it for the shell)")
    add_archive(s)
    s.add_argument(
        "--from",
        dest="start",
        metavar="START",
        help="the first 15-minute interval (or day) to search, UTC (YYYYMMDDHHmm, YYYYMMDD, "
        "YYYY-MM-DD or ISO)",
    )
    s.add_argument(
        "--to",
        dest="end",
        metavar="END",
        help="the last interval (or day) to search, included; a date alone is the whole day",
    )
    s.add_argument(
        "--dataset",
        action="append",
        type=dataset_name,
        default=[],
        metavar="NAME",
        help="search only this dataset (repeatable)",
    )
    s.add_argument(
        "--limit",
        type=int,
        default=20,
        metavar="N",
        help="list the newest N hits (default 20; the count is of all of them)",
    )
    s.add_argument("--json", action="store_true", help="print one JSON document")


def index(i: argparse.ArgumentParser) -> None:
    sub = actions(
        i,
        "The archive's full-text search index: derived from the records, kept by every "
        "pull, not part of the evidence chain (verify-archive checks it against the records).",
    )
    rebuild = command(sub, "rebuild", "recreate the search index from the archived records")
    handles(
        rebuild,
        f"{HANDLERS}:run_index_rebuild",
        exits.INDEX_REBUILD,
        description="Recreate the search index from the archived records: each column's "
        "search field decided again from the page that first brought it, every record "
        "indexed again. Holds the archive's lock while it runs, as a pull does (exit 6 when a "
        "pull holds it); one transaction, so an interrupted rebuild leaves the index as it "
        "was. Recorded in the audit log.",
    )
    add_archive(rebuild)
