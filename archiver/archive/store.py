"""The archive: one SQLite file of evidence. One writer connection, readers on their own.

Every method that writes does so in one transaction; the page, its records and the cursor
advance commit together, so a kill -9 at any instant loses at most the page in flight.
"""

from __future__ import annotations

import getpass
import json
import os
import sqlite3
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from archiver import __version__
from archiver.api.pages import NotReady, Page
from archiver.api.typed import schema_diff
from archiver.archive.hashing import (
    GENESIS,
    canonical_json,
    canonical_record,
    chain_next,
    sha256_hex,
)
from archiver.archive.schema import migrate
from archiver.datasets import DATASETS, Dataset, row_key


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (containers, services)
        return f"uid:{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def _connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    else:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


@dataclass(frozen=True)
class Chunk:
    """One unit of work: a dataset over a sub-range, in the API's bound forms."""

    dataset: str
    dataset_type: str
    filter: str  # '' when unfiltered
    start: str  # YYYYMMDDHHmm (interval) or YYYYMMDD (daily)
    end: str

    @property
    def day(self) -> str:
        return f"{self.start[:4]}-{self.start[4:6]}-{self.start[6:8]}"

    def label(self) -> str:
        return f"{self.dataset} {self.start}–{self.end}"


@dataclass
class PageResult:
    page_id: int
    new: int
    duplicates: int
    conflicts: int


class Archive:
    """The writer side of an archive file. Use from one thread only."""

    def __init__(self, path: str | os.PathLike[str], *, compress: bool = False) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = _connect(self.path)
        migrate(self.conn, self.path)
        self.compress = compress
        self._schemas: dict[str, str] = {}
        if not self.conn.execute("SELECT 1 FROM meta WHERE key='archive_id'").fetchone():
            with self.transaction():
                self.conn.executemany(
                    "INSERT INTO meta(key, value) VALUES (?, ?)",
                    [
                        ("archive_id", os.urandom(16).hex()),
                        ("created_at", utc_now()),
                        ("created_by", f"archiver {__version__}"),
                    ],
                )

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reader(self) -> sqlite3.Connection:
        return open_reader(self.path)

    # -- transactions ---------------------------------------------------------------------
    def transaction(self) -> _Tx:
        return _Tx(self.conn)

    def _last_chain(self, table: str, key: str) -> str:
        row = self.conn.execute(f"SELECT chain FROM {table} ORDER BY {key} DESC LIMIT 1").fetchone()
        return row[0] if row else GENESIS

    # -- audit log ------------------------------------------------------------------------
    def audit(self, event: str, details: dict[str, Any], run_id: str | None = None) -> str:
        """Append a chained audit entry; returns its chain value."""
        with self.transaction():
            return self._audit(event, details, run_id)

    def _audit(self, event: str, details: dict[str, Any], run_id: str | None) -> str:
        entry = {
            "at": utc_now(),
            "event": event,
            "os_user": os_user(),
            "tool_version": __version__,
            "run_id": run_id,
            "details": details,
        }
        digest = sha256_hex(canonical_json(entry).encode())
        chain = chain_next(self._last_chain("audit_log", "entry_id"), digest)
        self.conn.execute(
            "INSERT INTO audit_log(at, event, os_user, tool_version, run_id, details, sha256, chain) VALUES (?,?,?,?,?,?,?,?)",
            (
                entry["at"],
                event,
                entry["os_user"],
                __version__,
                run_id,
                canonical_json(details),
                digest,
                chain,
            ),
        )
        return chain

    # -- runs -----------------------------------------------------------------------------
    def start_run(self, run_id: str, tenant: str, params: dict[str, Any], params_hash: str) -> None:
        with self.transaction():
            self.conn.execute(
                "INSERT INTO runs(run_id, started_at, status, os_user, tool_version, tenant, params, params_hash) VALUES (?,?,?,?,?,?,?,?)",
                (
                    run_id,
                    utc_now(),
                    "running",
                    os_user(),
                    __version__,
                    tenant,
                    json.dumps(params),
                    params_hash,
                ),
            )
            self._audit("pull started", {"tenant": tenant, "params": params}, run_id)

    def resume_run(self, run_id: str) -> None:
        with self.transaction():
            self.conn.execute(
                "UPDATE runs SET status='running', finished_at=NULL WHERE run_id=?", (run_id,)
            )
            self._audit("pull resumed", {}, run_id)

    def finish_run(self, run_id: str, status: str, summary: dict[str, Any]) -> None:
        with self.transaction():
            self.conn.execute(
                "UPDATE runs SET status=?, finished_at=?, summary=? WHERE run_id=?",
                (status, utc_now(), json.dumps(summary), run_id),
            )
            self._audit("pull finished", {"status": status, "summary": summary}, run_id)

    # -- coverage -------------------------------------------------------------------------
    def begin_chunk(self, chunk: Chunk, run_id: str, resume_token: str | None) -> None:
        """Mark a chunk in progress; a fresh start resets its counters and token."""
        with self.transaction():
            self.conn.execute(
                """INSERT INTO coverage(dataset, dataset_type, filter, chunk_start, chunk_end, state, run_id,
                       next_token, updated_at) VALUES (?,?,?,?,?,'in_progress',?,?,?)
                   ON CONFLICT(dataset, dataset_type, filter, chunk_start) DO UPDATE SET
                       chunk_end=excluded.chunk_end, state='in_progress', run_id=excluded.run_id,
                       next_token=excluded.next_token, updated_at=excluded.updated_at,
                       message=NULL, next_retry_at=NULL,
                       pages=CASE WHEN excluded.next_token IS NULL THEN 0 ELSE pages END,
                       rows=CASE WHEN excluded.next_token IS NULL THEN 0 ELSE rows END""",
                (
                    chunk.dataset,
                    chunk.dataset_type,
                    chunk.filter,
                    chunk.start,
                    chunk.end,
                    run_id,
                    resume_token,
                    utc_now(),
                ),
            )

    def set_chunk_state(
        self,
        chunk: Chunk,
        state: str,
        message: str | None = None,
        next_retry_at: str | None = None,
        run_id: str | None = None,
    ) -> None:
        with self.transaction():
            self._set_state(chunk, state, message, next_retry_at, run_id)

    def _set_state(
        self,
        chunk: Chunk,
        state: str,
        message: str | None,
        next_retry_at: str | None,
        run_id: str | None,
    ) -> None:
        cur = self.conn.execute(
            """UPDATE coverage SET state=?, message=?, next_retry_at=?, updated_at=?, run_id=coalesce(?, run_id)
               WHERE dataset=? AND dataset_type=? AND filter=? AND chunk_start=?""",
            (
                state,
                message,
                next_retry_at,
                utc_now(),
                run_id,
                chunk.dataset,
                chunk.dataset_type,
                chunk.filter,
                chunk.start,
            ),
        )
        if cur.rowcount == 0:
            self.conn.execute(
                """INSERT INTO coverage(dataset, dataset_type, filter, chunk_start, chunk_end, state, run_id,
                       message, next_retry_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)""",
                (
                    chunk.dataset,
                    chunk.dataset_type,
                    chunk.filter,
                    chunk.start,
                    chunk.end,
                    state,
                    run_id or "",
                    message,
                    next_retry_at,
                    utc_now(),
                ),
            )

    # -- pages ----------------------------------------------------------------------------
    def _insert_page(
        self,
        run_id: str,
        chunk: Chunk,
        resp: Page | NotReady,
        query: dict[str, str],
        page_number: int,
        next_token: str,
        record_count: int,
    ) -> int:
        digest = sha256_hex(resp.raw)
        chain = chain_next(self._last_chain("pages", "page_id"), digest)
        body, encoding = (
            (zlib.compress(resp.raw, 6), "zlib") if self.compress else (resp.raw, "identity")
        )
        cur = self.conn.execute(
            """INSERT INTO pages(run_id, dataset, dataset_type, chunk_start, query, page_number, request_token,
                   next_token, http_status, url, received_at, encoding, body, size, sha256, record_count, columns, chain)
               VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
            (
                run_id,
                chunk.dataset,
                chunk.dataset_type,
                chunk.start,
                canonical_json(query),
                page_number,
                resp.request_token or "",
                next_token,
                resp.status,
                resp.url,
                resp.received_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                encoding,
                body,
                len(resp.raw),
                digest,
                record_count,
                canonical_json(resp.columns),
                chain,
            ),
        )
        return int(cur.lastrowid)

    def store_page(
        self, run_id: str, chunk: Chunk, page: Page, query: dict[str, str]
    ) -> PageResult:
        """Archive one page, its records and the cursor advance in one transaction."""
        with self.transaction():
            page_id = self._insert_page(
                run_id, chunk, page, query, page.number, page.next_token, len(page.records)
            )
            new, dup, conflicts = self._insert_records(chunk, page, page_id)
            self._check_schema(chunk.dataset, page.columns, page_id)
            self.conn.execute(
                """UPDATE coverage SET next_token=?, pages=pages+1, rows=rows+?, state=?, updated_at=?,
                       message=NULL, next_retry_at=NULL, run_id=?
                   WHERE dataset=? AND dataset_type=? AND filter=? AND chunk_start=?""",
                (
                    page.next_token or None,
                    len(page.records),
                    "done" if page.last else "in_progress",
                    utc_now(),
                    run_id,
                    chunk.dataset,
                    chunk.dataset_type,
                    chunk.filter,
                    chunk.start,
                ),
            )
        return PageResult(page_id, new, dup, conflicts)

    def _insert_records(self, chunk: Chunk, page: Page, page_id: int) -> tuple[int, int, int]:
        ds = DATASETS.get(chunk.dataset)
        names = page.column_names
        ts_idx = commit_ts_index(names)
        date_idx = names.index("ROW_DATE_UTC") if "ROW_DATE_UTC" in names else None
        prepared = []
        for i, values in enumerate(page.records):
            key, kind, commit_ts, canon, digest = record_identity(ds, names, values, ts_idx)
            row_date = (values[date_idx] if date_idx is not None else "")[:10] or chunk.day
            prepared.append((key, kind, commit_ts, row_date, canon, digest, i))
        existing: dict[tuple[str, str], list[tuple[int, str]]] = {}
        keys = list({p[0] for p in prepared})
        for start in range(0, len(keys), 500):
            part = keys[start : start + 500]
            marks = ",".join("?" * len(part))
            for rid, key, ts, sha in self.conn.execute(
                f"SELECT record_id, row_key, commit_ts, sha256 FROM records WHERE dataset=? AND row_key IN ({marks})",
                [chunk.dataset, *part],
            ):
                existing.setdefault((key, ts), []).append((rid, sha))
        new = dup = conflicts = 0
        batch: list[tuple] = []
        insert = """INSERT INTO records(dataset, row_key, key_kind, commit_ts, row_date, values_json, sha256,
                        page_id, row_index, conflict) VALUES (?,?,?,?,?,?,?,?,?,?)"""

        def flush() -> None:
            if batch:
                self.conn.executemany(insert, batch)
                batch.clear()

        for key, kind, commit_ts, row_date, canon, digest, i in prepared:
            seen = existing.setdefault((key, commit_ts), [])
            if any(sha == digest for _, sha in seen):
                dup += 1
                continue
            new += 1
            if not seen:  # the common case: a new (key, COMMIT_TS), inserted in one batch
                batch.append(
                    (chunk.dataset, key, kind, commit_ts, row_date, canon, digest, page_id, i, 0)
                )
                seen.append((None, digest))
                continue
            # same key and COMMIT_TS, other content: keep both, flag the later one
            flush()
            earlier = (
                seen[0][0]
                or self.conn.execute(
                    "SELECT record_id FROM records WHERE dataset=? AND row_key=? AND commit_ts=? AND sha256=?",
                    (chunk.dataset, key, commit_ts, seen[0][1]),
                ).fetchone()[0]
            )
            cur = self.conn.execute(
                insert,
                (chunk.dataset, key, kind, commit_ts, row_date, canon, digest, page_id, i, 1),
            )
            self.conn.execute(
                "INSERT INTO conflicts(dataset, row_key, commit_ts, record_id, earlier_id, detected_at) VALUES (?,?,?,?,?,?)",
                (chunk.dataset, key, commit_ts, int(cur.lastrowid), earlier, utc_now()),
            )
            seen.append((int(cur.lastrowid), digest))
            conflicts += 1
        flush()
        return new, dup, conflicts

    def _check_schema(self, dataset: str, columns: list[dict[str, str]], page_id: int) -> None:
        current = canonical_json(columns)
        previous = self._schemas.get(dataset)
        if previous is None:
            row = self.conn.execute(
                "SELECT current FROM schema_changes WHERE dataset=? ORDER BY change_id DESC LIMIT 1",
                (dataset,),
            ).fetchone()
            previous = row[0] if row else ""
        if previous != current:
            desc = (
                "first seen"
                if not previous
                else (schema_diff(json.loads(previous), columns).describe() or "changed")
            )
            self.conn.execute(
                "INSERT INTO schema_changes(dataset, page_id, previous, current, description, detected_at) VALUES (?,?,?,?,?,?)",
                (dataset, page_id, previous, current, desc, utc_now()),
            )
        self._schemas[dataset] = current

    def store_not_ready(
        self,
        run_id: str,
        chunk: Chunk,
        resp: NotReady,
        query: dict[str, str],
        next_retry_at: str | None,
    ) -> int:
        """Archive a 202 and mark the chunk pending."""
        with self.transaction():
            page_id = self._insert_page(run_id, chunk, resp, query, 0, "", 0)
            self.conn.execute(
                """UPDATE coverage SET state='pending', attempts=attempts+1, next_retry_at=?, updated_at=?,
                       message='202 Accepted: the API has not processed this interval yet', run_id=?,
                       next_token=?
                   WHERE dataset=? AND dataset_type=? AND filter=? AND chunk_start=?""",
                (
                    next_retry_at,
                    utc_now(),
                    run_id,
                    resp.request_token,
                    chunk.dataset,
                    chunk.dataset_type,
                    chunk.filter,
                    chunk.start,
                ),
            )
        return page_id

    def quarantine(
        self,
        run_id: str,
        chunk: Chunk,
        raw: bytes,
        url: str,
        status: int,
        token: str | None,
        error: str,
    ) -> int:
        with self.transaction():
            cur = self.conn.execute(
                """INSERT INTO quarantine(run_id, dataset, dataset_type, chunk_start, request_token, http_status, url,
                       received_at, error, body, sha256) VALUES (?,?,?,?,?,?,?,?,?,?,?)""",
                (
                    run_id,
                    chunk.dataset,
                    chunk.dataset_type,
                    chunk.start,
                    token or "",
                    status,
                    url,
                    utc_now(),
                    error,
                    raw,
                    sha256_hex(raw),
                ),
            )
            self.conn.execute(
                """UPDATE coverage SET attempts=attempts+1, message=?, updated_at=?
                   WHERE dataset=? AND dataset_type=? AND filter=? AND chunk_start=?""",
                (
                    f"quarantined a malformed page: {error}",
                    utc_now(),
                    chunk.dataset,
                    chunk.dataset_type,
                    chunk.filter,
                    chunk.start,
                ),
            )
            return int(cur.lastrowid)


def commit_ts_index(names: list[str]) -> int | None:
    return names.index("COMMIT_TS") if "COMMIT_TS" in names else None


def record_identity(
    ds: Dataset | None, names: list[str], values: list[str], ts_idx: int | None
) -> tuple[str, str, str, str, str]:
    """(row key, key kind, COMMIT_TS, canonical JSON, its SHA-256) of one API record.

    The one definition the writer and verify-archive share: the key comes from the dataset
    key registry, or is the record's SHA-256 (kind "hash") when the response lacks a key column.
    """
    canon = canonical_record(names, values)
    digest = sha256_hex(canon.encode())
    key = row_key(ds, names, values) if ds else None
    kind = "column"
    if key is None:
        key, kind = digest, "hash"
    return key, kind, values[ts_idx] if ts_idx is not None else "", canon, digest


class _Tx:
    """BEGIN IMMEDIATE … COMMIT, or ROLLBACK on any exception."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")


def open_reader(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """A read-only connection (for browsing, reports, verification, exports)."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(
            f"No archive at {p}. Pull data first (archiver pull … --archive {p})."
        )
    conn = _connect(p, readonly=True)
    conn.row_factory = sqlite3.Row
    return conn


def page_body(encoding: str, body: bytes) -> bytes:
    """The exact response bytes of a stored page."""
    if encoding == "identity":
        return bytes(body)
    if encoding == "zlib":
        return zlib.decompress(body)
    raise ValueError(f"unknown page encoding {encoding!r}")


def iter_coverage(conn: sqlite3.Connection) -> Iterator[sqlite3.Row]:
    yield from conn.execute("SELECT * FROM coverage ORDER BY dataset, dataset_type, chunk_start")
