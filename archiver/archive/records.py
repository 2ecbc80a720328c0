"""Writing a page's records: what archive/derive.py decided, stored.

The writer's half of record identity: :func:`archiver.archive.derive.page_records` decides
which records are new, their conflicts and the versions each joins, asking what the stream
holds through :class:`StoredStream` (SQL); this module stores the records, their values, the
conflicts and the superseded versions. verify-archive's replay runs the same derivation
over the raw pages and compares.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from archiver.archive.compact import rebuild_superseded, stream_id
from archiver.archive.derive import (
    Group,
    Mark,
    Member,
    PageRecords,
    group_of,
    replaced,
)
from archiver.archive.identity import NATURAL, ROW_ID
from archiver.archive.values import ValueWriter, col, natural_columns, table, table_columns
from archiver.timerange import Chunk


@dataclass(frozen=True)
class Inserted:
    new: int
    duplicates: int
    conflicts: int


class StoredStream:
    """:class:`archiver.archive.derive.Known` over the archive: what one stream holds."""

    def __init__(self, conn: sqlite3.Connection, dataset: str, sid: int, gone: set[str]) -> None:
        self.conn, self.dataset, self.sid, self.gone = conn, dataset, sid, gone

    def archived(self, marks: Collection[Mark]) -> set[Mark]:
        wanted = list({s8 for s8, _ in marks})
        found: set[Mark] = set()
        for n in range(0, len(wanted), 500):
            part = wanted[n : n + 500]
            found.update(
                (s8, key)
                for s8, key in self.conn.execute(
                    f"SELECT sha8, row_key FROM records WHERE stream_id=? AND sha8 IN ({','.join('?' * len(part))})",
                    [self.sid, *part],
                )
            )
        return found & set(marks)

    def members(self, groups: Collection[Group]) -> dict[Group, list[Member]]:
        """Every archived version of the groups: records with the group's key, and, once the
        stream gave up ROW_ID, the ROW_ID-keyed records whose natural key is the group's."""
        cols = table_columns(self.conn, self.dataset)
        if not cols or not groups:
            return {}
        nat = [c for c in natural_columns(self.dataset) if c in cols]
        natural = " || char(31) || ".join(f"v.{col(c)}" for c in nat) if nat else "''"
        ts = f"v.{col('COMMIT_TS')}" if "COMMIT_TS" in cols else "''"
        select = f"""SELECT r.key_kind, r.row_key, {natural}, r.sha8, r.record_id, r.page_id,
                            r.row_index, {ts}
                     FROM records r JOIN {table(self.dataset)} v ON v.record_id = r.record_id
                     WHERE r.stream_id=?"""
        wanted = set(groups)
        out: dict[Group, list[Member]] = {}

        def take(rows: sqlite3.Cursor) -> None:
            for kind, key, nat_key, s8, rid, pid, ri, commit in rows:
                g = group_of(self.gone, kind, key, nat_key or "", s8)
                if g in wanted:
                    member = Member(rid, (pid, ri), commit or "", s8, kind, key, nat_key or "")
                    out.setdefault(g, []).append(member)

        keys = list({k for _, k in groups})
        for n in range(0, len(keys), 500):
            part = keys[n : n + 500]
            take(
                self.conn.execute(
                    f"{select} AND r.row_key IN ({','.join('?' * len(part))})", [self.sid, *part]
                )
            )
        if ROW_ID in self.gone and len(nat) == len(natural_columns(self.dataset)) and nat:
            for kind, key in groups:
                if kind != NATURAL:
                    continue
                parts = key.split("\x1f")
                if len(parts) != len(nat):
                    continue
                cond = " AND ".join(f"v.{col(c)} = ?" for c in nat)
                take(
                    self.conn.execute(
                        f"{select} AND r.key_kind='{ROW_ID}' AND {cond}", [self.sid, *parts]
                    )
                )
        for g, found in out.items():
            unique = {m.ref: m for m in found}
            out[g] = sorted(unique.values(), key=lambda m: m.receipt)
        return out


class RecordWriter:
    """Inserts records for one archive connection (the archive's single writer)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.values = ValueWriter(conn)
        self._streams: dict[tuple[str, str], int] = {}

    def stream(self, dataset: str, dataset_type: str) -> int:
        key = (dataset, dataset_type)
        if key not in self._streams:
            self._streams[key] = stream_id(self.conn, dataset, dataset_type, create=True) or 0
        return self._streams[key]

    def known(self, chunk: Chunk, gone: set[str]) -> StoredStream:
        """What the chunk's stream holds (the stream is created with its first page)."""
        return StoredStream(
            self.conn, chunk.dataset, self.stream(chunk.dataset, chunk.dataset_type), gone
        )

    def next_id(self) -> int:
        return int(self.conn.execute("SELECT max(record_id) FROM records").fetchone()[0] or 0) + 1

    def insert(
        self,
        chunk: Chunk,
        names: list[str],
        records: Sequence[Sequence[str]],
        derived: PageRecords,
        page_id: int,
        received_at: str,
    ) -> Inserted:
        """Store what :func:`~archiver.archive.derive.page_records` derived from the page;
        a key fallback on it regroups the stream's versions (superseded rebuilt)."""
        if not derived.new:
            return Inserted(0, derived.duplicates, 0)
        sid = self.stream(chunk.dataset, chunk.dataset_type)
        self.values.ensure(chunk.dataset, names)
        cid = self.values.column_set(chunk.dataset, names)
        rows = [
            (
                n.ref,
                sid,
                n.ident.key,
                n.ident.kind,
                n.ident.interval,
                n.sha8,
                cid,
                page_id,
                n.index,
                int(n.conflict_with is not None),
            )
            for n in derived.new
        ]
        self.conn.executemany("INSERT INTO records VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
        self.values.insert(chunk.dataset, names, [(n.ref, records[n.index]) for n in derived.new])
        conflicts = [
            (chunk.dataset, n.ident.key, n.ident.commit_ts, n.ref, n.conflict_with.ref, received_at)
            for n in derived.new
            if n.conflict_with is not None
        ]
        if conflicts:
            self.conn.executemany(
                "INSERT INTO conflicts(dataset, row_key, commit_ts, record_id, earlier_id, detected_at) VALUES (?,?,?,?,?,?)",
                conflicts,
            )
        if derived.fallbacks:
            rebuild_superseded(self.conn, (chunk.dataset, chunk.dataset_type))
        else:
            pairs = [p for members in derived.groups.values() for p in replaced(members)]
            if pairs:
                self.conn.executemany(
                    "INSERT OR REPLACE INTO superseded(record_id, by_id) VALUES (?, ?)", pairs
                )
        return Inserted(len(derived.new), derived.duplicates, len(conflicts))


__all__ = ["Inserted", "RecordWriter", "StoredStream"]
