"""Arguments shared by several subcommands."""

from __future__ import annotations

import argparse
from pathlib import Path

from platformdirs import user_data_path

from archiver.api.tenant import Tenant
from archiver.api.transport import trust_context


def default_archive() -> Path:
    return user_data_path("archiver", appauthor=False) / "archive.sqlite3"


def add_archive(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--archive",
        type=Path,
        default=None,
        metavar="PATH",
        help=f"archive file (default {default_archive()})",
    )


def archive_path(args: argparse.Namespace) -> Path:
    return args.archive or default_archive()


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
    if args.customer:
        t = Tenant.from_customer(args.customer, args.ca_bundle)
    else:
        t = Tenant.from_base_url(
            args.base_url, args.ca_bundle, getattr(args, "allow_insecure_http", False)
        )
    if t.ca_bundle:
        trust_context(t.ca_bundle)  # an unreadable bundle is a usage error, said at once
    return t
