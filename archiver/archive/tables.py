"""Every table and view an archive may hold, and how verify-archive answers for it.

Each is exactly one of:

- **chained** evidence: covered by a hash chain (pages by the page chain, the audit log by
  the audit chain); verify-archive recomputes the chain;
- **replayed**: re-derived by verify-archive's replay from the raw pages and the custody
  entries, and compared (its ``check`` names every difference: the table, the key, the first
  differing field); a view's definition is compared with the one archiver creates;
- **local** state, with the reason it states nothing an auditor relies on.

A table or view not classified here fails verification (and tests/core/test_tables.py fails
on one a fully used archive holds), so a table added later cannot escape. A new table: one
entry here and, when replayed, one check function ``check(ctx, name) -> Iterable[str]``
(differences found), reading ``ctx.conn`` and the parsed custody entries ``ctx.custody``.
"""

from __future__ import annotations

import json
import re
import sqlite3
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from archiver.api.redaction import MARK
from archiver.archive import cases, erasure, retention, searchindex, values
from archiver.archive.chunks import CANNOT_HOLD, cannot_hold
from archiver.archive.custody import QUARANTINE_FIELDS, Custody, quarantine_chain, runs_rows
from archiver.archive.rekey import page_body
from archiver.archive.replay import Findings, differ, summaries
from archiver.archive.triggers import is_values_table

CHAINED, REPLAYED, LOCAL = "chained", "replayed", "local"


@dataclass
class ReplayContext:
    """What a check reads: the archive, its custody entries, and the replay's findings."""

    conn: sqlite3.Connection
    custody: Custody
    findings: Findings
    #: what a check computed once for several tables (the case tables' replay)
    memo: dict[str, list[str]] = field(default_factory=dict)
    #: what a check found beyond its problems, for the report (erasure.Proof)
    proofs: dict[str, Any] = field(default_factory=dict)


Check = Callable[[ReplayContext, str], Iterable[str]]


@dataclass(frozen=True)
class Table:
    kind: str  # CHAINED | REPLAYED | LOCAL
    reason: str  # one line: how it is chained, what it is replayed from, or why it is local
    check: Check | None = None


def _found(ctx: ReplayContext, name: str) -> Iterable[str]:
    """A table the replay's dataset passes compare as they go."""
    return ctx.findings.differences.get(name, [])


def _views(ctx: ReplayContext, name: str) -> Iterable[str]:
    from archiver.archive.schema import expected_views

    want = expected_views(ctx.conn).get(name)
    row = ctx.conn.execute(
        "SELECT sql FROM sqlite_master WHERE type='view' AND name=?", (name,)
    ).fetchone()
    have = row[0] if row else None
    if want is None or have is None or _sql(have) != _sql(want):
        yield (
            f"{name} (view): its definition is not the one archiver creates: "
            f"{_sql(have or '')[:160]!r}"
        )


def _sql(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().rstrip(";")


def _meta(ctx: ReplayContext, name: str) -> Iterable[str]:
    have = dict(ctx.conn.execute("SELECT key, value FROM meta").fetchall())
    stated = ctx.custody.meta
    if stated is None:
        yield "meta: no custody entry states it (archive created, or the migration to version 5)"
        return
    fact, want = stated
    for f in ctx.custody.restated:
        yield (
            f"meta: audit entry {f.entry_id} ({f.event}) states the archive's identity again "
            f"(audit entry {fact.entry_id} stated it): an identity is stated once"
        )
    want = {k: want.get(k) for k in ("archive_id", "created_at", "created_by")}
    text = differ("meta", f"as audit entry {fact.entry_id} states it", have, want, "the entry says")
    if text:
        yield text
    for extra in sorted(have.keys() - want.keys()):
        yield f"meta ({extra}): no custody entry states it"
    for f in ctx.custody.facts:
        if f.event == "checkpoint" and f.details.get("archive_id") not in (
            None,
            have.get("archive_id"),
        ):
            yield (
                f"meta (archive_id): is {have.get('archive_id')!r}, the checkpoint of audit entry "
                f"{f.entry_id} names {f.details.get('archive_id')!r}"
            )
            return


def _runs(ctx: ReplayContext, name: str) -> Iterable[str]:
    """Every run's row as its entries state it; every summary re-derived."""
    want = runs_rows(ctx.custody)
    cols = list(next(iter(want.values())).keys()) if want else ["run_id"]
    have: dict[str, dict[str, Any]] = {}
    for row in ctx.conn.execute(f"SELECT {', '.join(cols)} FROM runs"):
        r = dict(zip(cols, row, strict=True))
        for k in ("params", "summary"):
            if isinstance(r.get(k), str):
                try:
                    r[k] = json.loads(r[k])
                except ValueError:
                    pass
        have[r["run_id"]] = r
    for run_id in sorted(have.keys() | want.keys()):
        if run_id not in want:
            yield f"runs ({run_id}): no `pull started` entry of this run"
        elif run_id not in have:
            yield f"runs ({run_id}): missing (its `pull started` entry states it)"
        else:
            text = differ("runs", run_id, have[run_id], want[run_id], "its entries say")
            if text:
                yield text
    yield from summaries(ctx.custody, ctx.findings)


def _quarantine(ctx: ReplayContext, name: str) -> Iterable[str]:
    """Each quarantined response as its ``quarantined`` entry states it; those archived
    before version 5, as the migration's chain over them."""
    cols = [*QUARANTINE_FIELDS, "length(body)"]
    legacy = ctx.custody.legacy_quarantine
    old: list[Mapping[str, Any]] = []
    seen: set[int] = set()
    for row in ctx.conn.execute(f"SELECT {', '.join(cols)} FROM quarantine ORDER BY quarantine_id"):
        r = dict(zip([*QUARANTINE_FIELDS, "size"], row, strict=True))
        qid = r["quarantine_id"]
        seen.add(qid)
        stated = ctx.custody.quarantined.get(qid)
        if stated is not None:
            text = differ("quarantine", f"row {qid}", r, dict(stated[1]), "its entry says")
            if text:
                yield text
        elif legacy is not None and len(old) < legacy[0]:
            old.append(r)
        else:
            yield f"quarantine (row {qid}): no `quarantined` entry states it"
    if legacy is not None and (len(old), quarantine_chain(old)) != legacy:
        yield (
            f"quarantine (the {legacy[0]:,} rows archived before version 5): they differ from "
            "what the migration to version 5 recorded"
        )
    for qid in sorted(ctx.custody.quarantined.keys() - seen):
        yield f"quarantine (row {qid}): missing (its `quarantined` entry states it)"
    yield from _cannot_hold(ctx)


def _cannot_hold(ctx: ReplayContext) -> Iterable[str]:
    """A page the archive could not hold failed its chunk (archive/chunks.py cannot_hold):
    each such quarantine row has the ``chunk failed`` entry that names it, worded from the
    row as the writer words it, and each such entry names such a row."""
    failures = {
        f.details["quarantine_id"]: f
        for f in ctx.custody.facts
        if f.event == "chunk failed" and isinstance(f.details.get("quarantine_id"), int)
    }
    rows = {
        r[0]: r
        for r in ctx.conn.execute(
            "SELECT quarantine_id, run_id, dataset, dataset_type, chunk_start, error FROM quarantine"
            " WHERE substr(error, 1, ?) = ?",
            (len(CANNOT_HOLD), CANNOT_HOLD),
        )
    }
    for qid, (_, run_id, ds, dtype, start, error) in sorted(rows.items()):
        f = failures.get(qid)
        if f is None:
            yield (
                f"quarantine (row {qid}): a page the archive could not hold, but no `chunk "
                "failed` entry names it (its chunk failed with it)"
            )
            continue
        d = f.details
        key = (ds, dtype, str(d.get("filter", "")), start)
        reason, message = cannot_hold(
            key,
            str(d.get("chunk_end", "")),
            int(d.get("page_number") or 0),
            error[len(CANNOT_HOLD) :],
        )
        stated = {
            "run_id": f.run_id,
            "dataset": d.get("dataset"),
            "dataset_type": d.get("dataset_type"),
            "chunk_start": d.get("chunk_start"),
            "message": d.get("message"),
        }
        derived = {
            "run_id": run_id,
            "dataset": ds,
            "dataset_type": dtype,
            "chunk_start": start,
            "message": message,
        }
        text = differ(
            "quarantine",
            f"row {qid}, chunk failed entry {f.entry_id}",
            stated,
            derived,
            "the quarantined page gives",
        )
        if text or reason != error:
            yield text or f"quarantine (row {qid}): its reason is not the writer's wording"
    for qid in sorted(failures.keys() - rows.keys()):
        yield (
            f"quarantine (row {qid}): missing, or not a page the archive could not hold, but "
            f"the `chunk failed` entry {failures[qid].entry_id} names it"
        )


def _values(ctx: ReplayContext, name: str) -> Iterable[str]:
    """A dataset's values table: the replay compared the values of every record (``_found``);
    here, that it is one (a table, of a dataset of the registry) and that each of its rows
    belongs to a record of that dataset. A row no record owns is read by nothing the replay
    compares, yet holds the id the next record gets: every later pull of the dataset would
    fail each page as one the archive cannot hold."""
    (kind,) = ctx.conn.execute("SELECT type FROM sqlite_master WHERE name=?", (name,)).fetchone()
    if kind != "table" or not is_values_table(name):
        yield f"{name} ({kind}): not the values table of a dataset"
        return
    yield from _found(ctx, name)
    dataset = name[len("vals_") :]
    orphans = ctx.conn.execute(
        f"""SELECT v.record_id FROM {values.quote(name)} v WHERE NOT EXISTS (
                SELECT 1 FROM records r JOIN streams s ON s.stream_id = r.stream_id
                WHERE r.record_id = v.record_id AND s.dataset = ?)
            ORDER BY v.record_id LIMIT 20""",
        (dataset,),
    ).fetchall()
    for (rid,) in orphans:
        yield f"{name} (record {rid}): no record of {dataset} owns this row"


def _superseded(ctx: ReplayContext, name: str) -> Iterable[str]:
    """The dataset passes compare the rows of their records (``_found``); a row naming no
    record is no dataset's, yet hides the record that gets its id from "latest"."""
    yield from _found(ctx, name)
    for rid, by in ctx.conn.execute(
        """SELECT s.record_id, s.by_id FROM superseded s
           WHERE NOT EXISTS (SELECT 1 FROM records r WHERE r.record_id = s.record_id)
              OR NOT EXISTS (SELECT 1 FROM records r WHERE r.record_id = s.by_id)
           ORDER BY s.record_id LIMIT 20"""
    ):
        yield f"superseded (record {rid}, by {by}): no such record"


def _redactions(ctx: ReplayContext) -> Iterable[str]:
    """Each ``credentials redacted`` entry names a stored response of its chunk and status
    that holds the ``[redacted]`` mark at least as often as the entry says it was put."""
    for f in ctx.custody.facts:
        if f.event != "credentials redacted":
            continue
        d = f.details
        where = f"credentials redacted (audit entry {f.entry_id})"
        if isinstance(d.get("page_id"), int):
            row = ctx.conn.execute(
                "SELECT dataset, dataset_type, chunk_start, http_status, sha256, encoding, body"
                " FROM pages WHERE page_id=?",
                (d["page_id"],),
            ).fetchone()
            what = f"page {d['page_id']}"
        elif isinstance(d.get("quarantine_id"), int):
            row = ctx.conn.execute(
                "SELECT dataset, dataset_type, chunk_start, http_status, sha256, 'identity', body"
                " FROM quarantine WHERE quarantine_id=?",
                (d["quarantine_id"],),
            ).fetchone()
            what = f"quarantine row {d['quarantine_id']}"
        else:
            yield f"{where}: names no stored response"
            continue
        if row is None:
            yield f"{where}: {what} is not stored"
            continue
        stored = dict(
            zip(("dataset", "dataset_type", "chunk_start", "http_status"), row[:4], strict=True)
        )
        text = differ(
            "credentials redacted",
            f"audit entry {f.entry_id}, {what}",
            stored,
            {k: d.get(k) for k in stored},
            "the entry says",
        )
        if text:
            yield text
            continue
        try:
            body = page_body(row[5], bytes(row[6]))
        except (ValueError, zlib.error):  # the chain pass names an unreadable body
            continue
        replaced = d.get("replaced")
        if not isinstance(replaced, int) or body.count(MARK.encode()) < replaced:
            yield (
                f"{where}: {what} holds the {MARK} mark {body.count(MARK.encode())} times, "
                f"the entry says {replaced!r} credentials were replaced in it"
            )
        elif d.get("received_sha256") == row[4]:
            yield f"{where}: {what} is stored as received, the entry says it was redacted"


def _cases(ctx: ReplayContext, name: str) -> Iterable[str]:
    """The case tables made again from the case and hold entries (archive/cases.py)."""
    found = _case_problems(ctx)
    return [p for p in found if p.startswith(f"{name} (")]


def _case_problems(ctx: ReplayContext) -> list[str]:
    if "cases" not in ctx.memo:
        ctx.memo["cases"] = cases.replay_check(ctx.conn, ctx.custody.facts)
    return ctx.memo["cases"]


def _retention(ctx: ReplayContext, name: str) -> Iterable[str]:
    """The retention tables made again from the schedule and disposition entries
    (archive/retention.py)."""
    return [p for p in _retention_problems(ctx) if p.startswith(f"{name} (")]


def _retention_problems(ctx: ReplayContext) -> list[str]:
    if "retention" not in ctx.memo:
        ctx.memo["retention"] = retention.replay_check(ctx.conn, ctx.custody.facts)
    return ctx.memo["retention"]


def _retention_entries(ctx: ReplayContext) -> Iterable[str]:
    """What the retention replay finds that is no one table's row (entries the rule
    refuses, tables missing while entries state them)."""
    return [
        p
        for p in _retention_problems(ctx)
        if not any(p.startswith(f"{t} (") for t in retention.TABLES)
    ]


def _case_entries(ctx: ReplayContext) -> Iterable[str]:
    """What the case replay finds that is no one table's row: entries the rule refuses,
    tables missing while entries state them."""
    return [p for p in _case_problems(ctx) if not any(p.startswith(f"{t} (") for t in cases.TABLES)]


def _commitments(ctx: ReplayContext, name: str) -> Iterable[str]:
    """Every row proven against its page's commitment root, a row without its salt only
    where an erasure entry names it or a disposition entry its page, and no salt on a page a
    disposition disposed of (archive/erasure.py): one pass for both tables, each
    table's problems under its name; the proof is kept for the report."""
    if "commitments" not in ctx.memo:
        proof = erasure.check(ctx.conn, ctx.custody.facts)
        ctx.proofs["commitments"] = proof
        ctx.memo["commitments"] = proof.problems
    return [p for p in ctx.memo["commitments"] if p.startswith(f"{name} (")]


_DATASET_PASS = "re-derived from the raw pages, in archive order (archive/replay.py)"

#: Tables and views by name.
TABLES: dict[str, Table] = {
    "pages": Table(CHAINED, "every response as received: the page chain covers bytes and metadata"),
    "audit_log": Table(CHAINED, "the custody entries: the audit chain covers every field"),
    "records": Table(REPLAYED, f"{_DATASET_PASS}: identity, key, interval, conflict", _found),
    "streams": Table(REPLAYED, f"{_DATASET_PASS}: the streams with a 200 page", _found),
    "column_sets": Table(REPLAYED, f"{_DATASET_PASS}: the column lists of new records", _found),
    "superseded": Table(REPLAYED, f"{_DATASET_PASS}: versions a newer one replaced", _superseded),
    "conflicts": Table(REPLAYED, f"{_DATASET_PASS}: same key and COMMIT_TS, other content", _found),
    "schema_changes": Table(REPLAYED, f"{_DATASET_PASS}: columnHeaders as they change", _found),
    "key_rules": Table(REPLAYED, f"{_DATASET_PASS}: key fallbacks the pages show", _found),
    "coverage": Table(
        REPLAYED,
        f"{_DATASET_PASS} and the `chunk failed` entries (attempts, next_retry_at and "
        "updated_at are the writer's bookkeeping: never shown as evidence)",
        _found,
    ),
    "runs": Table(
        REPLAYED, "from the pull started/resumed/finished entries; summaries re-counted", _runs
    ),
    "quarantine": Table(
        REPLAYED, "from the `quarantined` entries (the body by its SHA-256)", _quarantine
    ),
    "meta": Table(
        REPLAYED, "from the `archive created` entry (or the migration to version 5)", _meta
    ),
    "records_view": Table(REPLAYED, "a view: its definition compared", _views),
    "latest": Table(REPLAYED, "a view: its definition compared", _views),
    "record_values": Table(REPLAYED, "a view: its definition compared", _views),
    "chain_head": Table(REPLAYED, "a view: its definition compared", _views),
    "sqlite_sequence": Table(LOCAL, "SQLite's AUTOINCREMENT counters: no content"),
    # the modules that own a table declare it (TABLES) and how it is re-derived
    **{
        name: Table(REPLAYED, reason, _found)
        for name, (kind, reason) in values.TABLES.items()
        if kind == REPLAYED
    },
    **{
        name: Table(REPLAYED, reason, _cases)
        for name, (kind, reason) in cases.TABLES.items()
        if kind == REPLAYED
    },
    **{
        name: Table(REPLAYED, reason, _retention)
        for name, (kind, reason) in retention.TABLES.items()
        if kind == REPLAYED
    },
    **{
        name: Table(REPLAYED, reason, _commitments)
        for name, (kind, reason) in erasure.TABLES.items()
        if kind == REPLAYED
    },
}
#: The search index (archive/searchindex.py): local state, rebuildable by `archiver index
#: rebuild`, compared with the records by searchindex.check (verify-archive calls it).
SEARCH_INDEX = Table(
    LOCAL,
    "the search index (search_columns, vals_<dataset>_fts and its FTS5 shadow tables): "
    "rebuildable by `archiver index rebuild`; searchindex.check compares it with the records",
)
#: Tables named by a prefix (a dataset's values table, SQLite's own).
PREFIXES: dict[str, Table] = {
    "vals_": Table(
        REPLAYED, f"{_DATASET_PASS}: every value of every record, and no row of no record", _values
    ),
    "sqlite_stat": Table(LOCAL, "SQLite's query-planner statistics (ANALYZE): no content"),
}


def classify(name: str) -> Table | None:
    """How the table or view ``name`` is answered for (None: not classified)."""
    if name in TABLES:
        return TABLES[name]
    if searchindex.is_index_table(name):
        return SEARCH_INDEX
    return next((t for p, t in PREFIXES.items() if name.startswith(p)), None)


def schema_objects(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """(type, name) of every table and view of the archive (SQLite's own catalogue aside)."""
    return [
        (t, n)
        for t, n in conn.execute(
            "SELECT type, name FROM sqlite_master WHERE type IN ('table', 'view') ORDER BY name"
        )
    ]


def check_all(ctx: ReplayContext) -> Iterable[str]:
    """Every table and view classified; every replayed one's check run."""
    for kind, name in schema_objects(ctx.conn):
        entry = classify(name)
        if entry is None:
            yield (
                f"{name} ({kind}): archiver does not know it — neither chained evidence, nor "
                "replayed, nor declared local state"
            )
        elif entry.kind == REPLAYED and entry.check is not None:
            yield from entry.check(ctx, name)
    # what custody entries state that no one table's check covers, whatever tables exist
    yield from _case_entries(ctx)
    yield from _retention_entries(ctx)
    yield from _redactions(ctx)
