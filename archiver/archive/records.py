"""Writing a page's records: dedupe, values, conflicts and the latest-version bookkeeping.

The writer's half of record identity (archive/identity.py decides keys; this stores them).
A record is the same record when its stream, key and the first 8 bytes of its SHA-256
agree; a new version of a row supersedes the older one (``superseded``); the same key and
COMMIT_TS with other content is kept and flagged as a conflict.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from archiver.archive.compact import rebuild_superseded, sha8, stream_id
from archiver.archive.identity import HASH, Identity
from archiver.archive.values import ValueWriter, col, table
from archiver.timerange import Chunk, utc_now

Versions = dict[tuple[str, str], list[tuple[int, str]]]


@dataclass(frozen=True)
class Inserted:
    new: int
    duplicates: int
    conflicts: int


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

    def insert(
        self,
        chunk: Chunk,
        names: list[str],
        records: list[list[str]],
        ids: list[Identity],
        page_id: int,
        *,
        regroup: bool,
    ) -> Inserted:
        """Store the page's records that are new; ``regroup``: a key fallback came with this
        page, so the stream's latest versions are recomputed."""
        sid = self.stream(chunk.dataset, chunk.dataset_type)
        s8 = [sha8(i.sha256) for i in ids]  # once per record (it is used three times)
        fresh = self._fresh(sid, ids, s8)
        dup = len(ids) - len(fresh)
        if not fresh:
            return Inserted(0, dup, 0)
        self.values.ensure(chunk.dataset, names)
        cid = self.values.column_set(chunk.dataset, names)
        versions, latest = self._versions(sid, chunk.dataset, {ids[i].key for i in fresh})
        next_id = (self.conn.execute("SELECT max(record_id) FROM records").fetchone()[0] or 0) + 1
        rows, conflicts, supersede = [], [], []
        now = utc_now()
        for n, i in enumerate(fresh):
            ident, rid = ids[i], next_id + n
            every = versions.setdefault((ident.kind, ident.key), [])
            prior = next((r for r, ts in every if ts == ident.commit_ts), None)
            if prior is not None:
                conflicts.append((chunk.dataset, ident.key, ident.commit_ts, rid, prior, now))
            every.append((rid, ident.commit_ts))
            row_latest = latest.setdefault((ident.kind, ident.key), [])
            supersede.extend(_join_row(row_latest, rid, ident.commit_ts, ident.kind))
            rows.append(
                (
                    rid,
                    sid,
                    ident.key,
                    ident.kind,
                    ident.interval,
                    s8[i],
                    cid,
                    page_id,
                    i,
                    int(prior is not None),
                )
            )
        self.conn.executemany("INSERT INTO records VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
        self.values.insert(chunk.dataset, names, [(row[0], records[row[8]]) for row in rows])
        if conflicts:
            self.conn.executemany(
                "INSERT INTO conflicts(dataset, row_key, commit_ts, record_id, earlier_id, detected_at) VALUES (?,?,?,?,?,?)",
                conflicts,
            )
        if regroup:
            rebuild_superseded(self.conn, (chunk.dataset, chunk.dataset_type))
        elif supersede:
            self.conn.executemany(
                "INSERT OR REPLACE INTO superseded(record_id, by_id) VALUES (?, ?)", supersede
            )
        return Inserted(len(fresh), dup, len(conflicts))

    def _fresh(self, sid: int, ids: list[Identity], s8: list[int]) -> list[int]:
        """Positions of the records not archived yet (nor twice in this page); ``s8``: their
        sha8, in the same order."""
        wanted = set(s8)
        known: set[tuple[int, str]] = set()
        part = list(wanted)
        for n in range(0, len(part), 500):
            sub = part[n : n + 500]
            known.update(
                (s8, key)
                for s8, key in self.conn.execute(
                    f"SELECT sha8, row_key FROM records WHERE stream_id=? AND sha8 IN ({','.join('?' * len(sub))})",
                    [sid, *sub],
                )
            )
        out = []
        for i, ident in enumerate(ids):
            mark = (s8[i], ident.key)
            if mark in known:
                continue
            known.add(mark)
            out.append(i)
        return out

    def _versions(self, sid: int, dataset: str, keys: set[str]) -> tuple[Versions, Versions]:
        """(kind, key) → [(record_id, COMMIT_TS)]: every version archived so far (conflicts
        are found among them), and those still the latest of their row."""
        every: Versions = {}
        latest: Versions = {}
        cols = self.values.columns(dataset)  # API name → column, cached by the writer
        if not cols:
            return every, latest
        ts = f"v.{col('COMMIT_TS')}" if "COMMIT_TS" in cols else "''"
        part = list(keys)
        for n in range(0, len(part), 500):
            sub = part[n : n + 500]
            for kind, key, rid, commit, gone in self.conn.execute(
                f"""SELECT r.key_kind, r.row_key, r.record_id, {ts},
                           EXISTS (SELECT 1 FROM superseded x WHERE x.record_id = r.record_id)
                    FROM records r JOIN {table(dataset)} v ON v.record_id = r.record_id
                    WHERE r.stream_id=? AND r.row_key IN ({",".join("?" * len(sub))})""",
                [sid, *sub],
            ):
                every.setdefault((kind, key), []).append((rid, commit or ""))
                if not gone:
                    latest.setdefault((kind, key), []).append((rid, commit or ""))
        return every, latest


def _join_row(
    known: list[tuple[int, str]], rid: int, commit_ts: str, kind: str
) -> list[tuple[int, int]]:
    """Add ``rid`` to its row's latest versions ``known``; return the (superseded id, by id)
    pairs this causes. A hash-keyed record is a row of its own."""
    if kind == HASH or not known:
        known.append((rid, commit_ts))
        return []
    newest_id, newest_ts = max(known, key=lambda v: (v[1], v[0]))
    if (commit_ts, rid) > (newest_ts, newest_id):
        out = [(r, rid) for r, _ in known]
        known[:] = [(rid, commit_ts)]
        return out
    return [(rid, newest_id)]


__all__ = ["Inserted", "RecordWriter"]
