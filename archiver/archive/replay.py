"""verify-archive's replay: everything the archive states, re-derived from the raw pages and
the custody entries, and compared.

One pass per dataset, in archive order: each page's body is decompressed and parsed by the
client's own parser (api/pages.py), its records derived by archive/derive.py (identity,
key rules, new or already archived, conflicts, versions), its chunk's coverage row folded by
archive/chunks.py, interleaved with the custody entries that state outcomes (``chunk failed``)
and the ends of runs (``pull finished``: the run's summary is counted as archive/runs.py
counts it, from the archive as it stood then). The stored rows are read alongside — the
records of each page by its id, the other tables per dataset in their own order — and every
difference is named: the table, the key, the first field that differs.

Memory holds one dataset's identities at a time (never the whole archive), so a month of
every dataset replays in bounded memory (benchmarks/replay_benchmark.py).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from archiver.api.errors import PageValidationError
from archiver.api.pages import parse_page, parse_schema, refusal_message
from archiver.archive import removal, runs
from archiver.archive.chunks import (
    DERIVED,
    ChunkKey,
    ChunkRow,
    Response,
    ending_evidence,
    on_outcome,
    on_page,
    on_refused,
    page_key,
    query_bounds,
)
from archiver.archive.coverage import EXCLUSIVE, INCLUSIVE, UNKNOWN, Reading, reading_of
from archiver.archive.custody import Custody, Finish, Outcome
from archiver.archive.derive import (
    Group,
    Mark,
    Member,
    column_set_text,
    group_of,
    missing_columns,
    page_records,
    replaced,
    schema_change,
)
from archiver.archive.hashing import canonical_json, sha256_hex
from archiver.archive.rekey import DISPOSED, page_body
from archiver.archive.values import compare_columns, table, table_columns
from archiver.timerange import INTERVAL

MAX_PER_TABLE = 20
_RECORD_FIELDS = (
    "stream",
    "row_key",
    "key_kind",
    "interval_start",
    "sha8",
    "columns",
    "conflict",
)


def ref_of(page_id: int, row: int) -> int:
    """The replay's handle of a record: where it was first received."""
    return (page_id << 32) | row


def receipt_of(ref: int) -> tuple[int, int]:
    return ref >> 32, ref & 0xFFFFFFFF


@dataclass
class Findings:
    """Differences found, per table (the first few of each), and what was replayed."""

    differences: dict[str, list[str]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    pages: int = 0
    records: int = 0
    #: per run-end entry: its chunks' counts (archive/runs.py) as the archive stood then
    run_counts: dict[int, runs.Counts] = field(default_factory=dict)

    #: per run-end entry: (inclusive, exclusive, unknown) walks then, summed over datasets
    readings: dict[int, list[int]] = field(default_factory=dict)
    #: per dataset: the API column names its values table must hold, in table order
    columns: dict[str, list[str]] = field(default_factory=dict)

    def add(self, tbl: str, text: str) -> None:
        self.counts[tbl] = self.counts.get(tbl, 0) + 1
        found = self.differences.setdefault(tbl, [])
        if len(found) < MAX_PER_TABLE:
            found.append(text)


def differ(
    tbl: str, key: str, stored: dict[str, Any], derived: dict[str, Any], source: str
) -> str | None:
    """``table (key): field is X, <source> Y`` (``its responses show Y``) for the first field
    that differs."""
    for name, want in derived.items():
        have = stored.get(name)
        if have != want:
            if isinstance(have, dict) and isinstance(want, dict):
                inner = _first_difference(want, have, name, source)
                if inner:
                    return f"{tbl} ({key}): {inner}"
            return f"{tbl} ({key}): {name} is {_show(have)}, {source} {_show(want)}"
    return None


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "…'"


# -- a stream's records, held in memory for one dataset ------------------------------------------
class MemoryStream:
    """:class:`archiver.archive.derive.Known` over what the replay derived so far."""

    def __init__(self) -> None:
        self.gone: set[str] = set()
        self._grouped_for: frozenset[str] = frozenset()
        self.marks: set[Mark] = set()
        self.groups: dict[Group, list[Member]] = {}
        self.intervals: set[str] = set()

    def archived(self, marks: Collection[Mark]) -> set[Mark]:
        return {m for m in marks if m in self.marks}

    def members(self, groups: Collection[Group]) -> dict[Group, list[Member]]:
        if self._grouped_for != self.gone:  # a key fallback: regroup under the rules that hold
            self.regroup()
        return {g: list(self.groups[g]) for g in groups if g in self.groups}

    def regroup(self) -> None:
        """Every record joins the group of the rules that still hold."""
        members = [m for ms in self.groups.values() for m in ms]
        self.groups = {}
        for m in sorted(members, key=lambda m: m.receipt):
            self.groups.setdefault(group_of(self.gone, *m.group_parts), []).append(m)
        self._grouped_for = frozenset(self.gone)


class _Label:
    """A difference's label, written only when a difference is found."""

    def __init__(self, head: str, p: DatasetPass, pid: int, n: Any, tail: str) -> None:
        self.parts = (head, p, pid, n, tail)

    def __format__(self, spec: str) -> str:
        head, p, pid, n, tail = self.parts
        return f"{head}{p._where(pid, n)}{tail}"


class _Tally:
    """The server's reading of ``ending`` over one dataset's rows, kept up to date as rows
    change and records arrive (coverage.reading_of)."""

    def __init__(self, stream: MemoryStream) -> None:
        self.stream = stream
        self.verdict: dict[ChunkKey, str] = {}
        self.counts = {INCLUSIVE: 0, EXCLUSIVE: 0, UNKNOWN: 0}
        self.waiting: dict[str, set[ChunkKey]] = {}

    def update(self, old: ChunkRow | None, new: ChunkRow) -> None:
        key = new.key
        prev = self.verdict.pop(key, None)
        if prev is not None:
            self.counts[prev] -= 1
            if old is not None and old.request_end in self.waiting:
                self.waiting[old.request_end].discard(key)
        if new.dataset_type != INTERVAL or new.state != "done":
            return
        v = reading_of(
            new.dataset_type,
            new.state,
            new.request_end,
            new.ending_rows,
            self.stream.intervals.__contains__,
        )
        self.verdict[key] = v
        self.counts[v] += 1
        if v == UNKNOWN and new.request_end:
            self.waiting.setdefault(new.request_end, set()).add(key)

    def arrived(self, interval: str) -> None:
        """Records of ``interval`` now exist: walks waiting on it show an exclusive server."""
        for key in self.waiting.pop(interval, ()):
            if self.verdict.get(key) == UNKNOWN:
                self.verdict[key] = EXCLUSIVE
                self.counts[UNKNOWN] -= 1
                self.counts[EXCLUSIVE] += 1

    def snapshot(self) -> list[int]:
        return [self.counts[INCLUSIVE], self.counts[EXCLUSIVE], self.counts[UNKNOWN]]


# -- one dataset ----------------------------------------------------------------------------------
class DatasetPass:
    """Replay one dataset's pages and outcomes, comparing as it goes."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        dataset: str,
        custody: Custody,
        found: Findings,
        streams: dict[int, tuple[str, str]],
        sets: dict[int, tuple[str, str]],
        *,
        compare: bool = True,
    ) -> None:
        """``compare``: compare the stored rows as the pass goes (verify-archive); without
        it the pass only derives (the migration to version 5 adopts what it derived)."""
        self.conn, self.dataset, self.custody, self.found = conn, dataset, custody, found
        self.compare = compare
        self.stream_names, self.set_names = streams, sets
        self.streams: dict[str, MemoryStream] = {}
        self.rows: dict[ChunkKey, ChunkRow] = {}
        self.tally = _Tally(self._stream(INTERVAL))
        self.schema_prev = ""
        self.schema_changes: list[tuple[Any, ...]] = []
        self.key_rules: list[tuple[Any, ...]] = []
        self.conflicts: list[tuple[Any, ...]] = []
        self.columns: list[str] = []
        self.column_sets: set[str] = set()
        self.stored_columns = table_columns(conn, dataset) if _has_table(conn, dataset) else []
        self._getters: dict[tuple[str, ...], tuple[Callable[..., Any], list[int]]] = {}
        #: per run: what its pages of this dataset held so far
        self.run_stats: runs.Counts = {}
        #: disposed page → the ending evidence its disposition entry states (archive/removal.py)
        self.custody_evidence = removal.ending_evidence(custody.facts)
        #: disposed page → the key fallbacks its disposition's entry states were shown by it
        self.stated_rules = removal.stated_key_rules(custody.facts)

    def release(self) -> None:
        """Drop the identities held for the pass (what it derived for the tables stays)."""
        self.streams = {}
        self.tally = _Tally(MemoryStream())

    def _stream(self, dtype: str) -> MemoryStream:
        if dtype not in self.streams:
            self.streams[dtype] = MemoryStream()
        return self.streams[dtype]

    # -- the pass ---------------------------------------------------------------------------
    def run(self, progress: Callable[[int], None]) -> None:
        ids = [
            r[0]
            for r in self.conn.execute(
                "SELECT page_id FROM pages WHERE dataset=? ORDER BY page_id", (self.dataset,)
            )
        ]
        events = self._events()
        at = 0
        for pid in ids:
            while at < len(events) and events[at][0] < pid:
                self._event(events[at][2])
                at += 1
            self._page(pid)
            progress(1)
        for _pos, _n, ev in events[at:]:
            self._event(ev)
        self._finish_streams()
        self.found.columns[self.dataset] = list(self.columns)

    def _events(self) -> list[tuple[int, int, Outcome | Finish]]:
        """Custody events of this dataset, by (pages archived before them, entry)."""
        out: list[tuple[int, int, Outcome | Finish]] = [
            (o.after_page, o.entry_id, o) for o in self.custody.outcomes.get(self.dataset, [])
        ]
        out += [(f.after_page, f.entry_id, f) for f in self.custody.finishes]
        out.sort(key=lambda e: (e[0], e[1]))
        return out

    def _event(self, ev: Outcome | Finish) -> None:
        if isinstance(ev, Finish):
            self._snapshot(ev)
            return
        row = self.rows.get(ev.key)
        self._set_row(row, on_outcome(row, ev.key, ev.run_id, ev.chunk_end, ev.state, ev.message))

    def _set_row(self, old: ChunkRow | None, new: ChunkRow) -> None:
        self.rows[new.key] = new
        self.tally.update(old, new)

    def _snapshot(self, f: Finish) -> None:
        """A run ended: count its chunks of this dataset as they stand now."""
        chunks = [c for c in self.custody.planned.get(f.run_id, []) if c.dataset == self.dataset]
        counts = runs.count_chunks(f.run_id, chunks, self.rows.get)
        stats = self.run_stats.get(f.run_id)
        if stats is not None:
            for name in ("pages", "rows", "new_versions", "conflicts"):
                runs.add_counts(counts, self.dataset, **{name: stats[name]})
        into = self.found.run_counts.setdefault(f.entry_id, {})
        for ds, c in counts.items():
            into[ds] = c
        total = self.found.readings.setdefault(f.entry_id, [0, 0, 0])
        for i, n in enumerate(self.tally.snapshot()):
            total[i] += n

    # -- one page ---------------------------------------------------------------------------
    def _page(self, pid: int) -> None:
        p = self.conn.execute(
            """SELECT page_id, run_id, dataset_type, chunk_start, query, request_token,
                      next_token, http_status, url, received_at, record_count, columns,
                      encoding, body, sha256, size, page_number FROM pages WHERE page_id=?""",
            (pid,),
        ).fetchone()
        self.found.pages += 1
        if p["encoding"] == DISPOSED:
            self._page_disposed(p)  # (whether an entry covers it: verify's page pass)
            return
        try:
            raw = page_body(p["encoding"], p["body"])
        except Exception as exc:
            self.found.add("pages", f"page {pid}: body cannot be decoded ({exc})")
            return
        if sha256_hex(raw) != p["sha256"] or len(raw) != p["size"]:
            self.found.add(
                "pages",
                f"page {pid} ({self.dataset} {p['chunk_start']} page {p['page_number']}): its "
                "bytes do not match its SHA-256",
            )
        starting, _ending = query_bounds(p["query"])
        if starting != p["chunk_start"]:
            self.found.add(
                "pages",
                f"pages (page {pid}): chunk_start is {p['chunk_start']!r}, its query asked "
                f"from {starting!r}",
            )
        status = p["http_status"]
        if status == 200:
            self._page_200(p, raw)
        elif status == 202:
            self._check_meta(p, canonical_json(parse_schema(raw)), "", 0)
            self._fold(p, Response(p["run_id"], p["query"], p["request_token"] or "", "", 202))
        elif status == 403:
            self._check_meta(p, "[]", "", 0)
            self._refused(p, raw)
        else:
            self.found.add("pages", f"pages (page {pid}): HTTP status {status} is never archived")

    def _page_disposed(self, p: sqlite3.Row) -> None:
        """A page whose body a disposition removed (archive/retention.py): what the body can
        no longer show is taken from what is chained or signed instead — its metadata
        (columnHeaders, next token, record count), its records rows (their identities:
        checked against the disposition's digest by archive/removal.py), the key fallbacks
        recorded at it, and the ending evidence its disposition entry states. Its records
        have no values: they take no part in versions or conflicts, as the writer's and the
        disposition's own derivations leave them out."""
        pid, dtype = p["page_id"], p["dataset_type"]
        stream = self._stream(dtype)
        headers = json.loads(p["columns"] or "[]")
        names = [str(h.get("name")) for h in headers if isinstance(h, dict)]
        rows = (
            self.plain()
            .execute(
                "SELECT sha8, row_key, interval_start, conflict FROM records WHERE page_id=?",
                (pid,),
            )
            .fetchall()
        )
        for stated in self.stated_rules.get(pid, []):  # as its disposition's entry states them
            self.key_rules.append(tuple(stated))
            stream.gone.add(str(stated[1]))
        change = schema_change(self.schema_prev, headers)
        if change is not None:
            self.schema_changes.append(
                (pid, change.previous, change.current, change.description, p["received_at"])
            )
            self.schema_prev = change.current
        if rows:
            self.columns += missing_columns(self.columns, names)
            self.column_sets.add(column_set_text(names))
        for sha8, key, interval, _conflict in rows:
            stream.marks.add((sha8, key))
            if interval and interval not in stream.intervals:
                stream.intervals.add(interval)
                if stream is self.tally.stream:
                    self.tally.arrived(interval)
        # the integrity conflicts its records were found in when received: as recorded (the
        # conflicts table is evidence; neither version's values are left to compare)
        for key, ts, p1, i1, p2, i2, at in self.conn.execute(
            """SELECT c.row_key, c.commit_ts, r1.page_id, r1.row_index, r2.page_id, r2.row_index,
                      c.detected_at FROM conflicts c JOIN records r1 ON r1.record_id = c.record_id
               LEFT JOIN records r2 ON r2.record_id = c.earlier_id
               WHERE c.dataset=? AND r1.page_id=? ORDER BY c.conflict_id""",
            (self.dataset, pid),
        ).fetchall():
            self.conflicts.append((key, ts, ref_of(p1, i1), ref_of(p2 or 0, i2 or 0), at))
        self.found.records += len(rows)
        # met as the disposition states them (their digest: archive/removal.check)
        self.found.counts["records matched"] = self.found.counts.get("records matched", 0) + len(
            rows
        )
        at_end, outside = self.custody_evidence.get(pid, (0, 0))
        self._fold(
            p,
            Response(
                p["run_id"],
                p["query"],
                p["request_token"] or "",
                p["next_token"],
                200,
                int(p["record_count"]),
                at_end,
                outside,
            ),
        )
        runs.add_counts(
            self.run_stats,
            p["run_id"],
            pages=1,
            rows=int(p["record_count"]),
            new_versions=len(rows),
            conflicts=sum(int(r[3]) for r in rows),
        )

    def _check_meta(self, p: sqlite3.Row, columns: str, next_token: str, count: int) -> None:
        derived = {"columns": columns, "next_token": next_token, "record_count": count}
        text = differ("pages", f"page {p['page_id']}", dict(p), derived, "its body shows")
        if text:
            self.found.add("pages", text)

    def _fold(self, p: sqlite3.Row, r: Response) -> None:
        key = page_key(self.dataset, p["dataset_type"], p["chunk_start"], p["query"])
        old = self.rows.get(key)
        if r.request_token and (old is None or old.next_token != r.request_token):
            # a walk continues from the token its last response gave: pages that do not chain
            # are not one walk (a page in between removed, or one from elsewhere put in)
            stood = "nothing (no walk of this chunk began)" if old is None else repr(old.next_token)
            self.found.add(
                "pages",
                f"page {p['page_id']} ({self.dataset} {p['chunk_start']}): asked with page "
                f"token {r.request_token[:32]!r}, but its chunk's walk stood at {stood}: its "
                "pages do not chain",
            )
        new = on_page(old, key, r, self.custody.chunk_end(p["run_id"], key))
        self._set_row(old, new)

    def _refused(self, p: sqlite3.Row, raw: bytes) -> None:
        message = refusal_message(self.dataset, raw)
        self._fold(
            p, Response(p["run_id"], p["query"], p["request_token"] or "", "", 403, message=message)
        )
        key = page_key(self.dataset, p["dataset_type"], p["chunk_start"], p["query"])
        for c in self.custody.planned.get(p["run_id"], []):
            okey = (c.dataset, c.dataset_type, c.filter, c.start_key)
            if c.dataset != self.dataset or okey == key:
                continue
            old = self.rows.get(okey)
            new = on_refused(old, okey, p["run_id"], c.end_key, message)
            if new is not None:
                self._set_row(old, new)

    def _page_200(self, p: sqlite3.Row, raw: bytes) -> None:
        pid, dtype = p["page_id"], p["dataset_type"]
        try:
            headers, records, next_token = parse_page(raw, p["url"], 200, p["request_token"])
        except PageValidationError as exc:
            self.found.add("pages", f"pages (page {pid}): stored as a valid page, but {exc.reason}")
            return
        self._check_meta(p, canonical_json(headers), next_token, len(records))
        names = [h["name"] for h in headers]
        stream = self._stream(dtype)
        derived = page_records(
            stream,
            stream.gone,
            self.dataset,
            dtype,
            pid,
            names,
            records,
            lambda _n, i: ref_of(pid, i),
        )
        for f in derived.fallbacks:
            self.key_rules.append((dtype, f.rule, f.fallback, pid, f.reason, p["received_at"]))
        change = schema_change(self.schema_prev, headers)
        if change is not None:
            self.schema_changes.append(
                (pid, change.previous, change.current, change.description, p["received_at"])
            )
            self.schema_prev = change.current
        if derived.new:
            self.columns += missing_columns(self.columns, names)
            self.column_sets.add(column_set_text(names))
        self._adopt(stream, derived, pid, p["received_at"])
        if self.compare:
            self._compare_records(p, names, records, derived.new)
        at_end = outside = 0
        if dtype == INTERVAL:
            at_end, outside = ending_evidence(
                derived.ids, p["chunk_start"], query_bounds(p["query"])[1]
            )
        self._fold(
            p,
            Response(
                p["run_id"],
                p["query"],
                p["request_token"] or "",
                next_token,
                200,
                len(records),
                at_end,
                outside,
            ),
        )
        runs.add_counts(
            self.run_stats,
            p["run_id"],
            pages=1,
            rows=len(records),
            new_versions=len(derived.new),
            conflicts=derived.conflicts,
        )

    def _adopt(self, stream: MemoryStream, derived: Any, pid: int, received: str) -> None:
        """What the page added becomes what the stream holds."""
        if stream._grouped_for != stream.gone:
            stream.regroup()
        for n in derived.new:
            stream.marks.add((n.sha8, n.ident.key))
            if n.conflict_with is not None:
                self.conflicts.append(
                    (n.ident.key, n.ident.commit_ts, n.ref, n.conflict_with.ref, received)
                )
            if n.ident.interval and n.ident.interval not in stream.intervals:
                stream.intervals.add(n.ident.interval)
                if stream is self.tally.stream:
                    self.tally.arrived(n.ident.interval)
        stream.groups.update(derived.groups)
        self.found.records += len(derived.new)

    # -- the stored records of a page -----------------------------------------------------------
    def _compare_records(
        self, p: sqlite3.Row, names: list[str], records: Sequence[Sequence[str]], new: list[Any]
    ) -> None:
        pid = p["page_id"]
        stored: dict[int, tuple[Any, ...]] = {}
        for r in self.plain().execute(
            """SELECT row_index, record_id, stream_id, row_key, key_kind, interval_start, sha8,
                      columns_id, conflict FROM records WHERE page_id=?""",
            (pid,),
        ):
            if r[0] in stored:
                self.found.add(
                    "records",
                    f"records (page {pid} row {r[0]}): records {stored[r[0]][1]} and {r[1]} "
                    "both claim it",
                )
                continue
            stored[r[0]] = tuple(r)
        values = self._values([r[1] for r in stored.values()])
        stream = (self.dataset, p["dataset_type"])
        columns = (self.dataset, column_set_text(names))
        getter = self._getter(tuple(names))
        matched = 0
        for n in new:
            row = stored.pop(n.index, None)
            if row is None:
                self.found.add(
                    "records",
                    f"records ({self._where(pid, n)}): missing: the page's record is not archived",
                )
                continue
            matched += 1
            have = (
                self.stream_names.get(row[2]),
                row[3],
                row[4],
                row[5],
                row[6],
                self.set_names.get(row[7]),
                row[8],
            )
            want = (
                stream,
                n.ident.key,
                n.ident.kind,
                n.ident.interval,
                n.sha8,
                columns,
                int(n.conflict_with is not None),
            )
            if have != want:
                text = differ(
                    "records",
                    f"{self._where(pid, n)}, record {row[1]}",
                    dict(zip(_RECORD_FIELDS, have, strict=True)),
                    dict(zip(_RECORD_FIELDS, want, strict=True)),
                    "the page shows",
                )
                self.found.add("records", text or "records: differ")
            self._compare_values(row[1], names, records[n.index], values, pid, n, getter)
        self.found.counts["records matched"] = self.found.counts.get("records matched", 0) + matched
        for i, extra in stored.items():
            self.found.add(
                "records",
                f"records ({self.dataset} page {pid} row {i}, record {extra[1]}): the page does "
                "not derive it (a record received before, or one added behind the archive's back)",
            )

    def _where(self, pid: int, n: Any) -> str:
        return f"{self.dataset} page {pid} row {n.index}, key {n.ident.key[:40]}"

    def _values(self, rids: list[int]) -> dict[int, tuple[Any, ...]]:
        """The values rows of these records (a page's records have neighbouring ids: read
        as one range when they do)."""
        if not rids or not self.stored_columns:
            return {}
        out: dict[int, tuple[Any, ...]] = {}
        lo, hi = min(rids), max(rids)
        t = table(self.dataset)
        if hi - lo < 2 * len(rids) + 16:
            wanted = set(rids)
            for row in self.plain().execute(
                f"SELECT * FROM {t} WHERE record_id BETWEEN ? AND ?", (lo, hi)
            ):
                if row[0] in wanted:
                    out[row[0]] = row[1:]
            return out
        for n in range(0, len(rids), 500):
            part = rids[n : n + 500]
            for row in self.plain().execute(
                f"SELECT * FROM {t} WHERE record_id IN ({','.join('?' * len(part))})", part
            ):
                out[row[0]] = row[1:]
        return out

    def plain(self) -> sqlite3.Cursor:
        """A cursor returning plain tuples (cheaper than sqlite3.Row, row by row)."""
        cur = self.conn.cursor()
        cur.row_factory = None
        return cur

    def _compare_values(
        self,
        rid: int,
        names: list[str],
        record: Sequence[str],
        values: dict[int, tuple[Any, ...]],
        pid: int,
        n: Any,
        getter: tuple[Callable[..., Any], list[int]] | None,
    ) -> None:
        row = values.get(rid)
        label = _Label(f"vals_{self.dataset} (", self, pid, n, f", record {rid})")
        if row is None:
            self.found.add(f"vals_{self.dataset}", f"{label}: its values are missing")
            return
        if getter is None:
            self.found.add(f"vals_{self.dataset}", f"{label}: the table lacks a column of its page")
            return
        take, others = getter
        mine = take(row)
        if len(names) == 1:
            mine = (mine,)
        if mine != tuple(record):
            for name, have, want in zip(names, mine, record, strict=True):
                if have != want:
                    self.found.add(
                        f"vals_{self.dataset}",
                        f"{label}: {name} is {_show(have)}, the page shows {_show(want)}",
                    )
                    return
        for i in others:
            if row[i] is not None:
                self.found.add(
                    f"vals_{self.dataset}",
                    f"{label}: {self.stored_columns[i]} holds {_show(row[i])}, a column its "
                    "page does not have",
                )
                return

    def _getter(self, names: tuple[str, ...]) -> tuple[Callable[..., Any], list[int]] | None:
        if names not in self._getters:
            pos = {c: i for i, c in enumerate(self.stored_columns)}
            if not all(n in pos for n in names):
                return None
            idx = [pos[n] for n in names]
            taken = set(idx)
            self._getters[names] = (
                itemgetter(*idx),
                [i for i in range(len(self.stored_columns)) if i not in taken],
            )
        return self._getters[names]

    # -- after the last page ----------------------------------------------------------------------
    def _finish_streams(self) -> None:
        if not self.compare:
            return
        for dtype, stream in self.streams.items():
            pairs = sorted(
                (receipt_of(a), receipt_of(b))
                for members in stream.groups.values()
                for a, b in replaced(members)
            )
            self._compare_superseded(dtype, pairs)
        self._compare_tables()

    def _compare_superseded(self, dtype: str, derived: list[Any]) -> None:
        stored = self.conn.execute(
            """SELECT r1.page_id, r1.row_index, r2.page_id, r2.row_index, x.record_id, x.by_id
               FROM superseded x JOIN records r1 ON r1.record_id = x.record_id
               JOIN streams s ON s.stream_id = r1.stream_id
               LEFT JOIN records r2 ON r2.record_id = x.by_id
               WHERE s.dataset=? AND s.dataset_type=?
               ORDER BY r1.page_id, r1.row_index""",
            (self.dataset, dtype),
        )
        want = iter(derived)
        for row in stored:
            have = ((row[0], row[1]), (row[2], row[3]))
            exp = next(want, None)
            if exp == have:
                continue
            what = f"{self.dataset} {dtype}, record {row[4]} (page {row[0]} row {row[1]})"
            if exp is None or exp[0] > have[0]:
                self.found.add(
                    "superseded",
                    f"superseded ({what}): hides a version that is the newest of its row",
                )
            elif exp[0] < have[0]:
                self.found.add(
                    "superseded",
                    f"superseded (page {exp[0][0]} row {exp[0][1]}): missing: a newer version "
                    "replaced it, yet it is shown as the latest",
                )
            else:
                self.found.add(
                    "superseded",
                    f"superseded ({what}): by_id is record {row[5]}, the pages show the "
                    f"record at page {exp[1][0]} row {exp[1][1]} as the newest",
                )
            return
        rest = next(want, None)
        if rest is not None:
            self.found.add(
                "superseded",
                f"superseded ({self.dataset} {dtype}, page {rest[0][0]} row {rest[0][1]}): "
                "missing: a newer version replaced it, yet it is shown as the latest",
            )

    def _compare_tables(self) -> None:
        ds = self.dataset
        self._compare_rows(
            "conflicts",
            [(key, ts, receipt_of(a), receipt_of(b), at) for key, ts, a, b, at in self.conflicts],
            """SELECT c.row_key, c.commit_ts, r1.page_id, r1.row_index, r2.page_id,
                      r2.row_index, c.detected_at, c.conflict_id
               FROM conflicts c LEFT JOIN records r1 ON r1.record_id = c.record_id
               LEFT JOIN records r2 ON r2.record_id = c.earlier_id
               WHERE c.dataset=? ORDER BY c.conflict_id""",
            lambda r: (r[0], r[1], (r[2], r[3]), (r[4], r[5]), r[6]),
            ("row_key", "commit_ts", "record (page, row)", "earlier (page, row)", "detected_at"),
        )
        self._compare_rows(
            "schema_changes",
            self.schema_changes,
            """SELECT page_id, previous, current, description, detected_at, change_id
               FROM schema_changes WHERE dataset=? ORDER BY change_id""",
            lambda r: tuple(r[:5]),
            ("page_id", "previous", "current", "description", "detected_at"),
        )
        self._compare_rows(
            "key_rules",
            self.key_rules,
            """SELECT dataset_type, rule, fallback, page_id, reason, detected_at, change_id
               FROM key_rules WHERE dataset=? ORDER BY change_id""",
            lambda r: tuple(r[:6]),
            ("dataset_type", "rule", "fallback", "page_id", "reason", "detected_at"),
        )
        self._compare_coverage()
        if self.columns != self.stored_columns:
            first = next(
                (
                    i
                    for i, (a, b) in enumerate(zip(self.columns, self.stored_columns, strict=False))
                    if a != b
                ),
                min(len(self.columns), len(self.stored_columns)),
            )
            self.found.add(
                f"vals_{ds}",
                f"vals_{ds} (columns): column {first + 1} is "
                f"{_show(self.stored_columns[first] if first < len(self.stored_columns) else None)}, "
                f"the pages show {_show(self.columns[first] if first < len(self.columns) else None)}",
            )
        stored_sets = {names for (d, names) in self.set_names.values() if d == ds}
        for names in sorted(stored_sets - self.column_sets):
            self.found.add("column_sets", f"column_sets ({ds} {names[:60]}): no page brings it")
        for names in sorted(self.column_sets - stored_sets):
            self.found.add("column_sets", f"column_sets ({ds} {names[:60]}): missing")

    def _compare_rows(
        self,
        tbl: str,
        derived: list[tuple[Any, ...]],
        sql: str,
        shape: Callable[[sqlite3.Row], tuple[Any, ...]],
        names: tuple[str, ...],
    ) -> None:
        """Compare a table's rows of this dataset, in order, with the derived ones."""
        stored = [shape(r) for r in self.conn.execute(sql, (self.dataset,))]
        for n, (have, want) in enumerate(zip(stored, derived, strict=False)):
            if have != want:
                text = differ(
                    tbl,
                    f"{self.dataset}, its row {n + 1}",
                    dict(zip(names, have, strict=True)),
                    dict(zip(names, want, strict=True)),
                    "the pages show",
                )
                self.found.add(tbl, text or f"{tbl} ({self.dataset}, its row {n + 1}) differs")
                return
        if len(stored) > len(derived):
            row = dict(zip(names, stored[len(derived)], strict=True))
            self.found.add(
                tbl,
                f"{tbl} ({self.dataset}, its row {len(derived) + 1}): no page shows it "
                f"({', '.join(f'{k}={_show(v)}' for k, v in list(row.items())[:3])})",
            )
        elif len(derived) > len(stored):
            row = dict(zip(names, derived[len(stored)], strict=True))
            self.found.add(
                tbl,
                f"{tbl} ({self.dataset}, its row {len(stored) + 1}): missing "
                f"({', '.join(f'{k}={_show(v)}' for k, v in list(row.items())[:3])})",
            )

    def _compare_coverage(self) -> None:
        stored = {
            (r[0], r[1], r[2], r[3]): dict(zip(DERIVED, r, strict=True))
            for r in self.conn.execute(
                f"SELECT {', '.join(DERIVED)} FROM coverage WHERE dataset=?", (self.dataset,)
            )
        }
        for key in sorted(stored.keys() | self.rows.keys()):
            label = " ".join(
                x for x in (key[0], key[1], key[3], key[2] and f"filter {key[2]}") if x
            )
            have, want = stored.get(key), self.rows.get(key)
            if want is None:
                self.found.add(
                    "coverage",
                    f"coverage ({label}): no archived response or custody entry of this chunk "
                    f"explains it (state {have['state'] if have else '?'})",
                )
            elif have is None:
                self.found.add(
                    "coverage",
                    f"coverage ({label}): missing: its responses show state {want.state}",
                )
            else:
                text = differ("coverage", label, have, want.values(), "its responses show")
                if text:
                    self.found.add("coverage", text)


def _has_table(conn: sqlite3.Connection, dataset: str) -> bool:
    try:
        name = table(dataset)
    except ValueError:
        return False
    return bool(
        conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)
        ).fetchone()
    )


# -- the whole archive ------------------------------------------------------------------------------
def replay(
    conn: sqlite3.Connection,
    custody: Custody,
    progress: Callable[[int, int], None] | None = None,
) -> Findings:
    """Replay every dataset's pages and compare; then the runs' counts are complete."""
    found = Findings()
    total = int(conn.execute("SELECT count(*) FROM pages").fetchone()[0])
    done = [0]

    def step(n: int) -> None:
        done[0] += n
        if progress and done[0] % 200 == 0:
            progress(done[0], total)

    streams = {
        sid: (d, t)
        for sid, d, t in conn.execute("SELECT stream_id, dataset, dataset_type FROM streams")
    }
    sets = {
        cid: (d, names)
        for cid, d, names in conn.execute("SELECT columns_id, dataset, names FROM column_sets")
    }
    datasets = sorted(
        {d for (d,) in conn.execute("SELECT DISTINCT dataset FROM pages")}
        | {d for (d,) in conn.execute("SELECT DISTINCT dataset FROM coverage")}
        | set(custody.outcomes)
        | {d for d, _t in streams.values()}
    )
    for dataset in datasets:
        DatasetPass(conn, dataset, custody, found, streams, sets).run(step)
    _compare_value_columns(conn, found)
    _compare_streams(conn, found, streams)
    _compare_counts(conn, found)
    return found


def _compare_value_columns(conn: sqlite3.Connection, found: Findings) -> None:
    """``value_columns`` against the columns the pages brought (each dataset's table was
    compared with them, read through the mapping, as the pass went): every API name mapped
    by the stored-name rule, nothing more, and every column of the tables mapped."""
    has = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='value_columns'"
    ).fetchone()
    if has is None:
        if any(found.columns.values()):
            found.add("value_columns", "value_columns: missing (the pages bring columns)")
        return
    expected = {ds: set(cols) for ds, cols in found.columns.items() if cols}
    for problem in compare_columns(conn, expected):
        found.add("value_columns", problem)


def _compare_streams(
    conn: sqlite3.Connection, found: Findings, streams: dict[int, tuple[str, str]]
) -> None:
    derived = {
        (d, t)
        for (d, t) in conn.execute(
            "SELECT DISTINCT dataset, dataset_type FROM pages WHERE http_status=200"
        )
    }
    have = list(streams.values())
    for s in sorted(set(have) - derived):
        found.add("streams", f"streams ({s[0]} {s[1]}): no archived page of this stream")
    for s in sorted(derived - set(have)):
        found.add("streams", f"streams ({s[0]} {s[1]}): missing")
    if len(have) != len(set(have)):
        found.add("streams", "streams: a stream is listed twice")


def _compare_counts(conn: sqlite3.Connection, found: Findings) -> None:
    """Every stored record was met on the page it names."""
    (stored,) = conn.execute("SELECT count(*) FROM records").fetchone()
    matched = found.counts.get("records matched", 0)
    if stored <= matched:
        return
    strays = conn.execute(
        """SELECT r.record_id, r.page_id, r.row_index FROM records r
           LEFT JOIN pages p ON p.page_id = r.page_id
           WHERE p.page_id IS NULL OR p.http_status != 200 OR r.row_index >= p.record_count
           LIMIT 5"""
    ).fetchall()
    for rid, pid, ri in strays:
        found.add(
            "records",
            f"records (record {rid}, page {pid} row {ri}): no archived page holds it "
            "(added behind the archive's back)",
        )
    if not strays:
        found.add(
            "records",
            f"records: {stored - matched:,} stored records were not met on the pages they name",
        )


def summaries(custody: Custody, found: Findings) -> Iterator[str]:
    """Every run summary recorded with its flags and position, re-derived (archive/runs.py)
    from the archive as it stood when the run ended, and compared."""
    for f in custody.finishes:
        counts: runs.Counts = {ds: {**c} for ds, c in found.run_counts.get(f.entry_id, {}).items()}
        for fact, d in custody.quarantined.values():
            if fact.run_id == f.run_id and fact.entry_id < f.entry_id:
                runs.add_counts(counts, str(d.get("dataset")), quarantined=1)
        incl, excl, unk = found.readings.get(f.entry_id, [0, 0, 0])
        reading = Reading(incl, excl, unk).describe()
        want = json.loads(canonical_json(runs.summary(f.run_id, counts, f.flags, reading)))
        have = json.loads(canonical_json(dict(f.summary)))
        text = _first_difference(want, have, "summary", "the archive shows")
        if text:
            yield f"audit_log ({f.where}, run {f.run_id}): {text}"


def _first_difference(want: Any, have: Any, path: str, source: str) -> str | None:
    """``path.to.field is X, <source> Y`` for the first nested field that differs."""
    if isinstance(want, dict) and isinstance(have, dict):
        for k in sorted(want.keys() | have.keys()):
            text = _first_difference(want.get(k), have.get(k), f"{path}.{k}", source)
            if text:
                return text
        return None
    if want != have:
        return f"{path} is {_show(have)}, {source} {_show(want)}"
    return None
