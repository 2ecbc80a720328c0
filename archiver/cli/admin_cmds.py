"""``archiver self-test`` and ``archiver schedule install|remove|status``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from archiver.cli import monitor
from archiver.credentials import ENV_ID
from archiver.exitcodes import FAILED, OK, USAGE
from archiver.jobs import drive
from archiver.services import schedule as schedules
from archiver.services import selftest
from archiver.settings import Settings


# -- self-test ------------------------------------------------------------------------------
def run_self_test(args: argparse.Namespace) -> int:
    clock = monitor.Clock()

    def show(step: selftest.Step) -> None:
        if not args.json:
            print(step.line(), flush=True)

    try:
        if args.keep:
            selftest.check_keep(args.keep)
        result = drive(selftest.run(keep=args.keep), show)
    except selftest.Refused as exc:
        print(f"archiver self-test: {exc}", file=sys.stderr)
        if args.json:
            monitor.emit(clock.doc("self-test", "usage error", USAGE, error=str(exc)))
        return USAGE
    code = OK if result.ok else FAILED
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
def run_schedule_install(args: argparse.Namespace) -> int:
    try:
        return _install(args)
    except schedules.ScheduleError as exc:
        print(f"archiver schedule install: {exc}", file=sys.stderr)
        return USAGE


def run_schedule_remove(args: argparse.Namespace) -> int:
    return _report(schedules.remove(enable=not args.no_enable))


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
        allow_insecure_http=bool(
            args.allow_insecure_http or (not named and settings.get("allow_insecure_http"))
        ),
    )


def _install(args: argparse.Namespace) -> int:
    s = _schedule(args)
    here = schedules.this_platform()
    if args.platform != here:  # for another machine: print it, check nothing here
        _print_entries(s, args.platform, schedules.ELSEWHERE.get(args.platform))
        return OK
    if args.dry_run:  # what install would write, and whether it would refuse
        refused = _refusal(s)
        _print_entries(s, here)
        if refused:
            print(f"archiver schedule install would refuse: {refused}", file=sys.stderr)
        return USAGE if refused else OK
    schedules.check(s)
    if here != "linux":
        _print_entries(s, here)
        return OK
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
    return OK if done.ok else FAILED


def run_schedule_status(args: argparse.Namespace) -> int:
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
    return OK
