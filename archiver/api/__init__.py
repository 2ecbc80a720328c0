"""Client for the Avaya Infinity Historical API (plain Python, no Qt).

``HistoricalClient.pages(query)`` walks a query's cursor one page at a time; every page
keeps the exact response bytes for the archive.

The names below are imported on first use (PEP 562), so that a light submodule
(``archiver.api.limits``, ``archiver.api.query``: the command line's defaults) does not
pull in the HTTP stack with it: ``archiver --help`` starts without ``requests``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from archiver.api.client import HistoricalClient
    from archiver.api.errors import (
        ApiError,
        AuthenticationError,
        BadRequestError,
        ConnectionFailure,
        CursorLoopError,
        EntitlementError,
        PageValidationError,
        ServerError,
        UnknownDatasetError,
    )
    from archiver.api.pages import NotReady, NotReadyPolicy, Page
    from archiver.api.query import Query
    from archiver.api.tenant import Credentials, Secret, Tenant
    from archiver.api.tokens import TokenProvider
    from archiver.api.typed import schema_diff, typed_record

_HOMES = {
    "HistoricalClient": "client",
    "ApiError": "errors",
    "AuthenticationError": "errors",
    "BadRequestError": "errors",
    "ConnectionFailure": "errors",
    "CursorLoopError": "errors",
    "EntitlementError": "errors",
    "PageValidationError": "errors",
    "ServerError": "errors",
    "UnknownDatasetError": "errors",
    "NotReady": "pages",
    "NotReadyPolicy": "pages",
    "Page": "pages",
    "Query": "query",
    "Credentials": "tenant",
    "Secret": "tenant",
    "Tenant": "tenant",
    "TokenProvider": "tokens",
    "schema_diff": "typed",
    "typed_record": "typed",
}

__all__ = [
    "ApiError",
    "AuthenticationError",
    "BadRequestError",
    "ConnectionFailure",
    "Credentials",
    "CursorLoopError",
    "EntitlementError",
    "HistoricalClient",
    "NotReady",
    "NotReadyPolicy",
    "Page",
    "PageValidationError",
    "Query",
    "Secret",
    "ServerError",
    "Tenant",
    "TokenProvider",
    "UnknownDatasetError",
    "schema_diff",
    "typed_record",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'archiver.api' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"archiver.api.{home}"), name)
    globals()[name] = value
    return value
