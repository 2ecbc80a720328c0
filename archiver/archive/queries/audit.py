"""The audit log: entries (newest first for the Audit tab, oldest first for a bundle's chain
of custody), the chain heads, a checkpoint of them, and the newest unattended run."""

from __future__ import annotations

import json
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from archiver.archive import checkpoint as cp
from archiver.archive.queries.reader import Source

_ENTRY = "entry_id, at, event, os_user, tool_version, run_id, details, chain"


@dataclass(frozen=True)
class AuditEntry:
    """One audit log entry as stored (``details``: its JSON text)."""

    entry_id: int
    at: str
    event: str
    os_user: str
    tool_version: str
    run_id: str | None
    details: str
    chain: str


@dataclass(frozen=True)
class ChainHead:
    """Both chains' heads and lengths (the page chain's head is "" in an empty archive)."""

    pages_chain: str
    pages: int
    audit_chain: str
    audit_entries: int


@dataclass(frozen=True)
class UnattendedRun:
    """The newest run marked unattended: its `pull started` entry, and its `pull finished`
    entry's time and details when there is one."""

    run_id: str
    started_at: str
    finished_at: str | None = None
    finished: dict[str, Any] | None = None


def _entry(row: Sequence[Any]) -> AuditEntry:
    return AuditEntry(*row)


def audit_log(db: Source, *, newest_first: bool = True) -> list[AuditEntry]:
    """Every entry, newest first (the Audit tab) or oldest first (a bundle's custody)."""
    order = "DESC" if newest_first else "ASC"
    return [
        _entry(r)
        for r in db.conn.execute(f"SELECT {_ENTRY} FROM audit_log ORDER BY entry_id {order}")
    ]


def audit_ids(db: Source) -> array[int]:
    """Ids of every audit entry, newest first (the Audit tab holds these, and reads the
    entries it shows with :func:`audit_entries`)."""
    ids: array[int] = array("q")
    cur = db.conn.execute("SELECT entry_id FROM audit_log ORDER BY entry_id DESC")
    while batch := cur.fetchmany(10_000):
        ids.extend(r[0] for r in batch)
    return ids


def audit_entries(db: Source, ids: Sequence[int]) -> dict[int, AuditEntry]:
    """The audit entries with these ids, by id."""
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    rows = db.conn.execute(f"SELECT {_ENTRY} FROM audit_log WHERE entry_id IN ({marks})", list(ids))
    return {e.entry_id: e for e in map(_entry, rows)}


def chain_head(db: Source) -> ChainHead:
    pages_chain, pages, audit_chain, audit_entries = db.conn.execute(
        "SELECT pages_chain, pages, audit_chain, audit_entries FROM chain_head"
    ).fetchone()
    return ChainHead(pages_chain or "", pages, audit_chain or "", audit_entries)


def checkpoint(
    db: Source, cause: str, signer: cp.KeySigner | None = None, unsigned: str = "no signing key"
) -> cp.Checkpoint:
    """The archive's checkpoint now (chain heads and lengths), signed when a signer is
    given; nothing is written (``archiver checkpoint``)."""
    return cp.current(db.conn, cause, signer, unsigned)


def last_unattended_run(db: Source) -> UnattendedRun | None:
    """The newest `pull started` marked unattended, and its `pull finished` entry if there
    is one; None when the archive has none."""
    start = db.conn.execute(
        """SELECT run_id, at FROM audit_log WHERE event='pull started'
           AND json_extract(details, '$.params.unattended') = 1
           ORDER BY entry_id DESC LIMIT 1"""
    ).fetchone()
    if start is None:
        return None
    end = db.conn.execute(
        """SELECT at, details FROM audit_log WHERE event='pull finished' AND run_id=?
           ORDER BY entry_id DESC LIMIT 1""",
        (start[0],),
    ).fetchone()
    if end is None:
        return UnattendedRun(str(start[0]), str(start[1]))
    return UnattendedRun(str(start[0]), str(start[1]), str(end[0]), json.loads(end[1]))
