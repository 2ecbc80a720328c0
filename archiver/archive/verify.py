"""``archiver verify-archive``: recompute every checksum and chain, re-derive every record.

Finds a page or record edited, added or deleted behind the archive's back (even with the
append-only triggers dropped), and names the first thing that does not match.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from archiver.archive.hashing import (
    GENESIS,
    canonical_json,
    chain_next,
    sha256_hex,
)
from archiver.archive.schema import EVIDENCE_TABLES
from archiver.archive.store import commit_ts_index, open_reader, page_body, record_identity
from archiver.datasets import DATASETS

MAX_PROBLEMS = 50


@dataclass
class VerifyReport:
    problems: list[str] = field(default_factory=list)
    pages: int = 0
    records: int = 0
    audit_entries: int = 0
    quarantined: int = 0
    chain_head: str = GENESIS
    audit_head: str = GENESIS
    missing_triggers: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, problem: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)

    def summary(self) -> str:
        lines = []
        if self.ok:
            lines.append("OK: the archive is intact.")
        else:
            lines.append(f"FAILED: {self.problems[0]}")
            if len(self.problems) > 1:
                lines.append(
                    f"({len(self.problems) - 1}{'+' if len(self.problems) == MAX_PROBLEMS else ''} more problems:)"
                )
                lines.extend("  - " + p for p in self.problems[1:])
        lines.append(
            f"Checked {self.pages:,} pages, {self.records:,} records, {self.audit_entries:,} audit entries, "
            f"{self.quarantined:,} quarantined responses."
        )
        lines.append(f"Page chain head: {self.chain_head}")
        lines.append(f"Audit chain head: {self.audit_head}")
        if self.missing_triggers:
            lines.append(
                "Warning: append-only triggers missing: " + ", ".join(self.missing_triggers)
            )
        return "\n".join(lines)


def verify_archive(
    path: str | Path, progress: Callable[[int, int], None] | None = None
) -> VerifyReport:
    conn = open_reader(path)
    try:
        return _verify(conn, progress)
    finally:
        conn.close()


def _verify(conn: sqlite3.Connection, progress: Callable[[int, int], None] | None) -> VerifyReport:
    rep = VerifyReport()
    triggers = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'")}
    rep.missing_triggers = [
        f"{t}_no_{op}"
        for t in EVIDENCE_TABLES
        for op in ("update", "delete")
        if f"{t}_no_{op}" not in triggers
    ]
    total = conn.execute("SELECT count(*) FROM pages").fetchone()[0]
    chain = GENESIS
    expected_id = None
    for n, page in enumerate(conn.execute("SELECT * FROM pages ORDER BY page_id"), 1):
        rep.pages += 1
        pid = page["page_id"]
        if expected_id is not None and pid != expected_id + 1:
            rep.add(
                f"pages {expected_id + 1}–{pid - 1} are missing (page ids jump from {expected_id} to {pid})"
            )
        expected_id = pid
        try:
            raw = page_body(page["encoding"], page["body"])
        except Exception as exc:
            rep.add(f"page {pid}: body cannot be decoded ({exc})")
            continue
        digest = sha256_hex(raw)
        if digest != page["sha256"] or len(raw) != page["size"]:
            rep.add(
                f"page {pid} ({page['dataset']} {page['chunk_start']} page {page['page_number']}): its bytes do not match its SHA-256"
            )
        chain = chain_next(chain, page["sha256"])
        if chain != page["chain"]:
            rep.add(
                f"page {pid}: hash chain broken (stored {page['chain'][:16]}…, recomputed {chain[:16]}…)"
            )
            chain = page["chain"]  # continue from the stored value to find further breaks
        if page["http_status"] == 200:
            _rederive(conn, rep, page, raw)
        if progress and n % 200 == 0:
            progress(n, total)
    rep.chain_head = chain
    # records that point at no page, or beyond a page's records
    orphans = conn.execute(
        """SELECT r.record_id FROM records r LEFT JOIN pages p ON p.page_id = r.page_id
           WHERE p.page_id IS NULL OR r.row_index >= p.record_count OR p.http_status != 200 LIMIT 5"""
    ).fetchall()
    for (rid,) in orphans:
        rep.add(
            f"record {rid} does not come from any archived page (added behind the archive's back)"
        )
    rep.records = conn.execute("SELECT count(*) FROM records").fetchone()[0]
    for rec in conn.execute("SELECT record_id, values_json, sha256 FROM records"):
        if sha256_hex(rec["values_json"].encode()) != rec["sha256"]:
            rep.add(f"record {rec['record_id']}: its values do not match its SHA-256")
    for q in conn.execute("SELECT quarantine_id, body, sha256 FROM quarantine"):
        rep.quarantined += 1
        if sha256_hex(bytes(q["body"])) != q["sha256"]:
            rep.add(f"quarantined response {q['quarantine_id']}: bytes do not match its SHA-256")
    achain = GENESIS
    for e in conn.execute("SELECT * FROM audit_log ORDER BY entry_id"):
        rep.audit_entries += 1
        entry = {
            "at": e["at"],
            "event": e["event"],
            "os_user": e["os_user"],
            "tool_version": e["tool_version"],
            "run_id": e["run_id"],
            "details": json.loads(e["details"]),
        }
        digest = sha256_hex(canonical_json(entry).encode())
        if digest != e["sha256"]:
            rep.add(
                f"audit entry {e['entry_id']} ({e['event']}): its content does not match its SHA-256"
            )
        achain = chain_next(achain, e["sha256"])
        if achain != e["chain"]:
            rep.add(f"audit entry {e['entry_id']}: audit chain broken")
            achain = e["chain"]
    rep.audit_head = achain
    return rep


def _rederive(conn: sqlite3.Connection, rep: VerifyReport, page: sqlite3.Row, raw: bytes) -> None:
    """Every record of the page is archived, and every archived record from it matches it."""
    pid = page["page_id"]
    try:
        body = json.loads(raw)
        names = [c["name"] for c in body["columnHeaders"]]
        records = body["records"]
    except (ValueError, KeyError, TypeError):
        rep.add(f"page {pid}: stored as valid but its body does not parse")
        return
    if len(records) != page["record_count"]:
        rep.add(
            f"page {pid}: holds {len(records)} records, the archive says {page['record_count']}"
        )
    ds = DATASETS.get(page["dataset"])
    ts_idx = commit_ts_index(names)
    stored = {
        r["row_index"]: r for r in conn.execute("SELECT * FROM records WHERE page_id=?", (pid,))
    }
    for i, values in enumerate(records):
        key, _, ts, canon, digest = record_identity(ds, names, values, ts_idx)
        mine = stored.pop(i, None)
        if mine is not None:
            if (
                mine["values_json"] != canon
                or mine["row_key"] != key
                or mine["commit_ts"] != ts
                or mine["dataset"] != page["dataset"]
            ):
                rep.add(
                    f"record {mine['record_id']} (page {pid}, row {i}, key {key[:40]}): differs from the archived page"
                )
            continue
        hit = conn.execute(
            "SELECT 1 FROM records WHERE dataset=? AND row_key=? AND commit_ts=? AND sha256=?",
            (page["dataset"], key, ts, digest),
        ).fetchone()
        if hit is None:
            rep.add(
                f"page {pid}, row {i} ({page['dataset']} key {key[:40]}, COMMIT_TS {ts}): its record is missing from the archive"
            )
    for i, extra in stored.items():
        rep.add(
            f"record {extra['record_id']} claims page {pid} row {i}, which the page does not have"
        )
