"""Erasing one person's values while every other record stays provable (docs/erase.md).

A subject (``phone:``, ``email:``, ``name:`` or ``customer:``) is found in every values table
through the search index and an exact scan (the index may miss a format); each value that
names it has every occurrence replaced by ``[erased]`` (a value that is only the subject
becomes ``[erased]``). :func:`apply` does, in the writer's one transaction: the values and
their search index rows, the records' checksums (``sha8``, and the key of a record keyed by
its own hash: what the record now is), each raw page holding one of the records rewritten
with the same replacement (its stored received-hash, metadata and chain stay), the erased
rows' salts destroyed (archive/commitments.py: the kept commitment confirms no guess), and
one chained ``erasure applied`` entry carrying what verification needs: request id,
certificate, plan id, and per page the hash of the body before and after, its rows, their
records and fields. The subject itself is never recorded.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import sqlite3
import unicodedata
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any

from archiver.archive import auditlog, commitments, values
from archiver.archive.cases import Entry, entry_of
from archiver.archive.compact import ZLIB_LEVEL, sha8
from archiver.archive.hashing import (
    ERASED,
    GENESIS,
    canonical_json,
    canonical_record,
    canonical_records,
    chain_next,
    sha256_hex,
)

EVENT = "erasure applied"
MARK = ERASED
KINDS = ("phone", "email", "name", "customer")

#: How the table registry (verify-archive's replay) classifies the tables of erasure: the
#: per-record commitments and salts (archive/commitments.py), checked by :func:`replay_check`.
TABLES: dict[str, tuple[str, str]] = dict(commitments.TABLES)

#: The customer's identifiers in the guide's interactionSegments (and mpccdr's caller), which
#: ``customer:ID`` (an interaction id) expands to.
CUSTOMER_COLUMNS = {
    "FIRST_LAST_NAME": "name",
    "SOURCE_PHONE_NUMBER": "phone",
    "SOURCE_EMAIL": "email",
    "CALLING_NUMBER": "phone",
}


class SubjectError(ValueError):
    """A subject that cannot be searched for as given (a usage error)."""


# -- subjects and matching -------------------------------------------------------------------
def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


_PHONE_SPAN = re.compile(r"\+?\(?\d[\d\s().\-]*\d")


@dataclass(frozen=True)
class Subject:
    """One identifier of a person: ``kind`` and ``value`` (as typed)."""

    kind: str
    value: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise SubjectError(f"unknown subject kind {self.kind!r}: use {', '.join(KINDS)}")
        v = self.value.strip()
        if not v:
            raise SubjectError(f"{self.kind}: needs a value")
        if self.kind == "phone" and not 7 <= len(_digits(v)) <= 15:
            raise SubjectError(f"phone:{v}: a phone number has 7 to 15 digits")
        if self.kind == "email" and not re.fullmatch(r"[^@\s]+@[^@\s]+", v):
            raise SubjectError(f"email:{v}: not an e-mail address")
        if self.kind == "name" and len(v) < 2:
            raise SubjectError(f"name:{v}: a name has at least 2 characters")

    @property
    def text(self) -> str:
        return f"{self.kind}:{self.value}"

    def pattern(self) -> re.Pattern[str] | None:
        return _pattern(self.kind, self.value)

    def holds_needle(self, text: str) -> bool:
        """Whether ``text`` holds :meth:`needle` (what the scan's SQL filter asks, as SQLite's
        LIKE: ASCII letters in any case): a value without it cannot name the subject."""
        return _folded(self.needle()) in _folded(text)

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where ``text`` names the subject."""
        if self.kind == "phone":
            want = _digits(self.value)
            out = []
            for m in _PHONE_SPAN.finditer(text):
                got = _digits(m.group())
                if got == want or (
                    min(len(got), len(want)) == 10
                    and max(len(got), len(want)) > 10
                    and (got.endswith(want) or want.endswith(got))
                ):
                    out.append(m.span())
            return out
        pat = self.pattern()
        if pat is None:  # customer: expanded before matching
            return []
        return [m.span() for m in pat.finditer(unicodedata.normalize("NFC", text))]

    def needle(self) -> str:
        """A substring every value that names the subject holds (the scan's SQL filter)."""
        if self.kind == "phone":
            return _digits(self.value)[-4:]
        if self.kind == "name":  # SQLite's LIKE folds ASCII letters only: an ASCII word first
            words = self.value.split()
            return max(words, key=lambda w: (w.isascii(), len(w)))
        return self.value.strip()

    def phrase(self) -> str:
        """The search index's phrase query for the subject."""
        words = re.findall(r"\w+", unicodedata.normalize("NFC", self.value))
        if self.kind == "phone":
            words = [_digits(self.value)]
        return '"' + " ".join(words) + '"'


@functools.lru_cache(maxsize=64)
def _pattern(kind: str, value: str) -> re.Pattern[str] | None:
    v = unicodedata.normalize("NFC", value.strip())
    if kind == "email":
        return re.compile(r"(?<![\w.+\-])" + re.escape(v) + r"(?![\w\-]|\.\w)", re.IGNORECASE)
    if kind == "name":
        body = r"\s+".join(re.escape(w) for w in v.split())
        if v.isascii() or all(unicodedata.category(c)[0] != "L" or c < "\u0370" for c in v):
            body = r"(?<!\w)" + body + r"(?!\w)"  # whole words in scripts spaced by words
        return re.compile(body, re.IGNORECASE)
    return None


def _folded(text: str) -> str:
    return unicodedata.normalize("NFC", text).casefold()


def parse_subject(text: str) -> Subject:
    kind, sep, value = text.partition(":")
    if not sep:
        raise SubjectError(
            f'{text!r}: give the subject as phone:+1…, email:…, name:"…" or customer:ID'
        )
    return Subject(kind.strip().lower(), value.strip().strip('"'))


def erase_value(value: str, subjects: Sequence[Subject]) -> str | None:
    """The value with every occurrence of the subjects replaced by ``[erased]`` (a value that
    is nothing but the subject becomes ``[erased]``); None when it names none of them."""
    text = unicodedata.normalize("NFC", value)
    spans: list[tuple[int, int]] = []
    for s in subjects:
        spans += s.spans(text)
    if not spans:
        return None
    spans.sort()
    merged: list[list[int]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    if (
        text[: merged[0][0]].strip() == ""
        and text[merged[-1][1] :].strip() == ""
        and len(merged) == 1
    ):
        return MARK
    out, at = [], 0
    for a, b in merged:
        out += [text[at:a], MARK]
        at = b
    out.append(text[at:])
    return "".join(out)


# -- the plan ----------------------------------------------------------------------------------
@dataclass
class Hit:
    """A record that names the subject: the fields erased and the page rows holding it."""

    record_id: int
    dataset: str
    dataset_type: str
    interaction: str
    fields: list[str]
    rows: list[tuple[int, int]] = field(default_factory=list)  # (page_id, row_index)
    by_index: bool = False


@dataclass
class Plan:
    subjects: list[Subject]
    asked: Subject
    hits: list[Hit]
    heads: dict[str, Any]
    index_found: int = 0
    scan_found: int = 0
    index_missed: int = 0
    unindexed: list[str] = field(default_factory=list)

    @property
    def pages(self) -> list[int]:
        return sorted({p for h in self.hits for p, _ in h.rows})

    def content(self) -> dict[str, Any]:
        return {
            "subject": self.asked.text,
            "subjects": [s.text for s in self.subjects],
            "records": [
                {
                    "record_id": h.record_id,
                    "dataset": h.dataset,
                    "fields": h.fields,
                    "rows": [list(r) for r in h.rows],
                }
                for h in self.hits
            ],
            "heads": self.heads,
        }

    @property
    def plan_id(self) -> str:
        """SHA-256 of the plan's canonical JSON (its records, pages and fields, the subject)
        and the archive's chain heads: anything archived or recorded since makes it stale."""
        return sha256_hex(canonical_json(self.content()).encode())


def heads(conn: sqlite3.Connection) -> dict[str, Any]:
    pc, pages, ac, entries = conn.execute(
        "SELECT pages_chain, pages, audit_chain, audit_entries FROM chain_head"
    ).fetchone()
    return {"pages": pages, "pages_chain": pc, "audit_entries": entries, "audit_chain": ac}


def _interaction_column(names: Iterable[str]) -> str | None:
    for c in ("INTERACTION_ID", "WORKFLOWSESSION_INTERACTIONID"):
        if c in names:
            return c
    return None


def expand(conn: sqlite3.Connection, subject: Subject) -> list[Subject]:
    """The identifiers a subject stands for: itself, or for ``customer:ID`` the customer's
    name, phone and e-mail as the records of interaction ID carry them (and the ID itself
    in any ``CUSTOMER…ID`` column)."""
    if subject.kind != "customer":
        return [subject]
    found: dict[tuple[str, str], Subject] = {}
    for ds in _datasets(conn):
        names = values.table_columns(conn, ds)
        icol = _interaction_column(names)
        cols = [c for c in names if c in CUSTOMER_COLUMNS]
        if icol is None or not cols:
            continue
        sel = ", ".join(values.col(c) for c in cols)
        for row in conn.execute(
            f"SELECT {sel} FROM {values.table(ds)} WHERE {values.col(icol)} = ?",
            (subject.value,),
        ):
            for c, v in zip(cols, row, strict=True):
                if v and v.strip() and v.strip() != MARK:
                    kind = CUSTOMER_COLUMNS[c]
                    try:
                        found.setdefault((kind, v.strip()), Subject(kind, v.strip()))
                    except SubjectError:
                        continue
    if not found and not _customer_id_columns(conn):
        raise SubjectError(
            f"customer:{subject.value}: no archived interaction has this id (customer:ID takes "
            "an interaction id: the customer's name, phone and e-mail on its records are "
            "erased everywhere), and no column names a customer id"
        )
    return [subject, *sorted(found.values(), key=lambda s: (s.kind, s.value))]


def _customer_id_columns(conn: sqlite3.Connection) -> dict[str, list[str]]:
    out = {}
    for ds in _datasets(conn):
        cols = [
            c
            for c in values.table_columns(conn, ds)
            if "CUSTOMER" in c.upper() and c.upper().endswith("ID")
        ]
        if cols:
            out[ds] = cols
    return out


def _datasets(conn: sqlite3.Connection) -> list[str]:
    from archiver.datasets import DATASET_NAMES

    return [d for d in DATASET_NAMES if values.table_columns(conn, d)]


def _staff_column(name: str) -> bool:
    """A column of the contact center's own people and places (AGENT_NAME, QUEUE_NAME,
    WORKFLOW_NAME…): a customer's name found there is someone else's of the same name."""
    return name.upper().startswith(("AGENT", "USER", "QUEUE", "WORKFLOW"))


def _bookkeeping() -> frozenset[str]:
    """The guide's common columns (ROW_ID, COMMIT_TS, ACCOUNT_ID…): never erased."""
    from archiver.datasets import COMMON_COLUMNS

    return frozenset(name for name, _ in COMMON_COLUMNS)


def fts_table(dataset: str) -> str:
    """The search index table of a dataset's values (archive/searchindex.fts_table)."""
    return values.table(dataset) + "_fts"


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def find(conn: sqlite3.Connection, subject: Subject) -> Plan:
    """Every record that names the subject (the index and an exact scan), with the fields to
    erase and every page row holding it."""
    subjects = expand(conn, subject)
    matchable = [s for s in subjects if s.kind != "customer"]
    skip = _bookkeeping()
    staff = subject.kind == "customer"  # a customer's identifiers: not in staff columns
    idcols = _customer_id_columns(conn) if subject.kind == "customer" else {}
    hits: dict[int, Hit] = {}
    index_ids: set[int] = set()
    scan_ids: set[int] = set()
    unindexed: list[str] = []
    seen: dict[int, dict[str, str]] = {}
    for ds in _datasets(conn):
        keys = set(values.natural_columns(ds))  # a record's identity is never erased
        names = [
            c
            for c in values.table_columns(conn, ds)
            if c not in skip and c not in keys and not (staff and _staff_column(c))
        ]
        if not names:
            continue
        found = _index_hits(conn, ds, matchable)
        if found is None:
            unindexed.append(ds)
            found = set()
        index_ids |= {(rid) for rid in found}
        cand = set(found) | _scan(conn, ds, names, matchable, idcols.get(ds, []), subject.value)
        stored = values.fetch(conn, ds, sorted(cand))
        types = (
            dict(
                conn.execute(
                    "SELECT r.record_id, s.dataset_type FROM records r JOIN streams s "
                    f"ON s.stream_id = r.stream_id WHERE r.record_id IN ({','.join('?' * len(cand))})",
                    sorted(cand),
                )
            )
            if cand
            else {}
        )
        icol = _interaction_column(values.table_columns(conn, ds))
        for rid, vals in stored.items():
            fields = [
                c
                for c, v in vals.items()
                if c in names
                and v
                and (
                    (
                        any(s.holds_needle(v) for s in matchable)
                        and erase_value(v, matchable) is not None
                    )
                    or (c in idcols.get(ds, []) and v == subject.value)
                )
            ]
            if not fields:
                continue
            scan_ids.add(rid)
            seen[rid] = vals
            hits[rid] = Hit(
                rid,
                ds,
                str(types.get(rid, "")),
                (vals.get(icol) or "") if icol else "",
                fields,
                by_index=rid in found,
            )
    if subject.kind == "customer":
        hits = _customers_own(hits, seen, subject, matchable)
        scan_ids &= set(hits)
    for rid, page, row in _rows(conn, sorted(hits)):
        hits[rid].rows.append((page, row))
    out = [hits[r] for r in sorted(hits)]
    return Plan(
        subjects,
        subject,
        out,
        heads(conn),
        index_found=len(index_ids & scan_ids),
        scan_found=len(scan_ids),
        index_missed=len(scan_ids - index_ids),
        unindexed=unindexed,
    )


def _scan(
    conn: sqlite3.Connection,
    ds: str,
    names: Sequence[str],
    subjects: Sequence[Subject],
    idcols: Sequence[str],
    ident: str,
) -> set[int]:
    """The exact scan's candidates: records of ``ds`` with a value holding a part every
    match holds (the rule is then applied to each), or a customer id column equal to it."""
    terms, args = [], []
    for s in subjects:
        for c in names:
            terms.append(f"v.{values.col(c)} LIKE ? ESCAPE '\\'")
            args.append(_like(s.needle()))
    for c in idcols:
        terms.append(f"v.{values.col(c)} = ?")
        args.append(ident)
    if not terms:
        return set()
    while len(terms) > 50:
        terms = ["(" + " OR ".join(terms[i : i + 50]) + ")" for i in range(0, len(terms), 50)]
    sql = f"SELECT v.record_id FROM {values.table(ds)} v WHERE {' OR '.join(terms)}"
    return {r[0] for r in conn.execute(sql, args)}


def _customers_own(
    hits: dict[int, Hit],
    seen: Mapping[int, Mapping[str, str]],
    subject: Subject,
    matchable: Sequence[Subject],
) -> dict[int, Hit]:
    """``customer:ID``: a record that names the customer only by name is kept when it belongs
    to one of the customer's interactions (ID, or one whose records carry the customer's
    phone or e-mail): a name alone is shared by other people."""
    strong = [s for s in matchable if s.kind != "name"]

    def by_name_only(h: Hit) -> bool:
        vals = seen[h.record_id]
        return all(
            erase_value(vals.get(f, ""), strong) is None and vals.get(f) != subject.value
            for f in h.fields
        )

    mine = {subject.value} | {
        h.interaction for h in hits.values() if h.interaction and not by_name_only(h)
    }
    return {rid: h for rid, h in hits.items() if not by_name_only(h) or h.interaction in mine}


def _index_hits(conn: sqlite3.Connection, ds: str, subjects: Sequence[Subject]) -> set[int] | None:
    """Records of ``ds`` the search index finds for the subjects (None: no index)."""
    t = fts_table(ds)
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name=?", (t,)).fetchone():
        return None
    out: set[int] = set()
    for s in subjects:
        try:
            out |= {
                r[0]
                for r in conn.execute(
                    f"SELECT rowid FROM {values.quote(t)} WHERE {values.quote(t)} MATCH ?",
                    (s.phrase(),),
                )
            }
        except sqlite3.OperationalError:
            continue
    return out


def _rows(conn: sqlite3.Connection, record_ids: Sequence[int]) -> list[tuple[int, int, int]]:
    out: list[tuple[int, int, int]] = []
    for n in range(0, len(record_ids), 500):
        part = list(record_ids[n : n + 500])
        out += conn.execute(
            "SELECT c.record_id, c.page_id, c.row_index FROM record_commitments c "
            "JOIN pages p ON p.page_id = c.page_id WHERE p.encoding != 'disposed' AND "
            f"c.record_id IN ({','.join('?' * len(part))}) ORDER BY c.page_id, c.row_index",
            part,
        ).fetchall()
    return out


# -- the raw page -----------------------------------------------------------------------------
def record_spans(text: str) -> list[list[tuple[int, int]]]:
    """Where each value of each record of a page body lies: ``spans[i][j]`` is the (start,
    end) of ``records[i][j]``'s JSON string token, quotes included, in ``text``."""
    dec = json.JSONDecoder()
    ws = re.compile(r"[ \t\n\r]*")

    def skip(i: int) -> int:
        m = ws.match(text, i)
        return m.end() if m else i

    i = skip(0)
    if text[i : i + 1] != "{":
        raise ValueError("the body is not a JSON object")
    i = skip(i + 1)
    spans: list[list[tuple[int, int]]] = []
    while text[i : i + 1] != "}":
        if text[i] != '"':
            raise ValueError(f"a member name expected at {i}")
        key, i = scanstring(text, i + 1, True)
        i = skip(i)
        if text[i] != ":":
            raise ValueError(f"':' expected at {i}")
        i = skip(i + 1)
        if key == "records":
            spans, i = _records(text, i, skip)
        else:
            _obj, i = dec.raw_decode(text, i)
        i = skip(i)
        if text[i : i + 1] == ",":
            i = skip(i + 1)
    return spans


def _records(
    text: str, i: int, skip: Callable[[int], int]
) -> tuple[list[list[tuple[int, int]]], int]:
    if text[i] != "[":
        raise ValueError("records is not an array")
    out: list[list[tuple[int, int]]] = []
    i = skip(i + 1)
    while text[i] != "]":
        if text[i] != "[":
            raise ValueError("a record is not an array")
        row: list[tuple[int, int]] = []
        i = skip(i + 1)
        while text[i] != "]":
            if text[i] != '"':
                raise ValueError("a value is not a string")
            _v, end = scanstring(text, i + 1, True)
            row.append((i, end))
            i = skip(end)
            if text[i] == ",":
                i = skip(i + 1)
        out.append(row)
        i = skip(i + 1)
        if text[i] == ",":
            i = skip(i + 1)
    return out, i + 1


def rewrite_body(
    raw: bytes, rows: Mapping[int, Sequence[str]], subjects: Sequence[Subject]
) -> tuple[bytes, dict[int, list[str]]]:
    """The page body with the named fields of the given rows erased (every other byte as it
    was); returns it and, per row, the fields changed."""
    from archiver.api.pages import load_json

    text = raw.decode("utf-8")
    body = load_json(raw)
    names = [c["name"] for c in body["columnHeaders"]]
    recs = body["records"]
    spans = record_spans(text)
    edits: list[tuple[int, int, str]] = []
    changed: dict[int, list[str]] = {}
    for i, fields in rows.items():
        for f in fields:
            if f not in names:
                continue
            j = names.index(f)
            new = erase_value(recs[i][j], subjects)
            if new is None or new == recs[i][j]:
                continue
            a, b = spans[i][j]
            edits.append((a, b, json.dumps(new, ensure_ascii=False)))
            changed.setdefault(i, []).append(f)
    out, at = [], 0
    for a, b, token in sorted(edits):
        out += [text[at:a], token]
        at = b
    out.append(text[at:])
    return "".join(out).encode("utf-8"), changed


# -- the entries ------------------------------------------------------------------------------
@dataclass
class Erased:
    """What the ``erasure applied`` entries say of one page row."""

    request_id: str
    certificate: str
    entry_id: int
    fields: list[str]


def plain(found: Iterable[Any]) -> list[dict[str, Any]]:
    return [{"event": e.event, "details": e.details} for e in map(entry_of, found)]


def entries_of(found: Iterable[Any]) -> list[Entry]:
    return [e for e in map(entry_of, found) if e.event == EVENT]


_ENTRY_FIELDS = ("entry_id", "event", "at", "os_user", "details")


def _read(conn: sqlite3.Connection, event: str) -> list[dict[str, Any]]:
    """The audit entries of one event, oldest first, whatever the connection's row factory."""
    return [
        dict(zip(_ENTRY_FIELDS, tuple(r), strict=True))
        for r in conn.execute(
            f"SELECT {', '.join(_ENTRY_FIELDS)} FROM audit_log WHERE event=? ORDER BY entry_id",
            (event,),
        )
    ]


def entries(conn: sqlite3.Connection) -> list[Entry]:
    return entries_of(_read(conn, EVENT))


def migrate_entries(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    return plain(_read(conn, "migrate"))


def erased_rows(found: Iterable[Entry]) -> dict[tuple[int, int], Any]:
    """(page id, row) → what erased it (request, certificate, entry, fields)."""
    out: dict[tuple[int, int], Erased] = {}
    for e in found:
        d = e.details
        for p in d.get("pages", []):
            for r in p.get("rows", []):
                key = (int(p.get("page_id", 0)), int(r.get("row", -1)))
                was = out.get(key)
                fields = sorted({*(was.fields if was else []), *r.get("fields", [])})
                out[key] = Erased(
                    str(d.get("request_id", "")),
                    str(d.get("certificate_id", "")),
                    e.entry_id,
                    fields,
                )
    return out


def rewritten(found: Iterable[Entry]) -> dict[int, tuple[str, str, str]]:
    """page id → (its body's SHA-256 after the latest erasure, request id, certificate)."""
    out: dict[int, tuple[str, str, str]] = {}
    for e in found:
        for p in e.details.get("pages", []):
            out[int(p.get("page_id", 0))] = (
                str(p.get("sha256", "")),
                str(e.details.get("request_id", "")),
                str(e.details.get("certificate_id", "")),
            )
    return out


# -- applying ---------------------------------------------------------------------------------
class StalePlan(Exception):
    """The archive changed since the plan (or the plan id is not this archive's)."""


@dataclass
class Applied:
    details: dict[str, Any]
    pages: int
    records: int
    rows: int


def apply(
    conn: sqlite3.Connection,
    plan: Plan,
    *,
    request_id: str,
    reason: str,
    certificate: str,
) -> Applied:
    """Erase what ``plan`` found (in the caller's transaction; the append-only triggers are
    lifted for the rows it changes and made again). Returns the ``erasure applied`` entry's
    details (the entry is appended here)."""
    from archiver.api.pages import load_json
    from archiver.archive.rekey import page_body
    from archiver.archive.triggers import create_triggers, drop_triggers

    subjects = [s for s in plan.subjects if s.kind != "customer"]
    idvalue = plan.asked.value if plan.asked.kind == "customer" else None
    before = rewritten(entries(conn))
    by_page: dict[int, dict[int, list[str]]] = {}
    row_record: dict[tuple[int, int], int] = {}
    for h in plan.hits:
        for p, r in h.rows:
            by_page.setdefault(p, {})[r] = h.fields
            row_record[(p, r)] = h.record_id
    drop_triggers(conn)
    pages_out = []
    for pid in sorted(by_page):
        enc, body, received = conn.execute(
            "SELECT encoding, body, sha256 FROM pages WHERE page_id=?", (pid,)
        ).fetchone()
        raw = page_body(enc, body)
        expected = before.get(pid, (received,))[0]
        if sha256_hex(raw) != expected:
            raise StalePlan(
                f"page {pid}: its body does not match its SHA-256 ({expected[:16]}…): it was "
                "changed behind the archive's back, so it is not rewritten; run "
                "`archiver verify-archive`"
            )
        new_raw, changed = _rewrite(raw, by_page[pid], subjects, idvalue)
        stored = zlib.compress(new_raw, ZLIB_LEVEL) if enc == "zlib" else new_raw
        conn.execute("UPDATE pages SET body=? WHERE page_id=?", (stored, pid))
        pages_out.append(
            {
                "page_id": pid,
                "received_sha256": received,
                "before_sha256": expected,
                "sha256": sha256_hex(new_raw),
                "size": len(new_raw),
                "rows": [
                    {"row": r, "record_id": row_record[(pid, r)], "fields": sorted(fs)}
                    for r, fs in sorted(changed.items())
                ]
                + [
                    {"row": r, "record_id": row_record[(pid, r)], "fields": []}
                    for r in sorted(by_page[pid])
                    if r not in changed
                ],
            }
        )
        conn.executemany(
            "DELETE FROM record_salts WHERE page_id=? AND row_index=?",
            [(pid, r) for r in by_page[pid]],
        )
        _check_load(load_json, new_raw, pid)
    for h in plan.hits:
        _erase_record(conn, h, subjects, idvalue, fts_table)
    for ds in sorted({h.dataset for h in plan.hits}):
        # FTS5 keeps a deleted row's words in older segments until they merge: merged now,
        # so the index holds no word of what was erased
        fts = fts_table(ds)
        if _fts_columns(conn, fts):
            conn.execute(
                f"INSERT INTO {values.quote(fts)}({values.quote(fts)}) VALUES ('optimize')"
            )
    create_triggers(conn)
    details = {
        "request_id": request_id,
        "reason": reason,
        "plan_id": plan.plan_id,
        "certificate_id": certificate,
        "subject_kind": plan.asked.kind,
        "records": [h.record_id for h in plan.hits],
        "pages": pages_out,
        "heads_before": plan.heads,
    }
    auditlog.append(conn, EVENT, details, None)
    rows = sum(len(p["rows"]) for p in pages_out)
    return Applied(details, len(pages_out), len(plan.hits), rows)


def _check_load(load: Callable[[bytes], Any], raw: bytes, pid: int) -> None:
    try:
        load(raw)
    except ValueError as exc:  # never: only string tokens were replaced by string tokens
        raise RuntimeError(f"page {pid}: the rewritten body does not parse ({exc})") from None


def _rewrite(
    raw: bytes, rows: Mapping[int, Sequence[str]], subjects: Sequence[Subject], idvalue: str | None
) -> tuple[bytes, dict[int, list[str]]]:
    subs = list(subjects)
    if idvalue is not None:
        subs.append(_Exact(idvalue))
    return rewrite_body(raw, rows, subs)


class _Exact(Subject):
    """A customer id: a value that is exactly it."""

    def __init__(self, value: str) -> None:
        object.__setattr__(self, "kind", "customer")
        object.__setattr__(self, "value", value)

    def spans(self, text: str) -> list[tuple[int, int]]:
        return [(0, len(text))] if text.strip() == self.value else []


def _erase_record(
    conn: sqlite3.Connection,
    h: Hit,
    subjects: Sequence[Subject],
    idvalue: str | None,
    fts_table: Callable[[str], str],
) -> None:
    subs = list(subjects) + ([_Exact(idvalue)] if idvalue is not None else [])
    vals = values.fetch(conn, h.dataset, [h.record_id])[h.record_id]
    new = dict(vals)
    for f in h.fields:
        v = erase_value(vals[f], subs)
        if v is not None:
            new[f] = v
    fts = fts_table(h.dataset)
    indexed = _fts_columns(conn, fts)
    if indexed:
        cols = ", ".join(values.quote(c) for c in indexed)
        marks = ", ".join("?" * len(indexed))
        conn.execute(
            f"INSERT INTO {values.quote(fts)}({values.quote(fts)}, rowid, {cols}) "
            f"VALUES ('delete', ?, {marks})",
            [h.record_id, *[_stored(conn, h.dataset, h.record_id, c) for c in indexed]],
        )
    sets = ", ".join(f"{values.col(f)} = ?" for f in h.fields)
    conn.execute(
        f"UPDATE {values.table(h.dataset)} SET {sets} WHERE record_id=?",
        [*[new[f] for f in h.fields], h.record_id],
    )
    if indexed:
        cols = ", ".join(values.quote(c) for c in indexed)
        conn.execute(
            f"INSERT INTO {values.quote(fts)}(rowid, {cols}) SELECT record_id, {cols} "
            f"FROM {values.table(h.dataset)} WHERE record_id=?",
            (h.record_id,),
        )
    canon = canonical_record(list(new), list(new.values()))
    digest = hashlib.sha256(canon.encode()).hexdigest()
    kind = conn.execute(
        "SELECT key_kind FROM records WHERE record_id=?", (h.record_id,)
    ).fetchone()[0]
    if kind == "hash":
        conn.execute(
            "UPDATE records SET sha8=?, row_key=? WHERE record_id=?",
            (sha8(digest), digest, h.record_id),
        )
    else:
        conn.execute("UPDATE records SET sha8=? WHERE record_id=?", (sha8(digest), h.record_id))


def _stored(conn: sqlite3.Connection, dataset: str, rid: int, column: str) -> Any:
    return conn.execute(
        f"SELECT {values.quote(column)} FROM {values.table(dataset)} WHERE record_id=?", (rid,)
    ).fetchone()[0]


def _fts_columns(conn: sqlite3.Connection, fts: str) -> list[str]:
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name=?", (fts,)).fetchone():
        return []
    return [r[1] for r in conn.execute(f"PRAGMA table_info({values.quote(fts)})")]


# -- verification ---------------------------------------------------------------------------
def _rows_of(raw: bytes) -> tuple[list[str], list[list[str]]] | None:
    from archiver.api.pages import load_json

    try:
        body = load_json(raw)
        return [c["name"] for c in body["columnHeaders"]], body["records"]
    except (ValueError, KeyError, TypeError, RecursionError):
        return None


MAX_PROBLEMS = 20


@dataclass
class Proof:
    """What :func:`check` found: problems, and the rows it proved or found erased."""

    problems: list[str]
    proved: int = 0
    #: rows of pages a disposition removed (not proven: their bodies are gone)
    disposed: int = 0
    #: (request id, certificate id) → erased rows
    erased: dict[tuple[str, str], int] | None = None
    pages: int = 0

    def add(self, text: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)


def check(conn: sqlite3.Connection, found: Iterable[Any] | None = None) -> Proof:
    """Every page's commitments against its root, every row that keeps its salt proven from
    the page's row (its canonical form; the replay compares the records' stored values with
    the same rows), every row without a salt named by an ``erasure applied`` entry or on a
    page a ``disposition applied`` entry disposed of (whose rows keep no salt); the roots of pages stored before version 6
    against the chain the migration recorded. ``found``: the audit entries (read when None)."""
    found_entries = entries(conn) if found is None else entries_of(found)
    proof = Proof([], erased={})
    if not _has_tables(conn):
        proof.add(
            "record_commitments (every page): the per-record commitments are missing "
            "(schema 6 has them)"
        )
        return proof
    gone = erased_rows(found_entries)
    disposed = disposed_pages(conn, found)
    (orphans,) = conn.execute(
        "SELECT count(*) FROM record_salts s LEFT JOIN record_commitments c "
        "ON c.page_id = s.page_id AND c.row_index = s.row_index WHERE c.page_id IS NULL"
    ).fetchone()
    if orphans:
        proof.add(
            f"record_salts (every page): {orphans:,} salts belong to no committed row (added "
            "behind the archive's back)"
        )
    mig = commitments.migration_chain(migrate_entries(conn) if found is None else plain(found))
    legacy: list[Any] = [0, GENESIS]  # pages stored before version 6, the chain of their roots
    cur = conn.execute(
        "SELECT page_id, dataset, http_status, record_count, commit_root, chain_rule, encoding, "
        "body FROM pages ORDER BY page_id"
    )
    for page in cur:
        proof.pages += 1
        if page[5] is not None and page[5] < 3:
            legacy[0] += 1
            legacy[1] = chain_next(legacy[1], page[4] or commitments.EMPTY_ROOT)
        _check_page(conn, proof, page, gone, disposed)
    if mig is not None:
        if tuple(legacy) != mig:
            proof.add(
                f"record_commitments (pages stored before version 6): the commitment roots of "
                f"those {mig[0]:,} pages differ from what the migration to version 6 recorded"
            )
    elif legacy[0]:
        proof.add(
            f"record_commitments (pages stored before version 6): {legacy[0]:,} pages follow "
            "a chain rule without their commitment root, and no migration to version 6 records "
            "their roots"
        )
    return proof


def disposed_pages(conn: sqlite3.Connection, found: Iterable[Any] | None) -> dict[int, Any]:
    """page id → the ``disposition applied`` entry that disposed of it (``found``: the audit
    entries; read when None)."""
    from archiver.archive import retention

    state, _ = retention.fold(retention.entries(conn) if found is None else found)
    return dict(state.pages)


def _check_page(
    conn: sqlite3.Connection,
    proof: Proof,
    page: Sequence[Any],
    gone: Mapping[Any, Erased],
    disposed: Mapping[int, Any],
) -> None:
    from archiver.archive.rekey import DISPOSED, page_body

    pid, _ds, status, count, stored_root, _rule, enc, body = page
    rows = conn.execute(
        "SELECT c.row_index, c.record_id, c.commitment, s.salt FROM record_commitments c "
        "LEFT JOIN record_salts s ON s.page_id = c.page_id AND s.row_index = c.row_index "
        "WHERE c.page_id=? ORDER BY c.row_index",
        (pid,),
    ).fetchall()
    want = count if status == 200 else 0
    if [r[0] for r in rows] != list(range(want)):
        proof.add(
            f"record_commitments (page {pid}): {len(rows):,} rows have commitments, the page "
            f"has {want:,} records"
        )
    again = commitments.root(bytes(r[2]) for r in rows)
    if again != stored_root:
        proof.add(
            f"record_commitments (page {pid}): the page's commitments do not give its "
            f"commitment root (stored {str(stored_root)[:16]}…, recomputed {again[:16]}…)"
        )
    by = disposed.get(pid)
    if by is not None or enc == DISPOSED:
        # a disposed page has no body to prove its rows from: its root still holds its
        # commitments, and the page pass checks its disposition entry (archive/removal.py)
        proof.disposed += len(rows) if enc == DISPOSED else 0
        _check_disposed_salts(proof, pid, rows, by)
        return
    if not rows:
        return
    try:
        parsed = _rows_of(page_body(enc, body))
    except Exception:
        parsed = None
    if parsed is None:
        proof.add(f"record_commitments (page {pid}): its body cannot be read to prove its rows")
        return
    names, recs = parsed
    try:  # every row's canonical form at once (hashing.canonical_records: the definition)
        canons: list[str | None] = list(canonical_records(names, recs))
    except (TypeError, ValueError):
        canons = [None] * len(recs)
    for i, rid, com, salt in rows:
        if i >= len(recs):
            break
        _prove_row(proof, (pid, i, int(rid)), names, recs[i], canons[i], bytes(com), salt, gone)


def _check_disposed_salts(proof: Proof, pid: int, rows: Sequence[Any], by: Any) -> None:
    """A disposition destroys its pages' salts (archive/disposal.py): a disposed row has none
    (a salt there was kept or put back, and would confirm a guess of the disposed value),
    and a row whose salt is missing is disposed only where a disposition entry names its
    page. A disposition recorded before dispositions destroyed salts (its entry states no
    ``salts_destroyed``) kept them: those are not a fault."""
    if by is None:
        for i, rid, _com, salt in rows:
            if salt is None:
                proof.add(
                    f"record_salts (page {pid}, row {i}, record {rid}): missing, and no "
                    "`erasure applied` entry names the row nor a `disposition applied` entry "
                    "its page: it cannot be proven"
                )
        return
    if "salts_destroyed" not in by.details:
        return
    kept = [r for r in rows if r[3] is not None]
    if kept:
        i, rid = kept[0][0], kept[0][1]
        more = f" (and {len(kept) - 1:,} more rows of the page)" if len(kept) > 1 else ""
        proof.add(
            f"record_salts (page {pid}, row {i}, record {rid}){more}: a salt is stored, but "
            f"its salt was destroyed with the disposition under certificate "
            f"{by.details.get('certificate_id')} (audit entry {by.entry_id}): it was kept or "
            "put back, and with the kept commitment it would confirm a guess of what was disposed"
        )


def _prove_row(
    proof: Proof,
    where: tuple[int, int, int],
    names: list[str],
    rec: Sequence[Any],
    canon: str | None,
    com: bytes,
    salt: bytes | None,
    gone: Mapping[Any, Erased],
) -> None:
    pid, i, rid = where
    at = f"page {pid}, row {i}, record {rid}"
    mark = gone.get((pid, i))
    if salt is None:
        if mark is None:
            proof.add(
                f"record_salts ({at}): missing, and no `erasure applied` entry names the row "
                "nor a `disposition applied` entry its page: it cannot be proven"
            )
            return
        key = (mark.request_id, mark.certificate)
        assert proof.erased is not None
        proof.erased[key] = proof.erased.get(key, 0) + 1
        row = dict(zip(names, rec, strict=False))
        for f in mark.fields:
            if MARK not in str(row.get(f, "")):
                proof.add(
                    f"record_commitments ({at}): {f} was erased under request "
                    f"{mark.request_id}, but the page does not say {MARK}"
                )
        return
    if mark is not None:
        proof.add(
            f"record_salts ({at}): erased under request {mark.request_id}, but its salt was "
            "not destroyed"
        )
    if canon is None:
        proof.add(f"record_commitments ({at}): not a record of its page's column headers")
        return
    if commitments.commitment(bytes(salt), canon) != com:
        proof.add(
            f"record_commitments ({at}): the row does not prove against its commitment (the "
            "page's row, its salt or its commitment was changed since it was made)"
        )
        return
    # (the record's stored values are the page's row: the replay compares them, vals_<dataset>)
    proof.proved += 1


def _has_tables(conn: sqlite3.Connection) -> bool:
    (n,) = conn.execute(
        "SELECT count(*) FROM sqlite_master WHERE type='table' AND name IN "
        "('record_commitments', 'record_salts')"
    ).fetchone()
    return int(n) == 2


def replay_check(conn: sqlite3.Connection, entries: Iterable[Any] | None = None) -> list[str]:
    """verify-archive's replay of the commitment tables (WAVE3 decision 1): :func:`check`
    (``entries``: the audit entries, oldest first; read from ``conn`` when None)."""
    return check(conn, entries).problems
