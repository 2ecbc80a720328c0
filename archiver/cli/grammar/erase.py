"""The arguments of ``archiver erase plan|apply``."""

from __future__ import annotations

import argparse
from pathlib import Path

from archiver.cli import exits
from archiver.cli.common import add_archive
from archiver.cli.grammar.base import actions, command, handles

HANDLERS = "archiver.cli.erase_cmds"

PROVABLE = (
    "Every other record of the pages rewritten stays provable: each page committed to each "
    "of its records separately when it was stored (a salted SHA-256 per record, whose root "
    "is in the page's chained metadata), and verify-archive proves every remaining record "
    "against its page's root."
)


def erase(c: argparse.ArgumentParser) -> None:
    sub = actions(
        c,
        "Erase one person's data (a data-protection request) while the archive still "
        "verifies: plan what names the subject, then apply that plan. " + PROVABLE,
    )
    plan = command(sub, "plan", "find every record that names the subject; print the plan id")
    handles(
        plan,
        f"{HANDLERS}:run_plan",
        exits.ERASE_PLAN,
        description="Find every record that names the subject, through the search index and "
        "an exact scan of every value (the index may miss a format: '(555) 010-0199' and "
        "'+15550100199' are one number), and list them with the fields that name it and the "
        "pages that hold them. Refused when a legal hold covers any of them (the case is "
        "named). Prints `plan id: ID`: a hash of the plan and the archive's chain heads, so "
        "any later change to the archive makes it stale. The plan (it holds the subject) is "
        "kept beside the archive, owner-only, until `erase apply` uses it. Nothing in the "
        "archive changes.",
    )
    plan.add_argument(
        "--subject",
        required=True,
        metavar="SUBJECT",
        help='phone:+1…, email:…, name:"First Last" or customer:ID (ID: an interaction id; '
        "its customer's name, phone and e-mail are erased wherever they appear)",
    )
    plan.add_argument("--json", action="store_true", help="print the plan as JSON (plan_id)")
    add_archive(plan)

    apply = command(sub, "apply", "erase exactly what a plan found; write the certificate")
    handles(
        apply,
        f"{HANDLERS}:run_apply",
        exits.ERASE_APPLY,
        description="Plan again and refuse if the archive changed since (a stale plan id); "
        "then, in one transaction: the subject's values are replaced by [erased] in the "
        "values tables and the search index, each page holding them is rewritten with the "
        "same replacement (its stored received-hash, metadata and chain stay), the erased "
        "records' salts are destroyed (their kept commitments confirm no guess), one chained "
        "`erasure applied` audit entry records the request, pages, records and fields, and a "
        "signed erasure certificate (JSON, CMS signature, PDF) is written beside the archive. "
        + PROVABLE
        + " Bundles made before stay as they were.",
    )
    apply.add_argument(
        "--plan", required=True, metavar="ID", help="the plan id `erase plan` printed"
    )
    apply.add_argument(
        "--request-id",
        required=True,
        metavar="R",
        help="the erasure request's reference (recorded, and on the certificate)",
    )
    apply.add_argument("--reason", required=True, metavar="TEXT", help="why (recorded)")
    apply.add_argument("--json", action="store_true", help="print the result as JSON")
    apply.add_argument("--key-dir", type=Path, default=None, help=argparse.SUPPRESS)
    add_archive(apply)
