"""Entry point of the ``archiver`` command."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from archiver import __version__, logs
from archiver.cli import admin_cmds, archive_cmds, bundle_cmds, gui, pull, simulate

#: Subcommand modules; each has ``add_parser(subparsers)`` setting ``func``.
COMMANDS = [pull, archive_cmds, bundle_cmds, admin_cmds, gui, simulate]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="archiver",
        description="Archive Avaya Infinity Historical API data as tamper-evident evidence.",
    )
    parser.add_argument("--version", action="version", version=f"archiver {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of unexpected errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        module.add_parser(sub)
    return parser


log = logging.getLogger("archiver.cli")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if args.command != "gui":  # the desktop app writes its own log
        logs.setup("cli")
    words = list(sys.argv[1:] if argv is None else argv)
    log.info("archiver %s (version %s)", logs.redact_argv(words), __version__)
    code = _dispatch(args)
    log.info("archiver %s: exit code %d", args.command, code)
    return code


def _dispatch(args: argparse.Namespace) -> int:
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("archiver: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a clear message instead of a traceback (--debug shows it)
        log.exception("archiver %s: unexpected error", args.command)
        if args.debug:
            raise
        print(
            f"archiver: unexpected error: {type(exc).__name__}: {exc}. Nothing already "
            "archived is lost. Run again with --debug for details and report them.",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
