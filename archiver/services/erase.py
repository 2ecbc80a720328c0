"""Erasing one person's data: ``archiver erase plan`` and ``archiver erase apply`` (docs/erase.md).

A plan finds every record that names the subject (archive/erasure.py: the search index and
an exact scan of the values), refuses what a legal hold covers (services/cases.refuse_if_held,
naming the case), and has an id: the SHA-256 of its content and the archive's chain heads.
The plan is kept beside the archive (``NAME.erase-plan-ID.json``, 0600: it holds the
subject, so apply removes it) because ``apply`` takes only the id. Apply plans again in the
writer's transaction and refuses a stale id, erases (archive/erasure.apply: values, index,
records' checksums, raw pages, salts, one chained ``erasure applied`` entry) and writes a
signed erasure certificate beside the archive (export/certificate.py) before it commits, so
an erasure never stands without its certificate.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archiver import outputs
from archiver.archive import erasure
from archiver.archive.erasure import Plan, StalePlan, SubjectError
from archiver.archive.queries.reader import Reader
from archiver.archive.store import Archive, os_user
from archiver.plural import plural
from archiver.services import cases, checkpoints
from archiver.timerange import utc_now

__all__ = [
    "Applied",
    "NoPlan",
    "NothingFound",
    "Plan",
    "StalePlan",
    "SubjectError",
    "apply",
    "plan",
    "plan_file",
]


class NothingFound(Exception):
    """No archived record names the subject: there is nothing to erase."""


class NoPlan(Exception):
    """No plan of that id is kept beside the archive."""


@dataclass
class Applied:
    plan_id: str
    request_id: str
    certificate_id: str
    certificate_json: Path
    certificate_pdf: Path
    pages: int
    records: int
    rows: int
    entry_chain: str
    details: dict[str, Any]
    #: what the checkpoint written after the erasure says (or why none was)
    checkpoint: list[str]


def plan_file(path: Path, plan_id: str) -> Path:
    return Path(path).with_name(f"{Path(path).name}.erase-plan-{plan_id}.json")


def plan(path: Path, subject: str) -> Plan:
    """Find what erasing ``subject`` (``phone:…``, ``email:…``, ``name:…``, ``customer:ID``)
    would change; refuses (cases.Held, naming the case) what a legal hold covers; keeps the
    plan beside the archive for ``apply``."""
    wanted = erasure.parse_subject(subject)
    Archive(path, create=False).close()  # an older archive is migrated (backup first)
    with Reader(path) as r:
        found = erasure.find(r.conn, wanted)
    if not found.hits:
        raise NothingFound(f"no archived record names {wanted.text}: nothing to erase")
    _refuse_held(path, found)
    _keep(path, found)
    return found


def _refuse_held(path: Path, found: Plan) -> None:
    cases.refuse_if_held(path, records=[h.record_id for h in found.hits], what="erased")


def _keep(path: Path, found: Plan) -> None:
    dest = plan_file(path, found.plan_id)
    if dest.exists():
        return  # the same plan again: the same content
    text = json.dumps({"subject": found.asked.text, "plan_id": found.plan_id}).encode()
    outputs.check_new(dest, flag="the erasure plan")
    tmp = outputs.temp_name(dest)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        os.write(fd, text)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        outputs.link_new(tmp, dest)
    except FileExistsError:
        pass
    finally:
        Path(tmp).unlink(missing_ok=True)


def _subject_of(path: Path, plan_id: str) -> erasure.Subject:
    f = plan_file(path, plan_id)
    if not plan_id or any(c not in "0123456789abcdef" for c in plan_id) or not f.is_file():
        raise NoPlan(
            f"no erasure plan {plan_id!r} is kept beside {path}: run `archiver erase plan "
            "--subject …` first and give the plan id it prints"
        )
    try:
        return erasure.parse_subject(json.loads(f.read_text(encoding="utf-8"))["subject"])
    except (ValueError, KeyError, TypeError) as exc:
        raise NoPlan(f"the erasure plan {f} cannot be read ({exc})") from None


def apply(
    path: Path,
    plan_id: str,
    request_id: str,
    reason: str,
    *,
    identity: Any = None,
    key_dir: Path | None = None,
) -> Applied:
    """Erase exactly what plan ``plan_id`` found (StalePlan when the archive changed since:
    plan again), write the signed certificate beside the archive and record it all in one
    chained entry."""
    from archiver.export import keys
    from archiver.export.certificate import certificate_id_of, write_certificate

    request_id, reason = request_id.strip(), reason.strip()
    if not request_id or not reason:
        raise SubjectError("an erasure needs a --request-id and a --reason")
    subject = _subject_of(path, plan_id)
    ident = identity or keys.load_or_create(key_dir)
    cid = certificate_id_of("erasure", {"plan_id": plan_id, "request_id": request_id})
    archive = Archive(path, create=False)
    # what is erased is overwritten in the file, not only unlinked from its pages
    archive.conn.execute("PRAGMA secure_delete = ON")
    written: list[Path] = []
    try:
        with archive.transaction() as conn:
            # planned again in the writer's transaction: nothing can come between
            again = erasure.find(conn, subject)
            if again.plan_id != plan_id:
                raise StalePlan(
                    f"the archive changed since plan {plan_id[:16]}… was made (something was "
                    "archived, or a case, hold or erasure recorded): plan again with "
                    "`archiver erase plan`"
                )
            _refuse_held(path, again)  # (a hold placed since changed the chain heads too)
            done = erasure.apply(conn, again, request_id=request_id, reason=reason, certificate=cid)
            after = erasure.heads(conn)
            statement = _statement(again, done, request_id, reason, after)
            js, pdf, cid2 = write_certificate(
                "erasure",
                statement,
                ident,
                Path(path).parent,
                certificate_id=cid,
                prefix=f"{Path(path).name}.",
                protect=[outputs.ArchiveSet.of(path)],
            )
            written = [js, pdf, js.with_name(js.name + ".p7s")]
    except BaseException:
        for f in written:
            f.unlink(missing_ok=True)
        raise
    else:
        # the write-ahead log still holds the erased values' pages: copied into the file
        # (over the old ones) and emptied
        archive.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        archive.close()
    plan_file(path, plan_id).unlink(missing_ok=True)
    # the chains after the erasure, stated in the audit log and the sidecar (as a pull does)
    rec, why = checkpoints.try_record(path, "erase", identity=ident)
    return Applied(
        plan_id,
        request_id,
        cid2,
        js,
        pdf,
        done.pages,
        done.records,
        done.rows,
        str(after["audit_chain"]),
        done.details,
        checkpoints.describe(rec) if rec is not None else [f"no checkpoint was written ({why})"],
    )


def _statement(
    found: Plan, done: erasure.Applied, request_id: str, reason: str, after: dict[str, Any]
) -> dict[str, Any]:
    fields = sorted({f for h in found.hits for f in h.fields})
    by_ds: dict[str, int] = {}
    for h in found.hits:
        by_ds[h.dataset] = by_ds.get(h.dataset, 0) + 1
    return {
        "headline": (
            f"{plural(done.records, 'record')} on {plural(done.pages, 'page')} erased under "
            f"request {request_id}."
        ),
        "summary": [
            ["Request", request_id],
            ["Reason", reason],
            ["Subject", f"one {found.asked.kind} (not recorded: it was erased)"],
            [
                "Erased",
                f"{plural(done.records, 'record')}, {plural(done.rows, 'page row')}, "
                f"{plural(done.pages, 'page')} rewritten",
            ],
            ["Fields", ", ".join(fields)],
            ["Plan", found.plan_id],
            ["By", f"{os_user()} at {utc_now()}"],
            ["Page chain", f"{after['pages_chain']} (unchanged: {after['pages']:,} pages)"],
            ["Audit chain after", f"{after['audit_chain']} ({after['audit_entries']:,} entries)"],
        ],
        "sections": [
            {
                "title": "Records erased, by dataset",
                "lines": [f"{ds}: {plural(n, 'record')}" for ds, n in sorted(by_ds.items())],
            },
            {
                "title": "What stays provable",
                "lines": [
                    "Every other record of the rewritten pages proves against its page's "
                    "commitment root (verify-archive).",
                    "The erased rows' salts are destroyed: their kept commitments confirm no "
                    "guess of what was erased.",
                ],
            },
        ],
        "request_id": request_id,
        "reason": reason,
        "plan_id": found.plan_id,
        "subject_kind": found.asked.kind,
        "records": [h.record_id for h in found.hits],
        "fields": {str(h.record_id): h.fields for h in found.hits},
        "pages": done.details["pages"],
        "erased_by": os_user(),
        "chain_heads": {"before": found.heads, "after": after},
    }
