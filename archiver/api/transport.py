"""HTTP transport: whom we trust, which proxy we use, and how much a response may cost.

* **Trust.** TLS is always verified against the system trust store: certifi's bundle (what
  requests uses by default) plus the operating system's store at its compiled-in location.
  ``--ca-bundle PEM`` *adds* to that store. The environment cannot replace it:
  ``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``, ``SSL_CERT_FILE`` and ``SSL_CERT_DIR`` are not
  read, and neither is ``~/.netrc`` (requests' ``trust_env`` is off).
* **Proxies.** An explicit proxy (GUI setting) wins; otherwise ``HTTPS_PROXY`` (``HTTP_PROXY``
  for a plain-http loopback URL), ``ALL_PROXY`` and ``NO_PROXY`` are honoured, in upper or
  lower case (on Windows and macOS also the system proxy settings, as urllib reads them).
* **Bounds.** :func:`bounded_request` streams a body and stops at the body limit, counting
  the bytes on the wire and again after decompression, and enforces an overall deadline per
  request: a watchdog shuts the socket down when it passes, so a server trickling one byte
  at a time cannot hold a worker (the per-read timeout alone would not notice).
"""

from __future__ import annotations

import functools
import io
import os
import socket
import ssl
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import certifi
import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import DecodeError, ProtocolError, ReadTimeoutError
from urllib3.exceptions import SSLError as TLSError
from urllib3.poolmanager import PoolManager
from urllib3.response import HTTPResponse

from archiver import __version__
from archiver.api.errors import BodyLimitExceeded, DeadlineExceeded
from archiver.api.limits import EVIDENCE_BYTES
from archiver.api.tenant import Tenant

#: Environment variables the transport reads (documented in the README).
HONOURED_ENV = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY")
#: Environment variables that requests or OpenSSL would read and the transport does not.
IGNORED_ENV = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR", "NETRC")

_READ_SIZE = 64 * 1024


# -- trust --------------------------------------------------------------------------------
def trust_context(ca_bundle: str | None = None) -> ssl.SSLContext:
    """The TLS context of every connection: the system trust store, plus ``ca_bundle``.

    ValueError when ``ca_bundle`` cannot be read as PEM certificates."""
    stamp = 0.0
    if ca_bundle:
        try:
            stamp = os.stat(ca_bundle).st_mtime
        except OSError as exc:
            raise ValueError(f"CA bundle {ca_bundle}: {exc.strerror or exc}") from None
    return _trust_context(ca_bundle or None, stamp)


@functools.lru_cache(maxsize=8)
def _trust_context(ca_bundle: str | None, stamp: float) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # hostname check and CERT_REQUIRED
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_verify_locations(cafile=certifi.where())
    paths = ssl.get_default_verify_paths()  # the compiled-in locations, never the environment
    if paths.openssl_cafile and os.path.isfile(paths.openssl_cafile):
        ctx.load_verify_locations(cafile=paths.openssl_cafile)
    if paths.openssl_capath and os.path.isdir(paths.openssl_capath):
        ctx.load_verify_locations(capath=paths.openssl_capath)
    if sys.platform == "win32":  # the Windows certificate store
        for store in ("CA", "ROOT"):
            getattr(ctx, "_load_windows_store_certs")(store, ssl.Purpose.SERVER_AUTH)  # noqa: B009
    if ca_bundle:
        try:
            ctx.load_verify_locations(cafile=ca_bundle)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(
                f"CA bundle {ca_bundle} cannot be read as PEM CA certificates ({exc})."
            ) from None
    return ctx


class TrustAdapter(HTTPAdapter):
    """Every connection (direct or through a proxy) uses :func:`trust_context` and the
    deadline watchdog; verification cannot be switched off."""

    def __init__(self, context: ssl.SSLContext, pool_size: int) -> None:
        self._context = context
        super().__init__(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self._context
        super().init_poolmanager(*args, **kwargs)
        _watch_pools(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        proxy_kwargs["ssl_context"] = self._context
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            _watch_pools(manager)
        return manager

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        # The context holds the trust; never a bundle path from the environment or None.
        if url.lower().startswith("https"):
            conn.cert_reqs = "CERT_REQUIRED"
            conn.ca_certs = None
            conn.ca_cert_dir = None


def environment_proxies(url: str) -> dict[str, str]:
    """The proxies the environment names for ``url`` (none when NO_PROXY covers it)."""
    found = requests.utils.get_environ_proxies(url)
    return {k: v for k, v in found.items() if k in ("http", "https", "all") and v}


def make_session(tenant: Tenant, pool_size: int = 4) -> requests.Session:
    """A pooled session: our User-Agent, TLS verified against :func:`trust_context`, the
    tenant's proxy or the environment's, and nothing else from the environment."""
    context = trust_context(tenant.ca_bundle)
    s = requests.Session()
    s.trust_env = False  # no REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE, no ~/.netrc
    s.headers["User-Agent"] = f"archiver/{__version__} python-requests/{requests.__version__}"
    s.headers["Accept"] = "application/json"
    s.verify = True
    if tenant.proxy:
        s.proxies = {"https": tenant.proxy, "http": tenant.proxy}
    else:
        s.proxies = environment_proxies(tenant.base_url)
    adapter = TrustAdapter(context, pool_size)
    s.mount("https://", adapter)
    s.mount("http://", adapter)
    return s


# -- the deadline watchdog ----------------------------------------------------------------
_current = threading.local()


def _shutdown(sock: socket.socket) -> None:
    try:  # the plain socket's shutdown: it wakes a blocked read, TLS or not
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except (OSError, ValueError):
        pass


class Deadline:
    """An overall deadline for one request made in this thread. When it passes, the
    sockets of that request are shut down, which wakes any read blocked on them."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.expired = False
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._previous: Deadline | None = None

    def __enter__(self) -> Deadline:
        self.at = time.monotonic() + self.seconds
        self._previous = getattr(_current, "deadline", None)
        _current.deadline = self
        self._timer = threading.Timer(self.seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._timer is not None:
            self._timer.cancel()
        _current.deadline = self._previous
        with self._lock:
            self._socks.clear()

    def watch(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            if self.expired:
                _shutdown(sock)
            else:
                self._socks.append(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._socks:
                _shutdown(sock)

    def passed(self) -> bool:
        if not self.expired and time.monotonic() >= self.at:
            self._expire()
        return self.expired


def _watch(sock: socket.socket | None) -> None:
    deadline: Deadline | None = getattr(_current, "deadline", None)
    if deadline is not None:
        deadline.watch(sock)


class _WatchedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch(sock)
        return sock

    def getresponse(self) -> HTTPResponse:  # type: ignore[override]
        _watch(self.sock)
        return super().getresponse()


class _WatchedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch(sock)  # the TCP socket: bounds the TLS handshake
        return sock

    def getresponse(self) -> HTTPResponse:  # type: ignore[override]
        _watch(self.sock)  # the TLS socket (also on a reused keep-alive connection)
        return super().getresponse()


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


def _watch_pools(manager: PoolManager) -> None:
    manager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


# -- bounded requests ---------------------------------------------------------------------
def bounded_request(
    session: requests.Session,
    method: str,
    url: str,
    *,
    max_bytes: int,
    deadline: float,
    **kwargs: Any,
) -> tuple[requests.Response, bytes]:
    """Send a request and read its body within ``max_bytes`` and ``deadline`` seconds.

    Returns the (closed) response and its decoded body. Raises BodyLimitExceeded or
    DeadlineExceeded (keeping the first EVIDENCE_BYTES of what arrived), or the requests
    exception of a network failure."""
    with Deadline(deadline) as guard:
        try:
            resp = session.request(method, url, stream=True, **kwargs)
        except (requests.RequestException, OSError):
            if guard.passed():
                raise DeadlineExceeded(deadline, url=url) from None
            raise
        try:
            return resp, _read_body(resp, max_bytes, guard, url)
        finally:
            resp.close()


def _read_body(resp: requests.Response, max_bytes: int, guard: Deadline, url: str) -> bytes:
    buf = io.BytesIO()
    status = resp.status_code
    encoding = resp.headers.get("Content-Encoding", "").strip().lower()
    encoded = encoding not in ("", "identity")

    def evidence() -> bytes:
        kept = bytes(buf.getbuffer()[:EVIDENCE_BYTES])
        buf.close()
        return kept

    def over(measured: str) -> BodyLimitExceeded:
        return BodyLimitExceeded(max_bytes, measured, evidence(), url, status, _announced(resp))

    try:
        for piece in _pieces(resp):
            room = max_bytes - buf.tell()
            if len(piece) > room:
                buf.write(piece[:room])
                raise over("after decompression" if encoded else "in the body")
            buf.write(piece)
            if resp.raw.tell() > max_bytes:
                raise over("on the wire")
            if guard.passed():
                break
    except (requests.RequestException, OSError):
        if not guard.passed():
            raise
    if guard.passed():
        raise DeadlineExceeded(guard.seconds, evidence(), url, status)
    return buf.getvalue()


def _pieces(resp: requests.Response) -> Iterator[bytes]:
    """The decoded body as it arrives: each read returns what one read of the socket gave
    (so a trickle is seen byte by byte), decompressed at most _READ_SIZE at a time.
    urllib3's errors become requests' (as iter_content would)."""
    raw = resp.raw
    while True:
        try:
            piece = raw.read1(_READ_SIZE, decode_content=True)
        except ProtocolError as exc:
            raise requests.exceptions.ChunkedEncodingError(exc) from None
        except DecodeError as exc:
            raise requests.exceptions.ContentDecodingError(exc) from None
        except ReadTimeoutError as exc:
            raise requests.exceptions.ConnectionError(exc) from None
        except TLSError as exc:
            raise requests.exceptions.SSLError(exc) from None
        if not piece:
            return
        yield piece


def _announced(resp: requests.Response) -> int | None:
    value = resp.headers.get("Content-Length", "")
    return int(value) if value.isdigit() else None
