"""What the audit log states that verify-archive's replay re-derives tables from.

Custody entries are chained evidence (the audit chain): each run's ``pull started`` (its
parameters and the plan of its chunks), ``pull resumed`` and ``pull finished`` (its status,
summary and flags, after which page it was written), every ``chunk failed`` (an outcome no
archived response explains), ``quarantined`` (what a quarantine row holds),
``archive created`` (the meta table), and the ``migrate`` entry of version 5 (what the
archive stated before outcomes were archived: see docs/archive-format.md). This module reads
them once; archive/replay.py and the table checks (archive/tables.py) use what it found.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from archiver.archive.chunks import ChunkKey, chunk_key, plan_chunks
from archiver.archive.hashing import canonical_json
from archiver.archive.runs import Flags
from archiver.timerange import Chunk

#: The quarantine columns a ``quarantined`` entry states (the body by its SHA-256 and size).
QUARANTINE_FIELDS = (
    "quarantine_id",
    "run_id",
    "dataset",
    "dataset_type",
    "chunk_start",
    "request_token",
    "http_status",
    "url",
    "received_at",
    "error",
    "sha256",
)

#: Keys a run adds to its parameters for the log (never part of their hash).
PLAN_LABELS = ("unattended", "simulated")


@dataclass(frozen=True)
class Fact:
    """One audit entry, its details parsed."""

    entry_id: int
    at: str
    event: str
    os_user: str
    tool_version: str
    run_id: str | None
    details: Mapping[str, Any]


@dataclass(frozen=True)
class Outcome:
    """A chunk outcome a custody entry states: ``failed`` (a ``chunk failed`` entry), or an
    outcome the archive stated before version 5 (the migration's entry)."""

    after_page: int  # the number of pages archived when it was written
    entry_id: int
    run_id: str
    key: ChunkKey
    chunk_end: str
    state: str
    message: str


@dataclass(frozen=True)
class Finish:
    """A ``pull finished`` entry that records its flags and position (version 5 on): its
    summary is re-derived from the archive as it stood then."""

    after_page: int
    entry_id: int
    run_id: str
    flags: Flags
    summary: Mapping[str, Any]
    where: str


@dataclass
class Run:
    started: Fact | None = None
    events: list[Fact] = field(default_factory=list)  # started, resumed, finished in order


@dataclass
class Custody:
    facts: list[Fact] = field(default_factory=list)
    runs: dict[str, Run] = field(default_factory=dict)
    #: run → (chunk key → chunk end) of its plan
    plans: dict[str, dict[ChunkKey, str]] = field(default_factory=dict)
    #: run → its plan's chunks, in plan order
    planned: dict[str, list[Chunk]] = field(default_factory=dict)
    outcomes: dict[str, list[Outcome]] = field(default_factory=dict)  # by dataset
    finishes: list[Finish] = field(default_factory=list)
    quarantined: dict[int, tuple[Fact, Mapping[str, Any]]] = field(default_factory=dict)
    #: the migration to version 5: quarantine rows it found (count, digest chain)
    legacy_quarantine: tuple[int, str] | None = None
    meta: tuple[Fact, Mapping[str, Any]] | None = None
    #: entries that state the archive's identity after it was stated (``archive created``
    #: or the migration to version 5 again): refused, never taken (tables.py names them)
    restated: list[Fact] = field(default_factory=list)
    #: pages archived when the migration to version 5 ran (0: created at version 5)
    migrated_at: int | None = None

    def chunk_end(self, run_id: str, key: ChunkKey) -> str | None:
        return self.plans.get(run_id, {}).get(key)


def read(conn: sqlite3.Connection) -> Custody:
    """Every audit entry, parsed (entries whose details are not a JSON object are skipped:
    the audit chain check names them)."""
    out = Custody()
    for row in conn.execute(
        "SELECT entry_id, at, event, os_user, tool_version, run_id, details FROM audit_log ORDER BY entry_id"
    ):
        try:
            details = json.loads(row[6])
        except ValueError:
            continue
        if isinstance(details, dict):
            _take(out, Fact(row[0], row[1], row[2], row[3], row[4], row[5], details))
    return out


def _take(out: Custody, f: Fact) -> None:
    out.facts.append(f)
    d = f.details
    if f.event in ("pull started", "pull resumed", "pull finished") and f.run_id:
        run = out.runs.setdefault(f.run_id, Run())
        run.events.append(f)
        if f.event == "pull started" and run.started is None:
            run.started = f
            chunks = plan_chunks(d.get("plan"), d.get("params"))
            out.planned[f.run_id] = chunks
            out.plans[f.run_id] = {chunk_key(c): c.end_key for c in chunks}
        if f.event == "pull finished" and isinstance(d.get("after_page"), int):
            flags = _mapping(d.get("flags"))
            summary = _mapping(d.get("summary"))
            where = f"pull finished, audit entry {f.entry_id}"
            out.finishes.append(
                Finish(
                    d["after_page"], f.entry_id, f.run_id, Flags.from_dict(flags), summary, where
                )
            )
    elif f.event == "chunk failed":
        _outcome(out, f, d, "failed", d.get("after_page"))
    elif f.event == "quarantined" and isinstance(d.get("quarantine_id"), int):
        out.quarantined[d["quarantine_id"]] = (f, d)
    elif f.event == "archive created" or (f.event == "migrate" and d.get("to") == 5):
        # stated once: anyone holding the file can append an entry (every checkpoint stays a
        # prefix), so a later statement is refused, not taken. (A version-4 archive without
        # an identity gets its ``archive created`` entry after the migration's.)
        if out.meta is not None and (
            out.meta[0].event == "archive created"
            or f.event == "migrate"
            or out.meta[1].get("archive_id") is not None
        ):
            out.restated.append(f)
        elif f.event == "archive created":
            out.meta = (f, d)
        else:
            _migration(out, f, d)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _outcome(out: Custody, f: Fact, d: Mapping[str, Any], state: str, after: Any) -> None:
    try:
        key = (str(d["dataset"]), str(d["dataset_type"]), str(d["filter"]), str(d["chunk_start"]))
        run_id = str(d.get("run_id") or f.run_id or "")
        o = Outcome(
            int(after), f.entry_id, run_id, key, str(d["chunk_end"]), state, str(d["message"])
        )
    except (KeyError, TypeError, ValueError):
        return
    out.outcomes.setdefault(key[0], []).append(o)


def _migration(out: Custody, f: Fact, d: Mapping[str, Any]) -> None:
    """What the migration to version 5 recorded of the archive as it found it."""
    after = d.get("pages")
    out.migrated_at = after if isinstance(after, int) else 0
    for item in d.get("outcomes") or []:
        if isinstance(item, Mapping):
            _outcome(out, f, {**item}, str(item.get("state", "")), out.migrated_at)
    q = d.get("quarantine")
    if isinstance(q, Mapping) and isinstance(q.get("rows"), int):
        out.legacy_quarantine = (q["rows"], str(q.get("chain", "")))
    if isinstance(d.get("meta"), Mapping):
        out.meta = (f, d["meta"])


def params_hash(params: Mapping[str, Any]) -> str:
    """The hash a run's parameters were recorded with: over them without the labels a run
    adds for the log (``unattended``)."""
    core = {k: v for k, v in params.items() if k not in PLAN_LABELS}
    return hashlib.sha256(canonical_json(core).encode()).hexdigest()


def runs_rows(custody: Custody) -> dict[str, dict[str, Any]]:
    """The runs table as its entries state it: run_id → row."""
    out: dict[str, dict[str, Any]] = {}
    for run_id, run in custody.runs.items():
        if run.started is None:
            continue
        d = run.started.details
        params = _mapping(d.get("params"))
        row: dict[str, Any] = {
            "run_id": run_id,
            "started_at": run.started.at,
            "finished_at": None,
            "status": "running",
            "os_user": run.started.os_user,
            "tool_version": run.started.tool_version,
            "tenant": d.get("tenant"),
            "params": params,
            "params_hash": d.get("params_hash") or params_hash(params),
            "summary": None,
        }
        for e in run.events[1:]:
            if e.event == "pull resumed":
                row["status"], row["finished_at"] = "running", None
            elif e.event == "pull finished":
                row["status"] = e.details.get("status")
                row["finished_at"] = e.at
                row["summary"] = e.details.get("summary")
        out[run_id] = row
    return out


def quarantine_chain(rows: Iterable[Mapping[str, Any]]) -> str:
    """A chain over quarantine rows (their columns but the body, and the body's SHA-256), as
    the migration to version 5 recorded those it found."""
    chain = hashlib.sha256(b"").hexdigest()
    for r in rows:
        digest = hashlib.sha256(canonical_json(dict(r)).encode()).hexdigest()
        chain = hashlib.sha256((chain + digest).encode()).hexdigest()
    return chain
