"""The suite's own guards can fail: a thread a test leaves running is reported."""

from __future__ import annotations

import threading

from archiver.simulator import SimConfig, Simulator
from tests.conftest import _threads_left


def test_a_thread_left_running_is_reported_and_a_finished_one_is_not():
    before = set(threading.enumerate())
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, name="left-behind", daemon=True)
    t.start()
    try:
        assert _threads_left(before, 0.05) == [t]
    finally:
        stop.set()
        t.join()
    assert _threads_left(before, 0.05) == []


def test_a_stopped_simulator_leaves_no_connection_thread_behind():
    """A client that keeps its connection alive after the simulator stops does not keep a
    thread of the simulator waiting for its next request."""
    import requests

    before = set(threading.enumerate())
    sim = Simulator(SimConfig(rows_per_interval=1))
    sim.start()
    try:
        with requests.Session() as session:
            health = session.get(sim.base_url + "/_simulator/health", timeout=10)
            assert health.json() == {"ok": True}
            assert len(_threads_left(before, 0)) == 2  # the server's and the connection's
            sim.stop()
            assert _threads_left(before, 1.0) == []
    finally:
        sim.stop()
