"""The arguments of ``archiver retention set|show|clear|plan|apply`` and ``archiver
verify-certificate``."""

from __future__ import annotations

import argparse
from pathlib import Path

from archiver.cli import exits
from archiver.cli.common import add_archive
from archiver.cli.grammar.base import DATASET_TYPES, actions, command, handles

HANDLERS = "archiver.cli.retention_cmds"

CUSTODY = (
    "A schedule is an entry of the archive's audit log (who: the OS user; when: UTC), and "
    "verify-archive makes the retention tables again from those entries. Without a schedule "
    "a dataset is kept forever."
)
AGE = (
    "Age is measured from each record's own interval (its 15-minute interval, or its day "
    "for daily rows), never from when it was received: an interval is past a 6y schedule "
    "when it ended at least six years before the plan's date (midnight UTC). A page is "
    "disposed whole, once every record it holds and every interval it asked for is past "
    "retention."
)
HOLDS = (
    "Nothing an interaction under legal hold touches is disposed: a page holding a record "
    "of a held interaction is kept (legal hold, naming the case), and so is every page "
    "holding a record of the same dataset and interval (an interval shared with a held "
    "interaction)."
)


def _dataset_type(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--dataset-type",
        choices=DATASET_TYPES,
        default=None,
        help=f"{what} only this type of the dataset's rows (default: every type; a "
        "type's own schedule wins over the dataset's)",
    )


def retention(r: argparse.ArgumentParser) -> None:
    sub = actions(
        r,
        "Retention schedules and defensible disposition: keep each dataset for a fixed time, "
        "then dispose of what is past it under a plan, with a signed certificate. " + CUSTODY,
    )
    st = command(sub, "set", "keep a dataset for a fixed time (6y, 18m, 90d)")
    handles(
        st,
        f"{HANDLERS}:run_set",
        exits.RETENTION_SET,
        description="Keep DATASET for PERIOD: a number and a unit, y (years), m (months) or "
        "d (days), e.g. 6y (SEC 17a-4, FINRA 4511), 18m, 90d. Nothing is disposed until "
        "`archiver retention apply`. " + CUSTODY + " " + AGE,
    )
    st.add_argument("dataset", metavar="DATASET", help="a dataset name (e.g. interactionSegments)")
    st.add_argument("period", metavar="PERIOD", help="6y, 18m, 90d …")
    _dataset_type(st, "keep")
    st.add_argument("--reason", metavar="TEXT", default="", help="why this period (recorded)")
    add_archive(st)

    sh = command(sub, "show", "the schedules in force, and the dispositions made")
    handles(
        sh,
        f"{HANDLERS}:run_show",
        exits.RETENTION_SHOW,
        description="The schedule of each dataset (who set it, when), every dataset without "
        "one (kept forever), and the dispositions made under them.",
    )
    sh.add_argument("--json", action="store_true", help="print one JSON document")
    add_archive(sh)

    cl = command(sub, "clear", "keep a dataset forever again")
    handles(
        cl,
        f"{HANDLERS}:run_clear",
        exits.RETENTION_CLEAR,
        description="Remove DATASET's schedule (of one --dataset-type, or its dataset-wide "
        "one): it is kept forever again. " + CUSTODY,
    )
    cl.add_argument("dataset", metavar="DATASET", help="a dataset name")
    _dataset_type(cl, "clear the schedule of")
    add_archive(cl)

    pl = command(sub, "plan", "what is past retention, and what is kept despite it")
    handles(
        pl,
        f"{HANDLERS}:run_plan",
        exits.RETENTION_PLAN,
        description="List, per dataset, what is past retention on a date: intervals, pages, "
        "records and bytes of page bodies; and what is kept despite it, with the reason. "
        "Changes nothing. The plan's id (`plan id: ID`; `plan_id` in --json) is the hash of "
        "its content and of the archive's chain heads: any change of the archive since makes "
        "it stale. " + AGE + " " + HOLDS,
    )
    pl.add_argument(
        "--as-of",
        metavar="DATE",
        help="the plan's date, YYYY-MM-DD (default: today, UTC); give the same to apply",
    )
    pl.add_argument("--json", action="store_true", help="print one JSON document")
    add_archive(pl)

    ap = command(sub, "apply", "dispose of exactly one plan, with a signed certificate")
    handles(
        ap,
        f"{HANDLERS}:run_apply",
        exits.RETENTION_APPLY,
        description="Dispose of exactly the plan ID: the plan is made again (holding the "
        "archive's lock) and refused when its id differs (the archive changed since: plan "
        "again). Each page loses its body and its records their values and search index "
        "entries; the page's row, SHA-256, metadata and chain, and each record's identity and "
        "hash, stay, so verify-archive still proves the archive. One signed `disposition "
        "applied` audit entry records it; a signed certificate (JSON, its .p7s and a PDF) is "
        "written beside the archive (never over a file), and VACUUM gives the space back. " + HOLDS,
    )
    ap.add_argument("--plan", required=True, metavar="ID", help="the id `retention plan` printed")
    ap.add_argument("--reason", required=True, metavar="TEXT", help="why (recorded, certified)")
    ap.add_argument(
        "--as-of",
        metavar="DATE",
        help="the date the plan was made for (default: today, UTC)",
    )
    ap.add_argument("--key-dir", type=Path, default=None, help=argparse.SUPPRESS)
    add_archive(ap)


def verify_certificate(v: argparse.ArgumentParser) -> None:
    handles(
        v,
        f"{HANDLERS}:run_verify_certificate",
        exits.VERIFY_CERTIFICATE,
        description="Verify a disposition (or erasure) certificate given by any of its files "
        "(NAME.json, NAME.json.p7s, NAME.pdf): the JSON is canonical, the detached CMS "
        "signature is over it by the certificate it names, the PDF's signature is intact, "
        "covers the whole file, is by the same key and names this JSON; then whether the "
        "signer is trusted here (the local key, the trust store, a revocation), as `archiver "
        "verify` judges a bundle.",
    )
    v.add_argument(
        "path", type=Path, metavar="PATH", help="a certificate's .json, .json.p7s or .pdf"
    )
    v.add_argument(
        "--expect-fingerprint",
        metavar="SHA256",
        help="accept only this signer (its certificate's SHA-256 fingerprint)",
    )
    v.add_argument("--json", action="store_true", help="print one JSON document")
    v.add_argument("--key-dir", type=Path, default=None, help=argparse.SUPPRESS)
