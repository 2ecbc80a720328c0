"""The audit log: appending a chained entry (the one way every writer does it, the
migrations included), and one-line summaries of entries. The bundle report's chain of
custody and the app's audit table show the same words for the same entry, so the rule
lives here, once (and Qt-free: the report is rendered without a GUI)."""

from __future__ import annotations

import getpass
import os
import re
import sqlite3
from collections.abc import Callable, Mapping
from typing import Any

from archiver import __version__
from archiver.archive.hashing import GENESIS, audit_entry_digest, canonical_json, chain_next
from archiver.counts import LATEST, RECORDS, ROWS_RECEIVED, Term
from archiver.plural import plural
from archiver.timerange import format_range, parse_api_bound, utc_now

Details = Mapping[str, Any]


def os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (containers, services)
        return f"uid:{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def append(
    conn: sqlite3.Connection, event: str, details: dict[str, Any], run_id: str | None
) -> str:
    """Append a chained audit entry inside the caller's transaction; returns its chain."""
    entry = {
        "at": utc_now(),
        "event": event,
        "os_user": os_user(),
        "tool_version": __version__,
        "run_id": run_id,
        "details": details,
    }
    digest = audit_entry_digest(entry)
    row = conn.execute("SELECT chain FROM audit_log ORDER BY entry_id DESC LIMIT 1").fetchone()
    chain = chain_next(row[0] if row else GENESIS, digest)
    conn.execute(
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


def _n(value: Any) -> str:
    """A count with thousands separators; anything else as it is."""
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


#: how long a server's or an error's words may run in a one-line summary
BRIEF = 100
_FIRST_OF_MANY = re.compile(r"^[\d,]+ chunks? not archived; first: ")


def brief(text: Any, limit: int = BRIEF) -> str:
    """An error in a few words: one line, its first sentence, at most ``limit`` characters
    (cut at a word, with …). The entry keeps the whole text; a summary never pastes it."""
    t = " ".join(str(text or "").split())
    cut = re.search(r"(?<=[.!?])\s+(?=[A-Z])", t)  # the end of the first sentence
    if cut:
        t = t[: cut.start()]
    if len(t) <= limit:
        return t
    head = t[: limit - 1]
    return (head.rsplit(" ", 1)[0] if " " in head[limit // 2 :] else head).rstrip(" ,;:(") + "…"


def _counted(term: Term, value: Any, qualifier: str = "") -> str:
    """A count in the counts' words (archiver.counts); a value that is no count as it is."""
    if isinstance(value, int) and not isinstance(value, bool):
        return term.of(value, qualifier)
    return f"{value} {qualifier + ' ' if qualifier else ''}{term.plural}"


def _when(value: Any) -> str:
    """An ISO timestamp to the minute (``2025-02-01T00:00``), as entered by the user."""
    return str(value or "")[:16]


def _pull_started(d: Details) -> str:
    p = d.get("params") or {}
    if "datasets" in p:
        what = f"{', '.join(p.get('datasets') or []) or 'no datasets'} {_when(p.get('start'))} → {_when(p.get('end'))}"
        if p.get("daily"):
            what += " (daily rows)"
        if p.get("filter"):
            what += f"; filter {p['filter']}"
    else:  # a plan without parameters (a retry of named chunks)
        what = f"{p.get('description') or 'chunk list'} ({_n(p.get('chunks', 0))} chunks)"
    text = f"{what}; tenant {d.get('tenant') or 'unknown'}"
    return text + (" (simulated: demo data)" if p.get("simulated") is True else "")


def _pull_resumed(d: Details) -> str:
    return "interrupted run resumed with its original parameters"


def _pull_finished(d: Details) -> str:
    s = d.get("summary") or {}
    per = s.get("datasets") or {}
    rows = sum(v.get("rows", 0) for v in per.values())
    new = sum(v.get("new_versions", 0) for v in per.values())
    refused = [n for n, v in per.items() if v.get("not_entitled")]
    text = f"{d.get('status') or s.get('status') or 'ended'}"
    if len(refused) < len(per):
        text += f" ({', '.join(n for n in per if n not in refused)})"
    if refused:  # not archived at all: never listed as if they were
        text += f"; not entitled, not archived: {', '.join(refused)}"
    text += f"; {ROWS_RECEIVED.of(rows)}, {RECORDS.of(new, 'new')} archived"
    for key, label in (("failed", "failed"), ("pending", "still pending (202)")):
        count = sum(v.get(key, 0) for v in per.values())
        if count:
            text += f"; {plural(count, 'chunk')} {label}"
    if s.get("error"):  # the counts are above: the first failure, in a few words
        error = str(s["error"])
        first = _FIRST_OF_MANY.match(" ".join(error.split()))
        label = "first error" if first else "error"
        text += f"; {label}: {brief(error[first.end() :] if first else error)}"
    return text


def _key_fallback(d: Details) -> str:
    text = (
        f"{d.get('dataset', '?')} ({d.get('dataset_type', '?')}): key {d.get('rule', '?')} "
        f"replaced by {d.get('fallback', '?')} at page {d.get('page_id', '?')}"
    )
    return text + (f": {brief(d['reason'])}" if d.get("reason") else "")


def _verify_archive(d: Details) -> str:
    text = f"{d.get('result', '?')}: {_n(d.get('pages', 0))} pages, {_n(d.get('records', 0))} records checked"
    if d.get("chain_head"):
        text += f"; chain head {str(d['chain_head'])[:16]}…"
    if d.get("via"):
        text += f" (via {d['via']})"
    return text


def _backup(d: Details) -> str:
    return f"copy written to {d.get('to', '?')}"


def _export_dataset(d: Details) -> str:
    kind = "daily" if d.get("dataset_type") == "daily" else "15-minute"
    held = RECORDS if d.get("all_versions") else LATEST
    text = f"{_counted(held, d.get('rows', 0))} ({kind}) of {d.get('dataset', '?')} as {d.get('format', '?')}"
    if d.get("csv_formulas"):
        text += f" (formula cells: {d['csv_formulas']})"
    if d.get("from") or d.get("to"):
        text += f", {d.get('from') or '…'} to {d.get('to') or '…'}"
    return text + f" → {d.get('out', '?')}"


def _scope(scope: Details) -> str:
    """A bundle's scope in a few words: its intervals, what narrows it, which versions."""
    try:
        first = parse_api_bound(str(scope["first_interval"]))
        last = parse_api_bound(str(scope["last_interval"]))
        text = format_range(first, last)
    except (KeyError, ValueError):  # an entry that does not name its intervals
        text = f"{scope.get('start', '?')} to {scope.get('end', '?')}"
    interactions = list(scope.get("interactions") or [])
    if interactions:
        shown = ", ".join(str(i) for i in interactions[:3])
        more = f" and {len(interactions) - 3} more" if len(interactions) > 3 else ""
        text += f", interactions {shown}{more}"
    for key, label in (("agent", "agent"), ("queue", "queue"), ("channel", "channel")):
        if scope.get(key):
            text += f", {label} {scope[key]}"
    return text + f", {scope.get('versions') or 'latest'} versions"


def _export(d: Details) -> str:
    text = f"bundle {d.get('bundle_id', '?')}"
    if isinstance(d.get("scope"), Mapping):
        text += f" ({_scope(d['scope'])})"
    text += f", redaction {d.get('redaction', 'none')}"
    if d.get("redacted_fields"):
        text += f" ({len(d['redacted_fields'])} fields)"
    if "segments" in d or "traces" in d:
        scope = d.get("scope")
        held = RECORDS if isinstance(scope, Mapping) and scope.get("versions") == "all" else LATEST
        text += (
            f"; {_counted(held, d.get('segments', 0), 'interactionSegments')}, "
            f"{_counted(held, d.get('traces', 0), 'workflowTrace')}"
        )
    if d.get("out"):
        text += f" → {d['out']}"
    if d.get("signer_fingerprint"):
        text += f"; signed by {str(d['signer_fingerprint'])[:23]}…"
    return text


def _lock_taken_over(d: Details) -> str:
    old, by = d.get("previous"), d.get("by")
    if isinstance(old, Mapping):
        text = f"stale lock of pid {old.get('pid', '?')} on {old.get('host', '?')} (since {old.get('since', '?')}: {old.get('command', '?')})"
    else:
        text = "an unreadable stale lock"
    text += " taken over"
    if isinstance(by, Mapping) and by:
        text += f" by pid {by.get('pid', '?')} on {by.get('host', '?')}"
    return text + (f"; lock file {d['lock_file']}" if d.get("lock_file") else "")


def _checkpoint(d: Details) -> str:
    text = f"after {d.get('cause') or '?'}: {_n(d.get('pages', 0))} pages, chain head {str(d.get('chain_head') or '')[:16]}…"
    if d.get("audit_entries") is not None:
        text += f"; {_n(d.get('audit_entries'))} audit entries"
    if d.get("signer"):
        return text + f"; signed by {str(d['signer'])[:23]}…"
    return text + f"; unsigned ({d.get('unsigned') or 'no signing key'})"


def _migrate(d: Details) -> str:
    text = f"schema {d.get('from', '?')} → {d.get('to', '?')}"
    if d.get("chain_rule_1_pages") is not None:
        text += (
            f"; the {_n(d['chain_rule_1_pages'])} pages stored before keep their chain "
            f"(body hash only), their metadata recorded as {str(d.get('metadata_chain') or '')[:16]}…"
        )
    return text


_BY_EVENT: dict[str, Callable[[Details], str]] = {
    "pull started": _pull_started,
    "pull resumed": _pull_resumed,
    "pull finished": _pull_finished,
    "key fallback": _key_fallback,
    "verify-archive": _verify_archive,
    "backup": _backup,
    "export-dataset": _export_dataset,
    "export": _export,
    "checkpoint": _checkpoint,
    "migrate": _migrate,
    "archive lock taken over": _lock_taken_over,
}


def _generic(d: Details) -> str:
    """An event this module does not know yet: its plain values, so nothing shows empty."""
    return ", ".join(
        f"{k}={brief(v, 60)}" for k, v in d.items() if isinstance(v, str | int | float) and v != ""
    )


def summarise(event: str, details: Details) -> str:
    """One line saying what an audit entry records; never empty."""
    rule = _BY_EVENT.get(event)
    return (rule(details) if rule else _generic(details)) or event
