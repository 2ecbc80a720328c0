"""``archiver gui``: the desktop app (Qt is imported only when this command runs)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "gui",
        help="open the desktop app",
        description="Open the desktop app. --demo starts the embedded simulator on a free port, with credentials filled in and a separate demo archive.",
    )
    p.add_argument(
        "--demo", action="store_true", help="run against the embedded simulator with a demo archive"
    )
    p.add_argument(
        "--archive", type=Path, default=None, metavar="PATH", help="archive file to open"
    )
    p.add_argument(
        "--quit-after", type=float, default=None, metavar="S", help=argparse.SUPPRESS
    )  # smoke tests
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        from archiver.gui import app
    except ImportError as exc:  # Qt's system libraries missing
        print(
            f"archiver gui: the desktop app cannot start: {exc}. Run `bash scripts/dev.sh setup` as root to install Qt's system libraries."
        )
        return 1
    return app.run(args)
