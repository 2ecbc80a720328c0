"""Client for the Avaya Infinity Historical API (plain Python, no Qt).

``HistoricalClient.pages(query)`` walks a query's cursor one page at a time; every page
keeps the exact response bytes for the archive.
"""

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
