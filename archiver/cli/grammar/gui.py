"""``archiver gui``'s arguments (Qt is imported by its handler, only when it runs)."""

from __future__ import annotations

import argparse
from pathlib import Path

from archiver.cli import exits
from archiver.cli.grammar.base import handles


def gui(p: argparse.ArgumentParser) -> None:
    handles(
        p,
        "archiver.cli.gui:run",
        exits.GUI,
        description="Open the desktop app. --demo starts the embedded simulator on a free "
        "port, with credentials filled in, and keeps everything it makes in its own folder "
        "(an archive, a throwaway signing key and trust store): none of your archives, keys, "
        "keyring entries or settings is read or written, and its bundles say DEMO.",
    )
    p.add_argument(
        "--demo",
        action="store_true",
        help="run against the embedded simulator, in the demo's own folder (not with --archive)",
    )
    p.add_argument(
        "--archive", type=Path, default=None, metavar="PATH", help="archive file to open"
    )
    p.add_argument(
        "--quit-after", type=float, default=None, metavar="S", help=argparse.SUPPRESS
    )  # smoke tests
