"""Unattended daily archiving, the use case: ``archiver schedule`` and the app's Download tab.

The operating system's half (the entries, systemd) is :mod:`archiver.system.schedule`; this
adds what needs the keyring and the archive. :func:`check` refuses a schedule whose pull
could not run (no client secret in the keyring, or nothing archived to continue from and
no ``--from``); :func:`install` checks, then writes and enables the units. The scheduled
pull runs with ``--unattended``, which its ``pull started`` audit entry records:
:func:`last_unattended_run` finds the newest one, and :func:`status` reports it with the
timer's state.
"""

from __future__ import annotations

from pathlib import Path

from archiver.archive.errors import StorageError
from archiver.archive.queries import audit, coverage
from archiver.archive.queries.reader import Reader
from archiver.credentials import load_secret
from archiver.system import schedule as system
from archiver.system.schedule import (
    ELSEWHERE,
    LAUNCHD_LABEL,
    PLATFORMS,
    SERVICE,
    TIMER,
    Changes,
    LastRun,
    Schedule,
    ScheduleError,
    ScheduleStatus,
    entries,
    remove,
    systemd_units,
    this_platform,
    unit_dir,
)
from archiver.timerange import INTERVAL

__all__ = [
    "ELSEWHERE",
    "LAUNCHD_LABEL",
    "PLATFORMS",
    "SERVICE",
    "TIMER",
    "Changes",
    "LastRun",
    "Schedule",
    "ScheduleError",
    "ScheduleStatus",
    "check",
    "entries",
    "install",
    "last_unattended_run",
    "remove",
    "status",
    "systemd_units",
    "this_platform",
    "unit_dir",
]


def check(s: Schedule) -> None:
    """Everything the daily run needs, checked now: ScheduleError naming the first gap."""
    tenant = system.validate(s)
    if not load_secret(tenant.label, s.client_id):
        raise ScheduleError(
            f"the OS keyring holds no client secret for {s.client_id!r} at {tenant.label}, and "
            f"the scheduled pull reads it from there: run `archiver login "
            f"{system.tenant_flag(s)} --client-id {s.client_id}` first, then install the schedule again."
        )
    never = _never_pulled(s)
    if never and not s.start:
        raise ScheduleError(
            f"nothing of {', '.join(never)} is archived in {s.archive} yet, so an incremental "
            "pull would not know where to begin: give --from START (the first day to archive), "
            "or pull once by hand first."
        )


def _never_pulled(s: Schedule) -> list[str]:
    """Datasets with no completed chunk in the archive (all of them when it is missing)."""
    if not s.archive.exists():
        return list(s.names())
    try:
        db = Reader(s.archive)
    except (OSError, StorageError) as exc:
        raise ScheduleError(f"cannot read the archive {s.archive}: {exc}") from None
    try:
        return [d for d in s.names() if coverage.last_done_end(db, d, INTERVAL, "") is None]
    except StorageError as exc:
        raise ScheduleError(f"cannot read the archive {s.archive}: {exc}") from None
    finally:
        db.close()


def install(s: Schedule, *, enable: bool = True) -> Changes:
    """Check, write the two units, and (``enable``) reload systemd and enable the timer.
    A unit at their paths that archiver did not write (or a link, a FIFO, a device there)
    is never replaced: ScheduleError says which."""
    check(s)
    foreign = system.not_ours()
    if foreign:
        raise ScheduleError(f"{foreign[0]}; nothing was installed")
    return system.install_units(s, enable=enable)


def last_unattended_run(archive: Path) -> LastRun | None:
    """From the archive's audit log: the newest `pull started` marked unattended, and its
    `pull finished` entry if there is one. None when the archive has none (or is missing)."""
    if not archive.exists():
        return None
    try:
        db = Reader(archive)
    except (OSError, StorageError):
        return None
    try:
        run = audit.last_unattended_run(db)
    except StorageError:
        return None
    finally:
        db.close()
    if run is None:
        return None
    if run.finished is None:
        return LastRun(run.run_id, run.started_at)
    details = run.finished
    summary = details.get("summary") or {}
    per = (summary.get("datasets") or {}).values()
    return LastRun(
        run.run_id,
        run.started_at,
        run.finished_at,
        details.get("status") or summary.get("status"),
        summary.get("exit_code"),
        sum(int(d.get("rows", 0)) for d in per),
        sum(int(d.get("new_versions", 0)) for d in per),
        summary.get("error"),
    )


def status(archive: Path | None = None, *, ask_systemd: bool = True) -> ScheduleStatus:
    """The schedule's state, and the last unattended run in ``archive`` (default: the one
    the installed schedule pulls into)."""
    st = system.status(ask_systemd=ask_systemd)
    st.archive = archive or (st.schedule.archive if st.schedule else None)
    if st.archive is not None:
        st.last_run = last_unattended_run(st.archive)
    return st
