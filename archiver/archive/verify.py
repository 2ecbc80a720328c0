"""``archiver verify-archive``: recompute every checksum and chain, re-derive every record,
and prove the past.

Finds a page or record edited, added or deleted behind the archive's back (even with the
append-only triggers dropped), a page's metadata edited (its chain covers it), and names
the first thing that does not match. Records are re-derived from the raw pages by the same
code the writer uses (archive/identity.py through archive/rekey.py), key fallbacks included, and
the latest-version table is re-checked. What the archive recorded before (checkpoints in the
audit log and the sidecar, checkpoints given, coverage, run summaries) must still hold:
archive/history.py.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from archiver.archive import cases, history, searchindex
from archiver.archive.checkpoint import Checkpoint, Sidecar, read_sidecar
from archiver.archive.compact import expected_superseded, sha8, stream_id, stream_ids
from archiver.archive.hashing import (
    CHAIN_BODY,
    CHAIN_BODY_META,
    CHAIN_RULES,
    GENESIS,
    audit_entry_digest,
    chain_next,
    page_chain_next,
    page_meta_digest,
    sha256_hex,
)
from archiver.archive.identity import Identity
from archiver.archive.rekey import ReplayedPage, replay
from archiver.archive.schema import SCHEMA_VERSION, ArchiveVersionError, migrate
from archiver.archive.sqlitefile import open_reader
from archiver.archive.triggers import evidence_tables
from archiver.archive.values import canonical, fetch_strict, replay_check, table
from archiver.plural import plural

MAX_PROBLEMS = 50
_META_WORDS = "run, dataset, chunk, query, tokens, URL, HTTP status, received time, counts"


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
    #: distinct checkpoints checked, and where they came from
    checkpoints: int = 0
    checkpoint_sources: dict[str, int] = field(default_factory=dict)
    #: what the reader should know that is not a failure (a missing sidecar, signatures)
    notes: list[str] = field(default_factory=list)
    #: what the verification left behind (written by the use case)
    recorded: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, problem: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)

    def note(self, text: str) -> None:
        self.notes.append(text)

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
            f"{self.quarantined:,} quarantined responses, {self.checkpoints:,} distinct checkpoints"
            + (
                " (" + ", ".join(f"{n:,} {k}" for k, n in self.checkpoint_sources.items()) + ")."
                if self.checkpoint_sources
                else "."
            )
        )
        lines.append(f"Page chain head: {self.chain_head}")
        lines.append(f"Audit chain head: {self.audit_head}")
        if self.missing_triggers:
            lines.append(
                "Warning: append-only triggers missing: " + ", ".join(self.missing_triggers)
            )
        lines.extend(f"Note: {n}" for n in self.notes)
        lines.extend(self.recorded)
        return "\n".join(lines)


def verify_archive(
    path: str | Path,
    progress: Callable[[int, int], None] | None = None,
    *,
    expect: Iterable[Checkpoint] = (),
    certs: Mapping[str, x509.Certificate] | None = None,
    sidecar: bool = True,
) -> VerifyReport:
    """Verify the archive at ``path``; ``expect``: checkpoints kept elsewhere that must be
    prefixes of its chains; ``certs``: certificates (by SHA-256 fingerprint) to check
    checkpoint signatures with; ``sidecar``: read ``<archive>.checkpoints`` too."""
    conn = open_reader(path)
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        side = read_sidecar(path) if sidecar else None
        if version == SCHEMA_VERSION:
            return _verify(conn, progress, list(expect), side, certs or {})
        if version > SCHEMA_VERSION:
            raise ArchiveVersionError(
                f"This archive has schema version {version}, newer than this archiver "
                f"checks ({SCHEMA_VERSION}). Upgrade archiver; the file was not changed."
            )
        with tempfile.TemporaryDirectory(prefix="archiver-verify-") as tmp:
            copy = _migrated_copy(conn, Path(tmp) / "copy.sqlite3")
            try:
                rep = _verify(copy, progress, list(expect), side, certs or {})
            finally:
                copy.close()
        rep.missing_triggers = _missing_triggers(conn)  # the file's, not the copy's
        rep.note(
            f"the archive has schema version {version}: it was checked as a temporary copy "
            f"brought to version {SCHEMA_VERSION} (the migration keeps every stored value as "
            "it was, so an edit is still found); the file itself was not changed"
        )
        return rep
    finally:
        conn.close()


def _migrated_copy(conn: sqlite3.Connection, dest: Path) -> sqlite3.Connection:
    """A consistent copy of an older archive, migrated: how an old file is checked without
    writing to it (a read-only medium, ``--read-only``, an auditor's copy)."""
    copy = sqlite3.connect(dest, isolation_level=None)
    conn.backup(copy)
    migrate(copy, None)
    copy.row_factory = sqlite3.Row
    return copy


def _verify(
    conn: sqlite3.Connection,
    progress: Callable[[int, int], None] | None,
    expect: list[Checkpoint] | None = None,
    side: Sidecar | None = None,
    certs: Mapping[str, x509.Certificate] | None = None,
) -> VerifyReport:
    rep = VerifyReport()
    rep.missing_triggers = _missing_triggers(conn)
    past = history.collect(conn, expect or [], side)
    _check_pages(conn, rep, progress, past)
    rep.checkpoints = history.check_checkpoints(past, rep.add)
    rep.checkpoint_sources = _sources(past.checkpoints)
    _check_records(conn, rep)
    for problem in replay_check(conn):  # value_columns, re-derived from the pages
        rep.add(problem)
    for q in conn.execute("SELECT quarantine_id, body, sha256 FROM quarantine"):
        rep.quarantined += 1
        if sha256_hex(bytes(q["body"])) != q["sha256"]:
            rep.add(f"quarantined response {q['quarantine_id']}: bytes do not match its SHA-256")
    _check_audit(past.entries, rep)
    history.check_sidecar(past, rep.add, rep.note)
    history.check_signatures(past, certs or {}, rep.add, rep.note)
    history.check_coverage(conn, past, rep.add)
    history.check_runs(conn, past, rep.add)
    _check_cases(conn, rep)
    _check_search_index(conn, rep)
    return rep


def _check_cases(conn: sqlite3.Connection, rep: VerifyReport) -> None:
    """The case and hold tables are made from their audit entries (archive/cases.py): a
    hold released, or an interaction taken out of a case, by editing them would let the
    retention work dispose of held evidence, so each row is made again and compared."""
    for problem in cases.replay_check(conn):
        rep.add(f"{problem} (the case tables are made from the audit log's case entries)")


def _check_search_index(conn: sqlite3.Connection, rep: VerifyReport) -> None:
    """The search index is derived state, not evidence (archive/searchindex.py), and is
    compared with the records all the same: an index that left a record out would hide it
    from every search an investigation relies on."""
    for problem in searchindex.check(conn):
        rep.add(f"{problem}: run `archiver index rebuild` (the index is derived from the records)")
    missing = searchindex.unindexed(conn)
    if missing:
        rep.note(
            f"not searchable yet (no search index): {', '.join(missing)}; "
            "`archiver index rebuild` makes the index (searches refuse to run until then)"
        )


def _missing_triggers(conn: sqlite3.Connection) -> list[str]:
    triggers = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'")}
    return [
        f"{t}_no_{op}"
        for t in evidence_tables(conn)
        for op in ("update", "delete")
        if f"{t}_no_{op}" not in triggers
    ]


def _sources(checkpoints: list[Checkpoint]) -> dict[str, int]:
    """How many checkpoints came from where (before merging those that claim the same)."""
    out: dict[str, int] = {}
    for cp in checkpoints:
        kind = (
            "in the audit log"
            if cp.source.startswith("audit entry")
            else "in the sidecar"
            if cp.source.startswith("sidecar")
            else "given"
        )
        out[kind] = out.get(kind, 0) + 1
    return out


def _check_pages(
    conn: sqlite3.Connection,
    rep: VerifyReport,
    progress: Callable[[int, int], None] | None,
    past: history.Past,
) -> None:
    """Every page's bytes, chain rule, metadata and chain, each page's records re-derived
    from it; the chain values the checkpoints name and the tallies the counters need."""
    total = conn.execute("SELECT count(*) FROM pages").fetchone()[0]
    walk = _PageWalk(conn, rep, past)
    for n, rp in enumerate(replay(conn), 1):
        walk.page(n, rp)
        if progress and n % 200 == 0:
            progress(n, total)
    rep.chain_head = walk.chain
    past.pages = rep.pages
    walk.finish()
    _check_key_rules(conn, rep, walk.fallbacks)


class _PageWalk:
    """The page pass: one page at a time, in page_id order."""

    def __init__(self, conn: sqlite3.Connection, rep: VerifyReport, past: history.Past) -> None:
        self.conn, self.rep, self.past = conn, rep, past
        #: schema 3 records each page's chain rule; before it every page follows rule 1
        self.has_rule = conn.execute("PRAGMA user_version").fetchone()[0] >= 3
        mig = past.migration
        self.rule1_pages = mig.rule1_pages if mig else (None if self.has_rule else -1)
        self.wanted = past.wanted
        self.chain = GENESIS  # resumes from a stored value after a break, to find more
        self.pure = GENESIS  # never resumed: the chain as recomputed from page 1
        self.legacy_meta = GENESIS  # chain of the rule-1 pages' metadata digests
        self.legacy_pages = 0
        self.expected_id: int | None = None
        self.fallbacks: dict[tuple[int, str], str] = {}
        if 0 in self.wanted:
            past.page_chain[0] = GENESIS

    def page(self, n: int, rp: ReplayedPage) -> None:
        page, rep = rp.page, self.rep
        rep.pages += 1
        pid = page["page_id"]
        if self.expected_id is not None and pid != self.expected_id + 1:
            rep.add(
                f"pages {self.expected_id + 1}–{pid - 1} are missing (page ids jump from {self.expected_id} to {pid})"
            )
        self.expected_id = pid
        self.past.tally.add(page)
        rule = self._rule(n, page)
        meta = page_meta_digest(page)
        if rule == CHAIN_BODY:
            self.legacy_meta = chain_next(self.legacy_meta, meta)
            self.legacy_pages += 1
        self.pure = page_chain_next(self.pure, rule, page["sha256"], meta)
        if n in self.wanted:
            self.past.page_chain[n] = self.pure
        self.chain = _check_page(self.conn, rep, rp, self.chain, rule, meta)
        for f in rp.fallbacks:
            self.fallbacks[(pid, f.rule)] = f.fallback

    def _rule(self, n: int, page: sqlite3.Row) -> int:
        """The page's chain rule, checked against where rule 1 ends (the migration to
        schema 3 records it; an archive created at schema 3 has no rule-1 page)."""
        if not self.has_rule:
            return CHAIN_BODY
        rule = page["chain_rule"]
        limit = self.rule1_pages
        allowed = CHAIN_BODY if limit is not None and n <= limit else CHAIN_BODY_META
        if rule not in CHAIN_RULES:
            self.rep.add(f"page {page['page_id']}: unknown chain rule {rule!r}")
            return allowed
        if rule != allowed:
            where = (
                f"only the first {limit:,} pages (stored before the migration to schema 3) do"
                if limit is not None
                else "this archive was created with chain rule 2 for every page"
            )
            self.rep.add(
                f"page {page['page_id']}: claims chain rule {rule} "
                f"({'body hash only' if rule == CHAIN_BODY else 'body hash and metadata'}), "
                f"but {where}"
            )
        return int(rule)

    def finish(self) -> None:
        """The rule-1 pages' metadata is what the migration to schema 3 recorded."""
        mig = self.past.migration
        if mig is None or self.legacy_pages != mig.rule1_pages:
            return
        if self.legacy_meta != mig.metadata_chain:
            self.rep.add(
                f"the metadata of the {mig.rule1_pages:,} pages stored before schema 3 (run, "
                f"dataset, chunk, query, tokens, URL, status, times, counts) differs from what "
                f"the migration recorded ({mig.source}): edited after it"
            )


def _check_page(
    conn: sqlite3.Connection,
    rep: VerifyReport,
    rp: ReplayedPage,
    chain: str,
    rule: int = CHAIN_BODY,
    meta: str = GENESIS,
) -> str:
    """One page against its checksum and the chain; returns the chain value to go on from."""
    page, pid = rp.page, rp.page["page_id"]
    if rp.raw is None:
        rep.add(f"page {pid}: {rp.error}")
        return chain
    if sha256_hex(rp.raw) != page["sha256"] or len(rp.raw) != page["size"]:
        rep.add(
            f"page {pid} ({page['dataset']} {page['chunk_start']} page {page['page_number']}): its bytes do not match its SHA-256"
        )
    chain = page_chain_next(chain, rule, page["sha256"], meta)
    if chain != page["chain"]:
        covered = "" if rule == CHAIN_BODY else f", or its metadata ({_META_WORDS}),"
        rep.add(
            f"page {pid}: hash chain broken (stored {page['chain'][:16]}…, recomputed {chain[:16]}…): "
            f"its bytes and SHA-256{covered} were changed"
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
    strays = conn.execute(
        "SELECT count(*) FROM superseded x WHERE x.by_id NOT IN (SELECT record_id FROM records)"
    ).fetchone()[0]
    if strays:
        rep.add(f"{strays} superseded entries name a newer version that is not archived")
    _check_value_rows(conn, rep)
    twice = conn.execute(
        """SELECT count(*) FROM (SELECT 1 FROM records GROUP BY stream_id, sha8, row_key
           HAVING count(*) > 1)"""
    ).fetchone()[0]
    if twice:
        rep.add(f"{twice} records are stored more than once (identical content, same key)")


def _check_value_rows(conn: sqlite3.Connection, rep: VerifyReport) -> None:
    """Every values row belongs to a record of its dataset (none added behind its back)."""
    for dataset, _type in {(d, t) for d, t in stream_ids(conn)}:
        t = table(dataset)
        stray = conn.execute(
            f"""SELECT v.record_id FROM {t} v LEFT JOIN records r ON r.record_id = v.record_id
                LEFT JOIN streams s ON s.stream_id = r.stream_id
                WHERE r.record_id IS NULL OR s.dataset != ? LIMIT 5""",
            (dataset,),
        ).fetchall()
        for (rid,) in stray:
            rep.add(f"{t} holds values for record {rid}, which is no {dataset} record")


def _check_audit(entries: list[sqlite3.Row], rep: VerifyReport) -> None:
    """Each audit entry against its checksum, and the audit chain."""
    achain = GENESIS
    for e in entries:
        rep.audit_entries += 1
        try:
            digest = audit_entry_digest({**dict(e), "details": json.loads(e["details"])})
        except ValueError:
            digest = ""
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
    """Every record of the page is archived, and every archived record from it matches it:
    its stream, key, interval, column set and values (the canonical JSON of its stored
    values must be the page row's)."""
    page = rp.page
    pid = page["page_id"]
    if len(rp.ids) != page["record_count"]:
        rep.add(f"page {pid}: holds {len(rp.ids)} records, the archive says {page['record_count']}")
    ds, dtype = page["dataset"], page["dataset_type"]
    sid = stream_id(conn, ds, dtype, create=False)
    stored: dict[int, sqlite3.Row] = {}
    for r in conn.execute("SELECT * FROM records WHERE page_id=? ORDER BY record_id", (pid,)):
        if r["row_index"] in stored:
            rep.add(
                f"record {r['record_id']} claims page {pid} row {r['row_index']}, which record "
                f"{stored[r['row_index']]['record_id']} already holds (added behind the archive's back)"
            )
            continue
        stored[r["row_index"]] = r
    values = fetch_strict(conn, ds, [r["record_id"] for r in stored.values()])
    for i, ident in enumerate(rp.ids):
        mine = stored.pop(i, None)
        if mine is not None:
            if not _matches(mine, values.get(mine["record_id"]), ident, sid):
                rep.add(
                    f"record {mine['record_id']} (page {pid}, row {i}, key {ident.key[:40]}): differs from the archived page"
                )
            continue
        hit = conn.execute(
            "SELECT 1 FROM records WHERE stream_id=? AND sha8=? AND row_key=?",
            (sid, sha8(ident.sha256), ident.key),
        ).fetchone()
        if hit is None:
            rep.add(
                f"page {pid}, row {i} ({ds} key {ident.key[:40]}, COMMIT_TS {ident.commit_ts}): its record is missing from the archive"
            )
    for i, extra in stored.items():
        rep.add(
            f"record {extra['record_id']} claims page {pid} row {i}, which the page does not have"
        )


def _matches(
    row: sqlite3.Row, values: dict[str, str | None] | None, ident: Identity, sid: int | None
) -> bool:
    return bool(
        values is not None
        and canonical(values) == ident.canon
        and row["sha8"] == sha8(ident.sha256)
        and row["row_key"] == ident.key
        and row["key_kind"] == ident.kind
        and row["interval_start"] == ident.interval
        and row["stream_id"] == sid
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
    """``superseded`` lists exactly the versions a newer version of their row replaced
    (what 'latest only' browsing, exports and bundles leave out), so no version can be
    hidden, nor an old one shown as the latest, by editing it."""
    stored: dict[int, int] = dict(conn.execute("SELECT record_id, by_id FROM superseded"))
    for stream in stream_ids(conn):
        want = dict(expected_superseded(conn, stream))
        sid = stream_ids(conn)[stream]
        have = {
            rid: by
            for rid, by in conn.execute(
                "SELECT x.record_id, x.by_id FROM superseded x JOIN records r ON r.record_id = x.record_id WHERE r.stream_id=?",
                (sid,),
            )
        }
        for rid in have:
            stored.pop(rid, None)
        if want != have:
            hidden = len(have.keys() - want.keys())
            shown = len(want.keys() - have.keys())
            rep.add(
                f"{stream[0]} ({stream[1]}): the latest-version bookkeeping differs from the "
                f"records: {plural(hidden, 'version')} hidden that {'is' if hidden == 1 else 'are'} the newest of their row, "
                f"{plural(shown, 'older version')} shown as the latest"
            )
    if stored:
        rep.add(f"{len(stored)} superseded entries name no record")
