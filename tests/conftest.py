"""Shared fixtures: a real simulator on 127.0.0.1 and helpers to talk to it over HTTP."""

from __future__ import annotations

import atexit
import gc
import os
import shutil
import tempfile

# Headless Qt for every test; set here so users never have to.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Never touch the developer's real OS keyring from tests.
os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
# The log files of the command lines the tests run (archiver.logs) go to a throwaway
# directory, not the developer's ~/.local/state/archiver/log.
os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="archiver-tests-state-")

import logging
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests

from archiver.api.tenant import is_loopback_host
from archiver.simulator import SimConfig, Simulator
from archiver.simulator.server import TOKEN_PATH

DATA = "/api/analytics/v2/datasets/"

atexit.register(shutil.rmtree, os.environ["XDG_STATE_HOME"], True)


# -- garbage collection ------------------------------------------------------------------------
def pytest_collection_finish(session: pytest.Session) -> None:
    """What is alive once every test module is imported (Qt, pyHanko, reportlab, the tests
    themselves: some 130,000 objects the collector tracks) lives until the end: kept out of
    every later garbage collection, which then only walks what the tests made since."""
    gc.freeze()


# -- order under pytest-xdist --------------------------------------------------------------
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On an xdist worker, the slow tests first: the long ones start at once, on every
    worker, and the quick ones fill the end of the run, instead of one worker finishing a
    kill -9 test alone while the other waits. Tests of an xdist_group (a module that builds
    one bundle for all its tests) keep their place: the group is scheduled as one piece.
    A run in one process keeps the files' order."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return

    def quick(item: pytest.Item) -> bool:
        return item.get_closest_marker("xdist_group") is not None or (
            item.get_closest_marker("slow") is None
        )

    items.sort(key=quick)  # stable: within each kind, the files' order


# -- the socket guard ---------------------------------------------------------------------
class NetworkGuardError(OSError):
    """A test tried to look up or connect to something other than this machine."""


def _local(host: object) -> bool:
    if host is None or host in ("", b"", "0.0.0.0", "::"):
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    return isinstance(host, str) and is_loopback_host(host)


class SocketGuard:
    """Every name lookup and connect of the test process must stay on loopback: a test (or
    the code under test) that reaches for anything else fails, and never gets through."""

    def __init__(self) -> None:
        self.violations: list[str] = []

    def refuse(self, what: str) -> NetworkGuardError:
        self.violations.append(what)
        return NetworkGuardError(f"socket guard: {what} is not loopback")

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        guard = self
        real_getaddrinfo = socket.getaddrinfo
        real_gethostbyname = socket.gethostbyname
        real_gethostbyname_ex = socket.gethostbyname_ex
        real_connect = socket.socket.connect
        real_connect_ex = socket.socket.connect_ex
        real_create_connection = socket.create_connection

        def getaddrinfo(host, *a, **kw):  # type: ignore[no-untyped-def]
            if not _local(host):
                raise guard.refuse(f"getaddrinfo({host!r})")
            return real_getaddrinfo(host, *a, **kw)

        def gethostbyname(host):  # type: ignore[no-untyped-def]
            if not _local(host):
                raise guard.refuse(f"gethostbyname({host!r})")
            return real_gethostbyname(host)

        def gethostbyname_ex(host):  # type: ignore[no-untyped-def]
            if not _local(host):
                raise guard.refuse(f"gethostbyname_ex({host!r})")
            return real_gethostbyname_ex(host)

        def check_address(address: object) -> None:
            if isinstance(address, tuple) and not _local(address[0]):
                raise guard.refuse(f"connect({address!r})")

        def connect(self, address):  # type: ignore[no-untyped-def]
            check_address(address)
            return real_connect(self, address)

        def connect_ex(self, address):  # type: ignore[no-untyped-def]
            check_address(address)
            return real_connect_ex(self, address)

        def create_connection(address, *a, **kw):  # type: ignore[no-untyped-def]
            check_address(address)
            return real_create_connection(address, *a, **kw)

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        monkeypatch.setattr(socket, "gethostbyname", gethostbyname)
        monkeypatch.setattr(socket, "gethostbyname_ex", gethostbyname_ex)
        monkeypatch.setattr(socket.socket, "connect", connect)
        monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
        monkeypatch.setattr(socket, "create_connection", create_connection)


#: how long a test's threads get, once it has ended, to finish on their own
THREAD_GRACE_S = 5.0


def _threads_left(before: set[threading.Thread], grace: float) -> list[threading.Thread]:
    """Threads started since ``before`` that are still running ``grace`` seconds from now.
    Threads of foreign code that merely called into Python (Qt's, _DummyThread) are left to
    the GUI suite's own check (tests/gui/conftest.py: no_leaked_threads)."""
    deadline = time.monotonic() + grace
    left = []
    for t in threading.enumerate():
        if t in before or isinstance(t, threading._DummyThread) or t is threading.main_thread():
            continue
        t.join(max(0.0, deadline - time.monotonic()))
        if t.is_alive():
            left.append(t)
    return left


@pytest.fixture(autouse=True)
def no_thread_left_running() -> Iterator[None]:
    """A test ends with every thread it started finished: a simulator, a pull worker, a
    writer or a server left running would serve, write or hold files into the next test.
    Threads of wider-scoped fixtures started before the test are not its own. Defined
    before the other autouse fixtures (and so torn down after them and after the test's
    own fixtures, such as sim_factory, which stop what they started)."""
    before = set(threading.enumerate())
    yield
    left = _threads_left(before, THREAD_GRACE_S)
    assert not left, "threads left running after the test: " + ", ".join(
        f"{t.name} (daemon)" if t.daemon else t.name for t in left
    )


@pytest.fixture(autouse=True)
def _keep_umask() -> Iterator[None]:
    """``archiver.cli.main.main`` sets umask 077 for its process; tests that call it
    in-process get the suite's umask back afterwards."""
    old = os.umask(0o022)
    os.umask(old)
    yield
    os.umask(old)


@pytest.fixture(autouse=True)
def _no_leftover_log_files() -> Iterator[None]:
    """``main()`` run in-process adds the command line's log file (archiver.logs) to the
    root logger, under the test's XDG_STATE_HOME: closed after the test, so later tests do
    not write into an earlier test's folder."""
    root = logging.getLogger()
    before = list(root.handlers)
    yield
    for h in root.handlers[:]:
        if h not in before:
            root.removeHandler(h)
            h.close()


@pytest.fixture(autouse=True)
def socket_guard(monkeypatch) -> Iterator[SocketGuard]:
    """For the whole suite: no test opens a connection or a name lookup to anything but
    loopback. A test that tried fails, even if the code under test caught the error."""
    guard = SocketGuard()
    guard.install(monkeypatch)
    yield guard
    assert not guard.violations, f"network use beyond loopback: {guard.violations}"


@pytest.fixture
def demo_credentials(monkeypatch) -> None:
    """The simulator's client id and secret in the environment, as a headless run (cron,
    CI) gets them: for tests that run `archiver pull` against the simulator."""
    monkeypatch.setenv("ARCHIVER_CLIENT_ID", "archiver-demo")
    monkeypatch.setenv("ARCHIVER_CLIENT_SECRET", "demo-secret")


@pytest.fixture
def sim_factory() -> Iterator:
    """Start simulators with given config fields; all are stopped after the test."""
    started: list[Simulator] = []

    def make(**cfg) -> Simulator:
        clock = cfg.pop("clock", None)
        cfg.setdefault("rows_per_interval", 8)
        sim = Simulator(SimConfig(**cfg), clock=clock)
        sim.start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


@pytest.fixture
def sim(sim_factory) -> Simulator:
    return sim_factory()


def get_token(sim: Simulator) -> str:
    r = requests.post(
        sim.base_url + TOKEN_PATH,
        data={
            "grant_type": "client_credentials",
            "client_id": sim.config.client_id,
            "client_secret": sim.config.client_secret,
        },
        timeout=10,
    )
    r.raise_for_status()
    return r.json()["access_token"]


def api_get(sim: Simulator, dataset: str, token: str | None = None, **params) -> requests.Response:
    token = token or get_token(sim)
    return requests.get(
        sim.base_url + DATA + dataset,
        params=params,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
        allow_redirects=False,
    )


def walk(sim: Simulator, dataset: str, **params) -> tuple[list[list[str]], int]:
    """Follow nextPageToken to the end; return all records and the number of pages."""
    token = get_token(sim)
    records: list[list[str]] = []
    pages = 0
    next_token = ""
    while True:
        p = dict(params)
        if next_token:
            p["nextPageToken"] = next_token
        r = api_get(sim, dataset, token, **p)
        assert r.status_code == 200, r.text
        body = r.json()
        records.extend(body["records"])
        pages += 1
        next_token = body["pagination"]["nextPageToken"]
        if not next_token:
            return records, pages


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)
