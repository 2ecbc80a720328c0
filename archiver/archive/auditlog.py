"""One-line summaries of audit-log entries. The bundle report's chain of custody and the
app's audit table show the same words for the same entry, so the rule lives here, once
(and Qt-free: the report is rendered without a GUI)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Details = Mapping[str, Any]


def _n(value: Any) -> str:
    """A count with thousands separators; anything else as it is."""
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


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
    return f"{what}; tenant {d.get('tenant') or 'unknown'}"


def _pull_resumed(d: Details) -> str:
    return "interrupted run resumed with its original parameters"


def _pull_finished(d: Details) -> str:
    s = d.get("summary") or {}
    per = s.get("datasets") or {}
    rows = sum(v.get("rows", 0) for v in per.values())
    new = sum(v.get("new_versions", 0) for v in per.values())
    text = f"{d.get('status') or s.get('status') or 'ended'}"
    if per:
        text += f" ({', '.join(per)})"
    text += f"; {rows:,} rows received, {new:,} new row versions archived"
    for key, label in (("failed", "failed"), ("pending", "still pending (202)")):
        count = sum(v.get(key, 0) for v in per.values())
        if count:
            text += f"; {count:,} chunk(s) {label}"
    if s.get("error"):
        text += f"; error: {s['error']}"
    return text


def _key_fallback(d: Details) -> str:
    text = (
        f"{d.get('dataset', '?')} ({d.get('dataset_type', '?')}): key {d.get('rule', '?')} "
        f"replaced by {d.get('fallback', '?')} at page {d.get('page_id', '?')}"
    )
    return text + (f": {d['reason']}" if d.get("reason") else "")


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
    versions = "all versions" if d.get("all_versions") else "latest versions"
    text = f"{_n(d.get('rows', 0))} {kind} rows of {d.get('dataset', '?')} ({versions}) as {d.get('format', '?')}"
    if d.get("from") or d.get("to"):
        text += f", {d.get('from') or '…'} to {d.get('to') or '…'}"
    return text + f" → {d.get('out', '?')}"


def _export(d: Details) -> str:
    text = f"bundle {d.get('bundle_id', '?')}, redaction {d.get('redaction', 'none')}"
    if "segments" in d or "traces" in d:
        text += f"; {_n(d.get('segments', 0))} segment rows, {_n(d.get('traces', 0))} trace rows"
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
}


def _generic(d: Details) -> str:
    """An event this module does not know yet: its plain values, so nothing shows empty."""
    return ", ".join(
        f"{k}={v}" for k, v in d.items() if isinstance(v, str | int | float) and v != ""
    )


def summarise(event: str, details: Details) -> str:
    """One line saying what an audit entry records; never empty."""
    rule = _BY_EVENT.get(event)
    return (rule(details) if rule else _generic(details)) or event
