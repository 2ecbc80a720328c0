"""Retention schedules and dispositions: a materialised view of their custody entries.

A schedule (``retention set`` / ``retention cleared``) and a disposition (``disposition
applied``) are each one chained audit-log entry whose details carry everything the tables
here hold; who and when are the entry's own ``os_user`` and ``at``. The tables are what
:func:`fold` makes of those entries and nothing else (as archive/cases.py does for cases):
the writer appends an entry and makes the tables again from the entries, and verify-archive's
replay (:func:`replay_check`) makes every row again from the whole log and names each
difference.

A disposition removes page bodies (the row, its SHA-256, metadata and chain stay: the
page's ``encoding`` becomes ``disposed`` and its body empty), the values of the records
those pages hold (the records' rows, their identities and hashes, stay), and their search
index entries (:func:`dispose`). Its entry names the pages (as runs of ids), a digest of the
records rows they hold (so the rows are still checked after their values are gone), the
intervals disposed, what was kept for which hold, the chain heads before, and a detached CMS
signature of all that by the signing key (:func:`signed_content`): verify-archive accepts a
missing body only where such an entry covers the page (archive/removal.py).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from archiver.archive import auditlog
from archiver.archive.cases import Entry, compare_rows, entry_of
from archiver.archive.hashing import canonical_json
from archiver.archive.rekey import DISPOSED as DISPOSED
from archiver.datasets import DATASETS
from archiver.timerange import DAILY, DAY, INTERVAL, STEP, api_format, parse_api_bound

SET = "retention set"
CLEARED = "retention cleared"
APPLIED = "disposition applied"
CERTIFIED = "disposition certificate written"
EVENTS = (SET, CLEARED, APPLIED)
#: every dataset type a schedule may name; '' (no --dataset-type): all of the dataset's
DATASET_TYPES = ("interval", "daily")

PERIOD = re.compile(r"^\s*(\d{1,4})\s*([ymd])\s*$", re.IGNORECASE)
PERIOD_WORDS = {"y": ("year", "years"), "m": ("month", "months"), "d": ("day", "days")}

#: How verify-archive's table registry classifies the tables this module creates.
TABLES: dict[str, tuple[str, str]] = {
    "retention_schedules": (
        "replayed",
        "from the `retention set` / `retention cleared` audit entries "
        "(archive/retention.replay_check)",
    ),
    "dispositions": (
        "replayed",
        "from the `disposition applied` audit entries (archive/retention.replay_check)",
    ),
    "disposed_pages": (
        "replayed",
        "the pages each `disposition applied` entry names (archive/retention.replay_check)",
    ),
    "disposed_intervals": (
        "replayed",
        "the intervals each `disposition applied` entry names (archive/retention.replay_check)",
    ),
}

DDL = (
    """CREATE TABLE IF NOT EXISTS retention_schedules (
        dataset      TEXT NOT NULL,
        dataset_type TEXT NOT NULL,          -- interval | daily | '' (every type of it)
        period       TEXT NOT NULL,          -- 6y, 18m, 90d
        set_entry    INTEGER NOT NULL,       -- its `retention set` audit entry
        set_at       TEXT NOT NULL,
        set_by       TEXT NOT NULL,
        reason       TEXT NOT NULL,
        PRIMARY KEY (dataset, dataset_type)
    )""",
    """CREATE TABLE IF NOT EXISTS dispositions (
        entry_id       INTEGER PRIMARY KEY,  -- its `disposition applied` audit entry
        plan_id        TEXT NOT NULL,
        certificate_id TEXT NOT NULL,
        as_of          TEXT NOT NULL,
        applied_at     TEXT NOT NULL,
        applied_by     TEXT NOT NULL,
        reason         TEXT NOT NULL,
        pages          INTEGER NOT NULL,
        records        INTEGER NOT NULL,
        bytes          INTEGER NOT NULL,
        intervals      INTEGER NOT NULL,
        schedules      TEXT NOT NULL         -- the schedules applied, in words
    )""",
    """CREATE TABLE IF NOT EXISTS disposed_pages (
        page_id  INTEGER PRIMARY KEY,
        entry_id INTEGER NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS disposed_intervals (
        dataset        TEXT NOT NULL,
        dataset_type   TEXT NOT NULL,
        interval_start TEXT NOT NULL,        -- YYYYMMDDHHmm (daily: YYYYMMDD)
        entry_id       INTEGER NOT NULL,
        schedule       TEXT NOT NULL,        -- the stream's schedule applied, in words
        PRIMARY KEY (dataset, dataset_type, interval_start)
    ) WITHOUT ROWID""",
)
COLUMNS: dict[str, tuple[str, ...]] = {
    "retention_schedules": (
        "dataset",
        "dataset_type",
        "period",
        "set_entry",
        "set_at",
        "set_by",
        "reason",
    ),
    "dispositions": (
        "entry_id",
        "plan_id",
        "certificate_id",
        "as_of",
        "applied_at",
        "applied_by",
        "reason",
        "pages",
        "records",
        "bytes",
        "intervals",
        "schedules",
    ),
    "disposed_pages": ("page_id", "entry_id"),
    "disposed_intervals": ("dataset", "dataset_type", "interval_start", "entry_id", "schedule"),
}
KEYS: dict[str, tuple[str, ...]] = {
    "retention_schedules": ("dataset", "dataset_type"),
    "dispositions": ("entry_id",),
    "disposed_pages": ("page_id",),
    "disposed_intervals": ("dataset", "dataset_type", "interval_start"),
}
#: the records columns a disposition's digest covers (their rows stay; their values go)
RECORD_FIELDS = (
    "record_id",
    "stream_id",
    "row_key",
    "key_kind",
    "interval_start",
    "sha8",
    "columns_id",
    "page_id",
    "row_index",
    "conflict",
)


def ensure_tables(conn: sqlite3.Connection) -> None:
    for stmt in DDL:
        conn.execute(stmt)


def has_tables(conn: sqlite3.Connection) -> bool:
    (n,) = conn.execute(
        "SELECT count(*) FROM sqlite_master WHERE type='table' AND name IN "
        "('retention_schedules', 'dispositions', 'disposed_pages', 'disposed_intervals')"
    ).fetchone()
    return int(n) == 4


# -- periods -------------------------------------------------------------------------------
def parse_period(text: str) -> tuple[int, str]:
    """``6y`` → (6, 'y'); ValueError naming the form for anything else."""
    m = PERIOD.match(text or "")
    if not m or int(m.group(1)) == 0:
        raise ValueError(
            f"not a retention period: {text!r}; give a number and a unit: 6y (years), "
            "18m (months) or 90d (days)"
        )
    return int(m.group(1)), m.group(2).lower()


def normal_period(text: str) -> str:
    n, unit = parse_period(text)
    return f"{n}{unit}"


def period_words(text: str) -> str:
    n, unit = parse_period(text)
    one, many = PERIOD_WORDS[unit]
    return f"{n} {one if n == 1 else many}"


# -- ranges of ids ---------------------------------------------------------------------------
def runs(ids: Iterable[int]) -> list[list[int]]:
    """Sorted ids as [first, last] runs of consecutive ids (how an entry names pages)."""
    out: list[list[int]] = []
    for i in sorted(set(ids)):
        if out and i == out[-1][1] + 1:
            out[-1][1] = i
        else:
            out.append([i, i])
    return out


def expand(found: Any) -> list[int]:
    """The ids of [first, last] runs (what :func:`runs` wrote); [] for anything else."""
    out: list[int] = []
    if not isinstance(found, list):
        return out
    for pair in found:
        if (
            isinstance(pair, list)
            and len(pair) == 2
            and all(isinstance(x, int) and not isinstance(x, bool) for x in pair)
            and pair[0] <= pair[1]
            and pair[1] - pair[0] < 10_000_000
        ):
            out.extend(range(pair[0], pair[1] + 1))
    return out


def interval_runs(keys: Iterable[str]) -> list[list[str]]:
    """Interval keys (YYYYMMDDHHmm, or days YYYYMMDD) as [first, last] runs of consecutive
    ones (how an entry names intervals)."""
    out: list[list[str]] = []
    last: datetime | None = None
    for key in sorted(set(keys)):
        t = parse_api_bound(key)
        if out and last is not None and len(key) == len(out[-1][1]) and t == last + _step(key):
            out[-1][1] = key
        else:
            out.append([key, key])
        last = t
    return out


def _step(key: str) -> timedelta:
    return STEP if len(key) == 12 else DAY


def expand_intervals(found: Any) -> list[str]:
    """The interval keys of [first, last] runs; [] for anything malformed."""
    out: list[str] = []
    if not isinstance(found, list):
        return out
    for pair in found:
        if not (
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(k, str) for k in pair)
        ):
            continue
        first, last = pair
        if len(first) != len(last) or len(first) not in (8, 12) or first > last:
            continue
        try:
            t, end = parse_api_bound(first), parse_api_bound(last)
        except ValueError:
            continue
        kind = INTERVAL if len(first) == 12 else DAILY
        for _ in range(1_000_000):
            out.append(api_format(t, kind))
            t += _step(first)
            if t > end:
                break
    return out


def interval_rows(found: Any) -> Iterator[tuple[str, str, str]]:
    """(dataset, dataset_type, interval) of an entry's ``intervals``: [dataset, type, runs]
    per stream."""
    if not isinstance(found, list):
        return
    for item in found:
        if isinstance(item, list) and len(item) == 3:
            for key in expand_intervals(item[2]):
                yield str(item[0]), str(item[1]), key


# -- the entries ---------------------------------------------------------------------------
def entries(conn: sqlite3.Connection) -> list[Entry]:
    marks = ",".join("?" * len(EVENTS))
    return [
        Entry(entry_id, at, event, user, json.loads(details))
        for entry_id, at, event, user, details in conn.execute(
            f"""SELECT entry_id, at, event, os_user, details FROM audit_log
                WHERE event IN ({marks}) ORDER BY entry_id""",
            EVENTS,
        )
    ]


@dataclass(frozen=True)
class Schedule:
    dataset: str
    dataset_type: str  # '' = every type
    period: str
    entry: Entry

    @property
    def reason(self) -> str:
        return str(self.entry.details.get("reason") or "")

    def describe(self) -> str:
        kind = f" ({self.dataset_type})" if self.dataset_type else ""
        return f"{self.dataset}{kind} {self.period}"


@dataclass
class State:
    schedules: dict[tuple[str, str], Schedule] = field(default_factory=dict)
    dispositions: list[Entry] = field(default_factory=list)
    #: page id → the disposition entry that removed its body
    pages: dict[int, Entry] = field(default_factory=dict)

    def schedule_for(self, dataset: str, dataset_type: str) -> Schedule | None:
        """The schedule of a stream: its type's own, else its dataset's."""
        return self.schedules.get((dataset, dataset_type)) or self.schedules.get((dataset, ""))


def refusal(state: State, event: str, d: Mapping[str, Any]) -> str | None:
    """Why an entry may not be made (None: it may): the writer's rule and the replay's."""
    dataset, dtype = str(d.get("dataset") or ""), str(d.get("dataset_type") or "")
    if event in (SET, CLEARED):
        if dataset not in DATASETS:
            return f"not a dataset: {dataset!r}"
        if dtype not in ("", *DATASET_TYPES):
            return f"not a dataset type: {dtype!r} (interval or daily)"
        if event == SET:
            try:
                parse_period(str(d.get("period") or ""))
            except ValueError as exc:
                return str(exc)
            return None
        if (dataset, dtype) not in state.schedules:
            kind = f" ({dtype})" if dtype else ""
            return f"{dataset}{kind} has no retention schedule (kept forever already)"
        return None
    if event == APPLIED:
        pages = expand(d.get("pages"))
        if not pages:
            return "the disposition names no page"
        again = sorted(p for p in pages if p in state.pages)
        if again:
            return f"page {again[0]} was disposed already (audit entry {state.pages[again[0]].entry_id})"
        return None
    return f"not a retention event: {event!r}"


def apply(state: State, e: Entry) -> None:
    d = e.details
    if e.event == SET:
        key = (str(d["dataset"]), str(d.get("dataset_type") or ""))
        state.schedules[key] = Schedule(key[0], key[1], normal_period(str(d["period"])), e)
    elif e.event == CLEARED:
        state.schedules.pop((str(d["dataset"]), str(d.get("dataset_type") or "")), None)
    elif e.event == APPLIED:
        state.dispositions.append(e)
        for p in expand(d.get("pages")):
            state.pages[p] = e


def fold(found: Iterable[Any]) -> tuple[State, list[str]]:
    state, problems = State(), []
    for raw in found:
        e = entry_of(raw)
        if e.event not in EVENTS:
            continue
        why = refusal(state, e.event, e.details)
        if why is not None:
            problems.append(f"audit entry {e.entry_id} ({e.event}) should not exist: {why}")
            continue
        apply(state, e)
    return state, problems


def _num(d: Mapping[str, Any], key: str) -> int:
    v = d.get(key)
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def rows(state: State) -> dict[str, list[tuple[Any, ...]]]:
    out: dict[str, list[tuple[Any, ...]]] = {t: [] for t in COLUMNS}
    for (ds, dtype), s in sorted(state.schedules.items()):
        out["retention_schedules"].append(
            (ds, dtype, s.period, s.entry.entry_id, s.entry.at, s.entry.os_user, s.reason)
        )
    for e in state.dispositions:
        d = e.details
        found = d.get("schedules")
        scheds: list[Any] = found if isinstance(found, list) else []
        words = ", ".join(
            f"{s.get('dataset')}{' (' + str(s.get('dataset_type')) + ')' if s.get('dataset_type') else ''} {s.get('period')}"
            for s in scheds
            if isinstance(s, Mapping)
        )
        intervals = list(interval_rows(d.get("intervals")))
        out["dispositions"].append(
            (
                e.entry_id,
                str(d.get("plan_id") or ""),
                str(d.get("certificate_id") or ""),
                str(d.get("as_of") or ""),
                e.at,
                e.os_user,
                str(d.get("reason") or ""),
                len(expand(d.get("pages"))),
                _num(d, "records"),
                _num(d, "bytes"),
                len(set(intervals)),
                words,
            )
        )
    for pid, e in sorted(state.pages.items()):
        out["disposed_pages"].append((pid, e.entry_id))
    seen: dict[tuple[str, str, str], tuple[int, str]] = {}
    for e in state.dispositions:
        named = {
            (str(s.get("dataset")), str(s.get("dataset_type"))): str(s.get("schedule") or "")
            for s in e.details.get("datasets") or []
            if isinstance(s, Mapping)
        }
        for key in interval_rows(e.details.get("intervals")):
            seen.setdefault(key, (e.entry_id, named.get((key[0], key[1]), "")))
    out["disposed_intervals"] = [(*k, *v) for k, v in sorted(seen.items())]
    return out


def rewrite(conn: sqlite3.Connection, state: State) -> None:
    ensure_tables(conn)
    for table, found in rows(state).items():
        conn.execute(f"DELETE FROM {table}")
        cols = COLUMNS[table]
        conn.executemany(
            f"INSERT INTO {table}({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
            found,
        )


class RetentionRefused(Exception):
    """The change makes no sense (the message says why); nothing written."""


def write_schedule(conn: sqlite3.Connection, event: str, details: dict[str, Any]) -> State:
    """Append a schedule entry and make the tables again, in the caller's transaction."""
    ensure_tables(conn)
    before, _ = fold(entries(conn))
    why = refusal(before, event, details)
    if why is not None:
        raise RetentionRefused(why)
    auditlog.append(conn, event, details, None)
    after, _ = fold(entries(conn))
    rewrite(conn, after)
    return after


def state(conn: sqlite3.Connection) -> State:
    return fold(entries(conn))[0]


# -- the disposition -----------------------------------------------------------------------
def records_digest(conn: sqlite3.Connection, page_ids: Sequence[int]) -> tuple[int, str]:
    """(records, SHA-256 of their rows) of the records on these pages, in record_id order:
    what a disposition's entry states, so that the rows stay checked after their values go."""
    h = hashlib.sha256()
    n = 0
    conn.execute("DROP TABLE IF EXISTS temp.disposal_pages")
    conn.execute("CREATE TEMP TABLE disposal_pages(page_id INTEGER PRIMARY KEY)")
    try:
        conn.executemany("INSERT INTO temp.disposal_pages VALUES (?)", [(p,) for p in page_ids])
        for row in conn.execute(
            f"""SELECT {", ".join("r." + c for c in RECORD_FIELDS)} FROM records r
                WHERE r.page_id IN (SELECT page_id FROM temp.disposal_pages)
                ORDER BY r.record_id"""
        ):
            h.update(canonical_json(list(row)).encode())
            h.update(b"\n")
            n += 1
    finally:
        conn.execute("DROP TABLE IF EXISTS temp.disposal_pages")
    return n, h.hexdigest()


def signed_content(details: Mapping[str, Any]) -> bytes:
    """What a disposition entry's signature is over: its details without the signature."""
    return canonical_json({k: v for k, v in details.items() if k != "signature"}).encode()


# -- the replay ----------------------------------------------------------------------------
def replay_check(conn: sqlite3.Connection, found: Iterable[Any] | None = None) -> list[str]:
    """verify-archive's replay of the retention tables: every row made again from the
    entries (``found``: the audit entries, oldest first; read from ``conn`` when None) and
    compared; the entries the rule refuses are named."""
    state_, problems = fold(entries(conn) if found is None else found)
    want = rows(state_)
    if not has_tables(conn):
        if any(want.values()):
            problems.append(
                "retention: the retention tables are missing, but the audit log has "
                "retention or disposition entries"
            )
        return problems
    for table, cols in COLUMNS.items():
        problems += compare_rows(conn, table, cols, KEYS[table], want[table])
    return problems


# -- the entry's signature -------------------------------------------------------------------
def sign(details: dict[str, Any], key: Any, cert: x509.Certificate) -> dict[str, Any]:
    """``details`` with the signer's certificate and a signature over all the rest (ECDSA
    or RSA with SHA-256, as checkpoints are signed)."""
    body = {k: v for k, v in details.items() if k != "signature"}
    body["signer"] = fingerprint(cert)
    body["signer_certificate"] = cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
    body["alg"] = "ecdsa-sha256" if isinstance(key, ec.EllipticCurvePrivateKey) else "rsa-sha256"
    data = signed_content(body)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        sig = key.sign(data, ec.ECDSA(hashes.SHA256()))
    else:
        sig = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    body["signature"] = base64.b64encode(sig).decode("ascii")
    return body


def fingerprint(cert: x509.Certificate) -> str:
    """As export/keys.cert_fingerprint spells it (hex pairs joined by colons, upper case)."""
    h = cert.fingerprint(hashes.SHA256()).hex().upper()
    return ":".join(h[i : i + 2] for i in range(0, len(h), 2))


def signature_problem(details: Mapping[str, Any]) -> str | None:
    """Why the entry's signature does not hold (None: it verifies with the certificate the
    entry names, whose fingerprint it states)."""
    try:
        cert = x509.load_pem_x509_certificate(str(details.get("signer_certificate") or "").encode())
    except ValueError:
        return "it carries no readable signer certificate"
    if fingerprint(cert) != str(details.get("signer") or ""):
        return "its signer fingerprint is not its certificate's"
    try:
        sig = base64.b64decode(str(details.get("signature") or ""), validate=True)
        public = cert.public_key()
        data = signed_content(details)
        if details.get("alg") == "ecdsa-sha256" and isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(sig, data, ec.ECDSA(hashes.SHA256()))
            return None
        if details.get("alg") == "rsa-sha256" and isinstance(public, rsa.RSAPublicKey):
            public.verify(sig, data, padding.PKCS1v15(), hashes.SHA256())
            return None
    except (InvalidSignature, ValueError):
        pass
    return "its signature does not verify (the entry was altered, or signed by another key)"
