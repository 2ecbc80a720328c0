"""The archive's SQLite schema and its migrations (see docs/archive-format.md)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

SCHEMA_VERSION = 1

EVIDENCE_TABLES = ("pages", "records", "quarantine", "audit_log", "conflicts", "schema_changes")

_V1 = """
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE runs (
    run_id       TEXT PRIMARY KEY,
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    status       TEXT NOT NULL,          -- running | finished | partial | interrupted | failed
    os_user      TEXT NOT NULL,
    tool_version TEXT NOT NULL,
    tenant       TEXT NOT NULL,
    params       TEXT NOT NULL,          -- JSON of the pull parameters
    params_hash  TEXT NOT NULL,
    summary      TEXT                    -- JSON summary when the run ends
);
CREATE TABLE pages (
    page_id       INTEGER PRIMARY KEY,
    run_id        TEXT NOT NULL,
    dataset       TEXT NOT NULL,
    dataset_type  TEXT NOT NULL,
    chunk_start   TEXT NOT NULL,
    query         TEXT NOT NULL,         -- JSON of the query parameters, page token excluded
    page_number   INTEGER NOT NULL,      -- 1-based within the chunk walk (0 for a 202)
    request_token TEXT,                  -- the nextPageToken sent ('' for the first page)
    next_token    TEXT NOT NULL,
    http_status   INTEGER NOT NULL,
    url           TEXT NOT NULL,         -- request URL; never carries credentials
    received_at   TEXT NOT NULL,         -- UTC, ISO 8601
    encoding      TEXT NOT NULL,         -- identity | zlib (of body)
    body          BLOB NOT NULL,
    size          INTEGER NOT NULL,      -- length of the exact response bytes
    sha256        TEXT NOT NULL,         -- of the exact response bytes
    record_count  INTEGER NOT NULL,
    columns       TEXT NOT NULL,         -- JSON columnHeaders
    chain         TEXT NOT NULL
);
CREATE INDEX pages_chunk ON pages(dataset, dataset_type, chunk_start);
CREATE TABLE records (
    record_id  INTEGER PRIMARY KEY,
    dataset    TEXT NOT NULL,
    row_key    TEXT NOT NULL,
    key_kind   TEXT NOT NULL,            -- column | hash (no key column: SHA-256 of values)
    commit_ts  TEXT NOT NULL,
    row_date   TEXT NOT NULL,            -- ROW_DATE_UTC, or the chunk's day
    values_json TEXT NOT NULL,           -- canonical JSON object of exact API strings
    sha256     TEXT NOT NULL,            -- of values_json (UTF-8)
    page_id    INTEGER NOT NULL REFERENCES pages(page_id),
    row_index  INTEGER NOT NULL,         -- position in the page's records
    conflict   INTEGER NOT NULL DEFAULT 0,
    UNIQUE (dataset, row_key, commit_ts, sha256)
);
CREATE INDEX records_page ON records(page_id, row_index);
CREATE INDEX records_date ON records(dataset, row_date);
CREATE TABLE conflicts (
    conflict_id INTEGER PRIMARY KEY,
    dataset     TEXT NOT NULL,
    row_key     TEXT NOT NULL,
    commit_ts   TEXT NOT NULL,
    record_id   INTEGER NOT NULL,        -- the later record
    earlier_id  INTEGER NOT NULL,        -- the record it disagrees with
    detected_at TEXT NOT NULL
);
CREATE TABLE quarantine (
    quarantine_id INTEGER PRIMARY KEY,
    run_id      TEXT NOT NULL,
    dataset     TEXT NOT NULL,
    dataset_type TEXT NOT NULL,
    chunk_start TEXT NOT NULL,
    request_token TEXT,
    http_status INTEGER NOT NULL,
    url         TEXT NOT NULL,
    received_at TEXT NOT NULL,
    error       TEXT NOT NULL,
    body        BLOB NOT NULL,
    sha256      TEXT NOT NULL
);
CREATE TABLE schema_changes (
    change_id   INTEGER PRIMARY KEY,
    dataset     TEXT NOT NULL,
    page_id     INTEGER NOT NULL,
    previous    TEXT,                    -- JSON columnHeaders before ('' first time seen)
    current     TEXT NOT NULL,
    description TEXT NOT NULL,
    detected_at TEXT NOT NULL
);
CREATE TABLE coverage (
    dataset      TEXT NOT NULL,
    dataset_type TEXT NOT NULL,
    filter       TEXT NOT NULL,          -- '' when unfiltered
    chunk_start  TEXT NOT NULL,          -- API bound form: YYYYMMDDHHmm or YYYYMMDD
    chunk_end    TEXT NOT NULL,
    state        TEXT NOT NULL,          -- in_progress | done | pending | not_entitled | failed
    run_id       TEXT NOT NULL,
    next_token   TEXT,                   -- where an unfinished walk continues
    pages        INTEGER NOT NULL DEFAULT 0,
    rows         INTEGER NOT NULL DEFAULT 0,  -- records received by the latest walk
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_retry_at TEXT,
    message      TEXT,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (dataset, dataset_type, filter, chunk_start)
);
CREATE TABLE audit_log (
    entry_id    INTEGER PRIMARY KEY,
    at          TEXT NOT NULL,
    event       TEXT NOT NULL,
    os_user     TEXT NOT NULL,
    tool_version TEXT NOT NULL,
    run_id      TEXT,
    details     TEXT NOT NULL,           -- canonical JSON
    sha256      TEXT NOT NULL,           -- of the canonical JSON of the entry's fields
    chain       TEXT NOT NULL
);
CREATE VIEW latest AS
    SELECT r.* FROM records r
    WHERE r.record_id = (
        SELECT r2.record_id FROM records r2
        WHERE r2.dataset = r.dataset AND r2.row_key = r.row_key
        ORDER BY r2.commit_ts DESC, r2.record_id DESC LIMIT 1);
CREATE VIEW chain_head AS
    SELECT (SELECT chain FROM pages ORDER BY page_id DESC LIMIT 1) AS pages_chain,
           (SELECT count(*) FROM pages) AS pages,
           (SELECT chain FROM audit_log ORDER BY entry_id DESC LIMIT 1) AS audit_chain,
           (SELECT count(*) FROM audit_log) AS audit_entries;
"""


def _triggers() -> str:
    out = []
    for table in EVIDENCE_TABLES:
        for op in ("UPDATE", "DELETE"):
            out.append(
                f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is evidence: append-only'); END;"
            )
    return "\n".join(out)


def _migrate_to_1(conn: sqlite3.Connection) -> None:
    conn.executescript(_V1 + _triggers())


#: version → migration that brings the schema from version-1 to version.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _migrate_to_1}


class ArchiveVersionError(Exception):
    pass


def migrate(conn: sqlite3.Connection, path: Path | None) -> int:
    """Bring the schema to SCHEMA_VERSION; back the file up first when it had data."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise ArchiveVersionError(
            f"This archive has schema version {version}, newer than this archiver "
            f"understands ({SCHEMA_VERSION}). Upgrade archiver; the file was not changed."
        )
    if version == SCHEMA_VERSION:
        return version
    if version > 0 and path is not None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        backup_to(conn, path.with_name(f"{path.name}.v{version}-{stamp}.bak"))
    for target in range(version + 1, SCHEMA_VERSION + 1):
        with conn:
            MIGRATIONS[target](conn)
            conn.execute(f"PRAGMA user_version = {target}")
    return SCHEMA_VERSION


def backup_to(conn: sqlite3.Connection, dest: Path) -> None:
    """A consistent copy through SQLite's online backup API (never a file copy)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    target = sqlite3.connect(dest)
    try:
        conn.backup(target)
    finally:
        target.close()
