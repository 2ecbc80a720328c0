"""What became of a page's body: kept, disposed (retention), or erased (an erasure).

One helper decides it for verify-archive, Browse, coverage and bundles alike (WAVE3
decision 4), from the custody entries, never from the page row alone: a body is
``disposed`` only where a ``disposition applied`` entry names its page. A page row whose
body is gone without such an entry is a removal behind the archive's back, and
verify-archive fails it (:func:`check_bodies`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from archiver.archive import retention
from archiver.archive.cases import Entry

KEPT, DISPOSED, ERASED = "kept", "disposed", "erased"


@dataclass(frozen=True)
class Removal:
    """The entry that removed a page's body, and what it says about it."""

    state: str  # DISPOSED | ERASED
    entry: Entry
    page_id: int = 0

    @property
    def certificate(self) -> str:
        return str(self.entry.details.get("certificate_id") or "")

    @property
    def schedules(self) -> str:
        found = self.entry.details.get("schedules")
        if not isinstance(found, list):
            return ""
        return ", ".join(
            f"{s.get('dataset')}{' (' + str(s.get('dataset_type')) + ')' if s.get('dataset_type') else ''} {s.get('period')}"
            for s in found
            if isinstance(s, dict)
        )

    @property
    def rewritten_sha256(self) -> str | None:
        """An erased page: the SHA-256 its erasure entry states for the rewritten body."""
        for p in self.entry.details.get("pages") or []:
            if isinstance(p, dict) and p.get("page_id") == self.page_id:
                return str(p.get("sha256") or "")
        return None

    def key_rules(self, page_id: int) -> list[list[Any]]:
        """The key fallbacks its entry states were recorded at this page."""
        found = self.entry.details.get("key_rules")
        return [
            r
            for r in (found if isinstance(found, list) else [])
            if isinstance(r, list) and len(r) == 6 and r[3] == page_id
        ]

    def describe(self) -> str:
        """``disposed on 2026-12-07 under schedule transcript 6y (certificate D-…)``;
        ``erased on 2026-12-07 under request R (certificate E-…)``"""
        if self.state == ERASED:
            return (
                f"erased on {self.entry.at[:10]} under request "
                f"{self.entry.details.get('request_id')} (certificate {self.certificate})"
            )
        return (
            f"disposed on {self.entry.at[:10]} under schedule {self.schedules or '?'} "
            f"(certificate {self.certificate})"
        )


def removals(conn: sqlite3.Connection, found: Iterable[Any] | None = None) -> dict[int, Removal]:
    """page id → the entry that removed its body (every page a valid entry names), or that
    last rewrote it (an erasure: the body stays, its subject's values replaced; a page
    disposed of later is disposed)."""
    from archiver.archive import cases, erasure

    every = list(found) if found is not None else None
    out: dict[int, Removal] = {}
    for e in erasure.entries(conn) if every is None else erasure.entries_of(every):
        for pid in erasure.rewritten([e]):
            out[pid] = Removal(ERASED, cases.entry_of(e), pid)
    state, _ = retention.fold(retention.entries(conn) if every is None else every)
    out.update({pid: Removal(DISPOSED, e, pid) for pid, e in state.pages.items()})
    return out


def ending_evidence(found: Iterable[Any]) -> dict[int, tuple[int, int]]:
    """page id → (rows at its request's `ending`, rows outside it) of each disposed page, as
    its disposition entry states them (read from the body before it went): what a replay
    folds into the page's coverage instead of the body (``found``: the audit entries)."""
    state, _ = retention.fold(found)
    out: dict[int, tuple[int, int]] = {}
    for e in state.dispositions:
        stated = e.details.get("ending_evidence")
        if not isinstance(stated, dict):
            continue
        for pid, pair in stated.items():
            if (
                isinstance(pair, list)
                and len(pair) == 2
                and all(isinstance(n, int) for n in pair)
                and str(pid).isdigit()
            ):
                out[int(pid)] = (pair[0], pair[1])
    return out


def stated_key_rules(found: Iterable[Any]) -> dict[int, list[list[Any]]]:
    """page id → the key fallbacks ([dataset_type, rule, fallback, page_id, reason,
    detected_at]) its disposition entry states the page showed (``found``: the audit
    entries): what a replay takes instead of the body."""
    state, _ = retention.fold(found)
    out: dict[int, list[list[Any]]] = {}
    for pid, e in state.pages.items():
        rules = Removal(DISPOSED, e).key_rules(pid)
        if rules:
            out[pid] = rules
    return out


def body_state(conn: sqlite3.Connection, page_id: int) -> str:
    """``kept`` | ``disposed`` | ``erased``: what the custody entries say of the page's body."""
    found = removals(conn).get(page_id)
    return found.state if found else KEPT


# -- verification ----------------------------------------------------------------------------
def check(
    conn: sqlite3.Connection, found: Iterable[Any] | None = None
) -> tuple[list[str], list[str]]:
    """What verify-archive asks of the removals beyond the page pass (which accepts a
    missing body only where :func:`removals` names its page): (problems, notes).

    Each ``disposition applied`` entry must carry a signature that verifies with the
    certificate it names; the records rows of its pages must still be the rows it
    states (count and SHA-256: their values are gone, their identities are not); none of
    those records may have values again; the holds it says it honoured must be the holds
    in place when it was made (the case entries before it), and none of its pages may be
    one it said it kept."""
    from archiver.archive import cases

    every = list(found) if found is not None else None
    state, _ = retention.fold(retention.entries(conn) if every is None else every)
    problems: list[str] = []
    notes: list[str] = []
    case_entries = (
        cases.entries(conn)
        if every is None
        else [cases.entry_of(e) for e in every if cases.entry_of(e).event in cases.EVENTS]
    )
    for (pid,) in conn.execute(
        "SELECT page_id FROM pages WHERE encoding=? AND length(body) > 0 LIMIT 5",
        (retention.DISPOSED,),
    ):
        problems.append(f"page {pid}: marked disposed, but it holds bytes")
    for e in state.dispositions:
        d = e.details
        name = f"disposition of audit entry {e.entry_id} (certificate {d.get('certificate_id')})"
        why = retention.signature_problem(d)
        if why:
            problems.append(f"{name}: {why}")
        pages = retention.expand(d.get("pages"))
        n, digest = retention.records_digest(conn, pages)
        cert = d.get("certificate_id")
        if (n, digest) != (d.get("records"), d.get("records_digest")):
            problems.append(
                f"records (the {len(pages):,} pages disposed under certificate {cert}): their "
                f"records rows are not the {d.get('records')} rows its entry ({e.entry_id}) "
                f"states (now {n:,}: changed, added or removed after the disposition)"
            )
        with_values = _records_with_values(conn, pages)
        if with_values:
            problems.append(
                f"values (the pages disposed under certificate {cert}): {with_values:,} of their "
                "records have values again (a disposed record's values were removed; they "
                "were put back behind the archive's back)"
            )
        before = [c for c in case_entries if c.entry_id < e.entry_id]
        held_then = _held_at(before)
        found_held = d.get("held")
        stated: dict[str, Any] = found_held if isinstance(found_held, dict) else {}
        if {k: sorted(v) for k, v in stated.items()} != held_then:
            problems.append(
                f"{name}: the legal holds it says it honoured are not those in place when it "
                "was made (the case and hold entries before it)"
            )
        kept: set[int] = set()
        for k in d.get("kept") or []:
            if isinstance(k, dict):
                kept.update(retention.expand(k.get("page_ids")))
        if kept & set(pages):
            problems.append(f"{name}: it disposed of pages it says it kept for a legal hold")
        notes.append(
            f"{len(pages):,} pages disposed under certificate {d.get('certificate_id')} "
            f"(audit entry {e.entry_id}, {e.at[:10]}, plan {d.get('plan_id')}): their "
            f"{'bodies, values and salts' if 'salts_destroyed' in d else 'bodies and values'} "
            "are gone; their hashes, metadata, chain and records rows were checked"
        )
    return problems, notes


def _records_with_values(conn: sqlite3.Connection, pages: list[int]) -> int:
    from archiver.archive import values

    if not pages:
        return 0
    total = 0
    for (dataset,) in conn.execute(
        """SELECT DISTINCT dataset FROM pages WHERE page_id IN (SELECT value FROM json_each(?))""",
        (json.dumps(pages),),
    ).fetchall():
        t = values.table(dataset)
        if (
            conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (t,)
            ).fetchone()
            is None
        ):
            continue
        (n,) = conn.execute(
            f"""SELECT count(*) FROM {t} WHERE record_id IN (SELECT record_id FROM records
                WHERE page_id IN (SELECT value FROM json_each(?)))""",
            (json.dumps(pages),),
        ).fetchone()
        total += int(n)
    return total


def _held_at(found: list[Entry]) -> dict[str, list[str]]:
    """Held interaction → the cases holding it, after these case entries."""
    from archiver.archive import cases

    state, _ = cases.fold(found)
    out: dict[str, set[str]] = {}
    for case in state.cases.values():
        if case.hold is None:
            continue
        for iid in case.members:
            out.setdefault(iid, set()).add(case.name)
    return {k: sorted(v) for k, v in sorted(out.items())}
