"""Transport: plain http refused before any network use, TLS trust the environment cannot
replace, --ca-bundle added to the system store, proxies from the environment, and the
deadline watchdog. Every server here is on 127.0.0.1; the suite's socket guard fails any
test that looks up or connects to anything else."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import certifi
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from archiver.api import Credentials, Tenant
from archiver.api.client import check_connection
from archiver.api.errors import (
    DeadlineExceeded,
    InsecureTransportError,
    TokenEndpointUnreachable,
)
from archiver.api.limits import Limits
from archiver.api.retry import RetryPolicy
from archiver.api.tenant import is_loopback_host
from archiver.api.transport import (
    bounded_request,
    environment_proxies,
    make_session,
    trust_context,
)
from tests.clitools import run_cli
from tests.conftest import NetworkGuardError

CREDS = Credentials("client", "s3cret-canary")
#: Test connection's two tries without its half-second wait between them
NO_WAIT = RetryPolicy(attempts=2, initial=0, max_delay=0, jitter=0)


# -- plain http ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.8.9.10",
        "[::1]",
        "localhost",
        "LOCALHOST",
        "api.localhost",
        "[::ffff:127.0.0.1]",
    ],
)
def test_plain_http_to_this_machine_is_accepted(host):
    assert Tenant.from_base_url(f"http://{host}:8080").base_url.startswith("http://")


@pytest.mark.parametrize(
    "host",
    [
        "example.com",
        "10.0.0.5",
        "192.168.1.1",
        "127.0.0.1.example.com",
        "localhost.example.com",
        "0x7f.1",
        "[2001:db8::1]",
    ],
)
def test_plain_http_to_another_machine_is_refused(host):
    with pytest.raises(InsecureTransportError, match="plain http to another machine"):
        Tenant.from_base_url(f"http://{host}/")
    with pytest.raises(InsecureTransportError):
        Tenant(f"http://{host}")  # however the tenant is made
    t = Tenant.from_base_url(f"http://{host}", allow_insecure_http=True)
    assert t.allow_insecure_http


def test_loopback_is_judged_without_resolving(socket_guard, monkeypatch):
    def no_lookup(*a, **kw):
        raise AssertionError("a name was resolved to judge loopback")

    monkeypatch.setattr(socket, "getaddrinfo", no_lookup)
    monkeypatch.setattr(socket, "gethostbyname", no_lookup)
    assert is_loopback_host("localhost") and not is_loopback_host("evil.example")


def test_cli_refuses_http_before_any_network_use(socket_guard, tmp_path, monkeypatch):
    """In-process, under the socket guard: the refusal comes before any lookup or connect
    (a lookup of example.com would be recorded by the guard and fail the test)."""
    monkeypatch.setenv("ARCHIVER_CLIENT_ID", "c")
    monkeypatch.setenv("ARCHIVER_CLIENT_SECRET", "s3cret-canary")
    arc = tmp_path / "a.sqlite3"
    out = run_cli(
        "pull", "--base-url", "http://example.com", "--archive", arc, "--dataset", "queue",
        "--from", "2025-02-01", "--to", "2025-02-01",
    )  # fmt: skip
    err = out.stderr
    assert out.code == 2
    assert "plain http to another machine" in err and "--allow-insecure-http" in err
    assert socket_guard.violations == [] and not arc.exists()


def test_cli_allow_insecure_http_gets_as_far_as_the_network(socket_guard, tmp_path, monkeypatch):
    """With the opt-in, the pull really tries the host: the guard stops it at the lookup
    (proving the flag is what let it through)."""
    monkeypatch.setenv("ARCHIVER_CLIENT_ID", "c")
    monkeypatch.setenv("ARCHIVER_CLIENT_SECRET", "s3cret-canary")
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    out = run_cli(
        "pull", "--base-url", "http://example.com", "--allow-insecure-http",
        "--archive", tmp_path / "a.sqlite3", "--dataset", "queue",
        "--from", "2025-02-01", "--to", "2025-02-01", "--retry-initial", "0.001",
    )  # fmt: skip
    assert out.code != 0
    assert socket_guard.violations and "example.com" in socket_guard.violations[0]
    socket_guard.violations.clear()  # expected here, and stopped by the guard


def test_the_socket_guard_refuses_and_records(socket_guard):
    with pytest.raises(NetworkGuardError):
        socket.getaddrinfo("example.com", 443)
    with pytest.raises(NetworkGuardError):
        socket.create_connection(("192.0.2.1", 443), timeout=0.1)
    assert len(socket_guard.violations) == 2
    socket_guard.violations.clear()


# -- TLS trust ----------------------------------------------------------------------------
def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca(tmp_path, name: str = "Test Corp Inspection CA"):
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(_name(name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem = tmp_path / f"{name.replace(' ', '-')}.pem"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert, pem


def make_leaf(tmp_path, ca_key, ca_cert):
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    chain = tmp_path / "server.pem"
    chain.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return chain


class _TokenHandler(BaseHTTPRequestHandler):
    def log_message(self, *a):  # quiet
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"access_token": "t", "expires_in": 900}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def tls_server(tmp_path):
    """An HTTPS token endpoint on 127.0.0.1 whose certificate a test-made CA issued."""
    ca_key, ca_cert, ca_pem = make_ca(tmp_path)
    chain = make_leaf(tmp_path, ca_key, ca_cert)
    server = HTTPServer(("127.0.0.1", 0), _TokenHandler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(chain)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"https://127.0.0.1:{server.server_address[1]}"
    yield url, ca_pem
    server.shutdown()
    server.server_close()


def test_ca_bundle_is_trusted(tls_server):
    url, ca = tls_server
    assert "Connected" in check_connection(Tenant.from_base_url(url, str(ca)), CREDS)


def test_without_the_ca_bundle_verification_fails(tls_server, monkeypatch):
    url, ca = tls_server
    # the environment names the CA: it is not read, so it cannot replace the trust store
    for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.setenv(var, str(ca))
    with pytest.raises(TokenEndpointUnreachable, match="SSLError"):
        check_connection(Tenant.from_base_url(url), CREDS, retry=NO_WAIT)


def test_ca_bundle_wins_over_the_environment(tls_server, tmp_path, monkeypatch):
    url, ca = tls_server
    _, _, other = make_ca(tmp_path, "Unrelated CA")
    for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.setenv(var, str(other))  # would replace --ca-bundle before
    assert "Connected" in check_connection(Tenant.from_base_url(url, str(ca)), CREDS)


def test_ca_bundle_adds_to_the_system_store(tmp_path):
    _, _, pem = make_ca(tmp_path)
    system = trust_context(None).cert_store_stats()["x509_ca"]
    added = trust_context(str(pem)).cert_store_stats()["x509_ca"]
    certifi_roots = open(certifi.where()).read().count("BEGIN CERTIFICATE")
    assert system >= certifi_roots * 0.9  # the store certifi and the OS provide
    assert added == system + 1  # the system store, plus the one CA


def test_a_ca_bundle_that_is_not_pem_is_refused(tmp_path):
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    with pytest.raises(ValueError, match="cannot be read as PEM"):
        make_session(Tenant.from_base_url("https://example.invalid", str(bad)))
    with pytest.raises(ValueError, match="No such file"):
        make_session(Tenant.from_base_url("https://example.invalid", str(tmp_path / "none.pem")))


def test_session_ignores_the_environment_but_for_proxies(monkeypatch, tmp_path):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    monkeypatch.setenv("NO_PROXY", "core.skipped.ec.avayacloud.com")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "x.pem"))
    s = make_session(Tenant.from_customer("avaya1234"))
    assert s.trust_env is False and s.verify is True
    assert s.proxies["https"] == "http://proxy.corp:3128"
    assert environment_proxies("https://core.skipped.ec.avayacloud.com") == {}
    explicit = make_session(Tenant("https://core.x.ec.avayacloud.com", proxy="http://p:1"))
    assert explicit.proxies == {"https": "http://p:1", "http": "http://p:1"}
    assert "p:1" not in repr(Tenant("https://h", proxy="http://u:pw@p:1"))


# -- the deadline covers the headers too --------------------------------------------------
def test_a_server_trickling_its_headers_meets_the_deadline():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    stop = threading.Event()

    def trickle():
        conn, _ = srv.accept()
        conn.recv(65536)
        for b in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 200:
            if stop.is_set():
                break
            try:
                conn.send(bytes([b]))
            except OSError:
                break
            time.sleep(0.2)
        conn.close()

    t = threading.Thread(target=trickle, daemon=True)
    t.start()
    url = f"http://127.0.0.1:{srv.getsockname()[1]}/x"
    session = make_session(Tenant.from_base_url(url))
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded, match=r"1\.5 s request deadline"):
        bounded_request(session, "GET", url, max_bytes=1000, deadline=1.5, timeout=(5, 30))
    assert time.monotonic() - started < 5
    stop.set()
    srv.close()


def test_limits_are_checked():
    with pytest.raises(ValueError, match="--max-body-mb"):
        Limits(max_body_mb=0)
    with pytest.raises(ValueError, match="--request-deadline"):
        Limits(request_deadline=0.1)
    with pytest.raises(ValueError, match="--max-pages-per-chunk"):
        Limits(max_pages_per_chunk=0)


def test_requests_is_not_needed_to_see_an_http_url_refused():
    # the check is in Tenant itself: no session, adapter or socket is involved
    with pytest.raises(InsecureTransportError):
        Tenant.from_base_url("http://203.0.113.9:8080/api")
    assert requests.Session is not None
