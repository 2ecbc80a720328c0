"""``archiver erase plan|apply``: parse, call services.erase, print."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from archiver import outputs
from archiver.archive import UnreadableArchive
from archiver.cli import common
from archiver.counts import RECORDS
from archiver.exitcodes import FAILED, KEY_UNUSABLE, NO_HITS, OK, USAGE
from archiver.plural import plural
from archiver.services import cases, erase, keys


def _fail(command: str, code: int, message: str) -> int:
    print(f"archiver erase {command}: {message}", file=sys.stderr)
    return code


def run_plan(args: argparse.Namespace) -> int:
    path = common.archive_path(args)
    try:
        found = erase.plan(path, args.subject)
    except erase.SubjectError as exc:
        return _fail("plan", USAGE, str(exc))
    except (FileNotFoundError, UnreadableArchive) as exc:
        return _fail("plan", USAGE, str(exc))
    except erase.NothingFound as exc:
        return _fail("plan", NO_HITS, str(exc))
    except cases.Held as exc:
        return _fail("plan", FAILED, f"refused: {exc}")
    except (outputs.Refused, cases.StorageError) as exc:
        return _fail("plan", FAILED, f"the plan could not be kept beside the archive ({exc})")
    if args.json:
        print(json.dumps(_plan_json(found), ensure_ascii=False, indent=2))
        return OK
    print(f"Erasure plan for {found.asked.text} in {path}")
    if len(found.subjects) > 1:
        also = ", ".join(s.text for s in found.subjects[1:])
        print(f"  {found.asked.text} stands for: {also}")
    print(
        f"  {RECORDS.of(len(found.hits))} {'names' if len(found.hits) == 1 else 'name'} the subject, on "
        f"{plural(len(found.pages), 'page')} (exact scan: {found.scan_found:,}; search index: "
        f"{found.index_found:,}"
        + (f"; {found.index_missed:,} the index missed" if found.index_missed else "")
        + ")"
    )
    if found.unindexed:
        print(f"  not indexed (scanned only): {', '.join(found.unindexed)}")
    for h in found.hits:
        where = ", ".join(f"{p} row {r}" for p, r in h.rows)
        inter = f" interaction {h.interaction}" if h.interaction else ""
        print(
            f"  record {h.record_id:>7}  {h.dataset} ({h.dataset_type}){inter}: "
            f"{', '.join(h.fields)}  [page {where}]"
        )
    print(f"  pages to rewrite: {', '.join(map(str, found.pages))}")
    print(f"plan id: {found.plan_id}")
    print(
        f"Apply with `archiver erase apply --plan {found.plan_id} --request-id R --reason TEXT`; "
        "anything archived or recorded before then makes the plan stale."
    )
    return OK


def _plan_json(found: erase.Plan) -> dict[str, Any]:
    return {
        "plan_id": found.plan_id,
        "subject": found.asked.text,
        "subjects": [s.text for s in found.subjects],
        "records": [
            {
                "record_id": h.record_id,
                "dataset": h.dataset,
                "dataset_type": h.dataset_type,
                "interaction": h.interaction,
                "fields": h.fields,
                "pages": [{"page_id": p, "row": r} for p, r in h.rows],
                "found_by_index": h.by_index,
            }
            for h in found.hits
        ],
        "pages": found.pages,
        "scan_found": found.scan_found,
        "index_found": found.index_found,
        "index_missed": found.index_missed,
        "not_indexed": found.unindexed,
        "chain_heads": found.heads,
    }


def run_apply(args: argparse.Namespace) -> int:
    path = common.archive_path(args)
    try:
        done = erase.apply(path, args.plan, args.request_id, args.reason, key_dir=args.key_dir)
    except (erase.NoPlan, erase.SubjectError, FileNotFoundError, UnreadableArchive) as exc:
        return _fail("apply", USAGE, str(exc))
    except erase.StalePlan as exc:
        return _fail("apply", FAILED, f"refused: {exc}. Nothing was erased.")
    except cases.Held as exc:
        return _fail("apply", FAILED, f"refused: {exc}")
    except keys.SigningKeyError as exc:
        return _fail("apply", KEY_UNUSABLE, f"{exc} Nothing was erased.")
    except (outputs.Refused, cases.StorageError) as exc:
        return _fail("apply", FAILED, f"refused: {exc}. Nothing was erased.")
    if args.json:
        print(
            json.dumps(
                {
                    "plan_id": done.plan_id,
                    "request_id": done.request_id,
                    "certificate_id": done.certificate_id,
                    "certificate_json": str(done.certificate_json),
                    "certificate_pdf": str(done.certificate_pdf),
                    "pages": done.pages,
                    "records": done.records,
                    "rows": done.rows,
                    "audit_chain": done.entry_chain,
                },
                indent=2,
            )
        )
        return OK
    print(
        f"Erased under request {done.request_id}: {RECORDS.of(done.records)}, "
        f"{plural(done.rows, 'page row')}, {plural(done.pages, 'page')} rewritten."
    )
    print(f"Certificate {done.certificate_id}:")
    print(f"  {done.certificate_json}")
    print(f"  {done.certificate_pdf}")
    for line in done.checkpoint:
        print(line)
    print(
        "Every other record of those pages still proves against its page's commitment root: "
        "`archiver verify-archive` shows it."
    )
    return OK
