"""Shared fixtures: a real simulator on 127.0.0.1 and helpers to talk to it over HTTP."""

from __future__ import annotations

import atexit
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

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests

from archiver.simulator import SimConfig, Simulator
from archiver.simulator.server import TOKEN_PATH

DATA = "/api/analytics/v2/datasets/"

atexit.register(shutil.rmtree, os.environ["XDG_STATE_HOME"], True)


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
