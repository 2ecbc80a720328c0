"""The command line's grammar: every command's arguments, help and exit codes.

These modules are light on purpose: they import argparse, a few constants and nothing a
command does. A command's handler (named by its parser, see base.handles) imports its
heavy modules when it runs, and only the grammar of the command being run is built, so
``archiver --version`` and ``archiver pull --help`` start in a fraction of the time the
services take to import (benchmarks/startup.py; tests/core/test_startup.py)."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from archiver.cli.grammar.base import HelpFormatter


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    #: "module:function" in archiver.cli.grammar that defines the command's arguments
    grammar: str

    def define(self, parser: argparse.ArgumentParser) -> None:
        module, _, function = self.grammar.partition(":")
        define: Callable[[argparse.ArgumentParser], None] = getattr(
            importlib.import_module(f"archiver.cli.grammar.{module}"), function
        )
        define(parser)


COMMANDS: tuple[Command, ...] = (
    Command("pull", "archive datasets from the Historical API", "pull:pull"),
    Command(
        "verify-archive",
        "recompute every checksum and chain of an archive, and prove its past",
        "archive:verify_archive",
    ),
    Command(
        "checkpoint",
        "print the archive's current checkpoint, to keep elsewhere",
        "archive:checkpoint",
    ),
    Command("backup", "copy an archive safely (SQLite backup API)", "archive:backup"),
    Command(
        "export-dataset",
        "export a dataset for a data warehouse (csv, jsonl, parquet)",
        "archive:export_dataset",
    ),
    Command(
        "coverage",
        "what the archive holds per dataset and day, from its own evidence",
        "archive:coverage",
    ),
    Command("login", "store a client secret in the OS keyring", "archive:login"),
    Command(
        "search",
        "search the archive's records (full text, grouped by interaction)",
        "search:search",
    ),
    Command("index", "the archive's search index (rebuild)", "search:index"),
    Command(
        "case",
        "cases: gather the interactions of an investigation (create, add, show, …)",
        "cases:case",
    ),
    Command("hold", "legal holds on cases (place, release)", "cases:hold"),
    Command(
        "retention",
        "retention schedules and defensible disposition (set, show, clear, plan, apply)",
        "retention:retention",
    ),
    Command("export", "write a signed audit bundle of interactions", "bundles:export"),
    Command(
        "verify",
        "verify an audit bundle (directory or zip) and that its signer is trusted",
        "bundles:verify",
    ),
    Command(
        "verify-certificate",
        "verify a disposition certificate (its JSON, CMS signature and signed PDF)",
        "retention:verify_certificate",
    ),
    Command("trust", "the certificates whose bundles `archiver verify` trusts", "signing:trust"),
    Command("keys", "show, create or import the signing key; destroy retired ones", "signing:keys"),
    Command(
        "self-test",
        "check the whole evidence path offline, in a temporary directory",
        "admin:self_test",
    ),
    Command("schedule", "unattended daily archiving (a systemd user timer)", "admin:schedule"),
    Command("gui", "open the desktop app", "gui:gui"),
    Command("simulate", "serve a simulated Historical API on loopback", "simulate:simulate"),
)
NAMES = tuple(c.name for c in COMMANDS)


class VersionAction(argparse.Action):
    """--version: the version is read (from the distribution's metadata) only when asked."""

    def __init__(self, option_strings: list[str], dest: str, help: str | None = None) -> None:
        super().__init__(
            option_strings, argparse.SUPPRESS, default=argparse.SUPPRESS, nargs=0, help=help
        )

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        from archiver import __version__

        print(f"archiver {__version__}")
        parser.exit()


def build_parser(defined: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """The ``archiver`` parser. Every command is listed; the arguments of those named in
    ``defined`` (default: all) are defined, so that running one command builds only its own
    grammar (and imports only the constants that grammar shows)."""
    wanted = set(NAMES if defined is None else defined)
    parser = argparse.ArgumentParser(
        prog="archiver",
        description="Archive Avaya Infinity Historical API data as tamper-evident evidence.",
        epilog="Each command's --help lists its options and its exit codes.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action=VersionAction, help="print the version and exit")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of unexpected errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for c in COMMANDS:
        p = sub.add_parser(c.name, help=c.help, formatter_class=HelpFormatter)
        if c.name in wanted:
            c.define(p)
    return parser


def parse(parser: argparse.ArgumentParser, words: list[str]) -> argparse.Namespace:
    """``parser.parse_args(words)``, with arguments no parser knows refused by the parser of
    the command they were given to (its usage line, not the top level's)."""
    args, extra = parser.parse_known_args(words)
    if extra:
        leaf(parser, args).error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def leaf(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The parser of the command (and action) ``args`` were parsed for."""
    for dest in ("command", "action"):
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        name = getattr(args, dest, None)
        if not subs or subs[0].dest != dest or name not in subs[0].choices:
            break
        parser = subs[0].choices[name]
    return parser


def named_command(words: Iterable[str]) -> str | None:
    """The command ``words`` (the arguments after ``archiver``) run: the first word that is
    not an option (the top level's options take no value), if it names a command."""
    for word in words:
        if not word.startswith("-"):
            return word if word in NAMES else None
    return None
