"""The archive's SQLite schema and its migrations (see docs/archive-format.md)."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

from archiver import outputs
from archiver.archive import auditlog, commitments, sqlitefile
from archiver.archive.compact import V4_AFTER, migrate_to_4
from archiver.archive.hashing import GENESIS, PAGE_META_FIELDS, chain_next, page_meta_digest
from archiver.archive.rekey import rekey_from_v1
from archiver.archive.triggers import create_triggers, drop_triggers
from archiver.archive.values import migrate_to_5 as values_migrate_to_5
from archiver.archive.values import value_index_sql, value_indexes
from archiver.datasets import DATASETS

SCHEMA_VERSION = 6

#: Tables every version has (records and the latest view changed in version 2).
_BASE = """
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
    url           TEXT NOT NULL,         -- request URL (never carries credentials)
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
CREATE VIEW chain_head AS
    SELECT (SELECT chain FROM pages ORDER BY page_id DESC LIMIT 1) AS pages_chain,
           (SELECT count(*) FROM pages) AS pages,
           (SELECT chain FROM audit_log ORDER BY entry_id DESC LIMIT 1) AS audit_chain,
           (SELECT count(*) FROM audit_log) AS audit_entries;
"""

_V1_RECORDS = """
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
CREATE VIEW latest AS
    SELECT r.* FROM records r
    WHERE r.record_id = (
        SELECT r2.record_id FROM records r2
        WHERE r2.dataset = r.dataset AND r2.row_key = r.row_key
        ORDER BY r2.commit_ts DESC, r2.record_id DESC LIMIT 1);
"""

#: Version 2: daily and interval rows are separate streams; records keyed by ROW_ID
#: whenever a page carries it (archive/identity.py), with their natural key and their own
#: 15-minute interval; identical records dedupe by content; a maintained latest-version
#: table; key fallbacks; per-chunk evidence of the server's reading of ``ending``.
_V2 = """
CREATE TABLE records (
    record_id  INTEGER PRIMARY KEY,
    dataset    TEXT NOT NULL,
    dataset_type TEXT NOT NULL,          -- interval | daily: separate streams of a dataset
    row_key    TEXT NOT NULL,
    key_kind   TEXT NOT NULL,            -- ROW_ID | natural | hash (see archive/identity.py)
    natural_key TEXT NOT NULL,           -- the registry key's value ('' when absent)
    commit_ts  TEXT NOT NULL,
    row_date   TEXT NOT NULL,            -- ROW_DATE_UTC, or the chunk's day
    interval_start TEXT NOT NULL,        -- the row's own interval, YYYYMMDDHHmm (daily: YYYYMMDD)
    values_json TEXT NOT NULL,           -- canonical JSON object of exact API strings
    sha256     TEXT NOT NULL,            -- of values_json (UTF-8)
    page_id    INTEGER NOT NULL REFERENCES pages(page_id),
    row_index  INTEGER NOT NULL,         -- position in the page's records
    conflict   INTEGER NOT NULL DEFAULT 0,
    UNIQUE (dataset, dataset_type, sha256)
);
CREATE INDEX records_page ON records(page_id, row_index);
CREATE INDEX records_date ON records(dataset, dataset_type, row_date);
CREATE INDEX records_key ON records(dataset, dataset_type, row_key, commit_ts);
CREATE INDEX records_natural ON records(dataset, natural_key) WHERE natural_key != '';
CREATE INDEX records_interval ON records(dataset, dataset_type, interval_start);
CREATE TABLE latest_records (
    dataset      TEXT NOT NULL,
    dataset_type TEXT NOT NULL,
    key_kind     TEXT NOT NULL,
    row_key      TEXT NOT NULL,
    record_id    INTEGER NOT NULL,
    commit_ts    TEXT NOT NULL,
    PRIMARY KEY (dataset, dataset_type, key_kind, row_key)
) WITHOUT ROWID;
CREATE UNIQUE INDEX latest_record ON latest_records(record_id);
CREATE TABLE key_rules (
    change_id    INTEGER PRIMARY KEY,
    dataset      TEXT NOT NULL,
    dataset_type TEXT NOT NULL,
    rule         TEXT NOT NULL,          -- the rule found not to be a key (ROW_ID | natural)
    fallback     TEXT NOT NULL,          -- the rule used from that page on
    page_id      INTEGER NOT NULL,       -- the page that showed it
    reason       TEXT NOT NULL,
    detected_at  TEXT NOT NULL
);
ALTER TABLE coverage ADD COLUMN request_end TEXT;    -- the 'ending' sent (API form)
ALTER TABLE coverage ADD COLUMN ending_rows INTEGER NOT NULL DEFAULT 0;   -- rows at that interval
ALTER TABLE coverage ADD COLUMN outside_rows INTEGER NOT NULL DEFAULT 0;  -- rows outside the request
ALTER TABLE coverage ADD COLUMN overlap_dropped INTEGER NOT NULL DEFAULT 0;  -- 1: sent without overlap
CREATE VIEW latest AS
    SELECT r.* FROM latest_records l JOIN records r ON r.record_id = l.record_id;
"""


#: Version 3: each page says which chain rule it follows (archive/hashing.py): 1, the body
#: hash only (every page stored before version 3, whose chain values stay as they were), or
#: 2, the body hash and the digest of its metadata (every page since).
_V3 = """
ALTER TABLE pages ADD COLUMN chain_rule INTEGER NOT NULL DEFAULT 1;
"""


def _statements(script: str) -> list[str]:
    """Statements of a DDL script (no triggers or ';' in comments here: ';' ends one)."""
    out = [s.strip() for s in script.split(";") if s.strip()]
    assert all(sqlite3.complete_statement(s + ";") for s in out), "';' inside a DDL comment"
    return out


def _create_current(conn: sqlite3.Connection) -> None:
    """A new file: the current schema at once (version 3's tables, then version 4's and 5's
    changes of them: one definition of the final tables)."""
    for stmt in _statements(_BASE + _V2 + _V3):
        conn.execute(stmt)
    migrate_to_4(conn, record=False)
    values_migrate_to_5(conn)  # value_columns (nothing to re-derive in an empty archive)
    _v6(conn)  # per-record commitments (no page to commit to yet)


def _migrate_to_1(conn: sqlite3.Connection) -> None:
    for stmt in _statements(_BASE + _V1_RECORDS):
        conn.execute(stmt)


def _migrate_to_2(conn: sqlite3.Connection) -> None:
    """Records get their stream, key rule, natural key and interval, re-derived from the
    archived pages by the rules new pages follow (record ids are kept); archive/rekey.py."""
    conn.execute("DROP VIEW latest")
    conn.execute("ALTER TABLE records RENAME TO records_v1")
    conn.execute("DROP INDEX IF EXISTS records_page")
    conn.execute("DROP INDEX IF EXISTS records_date")
    for stmt in _statements(_V2):
        conn.execute(stmt)
    rekey_from_v1(conn)
    conn.execute("DROP TABLE records_v1")


def _migrate_to_3(conn: sqlite3.Connection) -> None:
    """Pages gain their chain rule; every page stored so far keeps rule 1 and its chain
    value. The audit log records where rule 1 ends, the chain head there, and a chain of
    the old pages' metadata digests, so that verify-archive finds a later edit of their
    metadata (which their chain does not cover) and any page claiming rule 1 after them."""
    for stmt in _statements(_V3):
        conn.execute(stmt)
    pages, head, meta = 0, GENESIS, GENESIS
    cols = ", ".join(PAGE_META_FIELDS)
    for row in conn.execute(f"SELECT {cols}, chain FROM pages ORDER BY page_id"):
        values = dict(zip((*PAGE_META_FIELDS, "chain"), row, strict=True))
        pages += 1
        head = values["chain"]
        meta = chain_next(meta, page_meta_digest(values))
    auditlog.append(
        conn,
        "migrate",
        {
            "from": 2,
            "to": 3,
            "chain_rule_1_pages": pages,
            "chain_head": head,
            "metadata_chain": meta,
        },
        None,
    )


#: version → migration that brings the schema from version-1 to version.
def _migrate_to_4(conn: sqlite3.Connection) -> None:
    """Compressed pages, values in a table per dataset, a slim records table, and the latest
    versions as records minus the superseded ones (archive/compact.py)."""
    migrate_to_4(conn)


def _v5(conn: sqlite3.Connection) -> dict[str, object]:
    """Version 5's changes, both parts of issue 18 in one step: values columns named by the
    archive, not the server, and mapped to their API names in ``value_columns``
    (archive/values.py) — first, as the replay reads values through that mapping; then
    everything the archive states re-derivable: versions ordered by COMMIT_TS as a time, the
    replayed tables re-derived, what no response explains stated (archive/migrate5.py).
    Returns what the step did, for its one ``migrate`` entry."""
    from archiver.archive.migrate5 import migrate_to_5 as rederive

    columns = values_migrate_to_5(conn)
    return {**rederive(conn), **columns}


def _migrate_to_5(conn: sqlite3.Connection) -> None:
    auditlog.append(conn, "migrate", {"from": 4, "to": 5, **_v5(conn)}, None)


def _v6(conn: sqlite3.Connection) -> dict[str, object]:
    """Version 6's tables and changes (issue 20: each branch adds its part here). Per-record
    commitments: every page's salts, commitments and commitment root (archive/commitments.py);
    the pages stored so far get theirs now, recorded as computed at migration."""
    return commitments.migrate_to_6(conn)


def _migrate_to_6(conn: sqlite3.Connection) -> None:
    done = _v6(conn)
    auditlog.append(conn, "migrate", {"from": 5, "to": 6, **done}, None)


MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    1: _migrate_to_1,
    2: _migrate_to_2,
    3: _migrate_to_3,
    4: _migrate_to_4,
    5: _migrate_to_5,
    6: _migrate_to_6,
}


def expected_views(conn: sqlite3.Connection) -> dict[str, str]:
    """The definition of every view archiver creates (verify-archive compares the stored
    ones with them: a view rewritten to hide rows fails)."""
    from archiver.archive.values import record_values_sql

    out = {}
    for stmt in _statements(_BASE) + _statements(V4_AFTER):
        if stmt.startswith("CREATE VIEW"):
            out[stmt.split()[2]] = stmt
    out["record_values"] = record_values_sql(conn)
    return out


def foreign_indexes(conn: sqlite3.Connection) -> list[str]:
    """Each index that is not one archiver creates, or whose definition is not archiver's:
    an index changes no answer, but a unique one (or one whose expression fails) refuses
    the rows of later pulls, each page then failing as one the archive cannot hold."""
    from archiver.archive import cases
    from archiver.archive.values import table

    ref = sqlite3.connect(":memory:")
    try:
        _create_current(ref)
        for stmt in cases.DDL:
            ref.execute(stmt)
        want = {
            n: _one_line(s)
            for n, s in ref.execute(
                "SELECT name, sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL"
            )
        }
    finally:
        ref.close()
    tables = {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    for dataset in DATASETS:
        t = table(dataset)
        if t in tables:
            for kind, cols in value_indexes(dataset):
                want[f"{t}_{kind}"] = _one_line(value_index_sql(t, kind, cols))
    out = []
    for name, on, sql in conn.execute(
        "SELECT name, tbl_name, sql FROM sqlite_master"
        " WHERE type='index' AND sql IS NOT NULL ORDER BY name"
    ):
        if name not in want:
            out.append(
                f"index {name} (on {on}): not one archiver creates (a unique index refuses "
                "the rows of later pulls)"
            )
        elif _one_line(sql) != want[name]:
            out.append(
                f"index {name} (on {on}): its definition is not the one archiver creates: "
                f"{_one_line(sql)[:160]!r}"
            )
    return out


def _one_line(sql: str) -> str:
    return " ".join(str(sql).replace("IF NOT EXISTS ", "").split()).rstrip(";")


class ArchiveVersionError(Exception):
    pass


def lowered_version(conn: sqlite3.Connection) -> str | None:
    """Why the file's schema version (``PRAGMA user_version``, which no chain covers) is
    lower than its own audit log shows it reached, or None. Migrating such a file would
    re-derive its tables and restate what it found (meta, quarantine, outcomes) as custody
    evidence, hiding an edit: it is neither migrated nor verified as older."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version <= 0 or version >= SCHEMA_VERSION:
        return None
    try:
        rows = conn.execute(
            "SELECT entry_id, event, details FROM audit_log"
            " WHERE event IN ('archive created', 'migrate') ORDER BY entry_id"
        ).fetchall()
    except sqlite3.DatabaseError:
        return None  # no audit log (version 1): nothing states a later version
    for entry_id, event, details in rows:
        reached = 5 if event == "archive created" else None  # (an entry of version 5 on)
        if event == "migrate":
            try:
                to = json.loads(details).get("to")
            except (ValueError, AttributeError):
                continue
            reached = to if isinstance(to, int) else None
        if reached is not None and reached > version:
            return (
                f"the archive says it has schema version {version} (PRAGMA user_version), but "
                f"its audit entry {entry_id} ({event}) shows it reached version {reached}: the "
                "version was lowered outside archiver, which would re-derive and restate what "
                "it holds; archiver neither migrates nor changes it. Restore the archive from "
                "a backup or a copy you trust"
            )
    return None


def migrate(conn: sqlite3.Connection, path: Path | None) -> int:
    """Bring the schema to SCHEMA_VERSION, in one transaction per step; an archive that
    has data is backed up first (``NAME.v<old>-<stamp>.bak``)."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise ArchiveVersionError(
            f"This archive has schema version {version}, newer than this archiver "
            f"understands ({SCHEMA_VERSION}). Upgrade archiver; the file was not changed."
        )
    if version == SCHEMA_VERSION:
        return version
    lowered = lowered_version(conn)
    if lowered is not None:
        raise ArchiveVersionError(lowered)
    if version > 0 and path is not None:
        _migration_backup(conn, path, version)
    steps: list[tuple[int, Callable[[sqlite3.Connection], None]]] = (
        [(SCHEMA_VERSION, _create_current)]
        if version == 0
        else [(v, MIGRATIONS[v]) for v in range(version + 1, SCHEMA_VERSION + 1)]
    )
    for target, step in steps:
        conn.execute("BEGIN IMMEDIATE")
        try:
            drop_triggers(conn)
            step(conn)
            create_triggers(conn)
            conn.execute(f"PRAGMA user_version = {target}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return SCHEMA_VERSION


def _migration_backup(conn: sqlite3.Connection, path: Path, version: int) -> Path:
    """``NAME.v<old>-<stamp>.bak`` beside the archive, a new file (``-2``, ``-3``… when two
    migrations run in the same second)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for n in range(1, 100):
        more = f"-{n}" if n > 1 else ""
        dest = path.with_name(f"{path.name}.v{version}-{stamp}{more}.bak")
        try:
            backup_to(conn, dest, flag="the migration's backup")
            return dest
        except outputs.Refused:
            continue
    raise outputs.Refused(f"no free name for the migration's backup beside {path}")


def backup_to(
    conn: sqlite3.Connection,
    dest: Path,
    *,
    protect: Iterable[outputs.ArchiveSet] = (),
    flag: str = "--out",
) -> None:
    """A consistent copy through SQLite's online backup API (never a file copy), made as a
    new file: ``dest`` is checked (outputs.check_new: never a member of a ``protect``ed
    archive set, an existing file, a link or a special file), the copy is written to a
    temporary file in its folder and linked into place only where no file is."""
    protect = list(protect)
    outputs.check_new(dest, protect=protect, flag=flag)
    for suffix in outputs.JOURNAL_SUFFIXES:  # a stale journal would be replayed into the copy
        outputs.check_new(Path(f"{dest}{suffix}"), protect=protect, flag=flag)
    dest.parent.mkdir(mode=outputs.PRIVATE_DIR, parents=True, exist_ok=True)
    tmp = outputs.temp_name(dest)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    os.close(os.open(tmp, flags, outputs.PRIVATE_FILE))
    try:
        target = sqlitefile.connect(tmp, "rw")
        try:
            conn.backup(target)
        finally:
            target.close()
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        outputs.publish_file(tmp, dest, protect=protect, flag=flag)
    finally:
        for suffix in ("", *outputs.JOURNAL_SUFFIXES):
            Path(f"{tmp}{suffix}").unlink(missing_ok=True)
