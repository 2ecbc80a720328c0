"""``archiver verify-archive``: recompute every checksum and chain, re-derive every record.

Finds a page or record edited, added or deleted behind the archive's back (even with the
append-only triggers dropped), and names the first thing that does not match. Records are
re-derived from the raw pages by the same code the writer uses (archive/keys.py through
archive/rekey.py), key fallbacks included, and the latest-version table is re-checked.
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
from archiver.archive.keys import Identity, effective_key
from archiver.archive.rekey import ReplayedPage, abandoned_rules, replay
from archiver.archive.schema import EVIDENCE_TABLES
from archiver.archive.store import open_reader

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
    _check_pages(conn, rep, progress)
    _check_records(conn, rep)
    for q in conn.execute("SELECT quarantine_id, body, sha256 FROM quarantine"):
        rep.quarantined += 1
        if sha256_hex(bytes(q["body"])) != q["sha256"]:
            rep.add(f"quarantined response {q['quarantine_id']}: bytes do not match its SHA-256")
    _check_audit(conn, rep)
    return rep


def _check_pages(
    conn: sqlite3.Connection, rep: VerifyReport, progress: Callable[[int, int], None] | None
) -> None:
    """Every page's bytes, the page chain, and each page's records re-derived from it."""
    total = conn.execute("SELECT count(*) FROM pages").fetchone()[0]
    chain = GENESIS
    expected_id = None
    fallbacks: dict[tuple[int, str], str] = {}
    for n, rp in enumerate(replay(conn), 1):
        page = rp.page
        rep.pages += 1
        pid = page["page_id"]
        if expected_id is not None and pid != expected_id + 1:
            rep.add(
                f"pages {expected_id + 1}–{pid - 1} are missing (page ids jump from {expected_id} to {pid})"
            )
        expected_id = pid
        chain = _check_page(conn, rep, rp, chain)
        for f in rp.fallbacks:
            fallbacks[(pid, f.rule)] = f.fallback
        if progress and n % 200 == 0:
            progress(n, total)
    rep.chain_head = chain
    _check_key_rules(conn, rep, fallbacks)


def _check_page(conn: sqlite3.Connection, rep: VerifyReport, rp: ReplayedPage, chain: str) -> str:
    """One page against its checksum and the chain; returns the chain value to go on from."""
    page, pid = rp.page, rp.page["page_id"]
    if rp.raw is None:
        rep.add(f"page {pid}: {rp.error}")
        return chain
    if sha256_hex(rp.raw) != page["sha256"] or len(rp.raw) != page["size"]:
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
        if rp.error:
            rep.add(f"page {pid}: {rp.error}")
        else:
            _rederive(conn, rep, rp)
    return chain


def _check_records(conn: sqlite3.Connection, rep: VerifyReport) -> None:
    """No record without a page; every record's checksum; the latest-version table."""
    orphans = conn.execute(
        """SELECT r.record_id FROM records r LEFT JOIN pages p ON p.page_id = r.page_id
           WHERE p.page_id IS NULL OR r.row_index >= p.record_count OR p.http_status != 200 LIMIT 5"""
    ).fetchall()
    for (rid,) in orphans:
        rep.add(
            f"record {rid} does not come from any archived page (added behind the archive's back)"
        )
    check_latest(conn, rep)
    rep.records = conn.execute("SELECT count(*) FROM records").fetchone()[0]
    for rec in conn.execute("SELECT record_id, values_json, sha256 FROM records"):
        if sha256_hex(rec["values_json"].encode()) != rec["sha256"]:
            rep.add(f"record {rec['record_id']}: its values do not match its SHA-256")


def _check_audit(conn: sqlite3.Connection, rep: VerifyReport) -> None:
    """Each audit entry against its checksum, and the audit chain."""
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


def _rederive(conn: sqlite3.Connection, rep: VerifyReport, rp: ReplayedPage) -> None:
    """Every record of the page is archived, and every archived record from it matches it."""
    page = rp.page
    pid = page["page_id"]
    if len(rp.ids) != page["record_count"]:
        rep.add(f"page {pid}: holds {len(rp.ids)} records, the archive says {page['record_count']}")
    ds, dtype = page["dataset"], page["dataset_type"]
    stored: dict[int, sqlite3.Row] = {}
    for r in conn.execute("SELECT * FROM records WHERE page_id=? ORDER BY record_id", (pid,)):
        if r["row_index"] in stored:
            rep.add(
                f"record {r['record_id']} claims page {pid} row {r['row_index']}, which record "
                f"{stored[r['row_index']]['record_id']} already holds (added behind the archive's back)"
            )
            continue
        stored[r["row_index"]] = r
    for i, ident in enumerate(rp.ids):
        mine = stored.pop(i, None)
        if mine is not None:
            if not _matches(mine, ident, ds, dtype):
                rep.add(
                    f"record {mine['record_id']} (page {pid}, row {i}, key {ident.key[:40]}): differs from the archived page"
                )
            continue
        hit = conn.execute(
            "SELECT 1 FROM records WHERE dataset=? AND dataset_type=? AND sha256=?",
            (ds, dtype, ident.sha256),
        ).fetchone()
        if hit is None:
            rep.add(
                f"page {pid}, row {i} ({ds} key {ident.key[:40]}, COMMIT_TS {ident.commit_ts}): its record is missing from the archive"
            )
    for i, extra in stored.items():
        rep.add(
            f"record {extra['record_id']} claims page {pid} row {i}, which the page does not have"
        )


def _matches(row: sqlite3.Row, ident: Identity, dataset: str, dataset_type: str) -> bool:
    return bool(
        row["values_json"] == ident.canon
        and row["sha256"] == ident.sha256
        and row["row_key"] == ident.key
        and row["key_kind"] == ident.kind
        and row["natural_key"] == ident.natural_key
        and row["commit_ts"] == ident.commit_ts
        and row["interval_start"] == ident.interval
        and row["dataset"] == dataset
        and row["dataset_type"] == dataset_type
    )


def _check_key_rules(
    conn: sqlite3.Connection, rep: VerifyReport, derived: dict[tuple[int, str], str]
) -> None:
    """The key fallbacks the archive records are exactly those its pages show."""
    stored = {
        (r["page_id"], r["rule"]): r["fallback"]
        for r in conn.execute("SELECT page_id, rule, fallback FROM key_rules")
    }
    for (pid, rule), fallback in derived.items():
        if stored.get((pid, rule)) != fallback:
            rep.add(
                f"page {pid} shows that {rule} is not a key (it repeats with different content), "
                "but the archive's key_rules do not record that fallback"
            )
    for pid, rule in stored.keys() - derived.keys():
        rep.add(
            f"key_rules records a fallback from {rule} at page {pid} that the page does not show"
        )


def check_latest(conn: sqlite3.Connection, rep: VerifyReport) -> None:
    """latest_records holds exactly the newest version of every row (what 'latest only'
    browsing, exports and bundles show), so no version can be hidden by editing it."""
    fallen = abandoned_rules(conn)
    skip = " AND ".join("NOT (r.dataset=? AND r.dataset_type=?)" for _ in fallen) or "1"
    args = [v for s in fallen for v in s]
    bad = conn.execute(
        f"""SELECT count(*) FROM latest_records l LEFT JOIN records r ON r.record_id = l.record_id
            WHERE r.record_id IS NULL OR r.dataset != l.dataset OR r.dataset_type != l.dataset_type
               OR r.commit_ts != l.commit_ts OR (({skip}) AND (r.key_kind != l.key_kind OR r.row_key != l.row_key))""",
        args,
    ).fetchone()[0]
    if bad:
        rep.add(f"{bad} latest-version entries point at no record or at another row's record")
    stale = conn.execute(
        f"""SELECT count(*) FROM records r LEFT JOIN latest_records l
               ON l.dataset = r.dataset AND l.dataset_type = r.dataset_type
              AND l.key_kind = r.key_kind AND l.row_key = r.row_key
            WHERE ({skip}) AND (l.record_id IS NULL OR (r.commit_ts, r.record_id) > (l.commit_ts, l.record_id))""",
        args,
    ).fetchone()[0]
    if stale:
        rep.add(f"{stale} records are newer than the version the latest table shows for their row")
    for stream, gone in fallen.items():
        best: dict[tuple[str, str], tuple[str, int]] = {}
        for kind, key, natural, digest, ts, rid in conn.execute(
            "SELECT key_kind, row_key, natural_key, sha256, commit_ts, record_id FROM records WHERE dataset=? AND dataset_type=?",
            stream,
        ):
            group = effective_key(gone, kind, key, natural, digest)
            if group not in best or (ts, rid) > best[group]:
                best[group] = (ts, rid)
        want = {rid for _, rid in best.values()}
        have = {
            r[0]
            for r in conn.execute(
                "SELECT record_id FROM latest_records WHERE dataset=? AND dataset_type=?", stream
            )
        }
        if want != have:
            rep.add(
                f"{stream[0]} ({stream[1]}): the latest table differs from the newest versions "
                f"under its key fallback ({len(want - have)} missing, {len(have - want)} extra)"
            )
