"""Redaction profiles: applied to the exported copy only; the archive keeps the originals."""

from __future__ import annotations

REDACTED = "[REDACTED]"

PROFILES: dict[str, frozenset[str]] = {
    "none": frozenset(),
    "customer-pii": frozenset(
        {
            "FIRST_LAST_NAME",
            "SOURCE_PHONE_NUMBER",
            "SOURCE_EMAIL",
            "INTERACTION_NOTES",
            "TRANSCRIPT_TEXT",
            "CALLING_NUMBER",
            "UPDATEHISTORYITEM_INPUT",
            "WORKFLOWSESSION_DATA_VARIABLES",
        }
    ),
}


def redact(values: dict[str, str], profile: str) -> tuple[dict[str, str], list[str]]:
    """(values with the profile's fields replaced by [REDACTED], the fields that were)."""
    fields = PROFILES[profile]
    if not fields:
        return values, []
    out = dict(values)
    done = []
    for k in fields:
        if out.get(k):
            out[k] = REDACTED
            done.append(k)
    return out, sorted(done)
