"""Retention schedules and defensible disposition: the use cases behind ``archiver
retention …``, ``archiver verify-certificate`` and the Retention tab.

- A schedule (``set`` / ``clear``) is a custody entry; without one a dataset is kept
  forever.
- :func:`plan` says what is past retention on a date (age measured from each record's own
  interval: archive/queries/retention.py) and what is kept despite it for a legal hold; its
  id is the hash of its content, the archive's chain heads included.
- :func:`apply` makes the plan again inside the disposition's own transaction, holding the
  archive's lock, and refuses an id that no longer matches (:class:`StalePlan`: plan again);
  then removes exactly that plan's bodies, values and index entries with one signed
  ``disposition applied`` entry, writes the signed certificate beside the archive (never
  over a file), records it, and gives the space back (VACUUM).
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from archiver import outputs
from archiver.archive import disposal
from archiver.archive import retention as store
from archiver.archive.errors import StorageError, UnreadableArchive
from archiver.archive.queries import cases as cq
from archiver.archive.queries import retention as q
from archiver.archive.queries.reader import Reader
from archiver.archive.queries.retention import Disposition, Kept, Plan, StreamPlan
from archiver.archive.retention import RetentionRefused, Schedule, period_words
from archiver.archive.store import Archive
from archiver.datasets import DATASETS
from archiver.export import certificate as certs
from archiver.export import keys
from archiver.plural import plural
from archiver.system import lock as locks
from archiver.system.lock import ArchiveBusy

__all__ = [
    "AGE_RULE",
    "Applied",
    "ArchiveBusy",
    "Disposition",
    "Kept",
    "NothingDue",
    "Plan",
    "RetentionInputError",
    "RetentionRefused",
    "Schedule",
    "StalePlan",
    "StorageError",
    "StreamPlan",
    "UnreadableArchive",
    "apply",
    "clear",
    "dispositions",
    "make_plan",
    "period_words",
    "plan_lines",
    "schedules",
    "set_schedule",
    "verify_certificate",
]

#: the lock's command name while a disposition holds it
APPLY = "retention apply"
#: how age is measured, in the words --help, the docs and the GUI use
AGE_RULE = (
    "Age is measured from each record's own interval (its 15-minute interval, or its day), "
    "never from when it was received: an interval is past a 6y schedule when it ended at "
    "least six years before the plan's date (midnight UTC)."
)


class RetentionInputError(ValueError):
    """A dataset, type, period, date or reason that cannot be used as given (usage error)."""


class NothingDue(Exception):
    """Nothing is past retention (no schedule, or nothing due yet): nothing to dispose."""


class StalePlan(Exception):
    """The archive changed since the plan was made: its id no longer matches; plan again."""


def _exists(path: Path) -> None:
    if not path.exists():
        raise FileNotFoundError(f"No archive at {path}.")


def _dataset(dataset: str, dataset_type: str | None) -> tuple[str, str]:
    if dataset not in DATASETS:
        names = ", ".join(DATASETS)
        raise RetentionInputError(f"not a dataset: {dataset!r} (one of {names})")
    dtype = dataset_type or ""
    if dtype not in ("", *store.DATASET_TYPES):
        raise RetentionInputError(f"not a dataset type: {dtype!r} (interval or daily)")
    return dataset, dtype


def schedules(path: Path) -> list[Schedule]:
    """The schedules in force (a dataset with none is kept forever)."""
    _exists(path)
    with Reader(path) as r:
        return q.schedules(r)


def set_schedule(
    path: Path,
    dataset: str,
    period: str,
    *,
    dataset_type: str | None = None,
    reason: str = "",
    via: str = "cli",
) -> Schedule:
    """Keep ``dataset`` (of one type, or every type) for ``period`` (custody entry
    ``retention set``)."""
    _exists(path)
    ds, dtype = _dataset(dataset, dataset_type)
    try:
        norm = store.normal_period(period)
    except ValueError as exc:
        raise RetentionInputError(str(exc)) from None
    details = {
        "dataset": ds,
        "dataset_type": dtype,
        "period": norm,
        "reason": (reason or "").strip()[:2000],
        "via": via,
    }
    with Archive(path, create=False) as a:
        state = a.retention_event(store.SET, details)
    return state.schedules[(ds, dtype)]


def clear(path: Path, dataset: str, *, dataset_type: str | None = None, via: str = "cli") -> None:
    """Keep ``dataset`` (of one type, or its dataset-wide schedule) forever again (custody
    entry ``retention cleared``); RetentionRefused when it has no such schedule."""
    _exists(path)
    ds, dtype = _dataset(dataset, dataset_type)
    with Archive(path, create=False) as a:
        a.retention_event(store.CLEARED, {"dataset": ds, "dataset_type": dtype, "via": via})


def parse_as_of(text: str | None) -> date:
    if not text:
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise RetentionInputError(f"--as-of: not a date: {text!r} (YYYY-MM-DD)") from None


def _held(src: Any) -> dict[str, list[str]]:
    """Held interaction → the cases holding it (services/cases' question, asked of the
    connection the plan reads, so that both see the same moment)."""
    return {iid: sorted({h.case for h in hs}) for iid, hs in cq.held_interactions(src).items()}


def make_plan(path: Path, as_of: date | None = None) -> Plan:
    """What is past retention on ``as_of`` (today, UTC, when None) and what is kept."""
    _exists(path)
    day = as_of or datetime.now(UTC).date()
    with Reader(path) as r:
        return q.plan(r, day, _held(r))


def dispositions(path: Path) -> list[Disposition]:
    _exists(path)
    with Reader(path) as r:
        return q.dispositions(r)


def size_words(n: int) -> str:
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return plural(n, "byte")


def plan_lines(p: Plan) -> list[str]:
    """The plan in words, as the CLI prints it and the Retention tab shows it."""
    lines = [f"Retention plan as of {p.as_of.isoformat()} (age from each record's own interval)"]
    if not p.streams:
        lines.append("Nothing is past retention.")
    for s in p.streams:
        lines.append(
            f"{s.dataset} ({s.dataset_type}), schedule {s.schedule.period} "
            f"(intervals ending by {s.cutoff.strftime('%Y-%m-%d %H:%M')} UTC):"
        )
        lines.append(
            f"  past retention: {plural(len(s.intervals), 'interval')}, {plural(len(s.pages), 'page')}, "
            f"{plural(s.records, 'record')}, {size_words(s.bytes)}"
            + (f" ({_range(s.intervals[0], s.intervals[-1])})" if s.intervals else "")
        )
        for k in s.kept:
            lines.append(
                f"  kept: {plural(len(k.pages), 'page')}, {plural(k.records, 'record')}, "
                f"{plural(k.intervals, 'interval')}: {k.describe()}"
            )
    lines.append(
        f"Total: {plural(len(p.pages), 'page')}, {plural(p.records, 'record')}, "
        f"{plural(p.intervals, 'interval')}, {size_words(p.bytes)} to dispose; "
        f"{plural(sum(len(k.pages) for k in p.kept), 'page')} kept under legal hold"
    )
    lines.append(f"plan id: {p.plan_id}")
    return lines


def _range(first: str, last: str) -> str:
    def words(k: str) -> str:
        if len(k) == 8:
            return f"{k[:4]}-{k[4:6]}-{k[6:]}"
        return f"{k[:4]}-{k[4:6]}-{k[6:8]} {k[8:10]}:{k[10:]}"

    return f"{words(first)} – {words(last)} UTC, last interval included"


# -- apply ---------------------------------------------------------------------------------
@dataclass
class Applied:
    """What a disposition did."""

    entry_id: int
    plan: Plan
    certificate_id: str
    json_path: Path | None
    pdf_path: Path | None
    removed: dict[str, int]
    bytes_before: int
    bytes_after: int
    chain_before: dict[str, Any]
    chain_after: dict[str, Any]
    seconds: float
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        p = self.plan
        out = [
            f"Disposed {plural(len(p.pages), 'page')} ({plural(p.records, 'record')}, "
            f"{plural(p.intervals, 'interval')}, {size_words(p.bytes)} of page bodies) under "
            f"plan {p.plan_id}: audit entry {self.entry_id}, certificate {self.certificate_id}.",
            f"Kept under legal hold: {plural(sum(len(k.pages) for k in p.kept), 'page')}.",
            f"Destroyed {plural(self.removed.get('salts', 0), 'record salt')} with the values: "
            "the kept commitments confirm no guess of what was disposed.",
        ]
        if self.json_path and self.pdf_path:
            out.append(f"Certificate: {self.json_path} (+ .p7s) and {self.pdf_path}")
        out.append(
            f"Archive file: {size_words(self.bytes_before)} before, {size_words(self.bytes_after)} after "
            f"(VACUUM gave back {size_words(max(self.bytes_before - self.bytes_after, 0))})."
        )
        out += self.notes
        return out


def _file_bytes(path: Path) -> int:
    total = 0
    for suffix in ("", "-wal"):
        try:
            total += os.stat(f"{path}{suffix}").st_size
        except OSError:
            pass
    return total


def _clean(text: str) -> str:
    value = (text or "").strip()
    if not value:
        raise RetentionInputError("give --reason: it is recorded with the disposition")
    if len(value) > 2000:
        raise RetentionInputError("--reason has at most 2000 characters")
    return value


def apply(
    path: Path,
    plan_id: str,
    reason: str,
    *,
    as_of: date | None = None,
    identity: keys.SigningIdentity | None = None,
    key_dir: Path | None = None,
    via: str = "cli",
) -> Applied:
    """Dispose exactly the plan ``plan_id`` (made again here, as of the same date: StalePlan
    when the archive changed since), holding the archive's lock (ArchiveBusy while a pull
    holds it). NothingDue for a plan with nothing to dispose."""
    _exists(path)
    why = _clean(reason)
    wanted = (plan_id or "").strip().lower()
    if not wanted:
        raise RetentionInputError("give --plan ID (the id `archiver retention plan` printed)")
    ident = identity or keys.load_or_create(key_dir)
    from archiver.services.bundles import refuse_revoked

    refuse_revoked(ident)
    started = time.perf_counter()
    lock = locks.acquire(path, APPLY)
    try:
        return _apply_locked(path, wanted, why, as_of, ident, via, started)
    finally:
        lock.release()


def _apply_locked(
    path: Path,
    wanted: str,
    reason: str,
    as_of: date | None,
    ident: keys.SigningIdentity,
    via: str,
    started: float,
) -> Applied:
    bytes_before = _file_bytes(path)
    day = as_of or datetime.now(UTC).date()
    made: dict[str, Any] = {}
    cid = ""

    def make(conn: Any) -> tuple[dict[str, Any], list[int]]:
        nonlocal cid
        src = _Conn(conn)
        p = q.plan(src, day, _held(src))
        if p.plan_id != wanted:
            raise StalePlan(
                f"plan {wanted} is stale: the archive changed since it was made (or it was made "
                f"as of another date); plan again (`archiver retention plan`) and apply the new "
                f"id (as of {day.isoformat()} it is {p.plan_id})"
            )
        if not p.pages:
            raise NothingDue("nothing is past retention in this plan: nothing was disposed")
        n, digest = store.records_digest(conn, p.pages)
        cid = (
            "D-"
            + hashlib.sha256(f"{p.plan_id} {datetime.now(UTC).isoformat()}".encode()).hexdigest()[
                :16
            ]
        )
        content = p.content()
        details = {
            "plan_id": p.plan_id,
            "certificate_id": cid,
            "as_of": day.isoformat(),
            "reason": reason,
            "via": via,
            "schedules": content["schedules"],
            "datasets": content["streams"],
            "pages": content["pages"],
            "intervals": content["intervals"],
            "records": n,
            "records_digest": digest,
            "ending_evidence": disposal.page_evidence(conn, p.pages),
            "key_rules": disposal.key_rules_at(conn, p.pages),
            # destroyed with the values: with a salt and its kept commitment anyone could
            # confirm a guess of a disposed value
            "salts_destroyed": disposal.salts_on(conn, p.pages),
            "bytes": p.bytes,
            "held": content["held"],
            "kept": [k.as_dict() | {"page_ids": store.runs(k.pages)} for k in p.kept],
            "chain_before": p.chain,
        }
        made["plan"] = p
        return store.sign(details, ident.key, ident.cert), p.pages

    with Archive(path, create=False) as a:
        entry_id, _chain, details, removed = a.dispose(make)
        with Reader(path) as r:
            after = q.chain_heads(r)
        applied = Applied(
            entry_id,
            made["plan"],
            cid,
            None,
            None,
            removed,
            bytes_before,
            0,
            details["chain_before"],
            after,
            0.0,
        )
        try:
            applied.json_path, applied.pdf_path, _ = _certify(path, applied, details, ident, a)
        except (OSError, outputs.Refused, certs.CertificateError) as exc:
            applied.notes.append(
                f"The disposition is recorded (audit entry {entry_id}) but its certificate "
                f"could not be written: {exc}"
            )
        a.vacuum()
    applied.bytes_after = _file_bytes(path)
    applied.seconds = time.perf_counter() - started
    return applied


class _Conn:
    """The writer's connection as a query Source (the plan made again inside the
    disposition's transaction)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn


def _certify(
    path: Path, applied: Applied, details: dict[str, Any], ident: keys.SigningIdentity, a: Archive
) -> tuple[Path, Path, str]:
    p = applied.plan
    with Reader(path) as r:
        when, who = q.entry_time(r, applied.entry_id)
    kept_lines = [
        f"{k.dataset} ({k.dataset_type}): {plural(len(k.pages), 'page')}, "
        f"{plural(k.records, 'record')}: {k.describe()}"
        for k in p.kept
    ] or ["nothing: no legal hold covered anything past retention"]
    statement = {
        "headline": (
            f"{plural(len(p.pages), 'page')} of evidence past retention were disposed of from "
            f"archive {path.name}: their bodies, their records' values and their rows' salts "
            "removed; each page's row, SHA-256, metadata and chain, and each record's identity, "
            "hash and commitment, were kept (without its salt a commitment confirms no guess "
            "of what was disposed)."
        ),
        "summary": [
            ["Archive", str(outputs.resolved(path))],
            [
                "Disposition",
                f"audit entry {applied.entry_id}, plan {p.plan_id}, as of {p.as_of.isoformat()}",
            ],
            [
                "Disposed",
                f"{plural(len(p.pages), 'page')}, {plural(p.records, 'record')}, "
                f"{plural(p.intervals, 'interval')}, {p.bytes:,} bytes of page bodies; "
                f"{plural(int(details.get('salts_destroyed') or 0), 'record salt')} destroyed",
            ],
            [
                "Datasets",
                "; ".join(
                    f"{s.dataset} ({s.dataset_type}) {s.schedule.period}: {plural(len(s.pages), 'page')}"
                    for s in p.streams
                    if s.pages
                ),
            ],
            ["Kept for legal holds", f"{plural(sum(len(k.pages) for k in p.kept), 'page')}"],
            ["Reason", str(details["reason"])],
            ["Applied", f"{when[:19].replace('T', ' ')} UTC by {who}"],
            ["Signing key", f"{details.get('signer', '')}"],
            [
                "Page chain before / after",
                f"{_head(applied.chain_before, 'pages')} / {_head(applied.chain_after, 'pages')}",
            ],
            [
                "Audit chain before / after",
                f"{_head(applied.chain_before, 'audit')} / {_head(applied.chain_after, 'audit')}",
            ],
        ],
        "sections": [
            {"title": "Kept despite retention", "lines": kept_lines},
            {
                "title": "Schedules applied",
                "lines": [
                    f"{s.schedule.describe()} (set in audit entry {s.schedule.entry.entry_id} "
                    f"{s.schedule.entry.at[:19]} by {s.schedule.entry.os_user}): intervals ending "
                    f"by {s.cutoff.strftime('%Y-%m-%d %H:%M')} UTC"
                    for s in p.streams
                ],
            },
        ],
        "disposition": {
            k: v for k, v in details.items() if k not in ("signature", "signer_certificate")
        },
        "audit_entry": applied.entry_id,
        "applied_by": who,
        "applied_at": when,
        "chain_heads": {"before": applied.chain_before, "after": applied.chain_after},
    }
    js, pdf, cid = certs.write_certificate(
        "disposition",
        statement,
        ident,
        path.parent,
        certificate_id=applied.certificate_id,
        prefix=f"{path.name}.",
        protect=[outputs.ArchiveSet.of(path)],
    )
    a.audit(
        store.CERTIFIED,
        {
            "certificate_id": cid,
            "disposition_entry": applied.entry_id,
            "json": js.name,
            "pdf": pdf.name,
            "json_sha256": hashlib.sha256(js.read_bytes()).hexdigest(),
            "pdf_sha256": hashlib.sha256(pdf.read_bytes()).hexdigest(),
        },
    )
    return js, pdf, cid


def _head(chain: dict[str, Any], which: str) -> str:
    if which == "pages":
        return f"{str(chain.get('pages_chain') or '')[:16]}… ({chain.get('pages')} pages)"
    return f"{str(chain.get('audit_chain') or '')[:16]}… ({chain.get('audit_entries')} entries)"


def verify_certificate(
    path: Path, *, key_dir: Path | None = None, expect: str | None = None
) -> certs.CertificateReport:
    """Check a disposition (or erasure) certificate given by any of its files."""
    from archiver.export.trust import TrustPolicy

    return certs.verify_certificate(Path(path), TrustPolicy.local(key_dir, expect))
