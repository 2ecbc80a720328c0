"""``archiver self-test`` and ``archiver schedule install|remove|status``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from archiver.cli import common, monitor
from archiver.credentials import ENV_ID
from archiver.jobs import drive
from archiver.services import schedule as schedules
from archiver.services import selftest
from archiver.settings import Settings

SCHEDULE_HELP = """what runs:
  <this program, by absolute path> pull --customer ID --client-id ID --dataset NAME …
      --incremental --lookback 2d --archive PATH --json --unattended
  daily at --at (local time); a day missed while the machine was off runs at the next start.
  The client secret is read from the OS keyring (`archiver login` first); the tenant, client
  id and archive default to the desktop app's connection settings.

exit codes of the scheduled pull: those of `archiver pull` (see `archiver pull --help`);
  6 means the archive was busy (the desktop app or another pull was pulling into it).
"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    t = sub.add_parser(
        "self-test",
        help="check the whole evidence path offline, in a temporary directory",
        description="Start the embedded simulator, pull one day of two datasets into a "
        "temporary archive, compare every row with the simulator's, verify the archive, export "
        "a bundle signed with a throwaway key and verify it. One PASS/FAIL line per step and a "
        "verdict; exit 0 only when every step passed. Touches none of your archives, keys, "
        "keyring entries or settings.",
    )
    t.add_argument("--json", action="store_true", help="print only one JSON document")
    t.add_argument(
        "--keep", type=Path, metavar="DIR", help="work in DIR (must not exist) and keep it"
    )
    t.set_defaults(func=run_self_test)

    s = sub.add_parser(
        "schedule",
        help="unattended daily archiving (a systemd user timer)",
        description="install: write a systemd user service and timer (~/.config/systemd/user/"
        f"{schedules.SERVICE} and .timer, XDG_CONFIG_HOME respected) that run the incremental "
        "pull daily, and enable the timer; on Windows and macOS, print the Task Scheduler "
        "command or launchd agent to install. remove: disable and delete them. status: "
        "installed or not, enabled, the next run, and the last unattended run from the "
        "archive's audit log.",
        epilog=SCHEDULE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("action", choices=("install", "remove", "status"))
    common.add_tenant(s, required=False)
    which = s.add_mutually_exclusive_group()
    which.add_argument(
        "--dataset", action="append", metavar="NAME", help="dataset to pull (repeatable)"
    )
    which.add_argument("--all", action="store_true", help="all 13 datasets")
    common.add_archive(s)
    s.add_argument("--at", default="02:30", metavar="HH:MM", help="local time (default 02:30)")
    s.add_argument(
        "--lookback", default="2d", metavar="DURATION", help="re-read this much (default 2d)"
    )
    s.add_argument(
        "--from",
        dest="start",
        metavar="START",
        help="where a dataset with nothing archived yet begins (its first run)",
    )
    s.add_argument(
        "--no-enable",
        action="store_true",
        help="write or delete the units without calling systemctl",
    )
    s.add_argument(
        "--platform",
        choices=schedules.PLATFORMS,
        default=schedules.this_platform(),
        help="print the entry for this platform (default: the one running)",
    )
    s.add_argument(
        "--dry-run", action="store_true", help="print what install would write; change nothing"
    )
    s.add_argument("--json", action="store_true", help="status: as JSON")
    s.set_defaults(func=run_schedule)


# -- self-test ------------------------------------------------------------------------------
def run_self_test(args: argparse.Namespace) -> int:
    clock = monitor.Clock()

    def show(step: selftest.Step) -> None:
        if not args.json:
            print(step.line(), flush=True)

    result = drive(selftest.run(keep=args.keep), show)
    code = 0 if result.ok else 1
    if args.json:
        failed = [f"{s.name}: {s.detail}" for s in result.steps if not s.ok]
        monitor.emit(
            clock.doc(
                "self-test",
                "passed" if result.ok else "failed",
                code,
                error=failed[0] if failed else None,
                errors=failed,
                verdict=result.verdict(),
                steps=[s.as_dict() for s in result.steps],
            )
        )
    else:
        print(result.verdict())
        if args.keep:
            print(f"Kept the self-test's files in {args.keep}")
    return code


# -- schedule -------------------------------------------------------------------------------
def run_schedule(args: argparse.Namespace) -> int:
    try:
        if args.action == "install":
            return _install(args)
        if args.action == "remove":
            return _report(schedules.remove(enable=not args.no_enable))
        return _status(args)
    except schedules.ScheduleError as exc:
        print(f"archiver schedule {args.action}: {exc}", file=sys.stderr)
        return 2


def _schedule(args: argparse.Namespace) -> schedules.Schedule:
    """The schedule asked for; the tenant, client id and archive default to the desktop
    app's connection settings."""
    settings = Settings()
    named = args.customer or args.base_url
    if not (args.dataset or args.all):
        raise schedules.ScheduleError("name datasets with --dataset NAME (repeatable) or --all")
    archive = args.archive or settings.archive_path()
    if args.platform == schedules.this_platform():
        archive = Path(os.path.abspath(archive.expanduser()))
    return schedules.Schedule(
        archive=archive,
        client_id=args.client_id or os.environ.get(ENV_ID) or settings.get("client_id"),
        customer=args.customer or (None if named else settings.get("customer_id") or None),
        base_url=args.base_url or (None if named else settings.get("base_url") or None),
        ca_bundle=args.ca_bundle or settings.get("ca_bundle") or None,
        datasets=tuple(args.dataset or ()) if not args.all else (),
        at=args.at,
        lookback=args.lookback,
        start=args.start,
    )


def _install(args: argparse.Namespace) -> int:
    s = _schedule(args)
    here = schedules.this_platform()
    if args.platform != here:  # for another machine: print it, check nothing here
        _print_entries(s, args.platform, schedules.ELSEWHERE.get(args.platform))
        return 0
    if args.dry_run:  # what install would write, and whether it would refuse
        refused = _refusal(s)
        _print_entries(s, here)
        if refused:
            print(f"archiver schedule install would refuse: {refused}", file=sys.stderr)
        return 2 if refused else 0
    schedules.check(s)
    if here != "linux":
        _print_entries(s, here)
        return 0
    done = schedules.install(s, enable=not args.no_enable)
    for path, text in done.files.items():
        print(f"--- {path}\n{text}")
    return _report(done)


def _refusal(s: schedules.Schedule) -> str | None:
    try:
        schedules.check(s)
    except schedules.ScheduleError as exc:
        return str(exc)
    return None


def _print_entries(s: schedules.Schedule, platform: str, exe: list[str] | None = None) -> None:
    intro = {
        "linux": f"systemd user units for {schedules.unit_dir()}:",
        "windows": "Create the daily task (Command Prompt; /TR is limited to 261 characters: "
        "if longer, put the command in a .cmd file and name that):",
        "macos": "Save as the file named below, then: launchctl bootstrap gui/$(id -u) "
        f"~/Library/LaunchAgents/{schedules.LAUNCHD_LABEL}.plist",
    }[platform]
    print(intro)
    if exe:
        print(f"(replace {exe[0]} with where the app is on that machine)")
    for name, text in schedules.entries(s, platform, exe).items():
        print(text if name == "command" else f"--- {name}\n{text}")


def _report(done: schedules.Changes) -> int:
    for line in done.lines:
        print(line)
    return 0 if done.ok else 1


def _status(args: argparse.Namespace) -> int:
    st = schedules.status(args.archive)
    if st.archive is None:
        st = schedules.status(Settings().archive_path())
    if args.json:
        doc = {
            "platform": st.platform,
            "installed": st.installed,
            "enabled": st.enabled,
            "next_run": st.next_run,
            "last_result": st.last_result,
            "note": st.note,
            "linger": st.linger,
            "unit_dir": str(st.unit_dir),
            "schedule": st.schedule.as_dict() if st.schedule else None,
            "archive": str(st.archive) if st.archive else None,
            "last_unattended_run": vars(st.last_run) if st.last_run else None,
        }
        print(json.dumps(doc, indent=2))
    else:
        for line in st.lines():
            print(line)
    return 0
