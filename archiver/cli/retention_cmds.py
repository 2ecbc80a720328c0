"""``archiver retention …`` and ``archiver verify-certificate``: parse, call
services.retention, print."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from archiver.archive import UnreadableArchive
from archiver.cli import common
from archiver.datasets import DATASETS
from archiver.exitcodes import (
    BUSY,
    FAILED,
    KEY_UNUSABLE,
    NOTHING_DUE,
    OK,
    STALE_PLAN,
    UNTRUSTED,
    USAGE,
)
from archiver.plural import plural
from archiver.services import retention


def _fail(command: str, code: int, message: str) -> int:
    print(f"archiver {command}: {message}", file=sys.stderr)
    return code


def _guarded(command: str, run: Callable[[], int]) -> int:
    from archiver.export.keys import SigningKeyError

    try:
        return run()
    except retention.RetentionInputError as exc:
        return _fail(command, USAGE, str(exc))
    except (FileNotFoundError, UnreadableArchive) as exc:
        return _fail(command, USAGE, str(exc))
    except retention.RetentionRefused as exc:
        return _fail(command, FAILED, f"refused: {exc}")
    except retention.StalePlan as exc:
        return _fail(command, STALE_PLAN, str(exc))
    except retention.NothingDue as exc:
        print(f"Nothing disposed: {exc}.")
        return NOTHING_DUE
    except retention.ArchiveBusy as exc:
        return _fail(command, BUSY, f"{exc}; nothing was disposed")
    except SigningKeyError as exc:
        return _fail(command, KEY_UNUSABLE, str(exc))
    except retention.StorageError as exc:
        return _fail(command, FAILED, f"the archive could not be written ({exc}); nothing changed")


def _when(at: str) -> str:
    return at[:19].replace("T", " ") + " UTC" if at else ""


def run_set(args: argparse.Namespace) -> int:
    def run() -> int:
        s = retention.set_schedule(
            common.archive_path(args),
            args.dataset,
            args.period,
            dataset_type=args.dataset_type,
            reason=args.reason,
        )
        kind = f" ({s.dataset_type} rows)" if s.dataset_type else ""
        print(
            f"Retention of {s.dataset}{kind}: {retention.period_words(s.period)} "
            f"(audit entry {s.entry.entry_id}, {_when(s.entry.at)} by {s.entry.os_user})."
        )
        print("Nothing is disposed until `archiver retention plan` and `retention apply`.")
        return OK

    return _guarded("retention set", run)


def run_clear(args: argparse.Namespace) -> int:
    def run() -> int:
        retention.clear(common.archive_path(args), args.dataset, dataset_type=args.dataset_type)
        kind = f" ({args.dataset_type} rows)" if args.dataset_type else ""
        print(f"Retention schedule of {args.dataset}{kind} cleared: kept forever.")
        return OK

    return _guarded("retention clear", run)


def run_show(args: argparse.Namespace) -> int:
    def run() -> int:
        path = common.archive_path(args)
        found = retention.schedules(path)
        done = retention.dispositions(path)
        if args.json:
            doc: dict[str, Any] = {
                "schedules": [
                    {
                        "dataset": s.dataset,
                        "dataset_type": s.dataset_type or None,
                        "period": s.period,
                        "set_at": s.entry.at,
                        "set_by": s.entry.os_user,
                        "audit_entry": s.entry.entry_id,
                        "reason": s.reason,
                    }
                    for s in found
                ],
                "kept_forever": sorted(
                    d for d in DATASETS if not any(s.dataset == d for s in found)
                ),
                "dispositions": [d.__dict__ for d in done],
            }
            print(json.dumps(doc, indent=2, ensure_ascii=False))
            return OK
        if not found:
            print("No retention schedule: every dataset is kept forever.")
        for s in found:
            kind = f" ({s.dataset_type})" if s.dataset_type else ""
            why = f": {s.reason}" if s.reason else ""
            print(
                f"{s.dataset}{kind}: {s.period} ({retention.period_words(s.period)}), set "
                f"{_when(s.entry.at)} by {s.entry.os_user} (audit entry {s.entry.entry_id}){why}"
            )
        forever = [d for d in DATASETS if not any(s.dataset == d for s in found)]
        if found and forever:
            print(f"Kept forever: {', '.join(forever)}")
        for d in done:
            print(
                f"Disposition {d.certificate_id}: {_when(d.applied_at)} by {d.applied_by}, plan "
                f"{d.plan_id} as of {d.as_of}: {plural(d.pages, 'page')}, "
                f"{plural(d.records, 'record')}, {plural(d.intervals, 'interval')} ({d.reason})"
            )
        return OK

    return _guarded("retention show", run)


def run_plan(args: argparse.Namespace) -> int:
    def run() -> int:
        as_of = retention.parse_as_of(args.as_of)
        p = retention.make_plan(common.archive_path(args), as_of)
        if args.json:
            print(json.dumps(p.as_dict(), indent=2, ensure_ascii=False))
        else:
            print("\n".join(retention.plan_lines(p)))
        return OK if p.pages else NOTHING_DUE

    return _guarded("retention plan", run)


def run_apply(args: argparse.Namespace) -> int:
    def run() -> int:
        as_of = retention.parse_as_of(args.as_of) if args.as_of else None
        done = retention.apply(
            common.archive_path(args),
            args.plan,
            args.reason,
            as_of=as_of,
            key_dir=args.key_dir,
        )
        print("\n".join(done.lines()))
        return FAILED if done.json_path is None else OK

    return _guarded("retention apply", run)


def run_verify_certificate(args: argparse.Namespace) -> int:
    from archiver.export.certificate import CertificateError

    try:
        rep = retention.verify_certificate(
            args.path, key_dir=args.key_dir, expect=args.expect_fingerprint
        )
    except CertificateError as exc:
        return _fail("verify-certificate", USAGE, str(exc))
    if args.json:
        print(
            json.dumps(
                {
                    "verdict": rep.verdict(),
                    "certificate_id": rep.certificate_id,
                    "kind": rep.kind,
                    "signer": rep.fingerprint,
                    "trusted_by": rep.trusted_by or None,
                    "problems": rep.problems,
                    "untrusted": rep.untrusted,
                    "checks": rep.checks,
                },
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        print(f"{rep.verdict()}: {rep.kind or 'certificate'} {rep.certificate_id or args.path}")
        for line in rep.problems:
            print(f"  problem: {line}")
        for line in rep.untrusted:
            print(f"  not trusted: {line}")
        for line in rep.checks:
            print(f"  ok: {line}")
        if rep.trusted_by:
            print(f"  signer {rep.fingerprint}: {rep.trusted_by}")
    if rep.problems:
        return FAILED
    return UNTRUSTED if rep.untrusted else OK
