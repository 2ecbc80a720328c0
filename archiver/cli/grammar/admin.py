"""The arguments of ``archiver self-test`` and ``archiver schedule install|remove|status``."""

from __future__ import annotations

import argparse
from pathlib import Path

from archiver.cli import exits
from archiver.cli.common import add_archive, add_tenant, dataset_name
from archiver.cli.grammar.base import actions, command, handles
from archiver.datasets import DATASET_NAMES

HANDLERS = "archiver.cli.admin_cmds"

WHAT_RUNS = """what runs:
  <this program, by absolute path> pull --customer ID --client-id ID --dataset NAME …
      --incremental --lookback 2d --archive PATH --json --unattended
  daily at --at (local time); a day missed while the machine was off runs at the next start.
  The client secret is read from the OS keyring (`archiver login` first); the tenant, client
  id and archive default to the desktop app's connection settings. The scheduled pull ends
  with the exit codes of `archiver pull` (see `archiver pull --help`); 6 means the archive
  was busy (the desktop app or another pull was pulling into it)."""


def self_test(t: argparse.ArgumentParser) -> None:
    handles(
        t,
        f"{HANDLERS}:run_self_test",
        exits.SELF_TEST,
        description="Start the embedded simulator, pull one day of two datasets into a "
        "temporary archive, compare every row with the simulator's, verify the archive, export "
        "a bundle signed with a throwaway key and verify it. One PASS/FAIL line per step and a "
        "verdict; exit 0 only when every step passed. Touches none of your archives, keys, "
        "keyring entries or settings.",
    )
    t.add_argument("--json", action="store_true", help="print only one JSON document")
    t.add_argument(
        "--keep",
        type=Path,
        metavar="DIR",
        help="work in DIR (new: nothing may have that name, not even a link) and keep it",
    )


def schedule(s: argparse.ArgumentParser) -> None:
    # the platform plumbing is a heavy module: only the schedule grammar imports it
    from archiver.services import schedule as schedules

    sub = actions(
        s,
        "Unattended daily archiving: the operating system runs the incremental pull every "
        "day, whether or not anyone opens the app.",
    )
    install = command(sub, "install", "have the operating system run the daily pull")
    handles(
        install,
        f"{HANDLERS}:run_schedule_install",
        exits.SCHEDULE_INSTALL,
        description="Write a systemd user service and timer (~/.config/systemd/user/"
        f"{schedules.SERVICE} and .timer, XDG_CONFIG_HOME respected) that run the incremental "
        "pull daily, and enable the timer. On Windows and macOS, print the Task Scheduler "
        "command or the launchd agent to install. Refused while the OS keyring does not hold "
        "the client secret.",
        block=WHAT_RUNS,
    )
    add_tenant(install, required=False)
    which = install.add_mutually_exclusive_group()
    which.add_argument(
        "--dataset",
        action="append",
        type=dataset_name,
        metavar="NAME",
        help="dataset to pull (repeatable, any case)",
    )
    which.add_argument("--all", action="store_true", help=f"all {len(DATASET_NAMES)} datasets")
    add_archive(install)
    install.add_argument(
        "--at", default="02:30", metavar="HH:MM", help="local time (default 02:30)"
    )
    install.add_argument(
        "--lookback", default="2d", metavar="DURATION", help="re-read this much (default 2d)"
    )
    install.add_argument(
        "--from",
        dest="start",
        metavar="START",
        help="where a dataset with nothing archived yet begins (its first run)",
    )
    install.add_argument(
        "--no-enable",
        action="store_true",
        help="write the units without calling systemctl",
    )
    install.add_argument(
        "--platform",
        choices=schedules.PLATFORMS,
        default=schedules.this_platform(),
        help="print the entry for this platform (default: the one running)",
    )
    install.add_argument(
        "--dry-run", action="store_true", help="print what install would write; change nothing"
    )

    remove = command(sub, "remove", "stop the daily pull: disable and delete the units")
    handles(
        remove,
        f"{HANDLERS}:run_schedule_remove",
        exits.SCHEDULE_REMOVE,
        description="Disable the timer and delete the systemd user units install wrote.",
    )
    remove.add_argument(
        "--no-enable",
        action="store_true",
        help="delete the units without calling systemctl",
    )

    status = command(sub, "status", "whether the daily pull is installed, and its last run")
    handles(
        status,
        f"{HANDLERS}:run_schedule_status",
        exits.SCHEDULE_STATUS,
        description="Installed or not, enabled, the next run, and the last unattended run from "
        "the archive's audit log.",
    )
    add_archive(status)
    status.add_argument("--json", action="store_true", help="as one JSON document")
