"""``--json`` output for monitoring: one JSON document on standard output per command run,
whatever the outcome (finished, failed, busy, usage error), with the same top-level fields
for every command: ``command``, ``status``, ``exit_code``, ``ok``, ``error``, ``errors``,
``archive``, ``started_at``, ``finished_at``, ``duration_s``, ``version``; then what the
command adds (a pull's ``totals`` and ``datasets``, a self-test's ``steps``).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from archiver import __version__
from archiver.pull.outcome import RunResult
from archiver.services.archive import VerifyReport

#: a pull's failure lines kept in its document (the archive's audit log keeps them all)
MAX_ERRORS = 50


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class Clock:
    """When a command started; :meth:`doc` stamps its end."""

    def __init__(self) -> None:
        self.started = time.time()

    def doc(
        self,
        command: str,
        status: str,
        exit_code: int,
        *,
        archive: Path | None = None,
        error: str | None = None,
        errors: list[str] | None = None,
        **more: Any,
    ) -> dict[str, Any]:
        ended = time.time()
        errs = errors if errors is not None else ([error] if error else [])
        return {
            "command": command,
            "status": status,
            "exit_code": exit_code,
            "ok": exit_code == 0,
            "error": error,
            "errors": errs[:MAX_ERRORS],
            "archive": str(archive.resolve()) if archive else None,
            "started_at": _iso(self.started),
            "finished_at": _iso(ended),
            "duration_s": round(ended - self.started, 3),
            "version": __version__,
            **more,
        }


def emit(doc: dict[str, Any]) -> None:
    print(json.dumps(doc, indent=2))


_TOTALS = (
    "chunks",
    "chunks_done",
    "pending",
    "failed",
    "unfinished",
    "pages",
    "rows",
    "new_versions",
    "duplicates",
    "conflicts",
    "quarantined",
)


def pull_doc(clock: Clock, result: RunResult, archive: Path, unattended: bool) -> dict[str, Any]:
    """A finished run: its custody summary (counted from the archive) with totals over the
    datasets and every chunk that was not archived, with its reason."""
    summary = result.summary()
    per = summary["datasets"]
    totals = {k: sum(d[k] for d in per.values()) for k in _TOTALS}
    totals["not_entitled_datasets"] = sorted(n for n, d in per.items() if d["not_entitled"])
    errors = [f for c in result.counts.values() for f in c["failures"]]
    if result.error and not errors:
        errors = [result.error]
    doc = clock.doc(
        "pull",
        summary["status"],
        result.exit_code,
        archive=archive,
        error=result.error,
        errors=errors,
        unattended=unattended,
        run_id=result.run_id,
        totals=totals,
        ending_reading=summary["ending_reading"],
        datasets=per,
    )
    return doc


def verify_doc(clock: Clock, report: VerifyReport, archive: Path, code: int) -> dict[str, Any]:
    return clock.doc(
        "verify-archive",
        "ok" if report.ok else "failed",
        code,
        archive=archive,
        error=report.problems[0] if report.problems else None,
        errors=list(report.problems),
        verdict=report.verdict(),
        replayed=report.replayed,
        external_checkpoints=report.external,
        pages=report.pages,
        records=report.records,
        audit_entries=report.audit_entries,
        quarantined=report.quarantined,
        chain_head=report.chain_head,
        audit_head=report.audit_head,
        missing_triggers=list(report.missing_triggers),
    )
