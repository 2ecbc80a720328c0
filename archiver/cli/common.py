"""Arguments shared by several subcommands, and terminal-safe output.

Light on purpose (the grammar imports it: see archiver.cli.grammar): what a command does
is imported when it runs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from platformdirs import user_data_path

from archiver.datasets import UnknownDatasetError, resolve_name
from archiver.files import private_dir
from archiver.safetext import safe

if TYPE_CHECKING:
    from archiver.api.tenant import Tenant


def default_archive() -> Path:
    return user_data_path("archiver", appauthor=False) / "archive.sqlite3"


def dataset_name(text: str) -> str:
    """argparse ``type=`` of every flag that takes a dataset name: any case is accepted
    (``interactionsegments``), a near miss is answered with "did you mean"."""
    try:
        return resolve_name(text)
    except UnknownDatasetError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_archive(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--archive",
        type=Path,
        default=None,
        metavar="PATH",
        help=f"archive file (default {default_archive()})",
    )


def archive_path(args: argparse.Namespace) -> Path:
    """--archive, or the default archive, whose folder (the app's own) is made 0700."""
    if args.archive:
        return Path(args.archive)
    path = default_archive()
    private_dir(path.parent)
    return path


def add_tenant(p: argparse.ArgumentParser, required: bool = True) -> None:
    g = p.add_mutually_exclusive_group(required=required)
    g.add_argument("--customer", metavar="ID", help="customer subdomain, e.g. avaya1234")
    g.add_argument("--base-url", metavar="URL", help="explicit API base URL (simulator, tests)")
    p.add_argument(
        "--ca-bundle",
        metavar="PEM",
        help="extra CA certificates (corporate TLS inspection), added to the system's",
    )
    p.add_argument("--client-id", metavar="ID", help="API client id (or ARCHIVER_CLIENT_ID)")
    p.add_argument(
        "--allow-insecure-http",
        action="store_true",
        help="accept a plain http:// base URL for a host other than this machine (the "
        "secret and the data travel unencrypted)",
    )


def tenant(args: argparse.Namespace) -> Tenant:
    """The tenant named on the command line; ValueError when unusable (a plain-http URL to
    another machine without --allow-insecure-http, an unreadable CA bundle)."""
    from archiver.api.tenant import Tenant  # only a command that connects needs it

    if args.customer:
        t = Tenant.from_customer(args.customer, args.ca_bundle)
    else:
        t = Tenant.from_base_url(
            args.base_url, args.ca_bundle, getattr(args, "allow_insecure_http", False)
        )
    if t.ca_bundle:
        from archiver.api.transport import trust_context  # the HTTP stack: only when used

        trust_context(t.ca_bundle)  # an unreadable bundle is a usage error, said at once
    return t


# -- terminal-safe output (archiver.safetext.safe, re-exported here as common.safe) ------
class SafeStream:
    """A text stream that writes everything through :func:`safe`. The CLI's stdout and
    stderr are wrapped in it for the whole command, so every message, whoever prints it,
    is terminal-safe; ``unsafe`` is the stream itself (for our own cursor movements)."""

    def __init__(self, stream: TextIO) -> None:
        self.unsafe = stream

    def write(self, text: str) -> int:
        return self.unsafe.write(safe(text))

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.unsafe, name)


def raw_stream(stream: TextIO | SafeStream) -> TextIO:
    """The stream under a SafeStream (escape sequences of our own: the progress display)."""
    return stream.unsafe if isinstance(stream, SafeStream) else stream


@contextmanager
def safe_output() -> Iterator[None]:
    """Wrap sys.stdout and sys.stderr in SafeStream for the duration."""
    saved = sys.stdout, sys.stderr
    if not isinstance(sys.stdout, SafeStream):
        sys.stdout = SafeStream(sys.stdout)
    if not isinstance(sys.stderr, SafeStream):
        sys.stderr = SafeStream(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
