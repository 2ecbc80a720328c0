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
from archiver.api.pages import NotReady, Page, Refused, Response, refusal_message
from archiver.api.redaction import Redacted
from archiver.archive import auditlog, cases, commitments, disposal, retention
from archiver.archive.auditlog import os_user
from archiver.archive.chunks import (
    BOOKKEEPING,
    DERIVED,
    ChunkRow,
    cannot_hold,
    chunk_key,
    ending_evidence,
    on_failure,
    on_page,
    on_refused,
    query_ending,
)
from archiver.archive.chunks import Response as Answer
from archiver.archive.compact import ZLIB_LEVEL
from archiver.archive.custody import QUARANTINE_FIELDS
from archiver.archive.derive import page_records, schema_change, sha8
from archiver.archive.hashing import (
    CHAIN_BODY_META_ROOT,
    GENESIS,
    canonical_json,
    page_chain_next,
    page_meta_digest,
    sha256_hex,
)
from archiver.archive.identity import Fallback, canon_and_digests
from archiver.archive.records import RecordWriter
from archiver.archive.rekey import abandoned_rules, page_body
from archiver.archive.schema import migrate
from archiver.archive.searchindex import SearchIndex, rebuild
from archiver.archive.sqlitefile import check_archive_file, open_reader
from archiver.archive.sqlitefile import connect_archive as _connect
from archiver.timerange import DAILY, Chunk, utc_now


@dataclass(frozen=True)
class Prepared:
    """What can be computed from a page before the writer gets it: its stored body, its
    records' canonical JSON and SHA-256, and their salted commitments."""

    compressed: bool
    body: tuple[bytes, str]  # (stored bytes, encoding)
    canon: tuple[list[str], list[str]]
    commitments: commitments.PageCommitments | None = None


def prepare(page: Page, *, compress: bool = True) -> Prepared:
    canon = canon_and_digests(page.column_names, page.records)
    return Prepared(
        compress,
        _stored_body(page.raw, compress),
        canon,
        commitments.commit_page(canon[0]),
    )


def _stored_body(raw: bytes, compress: bool) -> tuple[bytes, str]:
    return (zlib.compress(raw, ZLIB_LEVEL), "zlib") if compress else (raw, "identity")


@dataclass
class PageResult:
    page_id: int
    new: int
    duplicates: int
    conflicts: int


def _identity(conn: sqlite3.Connection) -> None:
    """A new archive's identity: the meta table and the ``archive created`` entry it is
    replayed from (archive/tables.py), in the caller's transaction."""
    meta = {
        "archive_id": os.urandom(16).hex(),
        "created_at": utc_now(),
        "created_by": f"archiver {__version__}",
    }
    conn.executemany("INSERT INTO meta(key, value) VALUES (?, ?)", meta.items())
    auditlog.append(conn, "archive created", meta, None)


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
            conn.execute("BEGIN IMMEDIATE")
            _identity(conn)
            conn.execute("COMMIT")
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
            with self.transaction():  # (a new archive has its identity already)
                _identity(self.conn)

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

    # -- retention and disposition ----------------------------------------------------------
    def retention_event(self, event: str, details: dict[str, Any]) -> retention.State:
        """Record a schedule set or cleared: its custody entry and the retention tables made
        again from the entries, in one transaction (archive/retention.py)."""
        with self.transaction():
            return retention.write_schedule(self.conn, event, details)

    def dispose(
        self, make: Callable[[sqlite3.Connection], tuple[dict[str, Any], list[int]]]
    ) -> tuple[int, str, dict[str, Any], dict[str, int]]:
        """One disposition in one transaction: ``make`` reads the archive inside it (the
        plan made again, compared with the one approved: nothing can come between them) and
        returns the entry's details and the pages; the entry is appended, the bodies, values
        and index entries removed. Returns (entry id, its chain, details, what was removed).
        Written with ``secure_delete`` (as an erasure is): what is removed, the salts above
        all, is overwritten in the file, not only unlinked, before the VACUUM after it."""
        self.conn.execute("PRAGMA secure_delete = ON")
        with self.transaction():
            details, pages = make(self.conn)
            entry_id, chain, removed = disposal.write_disposition(self.conn, details, pages)
            return entry_id, chain, details, removed

    def vacuum(self) -> None:
        """Give the space of removed bodies and values back to the file system (VACUUM, then
        a WAL checkpoint that truncates the log). The caller holds the archive's lock."""
        self.conn.execute("VACUUM")
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

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
    def start_run(
        self,
        run_id: str,
        tenant: str,
        params: dict[str, Any],
        params_hash: str,
        plan: dict[str, Any] | None = None,
    ) -> None:
        """A run begins: its row and its ``pull started`` entry (the row is replayed from the
        entry: the same time, user and version). ``plan``: its chunks
        (archive/chunks.py splits_record / chunks_record), which say where each chunk ends."""
        at = utc_now()
        with self.transaction():
            self.conn.execute(
                "INSERT INTO runs(run_id, started_at, status, os_user, tool_version, tenant, params, params_hash) VALUES (?,?,?,?,?,?,?,?)",
                (
                    run_id,
                    at,
                    "running",
                    os_user(),
                    __version__,
                    tenant,
                    json.dumps(params),
                    params_hash,
                ),
            )
            details = {"tenant": tenant, "params": params, "params_hash": params_hash}
            if plan is not None:
                details["plan"] = plan
            auditlog.append(self.conn, "pull started", details, run_id, at)

    def resume_run(self, run_id: str) -> None:
        with self.transaction():
            self.conn.execute(
                "UPDATE runs SET status='running', finished_at=NULL WHERE run_id=?", (run_id,)
            )
            self._audit("pull resumed", {}, run_id)

    def finish_run(
        self,
        run_id: str,
        status: str,
        summary: dict[str, Any],
        flags: dict[str, Any] | None = None,
    ) -> None:
        """A run ends: its row and its ``pull finished`` entry, which says after which page
        it was written and the run's own flags (cancelled, a run-wide error), so that
        verify-archive re-derives the summary from the archive as it stood then."""
        at = utc_now()
        details: dict[str, Any] = {"status": status, "summary": summary}
        if flags is not None:
            details["flags"] = flags
            details["after_page"] = self._last_page()
        with self.transaction():
            self.conn.execute(
                "UPDATE runs SET status=?, finished_at=?, summary=? WHERE run_id=?",
                (status, at, json.dumps(summary), run_id),
            )
            auditlog.append(self.conn, "pull finished", details, run_id, at)

    def _last_page(self) -> int:
        return int(self.conn.execute("SELECT max(page_id) FROM pages").fetchone()[0] or 0)

    # -- coverage: every change is derived (archive/chunks.py) from what is archived -------
    def _chunk_row(self, key: tuple[str, str, str, str]) -> ChunkRow | None:
        row = self.conn.execute(
            f"SELECT {', '.join(DERIVED)} FROM coverage WHERE dataset=? AND dataset_type=? AND filter=? AND chunk_start=?",
            key,
        ).fetchone()
        return None if row is None else ChunkRow(*row)

    def _save_chunk(self, row: ChunkRow, *, attempts: int = 0, **retry: str | None) -> None:
        """Store a derived row, with the bookkeeping: ``attempts`` added, ``next_retry_at``
        (when given) set."""
        values: dict[str, Any] = {**row.values(), "updated_at": utc_now(), "attempts": attempts}
        cols = [*DERIVED, "updated_at", "attempts"]
        if "next_retry_at" in retry:
            values["next_retry_at"] = retry["next_retry_at"]
            cols.append("next_retry_at")
        assert set(cols) <= {*DERIVED, *BOOKKEEPING}
        sets = [f"{c}=excluded.{c}" for c in cols if c not in _KEY and c != "attempts"]
        self.conn.execute(
            f"""INSERT INTO coverage({", ".join(cols)}) VALUES ({", ".join(":" + c for c in cols)})
                ON CONFLICT(dataset, dataset_type, filter, chunk_start) DO UPDATE SET
                {", ".join(sets)}, attempts = coverage.attempts + excluded.attempts""",
            values,
        )

    def chunk_failed(self, run_id: str, chunk: Chunk, message: str, **cause: int) -> None:
        """A walk stopped on an error: the ``chunk failed`` entry is the outcome's evidence
        (no response explains it) and the row is derived from it. ``cause``: the quarantine
        row and page number of a page the archive could not hold (:meth:`cannot_hold`)."""
        with self.transaction():
            key = chunk_key(chunk)
            self._audit(
                "chunk failed",
                {
                    "dataset": chunk.dataset,
                    "dataset_type": chunk.dataset_type,
                    "filter": chunk.filter,
                    "chunk_start": chunk.start_key,
                    "chunk_end": chunk.end_key,
                    "message": message,
                    "after_page": self._last_page(),
                    **cause,
                },
                run_id,
            )
            self._save_chunk(on_failure(self._chunk_row(key), key, run_id, chunk.end_key, message))

    def cannot_hold(self, run_id: str, chunk: Chunk, page: Page, why: str) -> str:
        """A page the archive cannot hold (``why``): quarantined, and its chunk failed, in
        one transaction: the ``quarantined`` entry, then the ``chunk failed`` entry naming
        the quarantine row and the page (archive/chunks.py cannot_hold words both, and the
        replay derives them again). Returns the failure's message."""
        key = chunk_key(chunk)
        reason, message = cannot_hold(key, chunk.end_key, page.number, why)
        with self.transaction():
            qid = self.quarantine(
                run_id,
                chunk,
                page.raw,
                page.url,
                page.status,
                page.request_token,
                reason,
                page.redacted,
            )
            self.chunk_failed(run_id, chunk, message, quarantine_id=qid, page_number=page.number)
        return message

    # -- pages ----------------------------------------------------------------------------
    def _insert_page(
        self,
        run_id: str,
        chunk: Chunk,
        resp: Response,
        query: dict[str, str],
        page_number: int,
        next_token: str,
        record_count: int,
        stored: tuple[bytes, str] | None = None,
        commit_root: str = commitments.EMPTY_ROOT,
    ) -> tuple[int, str]:
        """Insert one response; returns its page id and received time (as stored)."""
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
            "commit_root": commit_root,
        }
        digest = sha256_hex(resp.raw)
        chain = page_chain_next(
            last[1] if last else GENESIS,
            CHAIN_BODY_META_ROOT,
            digest,
            page_meta_digest(meta, CHAIN_BODY_META_ROOT),
        )
        body, encoding = stored or _stored_body(resp.raw, self.compress)
        self.conn.execute(
            """INSERT INTO pages(page_id, run_id, dataset, dataset_type, chunk_start, query, page_number,
                   request_token, next_token, http_status, url, received_at, size, record_count, columns,
                   encoding, body, sha256, chain, chain_rule, commit_root)
               VALUES (:page_id, :run_id, :dataset, :dataset_type, :chunk_start, :query, :page_number,
                   :request_token, :next_token, :http_status, :url, :received_at, :size, :record_count,
                   :columns, :encoding, :body, :sha256, :chain, :chain_rule, :commit_root)""",
            {
                **meta,
                "encoding": encoding,
                "body": body,
                "sha256": digest,
                "chain": chain,
                "chain_rule": CHAIN_BODY_META_ROOT,
            },
        )
        self._redacted(
            getattr(resp, "redacted", None), chunk, resp.status, page_id=int(meta["page_id"])
        )
        return int(meta["page_id"]), str(meta["received_at"])

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
        if (
            prepared is None
            or prepared.compressed != self.compress
            or prepared.commitments is None
            or len(prepared.commitments.commitments) != len(page.records)
        ):
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
        made = prepared.commitments or commitments.commit_page(prepared.canon[0])
        stream = (chunk.dataset, chunk.dataset_type)
        if self._abandoned is None:
            self._abandoned = abandoned_rules(self.conn)
        gone = self._abandoned.setdefault(stream, set())
        with self.transaction():
            page_id, received = self._insert_page(
                run_id,
                chunk,
                page,
                query,
                page.number,
                page.next_token,
                len(page.records),
                prepared.body,
                made.root,
            )
            derived = page_records(
                self.records.known(chunk, gone),
                gone,
                chunk.dataset,
                chunk.dataset_type,
                page_id,
                page.column_names,
                page.records,
                _sequential(self.records.next_id()),
                prepared.canon,
            )
            self._record_fallbacks(chunk, page_id, received, derived.fallbacks)
            done = self.records.insert(
                chunk, page.column_names, page.records, derived, page_id, received
            )
            if made.commitments:
                sid = self.records.stream(chunk.dataset, chunk.dataset_type)
                rids = commitments.page_record_ids(
                    self.conn, page_id, sid, [(sha8(i.sha256), i.key) for i in derived.ids]
                )
                commitments.store(self.conn, page_id, made, rids)
            self._check_schema(chunk.dataset, page.columns, page_id, received)
            self.search.after_page(chunk.dataset, page_id, page.column_names)
            at_end, outside = (0, 0)
            q = canonical_json(query)
            if not chunk.daily:
                at_end, outside = ending_evidence(derived.ids, chunk.start_key, query_ending(q))
            answer = Answer(
                run_id,
                q,
                page.request_token or "",
                page.next_token,
                200,
                len(page.records),
                at_end,
                outside,
            )
            key = chunk_key(chunk)
            row = on_page(self._chunk_row(key), key, answer, chunk.end_key)
            self._save_chunk(row, next_retry_at=None)
        return PageResult(page_id, done.new, done.duplicates, done.conflicts)

    def _record_fallbacks(
        self, chunk: Chunk, page_id: int, received: str, fallbacks: list[Fallback]
    ) -> None:
        """A key rule the page disproves: its key_rules row (replayed from the page) and a
        ``key fallback`` custody entry."""
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
                    received,
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

    def _check_schema(
        self, dataset: str, columns: list[dict[str, str]], page_id: int, received: str
    ) -> None:
        previous = self._schemas.get(dataset)
        if previous is None:
            row = self.conn.execute(
                "SELECT current FROM schema_changes WHERE dataset=? ORDER BY change_id DESC LIMIT 1",
                (dataset,),
            ).fetchone()
            previous = row[0] if row else ""
        change = schema_change(previous, columns)
        if change is not None:
            self.conn.execute(
                "INSERT INTO schema_changes(dataset, page_id, previous, current, description, detected_at) VALUES (?,?,?,?,?,?)",
                (dataset, page_id, change.previous, change.current, change.description, received),
            )
        self._schemas[dataset] = change.current if change else previous

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
        """Archive a 202: the chunk is pending until a page of it arrives (``mark_pending``:
        the pull will not ask again at once, a backoff attempt is counted)."""
        with self.transaction():
            page_id, _received = self._insert_page(run_id, chunk, resp, query, 0, "", 0)
            key = chunk_key(chunk)
            answer = Answer(run_id, canonical_json(query), resp.request_token or "", "", 202)
            row = on_page(self._chunk_row(key), key, answer, chunk.end_key)
            self._save_chunk(row, next_retry_at=next_retry_at, attempts=int(mark_pending))
        return page_id

    def store_refused(
        self,
        run_id: str,
        chunk: Chunk,
        resp: Refused,
        query: dict[str, str],
        planned: list[Chunk],
    ) -> str:
        """Archive a 403: the chunk is not entitled, and so is every chunk of the run's plan
        of that dataset (``planned``) the run has not walked yet (the pull stops asking for
        it). Returns the refusal's message (api.pages.refusal_message of the body)."""
        message = refusal_message(chunk.dataset, resp.raw)
        with self.transaction():
            self._insert_page(run_id, chunk, resp, query, 0, "", 0)
            key = chunk_key(chunk)
            answer = Answer(
                run_id, canonical_json(query), resp.request_token or "", "", 403, message=message
            )
            self._save_chunk(on_page(self._chunk_row(key), key, answer, chunk.end_key))
            for other in planned:
                okey = chunk_key(other)
                if other.dataset != chunk.dataset or okey == key:
                    continue
                row = on_refused(self._chunk_row(okey), okey, run_id, other.end_key, message)
                if row is not None:
                    self._save_chunk(row)
        return message

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
            qid = int(cur.lastrowid or 0)
            # quarantine rows are not chained themselves: this entry chains what each holds
            self._audit("quarantined", quarantine_statement(self.conn, qid), run_id)
            self.conn.execute(
                """UPDATE coverage SET attempts=attempts+1, updated_at=?
                   WHERE dataset=? AND dataset_type=? AND filter=? AND chunk_start=?""",
                (utc_now(), *chunk_key(chunk)),
            )
            self._redacted(redacted, chunk, status, quarantine_id=qid)
            return qid


def _sequential(first: int) -> Callable[[int, int], int]:
    """Record ids in order of arrival: the page's n-th new record gets ``first + n``."""
    return lambda n, _row: first + n


#: The coverage table's key.
_KEY = ("dataset", "dataset_type", "filter", "chunk_start")


def quarantine_statement(conn: sqlite3.Connection, qid: int) -> dict[str, Any]:
    """What a quarantine row holds, as its ``quarantined`` entry states it."""
    row = conn.execute(
        f"SELECT {', '.join(QUARANTINE_FIELDS)}, length(body) FROM quarantine WHERE quarantine_id=?",
        (qid,),
    ).fetchone()
    out = dict(zip(QUARANTINE_FIELDS, row[:-1], strict=True))
    out["size"] = row[-1]
    return out


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
