"""What became of a page's body: kept, disposed (retention), or erased (an erasure).

One helper decides it for verify-archive, Browse, coverage and bundles alike (WAVE3
decision 4), from the custody entries, never from the page row alone: a body is
``disposed`` only where a ``disposition applied`` entry names its page. A page row whose
body is gone without such an entry is a removal behind the archive's back, and
verify-archive fails it (:func:`check_bodies`).
"""

from __future__ import annotations

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

    def describe(self) -> str:
        """``disposed on 2026-12-07 under schedule transcript 6y (certificate D-…)``"""
        return (
            f"disposed on {self.entry.at[:10]} under schedule {self.schedules or '?'} "
            f"(certificate {self.certificate})"
        )


def removals(conn: sqlite3.Connection, found: Iterable[Any] | None = None) -> dict[int, Removal]:
    """page id → the entry that removed its body (every page a valid entry names)."""
    state, _ = retention.fold(retention.entries(conn) if found is None else found)
    return {pid: Removal(DISPOSED, e) for pid, e in state.pages.items()}


def body_state(conn: sqlite3.Connection, page_id: int) -> str:
    """``kept`` | ``disposed`` | ``erased``: what the custody entries say of the page's body."""
    found = removals(conn).get(page_id)
    return found.state if found else KEPT
