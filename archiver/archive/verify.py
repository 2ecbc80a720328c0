"""``archiver verify-archive``: recompute every checksum and chain, prove the past, and
replay everything the archive states.

Two passes. The chain pass recomputes every page's SHA-256 and the page chain (its
metadata included), the audit chain, the quarantined responses' checksums, and checks that
every checkpoint known — the audit log's, the sidecar's, those given with ``--expect-head``
and the witnesses' (bundles) — is a prefix of the chains (archive/history.py). The replay
(archive/replay.py) then re-derives, from the raw pages and the custody entries alone and by
the code the writer uses, every table the archive states (archive/tables.py: records and
their values, versions, conflicts, columns, key rules, coverage, runs and their summaries,
quarantine, meta, the views) and names the first difference of each. ``quick`` runs the
chain pass only, and says so.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from archiver.archive import (
    commitments,
    custody,
    erasure,
    history,
    removal,
    searchindex,
    tables,
)
from archiver.archive.auditlog import verified_words
from archiver.archive.checkpoint import Checkpoint, Sidecar, read_sidecar
from archiver.archive.errors import NotAnArchive
from archiver.archive.hashing import (
    CHAIN_BODY,
    CHAIN_BODY_META,
    CHAIN_BODY_META_ROOT,
    CHAIN_RULES,
    GENESIS,
    PAGE_META_FIELDS,
    audit_entry_digest,
    chain_next,
    page_chain_next,
    page_meta_digest,
    sha256_hex,
)
from archiver.archive.rekey import DISPOSED, page_body
from archiver.archive.replay import replay
from archiver.archive.schema import (
    SCHEMA_VERSION,
    ArchiveVersionError,
    foreign_indexes,
    lowered_version,
    migrate,
)
from archiver.archive.sqlitefile import check_archive_file, connect
from archiver.archive.triggers import evidence_tables, foreign_triggers
from archiver.archive.values import replay_check as value_columns_check
from archiver.plural import plural

MAX_PROBLEMS = 50
#: the pages columns the chain pass reads (the body only when it hashes it)
_PAGE_COLUMNS = (
    *PAGE_META_FIELDS,
    "sha256",
    "chain",
    "chain_rule",
    "commit_root",
    "encoding",
    "body",
)
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
    #: distinct checkpoints kept outside the archive (--expect-head, witnesses) compared
    external: int = 0
    #: whether the replay ran (not --quick), and what it re-derived
    replayed: bool = False
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

    def verdict(self) -> str:
        """The first line: what the verification proved, or the first problem. The app's
        Verify archive dialog and the ``verify-archive`` audit entry say the same."""
        if not self.ok:
            return f"FAILED: {self.problems[0]}"
        return verified_words(
            replayed=self.replayed,
            pages=self.pages,
            records=self.records,
            audit_entries=self.audit_entries,
            external=self.external,
        )

    def summary(self) -> str:
        lines = [self.verdict()]
        if len(self.problems) > 1:
            lines.append(
                f"({len(self.problems) - 1}{'+' if len(self.problems) == MAX_PROBLEMS else ''} more problems:)"
            )
            lines.extend("  - " + p for p in self.problems[1:])
        lines.append(
            f"Checked {self.pages:,} pages, {self.records:,} records, "
            f"{self.audit_entries:,} audit entries, {self.quarantined:,} quarantined responses, "
            f"{self.checkpoints:,} distinct checkpoints"
            + (
                " (" + ", ".join(f"{n:,} {k}" for k, n in self.checkpoint_sources.items()) + ")."
                if self.checkpoint_sources
                else "."
            )
        )
        lines.append(f"Page chain head: {self.chain_head} ({self.pages:,} pages)")
        lines.append(f"Audit chain head: {self.audit_head} ({self.audit_entries:,} entries)")
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
    quick: bool = False,
) -> VerifyReport:
    """Verify the archive at ``path``; ``expect``: checkpoints kept elsewhere (given, or a
    witness bundle's heads) that must be prefixes of its chains; ``certs``: certificates (by
    SHA-256 fingerprint) to check checkpoint signatures with; ``sidecar``: read
    ``<archive>.checkpoints`` too; ``quick``: the chain pass only (nothing replayed)."""
    conn = open_verifier(path)
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        side = read_sidecar(path) if sidecar else None
        if version == SCHEMA_VERSION:
            rep = _verify(conn, progress, list(expect), side, certs or {}, quick)
            for problem in [*foreign_triggers(conn), *foreign_indexes(conn)]:
                rep.add(problem)
            return rep
        if version > SCHEMA_VERSION:
            raise ArchiveVersionError(
                f"This archive has schema version {version}, newer than this archiver "
                f"checks ({SCHEMA_VERSION}). Upgrade archiver; the file was not changed."
            )
        lowered = lowered_version(conn)
        if lowered is not None:  # migrating it would hide what was edited
            rep = VerifyReport()
            rep.add(lowered)
            return rep
        with tempfile.TemporaryDirectory(prefix="archiver-verify-") as tmp:
            copy = _migrated_copy(conn, Path(tmp) / "copy.sqlite3")
            try:
                rep = _verify(copy, progress, list(expect), side, certs or {}, quick)
            finally:
                copy.close()
        rep.missing_triggers = _missing_triggers(conn)  # the file's, not the copy's
        for problem in foreign_triggers(conn):
            rep.add(problem)
        rep.note(
            f"the archive has schema version {version}: it was checked as a temporary copy "
            f"brought to version {SCHEMA_VERSION} (the migration keeps every stored value as "
            "it was, so an edit is still found); the file itself was not changed"
        )
        return rep
    finally:
        conn.close()


def open_verifier(path: str | Path) -> sqlite3.Connection:
    """A read-only connection for verification: no memory-mapped reads (the replay streams
    the whole file: mapped pages would count as the process's memory) and a modest cache."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(
            f"No archive at {p}. Pull data first (archiver pull … --archive {p})."
        )
    check_archive_file(p)
    conn = connect(p, "ro", check_same_thread=False)
    if int(conn.execute("PRAGMA user_version").fetchone()[0]) == 0:
        conn.close()
        raise NotAnArchive(
            f"{p} is a SQLite database, but not an archive (it has no archive schema): "
            "archiver neither reads nor changes it; name an archive"
        )
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA mmap_size=0")
    conn.execute("PRAGMA cache_size=-16384")
    conn.row_factory = sqlite3.Row
    return conn


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
    quick: bool = False,
) -> VerifyReport:
    rep = VerifyReport()
    rep.missing_triggers = _missing_triggers(conn)
    past = history.collect(conn, expect or [], side)
    total = int(conn.execute("SELECT count(*) FROM pages").fetchone()[0])
    span = total if quick else 2 * total
    # the replay decompresses and hashes every body itself: the chain pass need not
    removed = removal.removals(conn)
    _check_pages(conn, rep, _scaled(progress, 0, span), past, bodies=quick, removed=removed)
    rep.checkpoints = history.check_checkpoints(past, rep.add)
    rep.checkpoint_sources = _sources(past.checkpoints)
    rep.external = len({cp.key for cp in past.checkpoints if _external(cp)})
    for q in conn.execute("SELECT quarantine_id, body, sha256 FROM quarantine"):
        rep.quarantined += 1
        if sha256_hex(bytes(q["body"])) != q["sha256"]:
            rep.add(f"quarantined response {q['quarantine_id']}: bytes do not match its SHA-256")
    _check_audit(past.entries, rep)
    history.check_sidecar(past, rep.add, rep.note)
    history.check_signatures(past, certs or {}, rep.add, rep.note)
    rep.records = int(conn.execute("SELECT count(*) FROM records").fetchone()[0])
    _check_removals(conn, rep)
    if quick:  # what can be checked without replaying: nothing claims more than is there
        history.check_coverage(conn, past, rep.add)
        history.check_runs(conn, past, rep.add)
        for problem in value_columns_check(conn):  # the pages' columnHeaders, by the rule
            rep.add(problem)
        _check_search_index(conn, rep)
        return rep
    facts = custody.read(conn)
    # summaries recorded before version 5 cannot be re-derived exactly: checked as bounds
    history.check_runs(conn, past, rep.add, skip={f.run_id for f in facts.finishes})
    _replay(conn, rep, facts, _scaled(progress, total, span))
    _check_search_index(conn, rep)
    return rep


def _check_removals(conn: sqlite3.Connection, rep: VerifyReport) -> None:
    """Each disposition's own checks (archive/removal.py: its signature, its records rows,
    no values back, the holds it honoured); its notes are the report's."""
    problems, notes = removal.check(conn)
    for problem in problems:
        rep.add(problem)
    for note in notes:
        rep.note(note)


def _note_proof(rep: VerifyReport, proof: erasure.Proof) -> None:
    """What the proof of every record against its page's commitment root found (the replay's
    registry ran it: archive/tables.py), the erased rows with the request and certificate
    that erased them."""
    rep.note(
        f"proved {plural(proof.proved, 'page row')} against {'its' if proof.pages == 1 else 'their'} "
        f"page's commitment root ({plural(proof.pages, 'page')})"
        + (
            f"; {plural(proof.disposed, 'row')} of disposed pages kept only their commitments"
            if proof.disposed
            else ""
        )
    )
    for (request, cert), n in sorted((proof.erased or {}).items()):
        rep.note(
            f"{plural(n, 'page row')} erased under request {request} (certificate {cert}): "
            "their salts are destroyed, their commitments kept"
        )


def _replay(
    conn: sqlite3.Connection,
    rep: VerifyReport,
    facts: custody.Custody,
    progress: Callable[[int, int], None] | None,
) -> None:
    """Every table the archive states, re-derived and compared (archive/tables.py)."""
    found = replay(conn, facts, progress)
    rep.replayed = True
    rep.records = found.records
    # the pages themselves (chained evidence): bytes, and what the body says of itself
    for problem in found.differences.get("pages", []):
        rep.add(problem)
    ctx = tables.ReplayContext(conn, facts, found)
    for problem in tables.check_all(ctx):
        rep.add(problem)
    proof = ctx.proofs.get("commitments")
    if proof is not None:
        _note_proof(rep, proof)


def _scaled(
    progress: Callable[[int, int], None] | None, offset: int, total: int
) -> Callable[[int, int], None] | None:
    if progress is None:
        return None
    return lambda n, _of: progress(offset + n, total)


def _external(cp: Checkpoint) -> bool:
    """A checkpoint kept outside the archive: given, or a witness bundle's heads."""
    return cp.source.startswith(("--expect-head", "given", "witness"))


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
        if cp.source.startswith("audit entry"):
            kind = "in the audit log"
        elif cp.source.startswith("sidecar"):
            kind = "in the sidecar"
        elif cp.source.startswith("witness"):
            kind = "from witnesses"
        else:
            kind = "given"
        out[kind] = out.get(kind, 0) + 1
    return out


def _check_pages(
    conn: sqlite3.Connection,
    rep: VerifyReport,
    progress: Callable[[int, int], None] | None,
    past: history.Past,
    *,
    bodies: bool = True,
    removed: Mapping[int, removal.Removal] | None = None,
) -> None:
    """Every page's chain rule, metadata and chain, and (``bodies``) its bytes against its
    SHA-256; the chain values the checkpoints name and the tallies the counters need (no
    body is parsed: that is the replay's, which also checks the bytes). A page whose body is
    gone is accepted only where a disposition entry covers it (``removed``,
    archive/removal.py): its stored SHA-256 and metadata still chain."""
    total = conn.execute("SELECT count(*) FROM pages").fetchone()[0]
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    walk = _PageWalk(rep, past, bodies, removed or {}, version)
    cols = "*" if bodies else ", ".join(c for c in _PAGE_COLUMNS if c not in ("body",))
    for n, page in enumerate(conn.execute(f"SELECT {cols} FROM pages ORDER BY page_id"), 1):
        walk.page(n, page)
        if progress and n % 200 == 0:
            progress(n, total)
    rep.chain_head = walk.chain
    past.pages = rep.pages
    walk.finish()


class _PageWalk:
    """The page pass: one page at a time, in page_id order."""

    def __init__(
        self,
        rep: VerifyReport,
        past: history.Past,
        bodies: bool = True,
        removed: Mapping[int, removal.Removal] | None = None,
        version: int = 6,
    ) -> None:
        self.rep, self.past, self.bodies = rep, past, bodies
        #: page id → the entry that removed (disposition) or rewrote (erasure) its body
        self.removed = removed or {}
        mig = past.migration
        self.rule1_pages = mig.rule1_pages if mig else None
        #: pages stored before schema 6 keep rule 2 (the migration to 6 records how many);
        #: an archive created at 6 has none
        six = commitments.migration_chain(erasure.plain(past.entries))
        self.rule2_pages = six[0] if six is not None else None
        self.has_root = version >= 6
        self.wanted = past.wanted
        self.heads = past.wanted_heads
        self.chain = GENESIS  # resumes from a stored value after a break, to find more
        self.pure = GENESIS  # never resumed: the chain as recomputed from page 1
        self.legacy_meta = GENESIS  # chain of the rule-1 pages' metadata digests
        self.legacy_pages = 0
        self.expected_id: int | None = None
        if 0 in self.wanted:
            past.page_chain[0] = GENESIS

    def page(self, n: int, page: sqlite3.Row) -> None:
        rep = self.rep
        rep.pages += 1
        pid = page["page_id"]
        if self.expected_id is not None and pid != self.expected_id + 1:
            rep.add(
                f"pages {self.expected_id + 1}–{pid - 1} are missing (page ids jump from {self.expected_id} to {pid})"
            )
        self.expected_id = pid
        self.past.tally.add(page)
        rule = self._rule(n, page)
        meta = page_meta_digest(page, rule)
        if rule == CHAIN_BODY:
            self.legacy_meta = chain_next(self.legacy_meta, meta)
            self.legacy_pages += 1
        self.pure = page_chain_next(self.pure, rule, page["sha256"], meta)
        if n in self.wanted:
            self.past.page_chain[n] = self.pure
        if self.pure in self.heads:
            self.past.head_at.setdefault(self.pure, n)
        gone = self.removed.get(pid)
        erased = gone if gone is not None and gone.state == removal.ERASED else None
        disposed = page["encoding"] == DISPOSED
        if erased is None:
            if disposed and gone is None:
                rep.add(
                    f"page {pid} ({page['dataset']} {page['chunk_start']} page "
                    f"{page['page_number']}): its body was removed, but no disposition entry "
                    "covers it"
                )
            elif gone is not None and not disposed:
                rep.add(
                    f"page {pid}: {gone.describe()}, but its body is still (or again) in the archive"
                )
        self.chain = _check_page(
            rep,
            page,
            self.chain,
            rule,
            meta,
            self.bodies and not disposed,
            erased.rewritten_sha256 if erased is not None else None,
        )

    def _rule(self, n: int, page: sqlite3.Row) -> int:
        """The page's chain rule, checked against where rule 1 ends (the migration to
        schema 3 records it; an archive created at schema 3 has no rule-1 page)."""
        rule = page["chain_rule"]
        limit = self.rule1_pages
        allowed = (
            CHAIN_BODY
            if limit is not None and n <= limit
            else CHAIN_BODY_META
            if not self.has_root or (self.rule2_pages is not None and n <= self.rule2_pages)
            else CHAIN_BODY_META_ROOT
        )
        if rule not in CHAIN_RULES:
            self.rep.add(f"page {page['page_id']}: unknown chain rule {rule!r}")
            return allowed
        if rule != allowed:
            where = (
                f"only the first {limit:,} pages (stored before the migration to schema 3) do"
                if rule == CHAIN_BODY and limit is not None
                else f"page {n} follows rule {allowed} (rule 2: pages stored before schema 6, "
                "rule 3 with the commitment root: every page since)"
            )
            words = {1: "body hash only", 2: "body hash and metadata"}.get(
                rule, "body hash, metadata and commitment root"
            )
            self.rep.add(f"page {page['page_id']}: claims chain rule {rule} ({words}), but {where}")
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
    rep: VerifyReport,
    page: sqlite3.Row,
    chain: str,
    rule: int,
    meta: str,
    bodies: bool,
    rewritten: str | None = None,
) -> str:
    """One page against its checksum (``bodies``) and the chain; returns the chain value to
    go on from. ``rewritten``: the SHA-256 an erasure entry states for the page's rewritten
    body (its stored SHA-256 stays that of the body as received)."""
    pid = page["page_id"]
    if page["encoding"] == DISPOSED and "body" in page.keys() and bytes(page["body"] or b""):
        rep.add(f"page {pid}: marked disposed, but it holds bytes")
    if bodies:
        try:
            raw = page_body(page["encoding"], page["body"])
        except Exception as exc:
            rep.add(f"page {pid}: body cannot be decoded ({exc})")
            return chain
        if rewritten is not None:
            if sha256_hex(raw) != rewritten:
                rep.add(
                    f"page {pid} ({page['dataset']} {page['chunk_start']} page "
                    f"{page['page_number']}): its body does not match the SHA-256 its erasure "
                    "entry states for the rewritten body"
                )
        elif sha256_hex(raw) != page["sha256"] or len(raw) != page["size"]:
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
    return chain


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
