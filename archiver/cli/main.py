"""Entry point of the ``archiver`` command.

Start-up is kept light: parsing builds only the grammar of the command being run
(archiver.cli.grammar), and the command's handler, with everything it does, is imported
only once the arguments are parsed. ``archiver --version`` and ``--help`` import none of
the services (benchmarks/startup.py measures it, tests/core/test_startup.py checks it)."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence

from archiver.cli import common
from archiver.cli.grammar import build_parser, named_command, parse
from archiver.exitcodes import CANCELLED, FAILED, USAGE
from archiver.files import private_umask

__all__ = ["build_parser", "main"]

log = logging.getLogger("archiver.cli")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Files it creates are private (umask 077), and everything it prints
    is terminal-safe: control characters in any text, a server's above all, are escaped."""
    private_umask()
    with common.safe_output():
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    named = named_command(words)
    parser = build_parser([named] if named else [])
    args = parse(parser, words)
    if not getattr(args, "handler", None):
        parser.print_help()
        return USAGE
    from archiver import __version__, logs

    if args.command != "gui":  # the desktop app writes its own log
        logs.setup("cli")
    #: the command as the logs and the audit log record it (secret-like values hidden)
    args.command_line = "archiver " + logs.redact_argv(words)
    log.info("%s (version %s)", args.command_line, __version__)
    code = _dispatch(args)
    log.info("archiver %s: exit code %d", command_name(args), code)
    return code


def command_name(args: argparse.Namespace) -> str:
    """``pull``, or ``keys show`` for an action of a group."""
    action = getattr(args, "action", None)
    return f"{args.command} {action}" if isinstance(action, str) else str(args.command)


def handler(args: argparse.Namespace) -> Callable[[argparse.Namespace], int | None]:
    """The function that runs the parsed command, imported now (base.handles)."""
    module, _, name = str(args.handler).partition(":")
    run: Callable[[argparse.Namespace], int | None] = getattr(importlib.import_module(module), name)
    return run


def _dispatch(args: argparse.Namespace) -> int:
    try:
        return int(handler(args)(args) or 0)
    except KeyboardInterrupt:
        print("archiver: interrupted", file=sys.stderr)
        return CANCELLED
    except BrokenPipeError:  # `archiver … | head`: the reader has gone, nothing to say
        _discard_stdout()
        return FAILED
    except OSError as exc:  # a full disk, a read-only medium, a refused permission: named
        from archiver import iofailure

        failure = (
            iofailure.named(exc, exc.filename or "")
            if exc.filename or isinstance(exc, iofailure.IOFailure)
            else None
        )
        if failure is None:
            return _unexpected(args, exc)
        log.error("archiver %s: %s", command_name(args), failure)
        print(f"archiver {command_name(args)}: {failure}", file=sys.stderr)
        return FAILED
    except Exception as exc:  # a clear message instead of a traceback (--debug shows it)
        return _unexpected(args, exc)


def _unexpected(args: argparse.Namespace, exc: Exception) -> int:
    log.exception("archiver %s: unexpected error", command_name(args), exc_info=exc)
    if args.debug:
        raise exc
    print(
        f"archiver: unexpected error: {type(exc).__name__}: {exc}. Each page is stored in "
        "a transaction of its own: `archiver verify-archive` checks what is archived. Run "
        "again with --debug for details and report them.",
        file=sys.stderr,
    )
    return FAILED


def _discard_stdout() -> None:
    """Point standard output at the null device, so that the interpreter's flush at exit
    does not fail on the closed pipe a second time (with a traceback)."""
    try:
        fd = common.raw_stream(sys.stdout).fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (in-process tests)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
