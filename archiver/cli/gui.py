"""``archiver gui``: the desktop app (Qt is imported only when this command runs)."""

from __future__ import annotations

import argparse

from archiver.exitcodes import FAILED


def run(args: argparse.Namespace) -> int:
    try:
        from archiver.gui import app
    except ImportError as exc:  # Qt's system libraries missing
        print(
            f"archiver gui: the desktop app cannot start: {exc}. Run `bash scripts/dev.sh setup` as root to install Qt's system libraries."
        )
        return FAILED
    return app.run(args)
