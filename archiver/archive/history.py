"""verify-archive proves the past: what the archive recorded earlier must still hold.

- **Checkpoints** (archive/checkpoint.py) from the audit log, the sidecar beside the archive
  and the command line, and the archive's own earlier statements of its chain head (the
  ``verify-archive`` entries, the migration to schema 3): each must be a *prefix* of the
  chains recomputed now, i.e. the page chain after its N pages (and the audit chain after
  its M entries) must equal the head it states. Truncation, and any change before the
  checkpoint, fail it.
- **The sidecar** agrees with the audit log: every line is the checkpoint entry written
  right after the M entries it states.
- **Signatures** of checkpoints verify with the certificates given (the local signing key).
- **Counters**: coverage rows and the runs' recorded summaries never claim more than the
  pages and records present.

:func:`collect` reads what the archive and the sidecar state before the page pass; the page
pass (verify.py) fills in the chain values and tallies; the ``check_*`` functions compare.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509

from archiver.archive.checkpoint import (
    EVENT,
    FORMAT,
    Checkpoint,
    CheckpointError,
    Sidecar,
    signature_ok,
)
from archiver.archive.hashing import GENESIS, canonical_json, chain_next
from archiver.plural import plural

Add = Callable[[str], None]
ChunkKey = tuple[str, str, str, str]  # dataset, dataset_type, chunk_start, filter
RunKey = tuple[str, str]  # run_id, dataset


@dataclass
class Tally:
    """What the pages present hold, per chunk walk and per run (filled by the page pass)."""

    chunk_pages: dict[ChunkKey, int] = field(default_factory=dict)
    chunk_rows: dict[ChunkKey, int] = field(default_factory=dict)
    chunk_last: dict[ChunkKey, int] = field(default_factory=dict)  # final pages (no next token)
    run_pages: dict[RunKey, int] = field(default_factory=dict)
    run_rows: dict[RunKey, int] = field(default_factory=dict)

    def add(self, page: sqlite3.Row) -> None:
        if page["http_status"] != 200:
            return
        try:
            flt = json.loads(page["query"]).get("filter") or ""
        except (ValueError, AttributeError):
            flt = ""
        chunk: ChunkKey = (page["dataset"], page["dataset_type"], page["chunk_start"], str(flt))
        run: RunKey = (page["run_id"], page["dataset"])
        n = int(page["record_count"])
        for counts, key, value in (
            (self.chunk_pages, chunk, 1),
            (self.chunk_rows, chunk, n),
            (self.chunk_last, chunk, int(not page["next_token"])),
        ):
            counts[key] = counts.get(key, 0) + value
        for rcounts, rkey, value in ((self.run_pages, run, 1), (self.run_rows, run, n)):
            rcounts[rkey] = rcounts.get(rkey, 0) + value


@dataclass
class Migration:
    """What the migration to schema 3 recorded (audit entry ``migrate``)."""

    source: str
    rule1_pages: int
    chain_head: str
    metadata_chain: str


@dataclass
class Past:
    entries: list[sqlite3.Row] = field(default_factory=list)
    #: the audit chain recomputed from the entries: audit_chain[k] after k entries
    audit_chain: list[str] = field(default_factory=lambda: [GENESIS])
    archive_id: str | None = None
    #: every checkpoint known, given ones first, then the audit log's, then the sidecar's
    checkpoints: list[Checkpoint] = field(default_factory=list)
    sidecar: Sidecar | None = None
    migration: Migration | None = None
    #: (source, run_id, summary) of every recorded run summary
    summaries: list[tuple[str, str, Mapping[str, Any]]] = field(default_factory=list)
    #: filled by the page pass: the page chain recomputed from the start (never resumed from
    #: a stored value) after N pages, for every N a checkpoint names
    page_chain: dict[int, str] = field(default_factory=dict)
    pages: int = 0
    tally: Tally = field(default_factory=Tally)
    #: filled by the page pass: where a head named without its page count (an older
    #: bundle's) first appears in the recomputed chain (page count)
    head_at: dict[str, int] = field(default_factory=dict)

    @property
    def wanted(self) -> set[int]:
        return {cp.pages for cp in self.checkpoints if cp.pages is not None}

    @property
    def wanted_heads(self) -> set[str]:
        """Page-chain heads named without a page count."""
        return {cp.chain_head for cp in self.checkpoints if cp.pages is None and cp.chain_head}


def collect(conn: sqlite3.Connection, given: Iterable[Checkpoint], sidecar: Sidecar | None) -> Past:
    """Read the audit log, the runs table and the sidecar (no checks yet)."""
    past = Past(sidecar=sidecar)
    past.checkpoints.extend(given)
    row = conn.execute("SELECT value FROM meta WHERE key='archive_id'").fetchone()
    past.archive_id = row[0] if row else None
    for e in conn.execute("SELECT * FROM audit_log ORDER BY entry_id"):
        past.entries.append(e)
        past.audit_chain.append(chain_next(past.audit_chain[-1], e["sha256"]))
        try:
            details = json.loads(e["details"])
        except ValueError:
            continue  # the audit check reports it
        if isinstance(details, dict):
            _read_entry(past, e, details)
    for run_id, summary in conn.execute(
        "SELECT run_id, summary FROM runs WHERE summary IS NOT NULL"
    ):
        try:
            past.summaries.append(("runs table", run_id, json.loads(summary)))
        except ValueError:
            continue
    if sidecar is not None:
        past.checkpoints.extend(sidecar.checkpoints)
    return past


def _read_entry(past: Past, e: sqlite3.Row, d: dict[str, Any]) -> None:
    """What one audit entry states about the past."""
    where = f"audit entry {e['entry_id']}"
    event = e["event"]
    if event == EVENT:
        try:
            past.checkpoints.append(Checkpoint.from_dict(d, where))
        except CheckpointError:
            pass  # not one of ours: nothing it states is checked
    elif event == "verify-archive" and d.get("result") == "ok":
        legacy = _stated(d, "pages", "chain_head", "audit_entries", "audit_head")
        if legacy is not None:
            cp = Checkpoint(*legacy, at=e["at"], cause="verify-archive", source=where)
            past.checkpoints.append(cp)
    elif event == "migrate" and d.get("to") == 3:
        stated = _stated(d, "chain_rule_1_pages", "chain_head", None, None)
        if stated is not None and isinstance(d.get("metadata_chain"), str):
            past.migration = Migration(where, stated[0], stated[1], d["metadata_chain"])
            past.checkpoints.append(
                Checkpoint(stated[0], stated[1], at=e["at"], cause="migration", source=where)
            )
    elif event == "pull finished" and isinstance(d.get("summary"), dict):
        past.summaries.append((f"pull finished, {where}", e["run_id"] or "", d["summary"]))


def _stated(
    d: Mapping[str, Any], pages: str, head: str, audit: str | None, ahead: str | None
) -> tuple[int, str, int | None, str | None] | None:
    """(pages, head, audit entries, audit head) an entry states, if it states them."""
    if not isinstance(d.get(pages), int) or not isinstance(d.get(head), str):
        return None
    a = d.get(audit) if audit else None
    ah = d.get(ahead) if ahead else None
    if not (isinstance(a, int) and isinstance(ah, str)):
        a, ah = None, None
    return d[pages], d[head], a, ah


# -- checkpoints ------------------------------------------------------------------------
def check_checkpoints(past: Past, add: Add) -> int:
    """Every distinct checkpoint is a prefix of the chains; returns how many were checked.
    Checkpoints failing for the same reason are reported once, the first one named."""
    groups: dict[tuple[Any, ...], list[Checkpoint]] = {}
    for cp in past.checkpoints:
        groups.setdefault(cp.key, []).append(cp)
    failing: dict[str, list[list[Checkpoint]]] = {}
    for same in groups.values():
        why = _not_prefix(same[0], past)
        if why:
            failing.setdefault(why, []).append(same)
    for why, sets in failing.items():
        cp = sets[0][0]
        where = "; ".join(c.source for c in sets[0])
        what = ", ".join(x for x in (f"after {cp.cause}" if cp.cause else "", cp.at) if x)
        text = (
            f"checkpoint {cp.brief()} ({where}{'; ' + what if what else ''}) "
            f"is not a prefix of this archive: {why}"
        )
        if len(sets) > 1:
            others = [same[0].source for same in sets[1:]]
            text += f"; so {'is' if len(others) == 1 else 'are'} {plural(len(others), 'other checkpoint')} ({_few(others)})"
        add(text)
    return len(groups)


def _few(items: list[str], n: int = 4) -> str:
    return "; ".join(items[:n]) + (f"; … {len(items) - n} more" if len(items) > n else "")


def _not_prefix(cp: Checkpoint, past: Past) -> str:
    if (
        cp.pages is None
        and cp.chain_head
        and cp.chain_head != GENESIS
        and cp.chain_head not in past.head_at
    ):
        return (
            f"the page chain never has the value {cp.chain_head[:16]}… (pages up to it were "
            "changed, removed or replaced)"
        )
    if cp.audit_entries is None and cp.audit_head:
        if cp.audit_head not in past.audit_chain:
            return (
                f"the audit chain never has the value {cp.audit_head[:16]}… (audit entries "
                "were changed or removed)"
            )
    if cp.pages is not None:
        if cp.pages > past.pages:
            return (
                f"it records {cp.pages:,} pages, the archive holds {past.pages:,} "
                "(pages were removed after it was taken)"
            )
        now = past.page_chain.get(cp.pages, GENESIS)
        if now != cp.chain_head:
            return (
                f"the page chain after page {cp.pages:,} is now {now[:16]}…, it recorded "
                f"{(cp.chain_head or '')[:16]}… (pages up to it were changed, removed or replaced)"
            )
    if cp.audit_entries is not None:
        have = len(past.audit_chain) - 1
        if cp.audit_entries > have:
            return (
                f"it records {cp.audit_entries:,} audit entries, the archive holds {have:,} "
                "(audit entries were removed after it was taken)"
            )
        now = past.audit_chain[cp.audit_entries]
        if now != cp.audit_head:
            return (
                f"the audit chain after entry {cp.audit_entries:,} is now {now[:16]}…, it "
                f"recorded {(cp.audit_head or '')[:16]}… (audit entries were changed or removed)"
            )
    return ""


def check_sidecar(past: Past, add: Add, note: Add) -> None:
    """The sidecar's lines are the audit log's checkpoint entries, of this archive."""
    side = past.sidecar
    if side is None:
        return
    logged = [e for e in past.entries if e["event"] == EVENT]
    name = side.path.name
    if not side.exists:
        if logged:
            note(
                f"the checkpoint sidecar {name} is missing: the audit log's "
                f"{plural(len(logged), 'checkpoint')} {'was' if len(logged) == 1 else 'were'} checked, but without the sidecar a truncation of the audit "
                "log itself can only be caught with --expect-head"
            )
        return
    if side.error:
        note(f"the checkpoint sidecar {name} cannot be read ({side.error})")
        return
    for n, why in side.bad_lines:
        add(f"{name} line {n} is not a checkpoint ({why})")
    for cp in side.checkpoints:
        _check_line(past, cp, add)
    in_side = {canonical_json(cp.as_dict()) for cp in side.checkpoints}
    missing = sum(1 for e in logged if _canonical(e["details"]) not in in_side)
    if missing:
        note(
            f"{plural(missing, 'checkpoint')} of the audit log {'is' if missing == 1 else 'are'} not in {name} (it could not be "
            "written then, or lines were removed from it)"
        )


def _check_line(past: Past, cp: Checkpoint, add: Add) -> None:
    if cp.archive_id and past.archive_id and cp.archive_id != past.archive_id:
        add(
            f"{cp.source} belongs to another archive (id {cp.archive_id}, this is {past.archive_id})"
        )
        return
    m = cp.audit_entries
    if m is None:
        return
    if m >= len(past.entries):
        add(
            f"{cp.source}: the audit entry it was written with (entry {m + 1} of the log) is "
            f"missing: the audit log holds {len(past.entries)} entries"
        )
        return
    e = past.entries[m]
    if e["event"] != EVENT or _canonical(e["details"]) != canonical_json(cp.as_dict()):
        add(f"{cp.source}: the audit log's entry {m + 1} is not this checkpoint")


def _canonical(details: str) -> str:
    try:
        return canonical_json(json.loads(details))
    except ValueError:
        return details


def check_signatures(
    past: Past, certs: Mapping[str, x509.Certificate], add: Add, note: Add
) -> None:
    """Signed checkpoints verify with the certificate of their signer, where known."""
    signed: dict[str, Checkpoint] = {}
    unsigned: dict[tuple[Any, ...], str] = {}
    for cp in past.checkpoints:
        if cp.signature:
            signed.setdefault(cp.signature, cp)
        elif cp.unsigned is not None:  # a checkpoint record (not an older statement)
            unsigned.setdefault(cp.key, cp.unsigned)
    good: dict[str, int] = {}
    unknown: dict[str, int] = {}
    for cp in signed.values():
        fp = cp.signer or "?"
        cert = certs.get(fp)
        if cert is None:
            unknown[fp] = unknown.get(fp, 0) + 1
        elif signature_ok(cp, cert):
            good[fp] = good.get(fp, 0) + 1
        else:
            add(
                f"checkpoint {cp.brief()} ({cp.source}): its signature does not verify with the "
                f"certificate {fp} (the checkpoint was altered)"
            )
    for fp, n in good.items():
        note(
            f"{plural(n, 'checkpoint signature')} verified with the local signing certificate {fp}"
        )
    for fp, n in unknown.items():
        note(f"{plural(n, 'checkpoint')} signed by an unknown key ({fp}): signatures not checked")
    reasons: dict[str, int] = {}
    for why in unsigned.values():
        reasons[why] = reasons.get(why, 0) + 1
    for why, n in reasons.items():
        note(f"{plural(n, 'checkpoint')} unsigned ({why})")


# -- counters ---------------------------------------------------------------------------
def check_coverage(conn: sqlite3.Connection, past: Past, add: Add) -> None:
    """No coverage row claims more pages or rows than its chunk's pages hold, and a done
    chunk has the final page of a walk."""
    t = past.tally
    for c in conn.execute(
        "SELECT dataset, dataset_type, filter, chunk_start, state, pages, rows FROM coverage"
    ):
        key = (c["dataset"], c["dataset_type"], c["chunk_start"], c["filter"])
        what = f"coverage of {c['dataset']} ({c['dataset_type']}) chunk {c['chunk_start']}" + (
            f" filter {c['filter']}" if c["filter"] else ""
        )
        pages, rows = t.chunk_pages.get(key, 0), t.chunk_rows.get(key, 0)
        if c["pages"] > pages or c["rows"] > rows:
            add(
                f"{what} counts {c['pages']:,} pages and {c['rows']:,} rows, the archive holds "
                f"{pages:,} pages and {rows:,} rows of it (pages were removed)"
            )
        elif c["state"] == "done" and not t.chunk_last.get(key):
            add(
                f"{what} is done, but the archive holds no final page of it "
                f"({pages:,} pages; the last ones were removed)"
            )


_COUNTED = (
    ("pages", "pages"),
    ("rows", "rows"),
    ("new_versions", "new versions"),
    ("quarantined", "quarantined responses"),
)


def check_runs(conn: sqlite3.Connection, past: Past, add: Add, skip: Iterable[str] = ()) -> None:
    """No recorded run summary claims more than the archive holds for that run (``skip``:
    runs whose summaries the replay re-derives exactly)."""
    skipped = set(skip)
    records: dict[RunKey, int] = {}
    for run, ds, n in conn.execute(
        "SELECT p.run_id, p.dataset, count(*) FROM records r JOIN pages p ON p.page_id = r.page_id GROUP BY 1, 2"
    ):
        records[(run, ds)] = n
    quarantined: dict[RunKey, int] = {}
    for run, ds, n in conn.execute(
        "SELECT run_id, dataset, count(*) FROM quarantine GROUP BY 1, 2"
    ):
        quarantined[(run, ds)] = n
    have = {
        "pages": past.tally.run_pages,
        "rows": past.tally.run_rows,
        "new_versions": records,
        "quarantined": quarantined,
    }
    reported: set[tuple[str, str, str]] = set()
    for source, run_id, summary in past.summaries:
        if run_id in skipped:
            continue
        per = summary.get("datasets") if isinstance(summary, Mapping) else None
        if not isinstance(per, Mapping):
            continue
        for ds, counts in per.items():
            if not isinstance(counts, Mapping):
                continue
            for name, label in _COUNTED:
                said, held = counts.get(name), have[name].get((run_id, ds), 0)
                if isinstance(said, int) and said > held and (run_id, ds, name) not in reported:
                    reported.add((run_id, ds, name))
                    add(
                        f"run {run_id} ({source}) recorded {said:,} {label} of {ds}, the archive "
                        f"holds {held:,} (removed after the run)"
                    )


__all__ = [
    "FORMAT",
    "Past",
    "Tally",
    "check_checkpoints",
    "check_coverage",
    "check_runs",
    "check_sidecar",
    "check_signatures",
    "collect",
]
