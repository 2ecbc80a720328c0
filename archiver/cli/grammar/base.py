"""What every command's grammar shares: the help layout, how a parser names its handler and
exit codes, and the options that spell one choice the same way on every command."""

from __future__ import annotations

import argparse
import textwrap
from typing import Any

from archiver.cli.exits import ExitCodes

#: the choices of --dataset-type, wherever a command takes one
DATASET_TYPES = ("interval", "daily")
#: the choices of --versions, wherever a command takes one
VERSIONS = ("latest", "all")

Subparsers = argparse._SubParsersAction  # an ArgumentParser's add_subparsers() result


def _wrap(text: str, width: int, indent: str = "") -> list[str]:
    """Words are never cut: a path (--archive's default) or a flag stays whole on its line,
    even where it is longer than the line."""
    return textwrap.wrap(
        " ".join(text.split()),
        max(width, 11),
        initial_indent=indent,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


class Epilog(str):
    """A help's closing text: a preformatted block (kept as written) and the exit codes
    (wrapped to the terminal's width)."""

    exits: ExitCodes | None
    block: str

    def __new__(cls, block: str = "", exits: ExitCodes | None = None) -> Epilog:
        text = "\n\n".join(t for t in (block.rstrip(), exits.text() if exits else "") if t)
        self = super().__new__(cls, text)
        self.block, self.exits = block.rstrip(), exits
        return self


class HelpFormatter(argparse.HelpFormatter):
    """argparse's layout, with paragraphs (a blank line in a description starts a new one)
    wrapped at spaces only, and an :class:`Epilog` rendered as written."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        return _wrap(text, width)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if isinstance(text, Epilog):
            parts = [text.block] if text.block else []
            if text.exits is not None:
                parts.append(text.exits.text(width))
            body = "\n\n".join(parts)
            return "\n".join(indent + line if line else line for line in body.splitlines())
        paragraphs = [p for p in text.split("\n\n") if p.strip()]
        return "\n\n".join("\n".join(_wrap(p, width, indent)) for p in paragraphs)


def command(sub: Subparsers, name: str, help: str, **kw: Any) -> argparse.ArgumentParser:
    """A sub-command's parser, laid out like every other."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=help, formatter_class=HelpFormatter, **kw
    )
    return parser


def handles(
    p: argparse.ArgumentParser,
    handler: str,
    exits: ExitCodes,
    description: str | None = None,
    block: str = "",
) -> None:
    """``p`` runs ``handler`` ("module:function", imported only when the command runs, so
    that parsing imports nothing a command does) and ends with one of ``exits``, which its
    help lists after ``block``."""
    if description is not None:
        p.description = description
    p.epilog = Epilog(block, exits)
    p.set_defaults(handler=handler, exits=exits)


def actions(p: argparse.ArgumentParser, description: str) -> Subparsers:
    """``p`` is a group of actions (``archiver keys show``): each has its own parser, help,
    flags and exit codes; the group alone is a usage error."""
    p.description = description
    p.epilog = (
        f"exit codes: those of each action, listed by `{p.prog} ACTION --help`; 2 when no "
        "action or an unknown one is named"
    )
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    return sub


# -- one spelling per choice ---------------------------------------------------------------
def add_dataset_type(p: argparse.ArgumentParser, help: str, daily_alias: bool = False) -> None:
    """--dataset-type interval|daily; ``daily_alias``: also --daily (pull's older spelling)."""
    group = p.add_mutually_exclusive_group()
    group.add_argument("--dataset-type", choices=DATASET_TYPES, default="interval", help=help)
    if daily_alias:
        group.add_argument(
            "--daily",
            dest="dataset_type",
            action="store_const",
            const="daily",
            default=argparse.SUPPRESS,
            help="the same as --dataset-type daily",
        )


def add_versions(p: argparse.ArgumentParser, help: str, all_alias: bool = False) -> None:
    """--versions latest|all; ``all_alias``: also --all-versions (export-dataset's older
    spelling)."""
    group = p.add_mutually_exclusive_group()
    group.add_argument("--versions", choices=VERSIONS, default="latest", help=help)
    if all_alias:
        group.add_argument(
            "--all-versions",
            dest="versions",
            action="store_const",
            const="all",
            default=argparse.SUPPRESS,
            help="the same as --versions all",
        )


def add_secret_stdin(p: argparse.ArgumentParser, what: str, *aliases: str) -> None:
    """--secret-stdin: the one way every command reads a secret from a script (the first
    line of standard input, never an argument, which other users could see); without it the
    command asks on the terminal. ``aliases``: older spellings, kept working."""
    p.add_argument(
        "--secret-stdin",
        *aliases,
        dest="secret_stdin",
        action="store_true",
        help=f"read {what} from the first line of standard input (scripts) instead of asking",
    )
