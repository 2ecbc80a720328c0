"""How much a server may send: the response limits, with safe defaults.

A hostile or broken server (a compromised proxy, a wrong base URL) must not be able to
exhaust memory, hang a pull or keep it walking forever. Each limit is checked while the
response arrives; crossing one fails the chunk with a message naming it (see
:class:`archiver.api.errors.LimitExceeded`).
"""

from __future__ import annotations

from dataclasses import dataclass

MB = 1_048_576

#: A real page is at most 200 records of a few hundred bytes each (well under 1 MB). A body
#: crossing the limit is kept as evidence, and SQLite copies a blob twice while storing it,
#: so 16 MB keeps even four workers hitting it at once well under 300 MB of memory.
DEFAULT_MAX_BODY_MB = 16
#: From opening the connection to the last byte of the body, per request.
DEFAULT_REQUEST_DEADLINE = 120.0
#: A chunk is at most one day; a real day at 200 records per page is far below this.
DEFAULT_MAX_PAGES_PER_CHUNK = 5000
#: How much of a response that crossed a limit is kept (quarantined) as evidence: enough to
#: see what the server sent, never enough to matter when several workers hit limits at once.
EVIDENCE_BYTES = 1 * MB
#: The token endpoint answers a few hundred bytes.
TOKEN_BODY_LIMIT = 1 * MB

#: Concurrent workers of one run. More only multiply the load on the API (and the memory a
#: hostile server can make a run hold); the guide's rate limits are reached well before.
MAX_WORKERS = 32

MAX_BODY_MB_RANGE = (1, 2048)
DEADLINE_RANGE = (1.0, 3600.0)
PAGES_RANGE = (1, 1_000_000)


@dataclass(frozen=True)
class Limits:
    """The response limits of one run (every request of every worker)."""

    max_body_mb: int = DEFAULT_MAX_BODY_MB
    request_deadline: float = DEFAULT_REQUEST_DEADLINE
    max_pages_per_chunk: int = DEFAULT_MAX_PAGES_PER_CHUNK

    def __post_init__(self) -> None:
        lo, hi = MAX_BODY_MB_RANGE
        if not lo <= self.max_body_mb <= hi:
            raise ValueError(f"the body limit (--max-body-mb) must be between {lo} and {hi} MB")
        dlo, dhi = DEADLINE_RANGE
        if not dlo <= self.request_deadline <= dhi:
            raise ValueError(
                f"the request deadline (--request-deadline) must be between {dlo:g} and "
                f"{dhi:g} seconds"
            )
        plo, phi = PAGES_RANGE
        if not plo <= self.max_pages_per_chunk <= phi:
            raise ValueError(
                f"the page limit (--max-pages-per-chunk) must be between {plo} and {phi:,}"
            )

    @property
    def max_body_bytes(self) -> int:
        """The most bytes of one body, counted on the wire and again after decompression."""
        return self.max_body_mb * MB
