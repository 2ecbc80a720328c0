"""Re-deriving records from the archived pages: the replay verify-archive and migrations use.

Pages are the evidence; records are derived from them by :mod:`archiver.archive.identity`.
:func:`replay` walks the pages in archive order and recomputes every record's identity,
key fallbacks included, exactly as the writer did when the page arrived.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from archiver.api.pages import load_json
from archiver.archive.chunks import ending_evidence, query_ending
from archiver.archive.identity import (
    Fallback,
    Identity,
    effective_key,
    page_identities,
)
from archiver.timerange import DAILY, utc_now

Stream = tuple[str, str]  # (dataset, dataset_type)


#: a page whose body a disposition removed (archive/retention.py)
DISPOSED = "disposed"


def page_body(encoding: str, body: bytes) -> bytes:
    """The exact response bytes of a stored page."""
    import zlib

    if encoding == "identity":
        return bytes(body)
    if encoding == "zlib":
        return zlib.decompress(body)
    raise ValueError(f"unknown page encoding {encoding!r}")


@dataclass
class ReplayedPage:
    page: sqlite3.Row
    raw: bytes | None = None
    ids: list[Identity] = field(default_factory=list)
    rule: str = ""
    fallbacks: list[Fallback] = field(default_factory=list)
    error: str | None = None  # the body could not be decoded or parsed
    #: the body was removed by a disposition (encoding ``disposed``): verify-archive asks
    #: archive/removal.py whether an entry covers it
    disposed: bool = False


def replay(conn: sqlite3.Connection) -> Iterator[ReplayedPage]:
    """Every page in page_id order; 200 pages with their records' identities."""
    abandoned: dict[Stream, set[str]] = {}
    cur = conn.execute("SELECT * FROM pages ORDER BY page_id")
    for page in cur:
        rp = ReplayedPage(page)
        if page["encoding"] == DISPOSED:
            # no body to re-derive from: the key fallbacks it showed are the archive's own
            # record of them (key_rules, evidence), so the pages after it read as before
            rp.disposed = True
            stream = (page["dataset"], page["dataset_type"])
            abandoned.setdefault(stream, set()).update(
                r[0]
                for r in conn.execute(
                    "SELECT rule FROM key_rules WHERE page_id=?", (page["page_id"],)
                )
            )
            yield rp
            continue
        try:
            rp.raw = page_body(page["encoding"], page["body"])
        except Exception as exc:
            rp.error = f"body cannot be decoded ({exc})"
            yield rp
            continue
        if page["http_status"] != 200:
            yield rp
            continue
        try:
            body = load_json(rp.raw)  # the writer's one reading: a repeated name is refused
            names = [c["name"] for c in body["columnHeaders"]]
            records = body["records"]
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            why = f" ({exc})" if isinstance(exc, ValueError) else ""
            rp.error = f"stored as valid but its body does not parse{why}"
            yield rp
            continue
        stream = (page["dataset"], page["dataset_type"])
        gone = abandoned.setdefault(stream, set())
        try:
            rp.ids, rp.rule, rp.fallbacks = page_identities(
                page["dataset"], page["dataset_type"], names, records, gone
            )
        except (ValueError, TypeError, IndexError) as exc:
            rp.error = f"its records cannot be re-derived ({exc})"
            yield rp
            continue
        gone.update(f.rule for f in rp.fallbacks)
        yield rp


def abandoned_rules(conn: sqlite3.Connection) -> dict[Stream, set[str]]:
    """Rules each stream has given up (from the key_rules table)."""
    out: dict[Stream, set[str]] = {}
    for r in conn.execute("SELECT dataset, dataset_type, rule FROM key_rules"):
        out.setdefault((r[0], r[1]), set()).add(r[2])
    return out


def rebuild_latest(conn: sqlite3.Connection, stream: Stream | None = None) -> None:
    """Recompute latest_records (for one stream, or all) from records and key_rules."""
    gone = abandoned_rules(conn)
    where, params = ("WHERE dataset=? AND dataset_type=?", list(stream)) if stream else ("", [])
    conn.execute(f"DELETE FROM latest_records {where}", params)
    fallen = [s for s in gone if stream is None or s == stream]
    # streams without fallbacks: one window query
    exclude = " AND ".join("NOT (dataset=? AND dataset_type=?)" for _ in fallen)
    cond = " AND ".join(c for c in (where.removeprefix("WHERE "), exclude) if c)
    conn.execute(
        f"""INSERT INTO latest_records(dataset, dataset_type, key_kind, row_key, record_id, commit_ts)
            SELECT dataset, dataset_type, key_kind, row_key, record_id, commit_ts FROM (
                SELECT dataset, dataset_type, key_kind, row_key, record_id, commit_ts,
                       row_number() OVER (PARTITION BY dataset, dataset_type, key_kind, row_key
                                          ORDER BY commit_ts DESC, record_id DESC) AS rn
                FROM records {"WHERE " + cond if cond else ""})
            WHERE rn = 1""",
        params + [v for s in fallen for v in s],
    )
    # streams with fallbacks: regroup in Python under the rules that still hold
    for s in fallen:
        best: dict[tuple[str, str], tuple[str, int]] = {}
        for kind, key, natural, digest, ts, rid in conn.execute(
            "SELECT key_kind, row_key, natural_key, sha256, commit_ts, record_id FROM records WHERE dataset=? AND dataset_type=?",
            s,
        ):
            group = effective_key(gone[s], kind, key, natural, digest)
            if group not in best or (ts, rid) > best[group]:
                best[group] = (ts, rid)
        conn.executemany(
            "INSERT INTO latest_records(dataset, dataset_type, key_kind, row_key, record_id, commit_ts) VALUES (?,?,?,?,?,?)",
            [(s[0], s[1], g[0], g[1], rid, ts) for g, (ts, rid) in best.items()],
        )


def rekey_from_v1(conn: sqlite3.Connection) -> None:
    """Migration 1 → 2: fill the new records table from records_v1 and the pages.

    Every v1 record keeps its id and content; it gets its stream, key, natural key and
    interval by the rules new pages follow. A page row that v1 had deduplicated against
    the *other* stream (a daily page repeating interval rows) gets its own record now.
    Coverage rows learn what their requests sent and what came back at ``ending``.
    """
    conn.row_factory = sqlite3.Row
    next_id = (conn.execute("SELECT max(record_id) FROM records_v1").fetchone()[0] or 0) + 1
    now = utc_now()
    chunk_evidence: dict[tuple[str, str, str], list[int]] = {}
    insert = """INSERT INTO records(record_id, dataset, dataset_type, row_key, key_kind, natural_key,
                    commit_ts, row_date, interval_start, values_json, sha256, page_id, row_index, conflict)
                VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"""
    for rp in replay(conn):
        page = rp.page
        if rp.error or page["http_status"] != 200:
            continue
        pid, ds, dtype = page["page_id"], page["dataset"], page["dataset_type"]
        for f in rp.fallbacks:
            conn.execute(
                "INSERT INTO key_rules(dataset, dataset_type, rule, fallback, page_id, reason, detected_at) VALUES (?,?,?,?,?,?,?)",
                (ds, dtype, f.rule, f.fallback, pid, f.reason + " (found when migrating)", now),
            )
        old = {
            r["row_index"]: r
            for r in conn.execute(
                "SELECT record_id, row_index, row_date, conflict, sha256, values_json FROM records_v1 WHERE page_id=?",
                (pid,),
            )
        }
        rows: list[tuple[Any, ...]] = []
        for i, ident in enumerate(rp.ids):
            mine = old.get(i)
            canon, digest = ident.canon, ident.sha256
            if mine is not None:
                # kept exactly as stored: a migration never repairs (launders) an edited
                # record; verify-archive compares it with its page as before
                rid, row_date, conflict = mine["record_id"], mine["row_date"], mine["conflict"]
                canon, digest = mine["values_json"], mine["sha256"]
            else:
                seen = conn.execute(
                    "SELECT 1 FROM records WHERE dataset=? AND dataset_type=? AND sha256=?",
                    (ds, dtype, ident.sha256),
                ).fetchone()
                if seen is not None or any(r[10] == ident.sha256 for r in rows):
                    continue
                rid, conflict = next_id, 0
                next_id += 1
                row_date = ident.row_date or _chunk_day(page["chunk_start"])
            rows.append(
                (
                    rid,
                    ds,
                    dtype,
                    ident.key,
                    ident.kind,
                    ident.natural_key,
                    ident.commit_ts,
                    row_date,
                    ident.interval,
                    canon,
                    digest,
                    pid,
                    i,
                    conflict,
                )
            )
        conn.executemany(insert, rows)
        if dtype != DAILY:
            ev = chunk_evidence.setdefault((ds, dtype, page["chunk_start"]), [0, 0])
            at_end, outside = ending_evidence(
                rp.ids, page["chunk_start"], query_ending(page["query"])
            )
            ev[0] += at_end
            ev[1] += outside
    # records v1 held that no page re-derives (tampering): carried over as they were, so
    # verify-archive still names them
    conn.execute(
        """INSERT INTO records(record_id, dataset, dataset_type, row_key, key_kind, natural_key, commit_ts,
               row_date, interval_start, values_json, sha256, page_id, row_index, conflict)
           SELECT o.record_id, o.dataset, coalesce(p.dataset_type, 'interval'), o.row_key, o.key_kind, '',
                  o.commit_ts, o.row_date, '', o.values_json, o.sha256, o.page_id, o.row_index, o.conflict
           FROM records_v1 o LEFT JOIN pages p ON p.page_id = o.page_id
           WHERE o.record_id NOT IN (SELECT record_id FROM records)"""
    )
    conn.execute("UPDATE coverage SET request_end = chunk_end WHERE request_end IS NULL")
    for (ds, dtype, start), (at_end, outside) in chunk_evidence.items():
        conn.execute(
            "UPDATE coverage SET ending_rows=?, outside_rows=? WHERE dataset=? AND dataset_type=? AND chunk_start=?",
            (at_end, outside, ds, dtype, start),
        )
    rebuild_latest(conn)


def _chunk_day(chunk_start: str) -> str:
    return f"{chunk_start[:4]}-{chunk_start[4:6]}-{chunk_start[6:8]}"
