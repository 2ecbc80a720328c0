"""Schema version 5: every table the archive states beyond its pages and custody entries is
re-derivable, and verify-archive replays it (archive/replay.py, archive/tables.py).

What changes in an existing archive (inside migrate()'s transaction, triggers dropped, the
file backed up first), each counted in the ``migrate`` entry (``rederived``):

- versions are ordered by COMMIT_TS read as a time, then receipt (archive/versions.py):
  ``superseded`` is recomputed, and ``conflicts`` with ``records.conflict`` (the same
  instant written two ways is the same COMMIT_TS);
- ``schema_changes`` and ``key_rules`` state when their page was received
  (``detected_at``), as the replay derives them;
- ``coverage`` is derived from the chunks' archived responses (archive/chunks.py). What no
  response explains — a chunk failed or not entitled before outcomes were archived — is
  kept and stated in the entry (``outcomes``), so it is custody evidence from now on (an
  edit made before the migration cannot be found; one after it can);
- ``runs`` states what its ``pull started``/``finished`` entries state;
- the entry records the ``meta`` table (replayed from it from now on) and a chain over the
  quarantined responses stored so far (``quarantine``: each later one gets its own entry).

Records and their values are never touched: an edited record stays edited, and
verify-archive still names it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from archiver.archive import custody
from archiver.archive.chunks import DERIVED, ChunkRow, on_outcome
from archiver.archive.compact import expected_superseded, stream_ids
from archiver.archive.custody import QUARANTINE_FIELDS
from archiver.archive.replay import DatasetPass, Findings, receipt_of

#: Outcomes no archived response explained before version 5 (stated in the entry).
STATED = ("failed", "not_entitled")


def migrate_to_5(conn: sqlite3.Connection) -> dict[str, Any]:
    """Re-derive what the archive states (see the module docstring); returns what the
    ``migrate`` entry of version 5 states of it (schema.py writes the one entry)."""
    conn.row_factory = sqlite3.Row
    (pages,) = conn.execute("SELECT count(*) FROM pages").fetchone()
    facts = custody.read(conn)
    found = Findings()
    streams = {sid: (d, t) for (d, t), sid in stream_ids(conn).items()}
    sets = {
        c: (d, n) for c, d, n in conn.execute("SELECT columns_id, dataset, names FROM column_sets")
    }
    datasets = sorted(
        {d for (d,) in conn.execute("SELECT DISTINCT dataset FROM pages")}
        | {d for (d,) in conn.execute("SELECT DISTINCT dataset FROM coverage")}
    )
    passes = []
    for ds in datasets:
        p = DatasetPass(conn, ds, facts, found, streams, sets, compare=False)
        p.run(lambda _n: None)
        p.release()  # what the migration adopts stays; one dataset's identities at a time
        passes.append(p)
    counts: dict[str, int] = {}
    counts["superseded"] = _superseded(conn)
    counts["conflicts"], counts["records.conflict"] = _conflicts(conn, passes)
    counts["schema_changes"] = _rows(
        conn,
        "schema_changes",
        ("dataset", "page_id", "previous", "current", "description", "detected_at"),
        sorted((p.dataset, *r) for p in passes for r in p.schema_changes),
    )
    counts["key_rules"] = _rows(
        conn,
        "key_rules",
        ("dataset", "dataset_type", "rule", "fallback", "page_id", "reason", "detected_at"),
        sorted(((p.dataset, *r) for p in passes for r in p.key_rules), key=lambda r: r[4]),
    )
    counts["coverage"], outcomes = _coverage(conn, passes)
    counts["runs"] = _runs(conn, facts)
    quarantined = [
        dict(zip([*QUARANTINE_FIELDS, "size"], r, strict=True))
        for r in conn.execute(
            f"SELECT {', '.join(QUARANTINE_FIELDS)}, length(body) FROM quarantine ORDER BY quarantine_id"
        )
    ]
    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    return {
        "pages": pages,
        "rederived": counts,
        "outcomes": outcomes,
        "quarantine": {
            "rows": len(quarantined),
            "chain": custody.quarantine_chain(quarantined),
        },
        "meta": {k: meta.get(k) for k in ("archive_id", "created_at", "created_by")},
    }


def _superseded(conn: sqlite3.Connection) -> int:
    """Recompute superseded under the new ordering; how many rows changed."""
    before = set(conn.execute("SELECT record_id, by_id FROM superseded"))
    after: set[tuple[int, int]] = set()
    for stream in stream_ids(conn):
        after.update(expected_superseded(conn, stream))
    conn.execute("DELETE FROM superseded")
    conn.executemany("INSERT INTO superseded(record_id, by_id) VALUES (?, ?)", sorted(after))
    return len(before ^ after)


def _record_ids(conn: sqlite3.Connection, dataset: str) -> dict[tuple[int, int], int]:
    return {
        (pid, ri): rid
        for rid, pid, ri in conn.execute(
            """SELECT r.record_id, r.page_id, r.row_index FROM records r
               JOIN streams s ON s.stream_id = r.stream_id WHERE s.dataset=?""",
            (dataset,),
        )
    }


def _conflicts(conn: sqlite3.Connection, passes: list[DatasetPass]) -> tuple[int, int]:
    """The conflicts the pages show under the new ordering, and records.conflict to match."""
    before = {
        tuple(r)
        for r in conn.execute(
            "SELECT dataset, row_key, commit_ts, record_id, earlier_id, detected_at FROM conflicts"
        )
    }
    rows: list[tuple[Any, ...]] = []
    for p in passes:
        ids = _record_ids(conn, p.dataset)
        for key, ts, ref, earlier, at in p.conflicts:
            a, b = ids.get(receipt_of(ref)), ids.get(receipt_of(earlier))
            if a is not None and b is not None:
                rows.append((receipt_of(ref), (p.dataset, key, ts, a, b, at)))
    rows.sort(key=lambda r: r[0])
    after = [r for _, r in rows]
    conn.execute("DELETE FROM conflicts")
    conn.executemany(
        "INSERT INTO conflicts(dataset, row_key, commit_ts, record_id, earlier_id, detected_at) VALUES (?,?,?,?,?,?)",
        after,
    )
    flagged = {r[3] for r in after}
    old = {rid for (rid,) in conn.execute("SELECT record_id FROM records WHERE conflict != 0")}
    conn.execute("UPDATE records SET conflict = 0 WHERE conflict != 0")
    conn.executemany("UPDATE records SET conflict = 1 WHERE record_id = ?", [(r,) for r in flagged])
    return len(before ^ set(after)), len(old ^ flagged)


def _rows(
    conn: sqlite3.Connection, name: str, cols: tuple[str, ...], derived: list[tuple[Any, ...]]
) -> int:
    """Replace a table's rows with the derived ones (in arrival order); rows that changed."""
    before = {tuple(r) for r in conn.execute(f"SELECT {', '.join(cols)} FROM {name}")}
    conn.execute(f"DELETE FROM {name}")
    conn.executemany(
        f"INSERT INTO {name}({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", derived
    )
    return len(before ^ set(derived))


def _coverage(
    conn: sqlite3.Connection, passes: list[DatasetPass]
) -> tuple[int, list[dict[str, Any]]]:
    """Rows derived from the chunks' responses; a failed or not-entitled outcome no response
    explains is kept and stated (returned for the entry)."""
    derived = {key: row for p in passes for key, row in p.rows.items()}
    stored = {
        (r["dataset"], r["dataset_type"], r["filter"], r["chunk_start"]): r
        for r in conn.execute(f"SELECT {', '.join(DERIVED)} FROM coverage")
    }
    outcomes: list[dict[str, Any]] = []
    changed = 0
    for key in sorted(stored.keys() | derived.keys()):
        have, row = stored.get(key), derived.get(key)
        if (
            have is not None
            and have["state"] in STATED
            and (row is None or row.state != have["state"])
        ):
            outcomes.append(
                {
                    "dataset": key[0],
                    "dataset_type": key[1],
                    "filter": key[2],
                    "chunk_start": key[3],
                    "chunk_end": have["chunk_end"],
                    "state": have["state"],
                    "message": have["message"] or "",
                    "run_id": have["run_id"],
                }
            )
            row = on_outcome(
                row, key, have["run_id"], have["chunk_end"], have["state"], have["message"] or ""
            )
        if row is None:
            conn.execute(
                "DELETE FROM coverage WHERE dataset=? AND dataset_type=? AND filter=? AND chunk_start=?",
                key,
            )
            changed += 1
            continue
        if have is None or _differs(have, row):
            changed += 1
        _save(conn, row)
    return changed, outcomes


def _differs(have: Mapping[str, Any], row: ChunkRow) -> bool:
    return any(have[k] != v for k, v in row.values().items())


def _save(conn: sqlite3.Connection, row: ChunkRow) -> None:
    values = row.values()
    sets = ", ".join(f"{c}=excluded.{c}" for c in DERIVED[4:])
    conn.execute(
        f"""INSERT INTO coverage({", ".join(DERIVED)}, updated_at)
            VALUES ({", ".join(":" + c for c in DERIVED)}, '')
            ON CONFLICT(dataset, dataset_type, filter, chunk_start) DO UPDATE SET {sets}""",
        values,
    )


def _runs(conn: sqlite3.Connection, facts: custody.Custody) -> int:
    """Each run's row as its entries state it."""
    import json

    changed = 0
    for run_id, row in custody.runs_rows(facts).items():
        old = conn.execute(
            "SELECT started_at, finished_at, status, os_user, tool_version, tenant, params_hash FROM runs WHERE run_id=?",
            (run_id,),
        ).fetchone()
        new = (
            row["started_at"],
            row["finished_at"],
            row["status"],
            row["os_user"],
            row["tool_version"],
            row["tenant"],
            row["params_hash"],
        )
        if old is None:
            continue
        if tuple(old) != new:
            changed += 1
        conn.execute(
            """UPDATE runs SET started_at=?, finished_at=?, status=?, os_user=?, tool_version=?,
                   tenant=?, params_hash=?, params=?, summary=? WHERE run_id=?""",
            (
                *new,
                json.dumps(row["params"]),
                None if row["summary"] is None else json.dumps(row["summary"]),
                run_id,
            ),
        )
    return changed
