"""Arguments shared by several subcommands."""

from __future__ import annotations

import argparse
from pathlib import Path

from platformdirs import user_data_path

from archiver.api.tenant import Tenant
from archiver.datasets import UnknownDatasetError, resolve_name


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
    return args.archive or default_archive()


def add_tenant(p: argparse.ArgumentParser, required: bool = True) -> None:
    g = p.add_mutually_exclusive_group(required=required)
    g.add_argument("--customer", metavar="ID", help="customer subdomain, e.g. avaya1234")
    g.add_argument("--base-url", metavar="URL", help="explicit API base URL (simulator, tests)")
    p.add_argument("--ca-bundle", metavar="PEM", help="custom CA bundle (corporate TLS inspection)")
    p.add_argument("--client-id", metavar="ID", help="API client id (or ARCHIVER_CLIENT_ID)")


def tenant(args: argparse.Namespace) -> Tenant:
    if args.customer:
        return Tenant.from_customer(args.customer, args.ca_bundle)
    return Tenant.from_base_url(args.base_url, args.ca_bundle)
