"""The archive: one SQLite file of evidence. One writer connection, readers on their own.

Every method that writes does so in one transaction; the page, its records and the cursor
advance commit together, so a kill -9 at any instant loses at most the page in flight.
"""

from __future__ import annotations

import json
import os
import sqlite3
import zlib
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archiver import __version__, outputs
from archiver.api.pages import NotReady, Page
from archiver.api.redaction import Redacted
from archiver.api.typed import schema_diff
from archiver.archive import auditlog, cases
from archiver.archive.auditlog import os_user
from archiver.archive.compact import ZLIB_LEVEL
from archiver.archive.hashing import (
    CHAIN_BODY_META,
    GENESIS,
    canonical_json,
    page_chain_next,
    page_meta_digest,
    sha256_hex,
)
from archiver.archive.identity import Identity, canon_and_digests, page_identities
from archiver.archive.records import RecordWriter
from archiver.archive.rekey import (
    abandoned_rules,
    ending_evidence,
    page_body,
    query_ending,
)
from archiver.archive.schema import migrate
from archiver.archive.searchindex import SearchIndex, rebuild
from archiver.archive.sqlitefile import check_archive_file, open_reader
from archiver.archive.sqlitefile import connect_archive as _connect
from archiver.timerange import DAILY, Chunk, utc_now


@dataclass(frozen=True)
class Prepared:
    """What can be computed from a page before the writer gets it: its stored body and
    its records' canonical JSON and SHA-256."""

    compressed: bool
    body: tuple[bytes, str]  # (stored bytes, encoding)
    canon: tuple[list[str], list[str]]


def prepare(page: Page, *, compress: bool = True) -> Prepared:
    return Prepared(
        compress,
        _stored_body(page.raw, compress),
        canon_and_digests(page.column_names, page.records),
    )


def _stored_body(raw: bytes, compress: bool) -> tuple[bytes, str]:
    return (zlib.compress(raw, ZLIB_LEVEL), "zlib") if compress else (raw, "identity")


@dataclass
class PageResult:
    page_id: int
    new: int
    duplicates: int
    conflicts: int


def _new_archive(path: Path) -> None:
    """Make a new archive at ``path``, where no file is: its schema and identity are written
    to a temporary file in the same folder, which is then linked into place only if the
    name is still free (outputs.link_new), so no half-made or 0-byte archive is ever seen
    and nothing that appeared meanwhile is replaced (that file is opened, and checked,
    instead)."""
    tmp = outputs.temp_name(path, "new")
    os.close(
        os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    )
    try:
        conn = _connect(tmp, archive=False)
        try:
            migrate(conn, None)
            conn.executemany(
                "INSERT INTO meta(key, value) VALUES (?, ?)",
                [
                    ("archive_id", os.urandom(16).hex()),
                    ("created_at", utc_now()),
                    ("created_by", f"archiver {__version__}"),
                ],
            )
            # into the file itself before it is linked: closing would checkpoint the WAL
            # too, but silently, and a full disk would leave a damaged file under the name
            busy, log, done = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if busy or log != done:
                raise sqlite3.OperationalError(f"the new archive {path} was not written whole")
        finally:
            conn.close()
        try:
            outputs.link_new(tmp, path)
        except FileExistsError:
            pass  # made meanwhile by another process: it is opened and checked as any other
    finally:
        for suffix in ("", *outputs.JOURNAL_SUFFIXES):
            Path(f"{tmp}{suffix}").unlink(missing_ok=True)


class Archive:
    """The writer side of an archive file. Use from one thread only.

    ``create``: make a new archive where no file is (the pull does); False for the use
    cases that only record a custody entry in an existing one (FileNotFoundError when
    there is none: an entry never conjures up an archive)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        compress: bool = True,
        create_dirs: bool = False,
        create: bool = True,
    ) -> None:
        self.path = Path(path)
        check_archive_file(self.path)
        if not self.path.exists():
            if not create:
                raise FileNotFoundError(f"No archive at {self.path}.")
            if not self.path.parent.is_dir():  # a typo should not scatter archives
                if not create_dirs:
                    raise FileNotFoundError(
                        f"The folder {self.path.parent} does not exist: create it first "
                        "(archiver pull --create-dirs does)."
                    )
                self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            # personal data: owner only (-wal/-shm follow its mode)
            _new_archive(self.path)
        self.conn = _connect(self.path)
        migrate(self.conn, outputs.resolved(self.path))
        #: page bodies zlib-compressed (their SHA-256 is over the bytes as received)
        self.compress = compress
        self.records = RecordWriter(self.conn)
        #: the search index, kept as pages are stored (derived state: searchindex.py)
        self.search = SearchIndex(self.conn)
        self._schemas: dict[str, str] = {}
        #: key rules each stream has given up (see keys.py); loaded once, kept in step
        self._abandoned: dict[tuple[str, str], set[str]] | None = None
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

    def check_writable(self) -> None:
        """Raise the storage error a write would meet now (a read-only file or medium, a
        folder that refuses the -wal file), writing nothing: a command that must record a
        custody entry learns before it makes anything that it could not."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self.conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('write check', '')")
        finally:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")

    # -- transactions ---------------------------------------------------------------------
    def transaction(self) -> _Tx:
        return _Tx(self.conn)

    def group(self) -> _Group:
        """Run several operations as one transaction: each stays atomic (a savepoint), and
        they commit together, one fsync for all. The pull's writer groups the pages waiting
        in its queue this way; a kill -9 then loses at most the group in flight, never part
        of a page, and every cursor advance commits with its page."""
        return _Group(self.conn)

    # -- audit log ------------------------------------------------------------------------
    def audit(self, event: str, details: dict[str, Any], run_id: str | None = None) -> str:
        """Append a chained audit entry; returns its chain value."""
        with self.transaction():
            return self._audit(event, details, run_id)

    def audit_from(
        self, event: str, make: Callable[[sqlite3.Connection], dict[str, Any]]
    ) -> dict[str, Any]:
        """Append an audit entry whose details ``make`` reads from the archive in the same
        transaction (a checkpoint: nothing can come between what it states and the entry)."""
        with self.transaction():
            details = make(self.conn)
            self._audit(event, details, None)
            return details

    def _audit(self, event: str, details: dict[str, Any], run_id: str | None) -> str:
        return auditlog.append(self.conn, event, details, run_id)

    # -- cases and holds -------------------------------------------------------------------
    def case_event(self, event: str, details: dict[str, Any]) -> cases.State:
        """Record a change of a case or its hold: its custody entry and the case's rows made
        again from its entries, in one transaction (archive/cases.py); CaseRefused, with
        nothing written, when the change makes no sense (a closed case, a name used
        twice, a hold in place…)."""
        with self.transaction():
            return cases.write(self.conn, event, details)

    # -- the search index -------------------------------------------------------------------
    def rebuild_search_index(self) -> Generator[tuple[str, int], None, None]:
        """Recreate the search index from the records in one transaction (yields (dataset,
        records) as each is done; closing the generator early undoes it all) and record it
        in the audit log."""
        done: dict[str, int] = {}
        with self.transaction():
            for dataset, n in rebuild(self.conn):
                done[dataset] = n
                yield dataset, n
            self._audit("search index rebuilt", {"records": done}, None)
        self.search = SearchIndex(self.conn)

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
    def begin_chunk(
        self, chunk: Chunk, run_id: str, resume_token: str | None, request_end: str
    ) -> None:
        """Mark a chunk in progress; a fresh start resets its counters, token and evidence.

        ``request_end``: the ``ending`` its requests send (API form), so that a resumed
        walk asks exactly the query its saved page token belongs to.
        """
        with self.transaction():
            self.conn.execute(
                """INSERT INTO coverage(dataset, dataset_type, filter, chunk_start, chunk_end, state, run_id,
                       next_token, updated_at, request_end) VALUES (?,?,?,?,?,'in_progress',?,?,?,?)
                   ON CONFLICT(dataset, dataset_type, filter, chunk_start) DO UPDATE SET
                       chunk_end=excluded.chunk_end, state='in_progress', run_id=excluded.run_id,
                       next_token=excluded.next_token, updated_at=excluded.updated_at,
                       message=NULL, next_retry_at=NULL, request_end=excluded.request_end,
                       overlap_dropped=CASE WHEN excluded.next_token IS NULL THEN 0 ELSE overlap_dropped END,
                       ending_rows=CASE WHEN excluded.next_token IS NULL THEN 0 ELSE ending_rows END,
                       outside_rows=CASE WHEN excluded.next_token IS NULL THEN 0 ELSE outside_rows END,
                       pages=CASE WHEN excluded.next_token IS NULL THEN 0 ELSE pages END,
                       rows=CASE WHEN excluded.next_token IS NULL THEN 0 ELSE rows END""",
                (
                    chunk.dataset,
                    chunk.dataset_type,
                    chunk.filter,
                    chunk.start_key,
                    chunk.end_key,
                    run_id,
                    resume_token,
                    utc_now(),
                    request_end,
                ),
            )

    def drop_overlap(self, chunk: Chunk, request_end: str, why: str) -> None:
        """The chunk is walked without its one-interval overlap from now on (and says so)."""
        with self.transaction():
            self.conn.execute(
                """UPDATE coverage SET request_end=?, overlap_dropped=1, message=?, updated_at=?
                   WHERE dataset=? AND dataset_type=? AND filter=? AND chunk_start=?""",
                (request_end, why, utc_now(), *_chunk_key(chunk)),
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
            (state, message, next_retry_at, utc_now(), run_id, *_chunk_key(chunk)),
        )
        if cur.rowcount == 0:
            self.conn.execute(
                """INSERT INTO coverage(dataset, dataset_type, filter, chunk_start, chunk_end, state, run_id,
                       message, next_retry_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)""",
                (
                    *_chunk_key(chunk),
                    chunk.end_key,
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
        stored: tuple[bytes, str] | None = None,
    ) -> int:
        last = self.conn.execute(
            "SELECT page_id, chain FROM pages ORDER BY page_id DESC LIMIT 1"
        ).fetchone()
        meta: dict[str, Any] = {
            "page_id": (last[0] if last else 0) + 1,
            "run_id": run_id,
            "dataset": chunk.dataset,
            "dataset_type": chunk.dataset_type,
            "chunk_start": chunk.start_key,
            "query": canonical_json(query),
            "page_number": page_number,
            "request_token": resp.request_token or "",
            "next_token": next_token,
            "http_status": resp.status,
            "url": resp.url,
            "received_at": resp.received_at.isoformat(timespec="milliseconds").replace(
                "+00:00", "Z"
            ),
            "size": len(resp.raw),
            "record_count": record_count,
            "columns": canonical_json(resp.columns),
        }
        digest = sha256_hex(resp.raw)
        chain = page_chain_next(
            last[1] if last else GENESIS, CHAIN_BODY_META, digest, page_meta_digest(meta)
        )
        body, encoding = stored or _stored_body(resp.raw, self.compress)
        self.conn.execute(
            """INSERT INTO pages(page_id, run_id, dataset, dataset_type, chunk_start, query, page_number,
                   request_token, next_token, http_status, url, received_at, size, record_count, columns,
                   encoding, body, sha256, chain, chain_rule)
               VALUES (:page_id, :run_id, :dataset, :dataset_type, :chunk_start, :query, :page_number,
                   :request_token, :next_token, :http_status, :url, :received_at, :size, :record_count,
                   :columns, :encoding, :body, :sha256, :chain, :chain_rule)""",
            {
                **meta,
                "encoding": encoding,
                "body": body,
                "sha256": digest,
                "chain": chain,
                "chain_rule": CHAIN_BODY_META,
            },
        )
        self._redacted(resp.redacted, chunk, resp.status, page_id=meta["page_id"])
        return int(meta["page_id"])

    def _redacted(
        self, redacted: Redacted | None, chunk: Chunk, status: int, **stored: int
    ) -> None:
        """A response that held our credentials is stored with them replaced: the audit log
        (chained) records what was received, by SHA-256 and size, and where it is kept."""
        if redacted is None:
            return
        self._audit(
            "credentials redacted",
            {
                **stored,
                "dataset": chunk.dataset,
                "dataset_type": chunk.dataset_type,
                "chunk_start": chunk.start_key,
                "http_status": status,
                "received_sha256": redacted.sha256,
                "received_size": redacted.size,
                "replaced": redacted.replaced,
            },
            None,
        )

    def store_page(
        self,
        run_id: str,
        chunk: Chunk,
        page: Page,
        query: dict[str, str],
        prepared: Prepared | None = None,
    ) -> PageResult:
        """Archive one page, its records and the cursor advance in one transaction.

        ``prepared``: :func:`prepare` of the page, done by the worker that fetched it (so
        the compression, which releases the GIL, runs beside the writer)."""
        if prepared is None or prepared.compressed != self.compress:
            prepared = prepare(page, compress=self.compress)
        try:
            return self._store_page(run_id, chunk, page, query, prepared)
        except BaseException:
            self._forget()  # what the page created was rolled back: so is what is cached
            raise

    def _forget(self) -> None:
        self.records = RecordWriter(self.conn)
        self._schemas.clear()
        self._abandoned = None

    def _store_page(
        self, run_id: str, chunk: Chunk, page: Page, query: dict[str, str], prepared: Prepared
    ) -> PageResult:
        with self.transaction():
            page_id = self._insert_page(
                run_id,
                chunk,
                page,
                query,
                page.number,
                page.next_token,
                len(page.records),
                prepared.body,
            )
            ids, fell_back = self._derive(chunk, page, page_id, prepared.canon)
            done = self.records.insert(
                chunk, page.column_names, page.records, ids, page_id, regroup=fell_back
            )
            self._check_schema(chunk.dataset, page.columns, page_id)
            self.search.after_page(chunk.dataset, page_id, page.column_names)
            at_end, outside = (0, 0)
            if not chunk.daily:
                at_end, outside = ending_evidence(
                    ids, chunk.start_key, query_ending(canonical_json(query))
                )
            self.conn.execute(
                """UPDATE coverage SET next_token=?, pages=pages+1, rows=rows+?, state=?, updated_at=?,
                       message=CASE WHEN overlap_dropped THEN message END, next_retry_at=NULL, run_id=?,
                       ending_rows=ending_rows+?, outside_rows=outside_rows+?
                   WHERE dataset=? AND dataset_type=? AND filter=? AND chunk_start=?""",
                (
                    page.next_token or None,
                    len(page.records),
                    "done" if page.last else "in_progress",
                    utc_now(),
                    run_id,
                    at_end,
                    outside,
                    *_chunk_key(chunk),
                ),
            )
        return PageResult(page_id, done.new, done.duplicates, done.conflicts)

    def _derive(
        self,
        chunk: Chunk,
        page: Page,
        page_id: int,
        canon: tuple[list[str], list[str]] | None = None,
    ) -> tuple[list[Identity], bool]:
        """Identities of the page's records; a key rule the page disproves is recorded and
        the stream's latest versions regrouped (keys.py)."""
        stream = (chunk.dataset, chunk.dataset_type)
        if self._abandoned is None:
            self._abandoned = abandoned_rules(self.conn)
        gone = self._abandoned.setdefault(stream, set())
        ids, _rule, fallbacks = page_identities(
            chunk.dataset, chunk.dataset_type, page.column_names, page.records, gone, canon
        )
        for f in fallbacks:
            self.conn.execute(
                "INSERT INTO key_rules(dataset, dataset_type, rule, fallback, page_id, reason, detected_at) VALUES (?,?,?,?,?,?,?)",
                (
                    chunk.dataset,
                    chunk.dataset_type,
                    f.rule,
                    f.fallback,
                    page_id,
                    f.reason,
                    utc_now(),
                ),
            )
            self._audit(
                "key fallback",
                {
                    "dataset": chunk.dataset,
                    "dataset_type": chunk.dataset_type,
                    "rule": f.rule,
                    "fallback": f.fallback,
                    "page_id": page_id,
                    "reason": f.reason,
                },
                None,
            )
            gone.add(f.rule)
        return ids, bool(fallbacks)

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
            change = schema_diff(json.loads(previous), columns) if previous else None
            desc = "first seen" if not previous else (change.describe() if change else "changed")
            desc = desc or "changed"
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
        *,
        mark_pending: bool = True,
    ) -> int:
        """Archive a 202; mark the chunk pending unless the caller retries it at once."""
        with self.transaction():
            page_id = self._insert_page(run_id, chunk, resp, query, 0, "", 0)
            if mark_pending:
                self.conn.execute(
                    """UPDATE coverage SET state='pending', attempts=attempts+1, next_retry_at=?, updated_at=?,
                           message='202 Accepted: the API has not processed this interval yet', run_id=?,
                           next_token=?
                       WHERE dataset=? AND dataset_type=? AND filter=? AND chunk_start=?""",
                    (next_retry_at, utc_now(), run_id, resp.request_token, *_chunk_key(chunk)),
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
        redacted: Redacted | None = None,
    ) -> int:
        """Keep a response that could not be archived as a page (``raw``, with our
        credentials already replaced: ``redacted`` says what was received)."""
        with self.transaction():
            cur = self.conn.execute(
                """INSERT INTO quarantine(run_id, dataset, dataset_type, chunk_start, request_token, http_status, url,
                       received_at, error, body, sha256) VALUES (?,?,?,?,?,?,?,?,?,?,?)""",
                (
                    run_id,
                    chunk.dataset,
                    chunk.dataset_type,
                    chunk.start_key,
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
                (f"quarantined a malformed page: {error}", utc_now(), *_chunk_key(chunk)),
            )
            quarantine_id = int(cur.lastrowid or 0)
            self._redacted(redacted, chunk, status, quarantine_id=quarantine_id)
            return quarantine_id


def _chunk_key(chunk: Chunk) -> tuple[str, str, str, str]:
    """The coverage table's primary key of a chunk."""
    return (chunk.dataset, chunk.dataset_type, chunk.filter, chunk.start_key)


class _Tx:
    """One operation's transaction: BEGIN IMMEDIATE … COMMIT, or ROLLBACK on any exception.

    Inside a writer's group (:meth:`Archive.group`) it is a savepoint instead, so a failing
    operation is undone alone and the group's earlier operations still commit."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.nested = False

    def __enter__(self) -> sqlite3.Connection:
        self.nested = self.conn.in_transaction
        self.conn.execute("SAVEPOINT op" if self.nested else "BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if not self.nested:
            self.conn.execute("COMMIT" if exc_type is None else "ROLLBACK")
        elif exc_type is None:
            self.conn.execute("RELEASE op")
        elif self.conn.in_transaction:  # (an error SQLite rolled back itself leaves none)
            self.conn.execute("ROLLBACK TO op")
            self.conn.execute("RELEASE op")


class _Group:
    """Several operations in one transaction (one fsync): see :meth:`Archive.group`."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> _Group:
        self.conn.execute("BEGIN IMMEDIATE")
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if not self.conn.in_transaction:
            return  # SQLite already rolled it back (e.g. a full disk)
        self.conn.execute("COMMIT" if exc_type is None else "ROLLBACK")

    @property
    def open(self) -> bool:
        """False when SQLite rolled the group back itself: nothing in it was stored."""
        return self.conn.in_transaction


__all__ = [
    "DAILY",
    "Archive",
    "PageResult",
    "check_archive_file",
    "open_reader",
    "os_user",
    "page_body",
    "utc_now",
]
