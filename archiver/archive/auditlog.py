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
from archiver.counts import HITS, INTERACTIONS, LATEST, RECORDS, ROWS_RECEIVED, Term
from archiver.plural import plural
from archiver.timerange import format_range, parse_api_bound, utc_now

Details = Mapping[str, Any]


def os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (containers, services)
        return f"uid:{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def append(
    conn: sqlite3.Connection,
    event: str,
    details: dict[str, Any],
    run_id: str | None,
    at: str | None = None,
) -> str:
    """Append a chained audit entry inside the caller's transaction; returns its chain.
    ``at``: its time (default now), when a table row states the same time."""
    entry = {
        "at": at or utc_now(),
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


#: What an OK cannot prove without a checkpoint kept outside the archive.
NO_EXTERNAL = (
    "a consistent rebuild by someone holding this archive, its sidecar and the signing key "
    "would also pass: compare with --expect-head or --witness"
)


def verified_words(
    *, replayed: bool, pages: int, records: int, audit_entries: int, external: int
) -> str:
    """What a passed verification proved, in the words verify-archive prints, the app's
    Verify archive dialog shows and the ``verify-archive`` entry is summarised with."""
    ext = f"chains extend {external:,} external checkpoint{'s' if external != 1 else ''}"
    if replayed:
        text = f"OK: replayed {pages:,} pages into {records:,} records; {ext}"
    else:
        text = (
            f"OK (quick: chains and checksums only, nothing was replayed): {pages:,} pages, "
            f"{audit_entries:,} audit entries; {ext}"
        )
    return text + (f"; {NO_EXTERNAL}." if not external else ".")


def _verify_archive(d: Details) -> str:
    if d.get("result") == "ok" and "replayed" in d:
        text = verified_words(
            replayed=bool(d.get("replayed")),
            pages=int(d.get("pages") or 0),
            records=int(d.get("records") or 0),
            audit_entries=int(d.get("audit_entries") or 0),
            external=int(d.get("external_checkpoints") or 0),
        )
        return text + (f" (via {d['via']})" if d.get("via") else "")
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
    if d.get("case"):
        ids = d.get("interactions")
        n = f", {_counted(INTERACTIONS, len(ids))}" if isinstance(ids, list) else ""
        text += f" of case {d['case']!r}{n}"
        if d.get("load_file"):
            text += f", {d['load_file']} load file"
    elif isinstance(d.get("scope"), Mapping):
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


def _archive_created(d: Details) -> str:
    return (
        f"archive {d.get('archive_id', '?')} created {d.get('created_at', '?')} by "
        f"{d.get('created_by', '?')}"
    )


def _chunk(d: Details) -> str:
    text = (
        f"{d.get('dataset', '?')} ({d.get('dataset_type', '?')}) chunk {d.get('chunk_start', '?')}"
    )
    if d.get("chunk_end"):
        text += f"–{d['chunk_end']}"
    return text + (f" filter {d['filter']}" if d.get("filter") else "")


def _chunk_failed(d: Details) -> str:
    return f"{_chunk(d)}: {d.get('message') or 'failed'}"


def _quarantined(d: Details) -> str:
    return (
        f"{_chunk(d)}: response of {_n(d.get('size', 0))} bytes (HTTP {d.get('http_status', '?')}) "
        f"kept aside: {d.get('error') or 'malformed'}; SHA-256 {str(d.get('sha256') or '')[:16]}…"
    )


def _migrate(d: Details) -> str:
    text = f"schema {d.get('from', '?')} → {d.get('to', '?')}"
    if isinstance(d.get("rederived"), Mapping):
        changed = [f"{k} {_n(v)}" for k, v in d["rederived"].items() if v]
        text += "; re-derived: " + (", ".join(changed) if changed else "nothing changed")
    if isinstance(d.get("outcomes"), list) and d["outcomes"]:
        text += (
            f"; {plural(len(d['outcomes']), 'chunk outcome')} no archived response explains, "
            "stated as found"
        )
    if isinstance(d.get("value_columns"), int):
        text += f"; {plural(d['value_columns'], 'values column')} mapped to a stored name"
        if d.get("renamed"):
            text += f" ({_n(d['renamed'])} renamed)"
    if d.get("chain_rule_1_pages") is not None:
        text += (
            f"; the {_n(d['chain_rule_1_pages'])} pages stored before keep their chain "
            f"(body hash only), their metadata recorded as {str(d.get('metadata_chain') or '')[:16]}…"
        )
    return text


def _search(d: Details) -> str:
    """The access log's line for a search: what was asked, over what, and what it found."""
    datasets = d.get("datasets")
    where = f" in {', '.join(map(str, datasets))}" if isinstance(datasets, list) else ""
    text = (
        f"searched {str(d.get('query', '?'))!r}{where}, {d.get('range') or 'everything archived'}"
    )
    text += f": {_counted(HITS, d.get('hits', 0))}, {_counted(RECORDS, d.get('records', 0))}"
    if d.get("counted") is False:
        text += " shown before a newer search replaced it (not all counted)"
    return text + (f" (via {d['via']})" if d.get("via") else "")


def _ids(d: Details) -> str:
    """Interaction ids of an entry, the first three named."""
    ids = d.get("interactions")
    if not isinstance(ids, list) or not ids:
        return "no interaction"
    shown = ", ".join(str(i) for i in ids[:3])
    more = f" and {len(ids) - 3} more" if len(ids) > 3 else ""
    return f"{_counted(INTERACTIONS, len(ids))} ({shown}{more})"


def _case_created(d: Details) -> str:
    text = f"case {d.get('case', '?')!r} opened: {d.get('reason') or 'no reason given'}"
    return text + (f" (reference {d['reference']})" if d.get("reference") else "")


def _case_changed(d: Details) -> str:
    case = f"case {d.get('case', '?')!r}"
    if d.get("change") == "removed":
        text = f"{_ids(d)} removed from {case}"
        return text + (f": {d['reason']}" if d.get("reason") else "")
    text = f"{_ids(d)} added to {case}"
    search = d.get("search")
    if d.get("via") == "search" and isinstance(search, Mapping):
        text += (
            f", found by the search {str(search.get('query', '?'))!r}, "
            f"{search.get('range') or 'everything archived'} "
            f"({_counted(HITS, search.get('hits', 0))})"
        )
    else:
        text += " by hand"
    return text


def _case_closed(d: Details) -> str:
    text = f"case {d.get('case', '?')!r} closed"
    return text + (f": {d['reason']}" if d.get("reason") else "")


def _hold_placed(d: Details) -> str:
    text = f"legal hold placed on case {d.get('case', '?')!r}: {d.get('reason') or '?'}"
    ids = d.get("interactions")
    return text + (f" ({_counted(INTERACTIONS, len(ids))} then)" if isinstance(ids, list) else "")


def _hold_released(d: Details) -> str:
    return f"legal hold on case {d.get('case', '?')!r} released: {d.get('reason') or '?'}"


def _interaction_opened(d: Details) -> str:
    text = f"rows shown of {_ids(d)}"
    if d.get("case"):
        text += f" of case {d['case']!r}"
    by = " ".join(str(d[k]) for k in ("by", "via") if d.get(k))
    return text + (f" ({by})" if by else "")


def _index_rebuilt(d: Details) -> str:
    per = d.get("records")
    if not isinstance(per, Mapping):
        return "search index rebuilt"
    total = sum(v for v in per.values() if isinstance(v, int))
    return f"search index rebuilt: {_counted(RECORDS, total)} indexed in {len(per)} datasets"


def _credentials_redacted(d: Details) -> str:
    where = (
        f"page {d['page_id']}"
        if d.get("page_id") is not None
        else f"quarantined response {d.get('quarantine_id', '?')}"
    )
    return (
        f"{_n(d.get('replaced', 0))} of our credentials replaced by [redacted] in {where} "
        f"({d.get('dataset', '?')} {d.get('chunk_start', '?')}, HTTP {d.get('http_status', '?')}); "
        f"received {_n(d.get('received_size', 0))} bytes, SHA-256 "
        f"{str(d.get('received_sha256') or '')[:16]}…"
    )


def _retention_set(d: Details) -> str:
    kind = f" ({d.get('dataset_type')} rows)" if d.get("dataset_type") else ""
    why = f": {d.get('reason')}" if d.get("reason") else ""
    return f"retention of {d.get('dataset', '?')}{kind} set to {d.get('period', '?')}{why}"


def _retention_cleared(d: Details) -> str:
    kind = f" ({d.get('dataset_type')} rows)" if d.get("dataset_type") else ""
    return f"retention schedule of {d.get('dataset', '?')}{kind} cleared: kept forever"


def _disposition(d: Details) -> str:
    pages = d.get("pages")
    n = sum(b - a + 1 for a, b in pages) if isinstance(pages, list) else 0
    records = d.get("records") if isinstance(d.get("records"), int) else 0
    return (
        f"disposition {d.get('certificate_id', '?')} (plan {d.get('plan_id', '?')}, as of "
        f"{d.get('as_of', '?')}): {plural(n, 'page')}, {_counted(RECORDS, records)} disposed of: "
        f"{d.get('reason') or '?'}"
    )


def _certificate(d: Details) -> str:
    return (
        f"disposition certificate {d.get('certificate_id', '?')} written: {d.get('pdf', '?')} "
        f"(JSON SHA-256 {str(d.get('json_sha256', ''))[:16]}…)"
    )


_BY_EVENT: dict[str, Callable[[Details], str]] = {
    "retention set": _retention_set,
    "retention cleared": _retention_cleared,
    "disposition applied": _disposition,
    "disposition certificate written": _certificate,
    "search": _search,
    "search index rebuilt": _index_rebuilt,
    "case created": _case_created,
    "case changed": _case_changed,
    "case closed": _case_closed,
    "hold placed": _hold_placed,
    "hold released": _hold_released,
    "interaction opened": _interaction_opened,
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
    "archive created": _archive_created,
    "chunk failed": _chunk_failed,
    "quarantined": _quarantined,
    "credentials redacted": _credentials_redacted,
}


#: The kinds of entry the Audit tab filters by: a label and the events it holds (an event
#: may be in more than one kind). "Access" is the access log: who looked at what, and when.
KINDS: dict[str, tuple[str, ...]] = {
    "Access (searches, interactions opened, exports)": (
        "search",
        "interaction opened",
        "export",
        "export-dataset",
    ),
    "Searches": ("search",),
    "Interactions opened": ("interaction opened",),
    "Cases and legal holds": (
        "case created",
        "case changed",
        "case closed",
        "hold placed",
        "hold released",
    ),
    "Exports": ("export", "export-dataset", "backup"),
    "Pulls": (
        "pull started",
        "pull resumed",
        "pull finished",
        "key fallback",
        "chunk failed",
        "quarantined",
        "credentials redacted",
        "archive lock taken over",
    ),
    "Verification and checkpoints": (
        "verify-archive",
        "checkpoint",
        "migrate",
        "archive created",
    ),
    "Search index": ("search index rebuilt",),
    "Retention and dispositions": (
        "retention set",
        "retention cleared",
        "disposition applied",
        "disposition certificate written",
    ),
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
