"""The simulated Historical API: a real HTTP server on loopback.

Implements the vendor guide to the letter (token endpoint, dataset endpoint, cursor
pagination, string-typed values, the error table) plus fault knobs for tests and a
control API under ``/_simulator/`` that no real client would call.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import secrets
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from archiver.datasets import DATASET_NAMES, DATASETS, ENTITLEMENT_DETAIL, Dataset
from archiver.simulator.data import DAY, INTERVAL, DataModel, iso_z
from archiver.simulator.query import (
    COMMIT_TS_FORMS,
    ENDINGS,
    BadRequest,
    Query,
    bucket_length,
    commit_ts_form,
    decode_token,
    encode_token,
    iter_buckets,
    parse_query,
    span,
)

log = logging.getLogger(__name__)

TOKEN_PATH = "/auth/realms/avaya/protocol/openid-connect/token"
LOGIN_PATH = "/auth/realms/avaya/protocol/openid-connect/auth"
DATA_PREFIX = "/api/analytics/v2/datasets/"
CONTROL_PREFIX = "/_simulator/"

DEFAULT_CLIENT_ID = "archiver-demo"
DEFAULT_CLIENT_SECRET = "demo-secret"
DEFAULT_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


@dataclass
class SimConfig:
    """Everything the simulator can be told; the fault knobs can change at run time."""

    host: str = "127.0.0.1"
    port: int = 0
    seed: int = 1
    rows_per_interval: int = 75
    #: 15-minute buckets of generated rows kept in memory (a benchmark keeps a whole range
    #: generated, so it measures the client, not the simulator's data generation).
    cache_buckets: int = 512
    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = DEFAULT_CLIENT_SECRET
    epoch: datetime = DEFAULT_EPOCH
    timezone: str = "America/New_York"
    # readings of what the guide leaves open (docs/simulator.md)
    #: "inclusive": ending:X serves interval X; "exclusive": X is the first interval not served.
    ending: str = "inclusive"
    #: Datasets served without their ROW_ID column (clients fall back to natural keys).
    omit_row_id: tuple[str, ...] = ()
    #: Transcripts as one row per message (shared TRANSCRIPT_ID) and one cxAgentLoginLogout
    #: ID per login session: ids that repeat within a response.
    shared_ids: bool = False
    #: How COMMIT_TS is written: "ms" (…:58.500Z), "nano" (Go's RFC 3339 nano: …:58.5Z,
    #: …:58Z) or "offset" (…:58.500+00:00); a run-time knob too (COMMIT_TS_FORMS).
    commit_ts: str = "ms"
    #: (name, value) columns added after the registry's to every page (and 202) of the
    #: datasets in ``extra_column_datasets`` (empty: of every dataset), each row carrying
    #: ``value``: columns a server adds without notice, whatever their names.
    extra_columns: tuple[tuple[str, str], ...] = ()
    extra_column_datasets: tuple[str, ...] = ()
    # fault knobs
    latency_ms: float = 0.0
    fail_rate: float = 0.0
    accepted_first: int = 0
    token_ttl: float = 900.0
    entitled: bool = True
    redirect_401: bool = False
    escaped_links: bool = False
    garble_rate: float = 0.0
    truncate_rate: float = 0.0

    def __post_init__(self) -> None:
        self.omit_row_id = tuple(self.omit_row_id)
        self.extra_columns = tuple((str(n), str(v)) for n, v in self.extra_columns)
        self.extra_column_datasets = tuple(self.extra_column_datasets)
        for field_name in ("omit_row_id", "extra_column_datasets"):
            for name in getattr(self, field_name):
                if name not in DATASETS:
                    raise ValueError(
                        f"{field_name}: unknown dataset {name!r}; valid: {', '.join(DATASET_NAMES)}"
                    )
        _check_ending(self.ending)
        _check_commit_ts(self.commit_ts)

    def __repr__(self) -> str:  # never show the secret, even a simulator's
        return f"SimConfig(host={self.host!r}, port={self.port}, seed={self.seed})"


def _check_commit_ts(value: object) -> None:
    if value not in COMMIT_TS_FORMS:
        raise ValueError(f"commit_ts must be one of {', '.join(COMMIT_TS_FORMS)}, not {value!r}")


def _check_ending(value: object) -> None:
    if value not in ENDINGS:
        raise ValueError(f"ending must be one of {', '.join(ENDINGS)}, not {value!r}")


FAULT_KNOBS = (
    "ending",
    "commit_ts",
    "latency_ms",
    "fail_rate",
    "accepted_first",
    "token_ttl",
    "entitled",
    "redirect_401",
    "escaped_links",
    "garble_rate",
    "truncate_rate",
)


def go_json(obj: Any) -> bytes:
    """JSON as the vendor's Go service writes it: &, <, > escaped as \\u0026 etc."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    text = text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
    return text.encode("utf-8")


class Simulator:
    """The simulated API. ``with Simulator(cfg) as sim: sim.base_url`` serves on loopback.

    ``clock`` is the server's one notion of now (aware UTC): which intervals are ready and
    when an access token expires are both judged on it, so a test moves time forward by
    advancing its clock instead of sleeping.
    """

    def __init__(
        self, config: SimConfig | None = None, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.config = config or SimConfig()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.model = DataModel(
            self.config.seed,
            self.config.rows_per_interval,
            self.config.timezone,
            cache_buckets=self.config.cache_buckets,
            shared_ids=self.config.shared_ids,
        )
        self._token_secret = secrets.token_bytes(32)
        #: access token -> its expiry on ``clock``
        self._tokens: dict[str, datetime] = {}
        self._lock = threading.Lock()
        self._rng = random.Random(self.config.seed)
        self._query_hits: Counter[str] = Counter()
        self.stats: Counter[str] = Counter()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._answering = threading.Event()  # cleared while data requests are held
        self._answering.set()
        self._holding = threading.Event()  # a data request is waiting to be answered

    # -- lifecycle ------------------------------------------------------------------------
    def bind(self) -> str:
        """Bind the socket (so the port is known) without serving yet; return the base URL."""
        handler = type("Handler", (_Handler,), {"sim": self})
        self._server = _Server((self.config.host, self.config.port), handler)
        return self.base_url

    def start(self) -> str:
        """Serve in a background thread; return the base URL."""
        self.bind()
        assert self._server is not None
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="simulator", daemon=True
        )
        self._thread.start()
        return self.base_url

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (for ``archiver simulate``)."""
        if self._server is None:
            self.bind()
        assert self._server is not None
        try:
            self._server.serve_forever(0.2)
        finally:
            self._server.server_close()
            self._server = None

    def stop(self) -> None:
        self.release()
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "simulator not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> Simulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- control --------------------------------------------------------------------------
    def set_faults(self, **knobs: Any) -> None:
        """Change run-time knobs; all are checked before any changes (no half-applied call)."""
        for name in knobs:
            if name not in FAULT_KNOBS:
                raise ValueError(f"unknown fault knob {name!r}; known: {', '.join(FAULT_KNOBS)}")
        if "ending" in knobs:
            _check_ending(knobs["ending"])
        if "commit_ts" in knobs:
            _check_commit_ts(knobs["commit_ts"])
        for name, value in knobs.items():
            current = getattr(self.config, name)
            setattr(self.config, name, type(current)(value))

    def hold(self) -> None:
        """Keep every data request that arrives from now on waiting, unanswered, until
        :meth:`release`: a client stays in the middle of a request for exactly as long as
        a test needs (instead of a latency guessed long enough)."""
        self._holding.clear()
        self._answering.clear()

    def release(self) -> None:
        """Answer the held data requests, and the next ones at once."""
        self._answering.set()

    def wait_until_holding(self, timeout: float) -> bool:
        """Wait until a data request is held (True), or ``timeout`` seconds (False)."""
        return self._holding.wait(timeout)

    def _held(self) -> None:
        if not self._answering.is_set():
            self._holding.set()
            self._answering.wait()

    def late_update(self, datasets: list[str] | None = None, share: float = 0.1) -> int:
        """Re-issue ``share`` of the rows committed so far with a newer COMMIT_TS."""
        for name in datasets or ():
            if name not in DATASETS:
                raise ValueError(f"unknown dataset {name!r}")
        return self.model.add_late_update(datasets, share, self.clock())

    def issue_token(self) -> tuple[str, int]:
        token = "eyJ" + secrets.token_urlsafe(32)
        expiry = self.clock() + timedelta(seconds=self.config.token_ttl)
        with self._lock:
            self._tokens[token] = expiry
            self.stats["tokens_issued"] += 1
        return token, int(self.config.token_ttl)

    def token_valid(self, token: str) -> bool:
        with self._lock:
            expiry = self._tokens.get(token)
        return expiry is not None and self.clock() < expiry

    # -- ground truth ---------------------------------------------------------------------
    def columns(self, dataset: Dataset) -> list[tuple[str, str]]:
        """The columns served for ``dataset``: the registry's, less ROW_ID if omitted, then
        the extra columns configured for it."""
        cols = list(dataset.columns)
        if dataset.name in self.config.omit_row_id:
            cols = [c for c in cols if c[0] != "ROW_ID"]
        return cols + [(n, "string") for n, _ in self._extras(dataset)]

    def _extras(self, dataset: Dataset) -> tuple[tuple[str, str], ...]:
        cfg = self.config
        wanted = not cfg.extra_column_datasets or dataset.name in cfg.extra_column_datasets
        return cfg.extra_columns if wanted else ()

    def _served(self, dataset: Dataset) -> Callable[[dict[str, str]], list[str]]:
        """How one generated row is served: its values in served column order."""
        names = [n for n, _ in self.columns(dataset)]
        extras = [v for _, v in self._extras(dataset)]
        own = names[: len(names) - len(extras)]
        form = self.config.commit_ts
        if form == "ms" or "COMMIT_TS" not in own:
            return lambda row: [row[c] for c in own] + extras
        at = own.index("COMMIT_TS")

        def formed(row: dict[str, str]) -> list[str]:
            values = [row[c] for c in own]
            values[at] = commit_ts_form(values[at], form)
            return values + extras

        return formed

    def _records(self, query: Query, first: datetime, last: datetime) -> list[list[str]]:
        """Served records of the buckets ``first``..``last`` that match the query's filter."""
        step, minutes = bucket_length(query)
        served = self._served(query.dataset)
        out = []
        for b in iter_buckets(first, last, step):
            for row in self.model.bucket_rows(query.dataset, b, minutes):
                if query.matches(row):
                    out.append(served(row))
        return out

    def rows(self, dataset: str, params: dict[str, str]) -> list[list[str]]:
        """Every record the query returns over all its pages under the configured reading
        (empty when the API would answer 202), for tests and benchmarks."""
        query = parse_query(DATASETS[dataset], params)
        sel = span(query, self.config.epoch, self.clock(), self.config.ending)
        if sel is None or not sel[2]:
            return []
        return self._records(query, sel[0], sel[1])

    def truth(
        self,
        dataset: str,
        start: datetime,
        last: datetime,
        dataset_type: str = "interval",
        filter: str | None = None,
    ) -> list[list[str]]:
        """Every record whose bucket lies in [start, last], in served order and columns.

        ``start`` and ``last`` are interval starts (daily: days at 00:00 UTC), both included,
        whatever the ``ending`` reading and whether the API would serve them yet: the ground
        truth a client's walk is compared with.
        """
        if dataset_type not in ("interval", "daily"):
            raise ValueError(f"dataset_type must be interval or daily, not {dataset_type!r}")
        grain = INTERVAL if dataset_type == "interval" else DAY
        for when in (start, last):
            if when.tzinfo is None:
                raise ValueError(f"{when} has no time zone; give UTC datetimes")
            if when.timestamp() % grain.total_seconds():
                raise ValueError(f"{when} does not start a {dataset_type} bucket")
        first, final = start.astimezone(UTC), last.astimezone(UTC)
        params = {"interval": f"starting:{first:%Y%m%d%H%M}", "datasetType": dataset_type}
        if filter:
            params["filter"] = filter
        try:
            query = parse_query(DATASETS[dataset], params)
        except BadRequest as exc:  # a bad filter: the caller's mistake, not an HTTP answer
            raise ValueError(str(exc)) from None
        step, _ = bucket_length(query)
        if dataset_type == "daily" and step == INTERVAL:
            final += DAY - INTERVAL  # an event dataset's day is its 96 intervals
        return self._records(query, max(first, self.config.epoch), final)

    def page(self, query: Query, token: str | None) -> dict[str, Any]:
        """One page of a ready query, starting at ``token`` (or the first row)."""
        sel = span(query, self.config.epoch, self.clock(), self.config.ending)
        served = self.columns(query.dataset)
        body: dict[str, Any] = {
            "columnHeaders": [{"name": n, "type": t} for n, t in served],
            "records": [],
        }
        next_token = ""
        if sel is not None:
            first, last, _ = sel
            step, minutes = bucket_length(query)
            offset = 0
            if token:
                first, offset = decode_token(self._token_secret, query, token)
            row_values = self._served(query.dataset)
            records = body["records"]
            for b in iter_buckets(first, last, step):
                rows = [
                    r for r in self.model.bucket_rows(query.dataset, b, minutes) if query.matches(r)
                ]
                while offset < len(rows):
                    if len(records) == query.page_size:
                        next_token = encode_token(self._token_secret, query, b, offset)
                        break
                    records.append(row_values(rows[offset]))
                    offset += 1
                if next_token:
                    break
                offset = 0
        body["pagination"] = {
            "pageSize": query.page_size,
            "prevPageToken": "",
            "nextPageToken": next_token,
        }
        body["links"] = {"prev": "", "next": self._next_link(query, next_token)}
        return body

    def _next_link(self, query: Query, token: str) -> str:
        if not token:
            return ""
        params = {"interval": query.interval}
        if query.dataset_type != "interval":
            params["datasetType"] = query.dataset_type
        if query.filter_column:
            params["filter"] = (
                f"{query.filter_column}:{query.filter_value}{'*' if query.filter_prefix else ''}"
            )
        params["pageSize"] = str(query.page_size)
        params["nextPageToken"] = token
        qs = urlencode(params, safe=":,*", quote_via=quote)
        if self.config.escaped_links:
            qs = qs.replace("&", "\\u0026")
        return f"/v2/datasets/{query.dataset.name}?{qs}"

    def roll(self, rate: float) -> bool:
        if rate <= 0:
            return False
        with self._lock:
            return self._rng.random() < rate

    def hit_query(self, identity: str) -> int:
        with self._lock:
            self._query_hits[identity] += 1
            return self._query_hits[identity]


class _Server(ThreadingHTTPServer):
    """One thread per connection; closing the server also ends the connections a client
    keeps alive (their threads would otherwise wait for its next request for ever)."""

    daemon_threads = True
    #: listen backlog: socketserver's default of 5 refuses connections when many workers
    #: (or test processes) connect at once on a loaded machine
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self._open: dict[Any, threading.Thread] = {}
        self._open_lock = threading.Lock()
        super().__init__(address, handler)  # closes the server when the port is taken

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name="simulator-connection",
            daemon=True,
        )
        with self._open_lock:
            self._open[request] = thread
        thread.start()

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.pop(request, None)
        super().shutdown_request(request)

    def server_close(self) -> None:
        """Stop listening, end every open connection and wait (briefly) for its thread."""
        super().server_close()
        with self._open_lock:
            still_open = list(self._open.items())
        for request, _ in still_open:
            with contextlib.suppress(OSError):  # the client hung up meanwhile
                request.shutdown(socket.SHUT_RDWR)
        for _, thread in still_open:
            if thread is not threading.current_thread():
                thread.join(timeout=5)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (killed, timed out) is normal here: log, don't print."""
        log.debug("connection from %s ended abruptly", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    sim: Simulator
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out at once: no 40 ms delayed-ACK stall
    server_version = "InfinitySimulator/1.0"

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet; requests go to debug log
        log.debug("%s " + fmt, self.address_string(), *args)

    # -- helpers --------------------------------------------------------------------------
    _answer_at: float | None = None

    def _await_latency(self) -> None:
        """Answer a data request no sooner than ``latency_ms`` after it arrived: the
        latency is the whole request's, the simulator's own work included (a server that
        answers in 100 ms, not in 100 ms plus however long generating the rows took)."""
        if self._answer_at is not None:
            time.sleep(max(0.0, self._answer_at - time.monotonic()))
            self._answer_at = None

    def _send(
        self,
        status: int,
        body: bytes,
        ctype: str = "application/json",
        extra: dict[str, str] | None = None,
    ) -> None:
        self.sim.stats[f"status_{status}"] += 1
        self._await_latency()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, title: str, detail: str) -> None:
        self._send(status, go_json({"title": title, "status": status, "detail": detail}))

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    # -- routes ---------------------------------------------------------------------------
    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        if path == TOKEN_PATH:
            self._token()
        elif path.startswith(CONTROL_PREFIX):
            self._control("POST", path[len(CONTROL_PREFIX) :])
        else:
            self._error(404, "Not Found", f"No route for POST {path}")

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path.startswith(DATA_PREFIX):
            self._dataset(parts.path[len(DATA_PREFIX) :], parts.query)
        elif parts.path.startswith(CONTROL_PREFIX):
            self._control("GET", parts.path[len(CONTROL_PREFIX) :])
        elif parts.path == LOGIN_PATH:
            self._send(
                200,
                b"<html><body><h1>Sign in to Avaya Infinity</h1></body></html>",
                "text/html; charset=utf-8",
            )
        else:
            self._error(404, "Not Found", f"No route for GET {parts.path}")

    def _token(self) -> None:
        sim = self.sim
        form = {
            k: v[0]
            for k, v in parse_qs(
                self._read_body().decode("utf-8", "replace"), keep_blank_values=True
            ).items()
        }
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            import base64

            try:
                cid, _, csec = base64.b64decode(auth[6:]).decode().partition(":")
                form.setdefault("client_id", cid)
                form.setdefault("client_secret", csec)
            except Exception:
                form = {}
        if form.get("grant_type") != "client_credentials":
            self._send(
                400,
                go_json(
                    {
                        "error": "unsupported_grant_type",
                        "error_description": "Unsupported grant_type",
                    }
                ),
            )
            return
        if (
            form.get("client_id") != sim.config.client_id
            or form.get("client_secret") != sim.config.client_secret
        ):
            self._send(
                401,
                go_json(
                    {
                        "error": "invalid_client",
                        "error_description": "Invalid client or Invalid client credentials",
                    }
                ),
            )
            return
        token, ttl = sim.issue_token()
        self._send(200, go_json({"access_token": token, "expires_in": ttl, "token_type": "bearer"}))

    def _unauthorized(self, detail: str) -> None:
        sim = self.sim
        sim.stats["unauthorized"] += 1
        if sim.config.redirect_401:
            host = self.headers.get("Host", f"{sim.config.host}")
            login = (
                f"http://{host}{LOGIN_PATH}?client_id=infinity-portal&response_type=code"
                f"&redirect_uri=%2Fapp%2F"
            )
            self._send(302, b"", "text/html", {"Location": login})
            return
        self._error(401, "Unauthorized", detail)

    def _dataset(self, name: str, qs: str) -> None:
        sim = self.sim
        sim.stats["data_requests"] += 1
        sim._held()
        if sim.config.latency_ms:
            self._answer_at = time.monotonic() + sim.config.latency_ms / 1000
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            self._unauthorized("Missing Authorization: Bearer token.")
            return
        if not sim.token_valid(auth[7:].strip()):
            self._unauthorized("The access token is invalid or has expired.")
            return
        ds: Dataset | None = DATASETS.get(name)
        if ds is None:
            self._error(
                404,
                "Not Found",
                f"Dataset '{name}' not found. Valid datasets: {', '.join(DATASET_NAMES)}.",
            )
            return
        if ds.needs_analytics_insights and not sim.config.entitled:
            self._error(403, "Forbidden", ENTITLEMENT_DETAIL)
            return
        if sim.roll(sim.config.fail_rate):
            self._error(500, "Internal Server Error", "An unexpected platform error occurred.")
            return
        params = {k: v[-1] for k, v in parse_qs(qs, keep_blank_values=True).items()}
        try:
            query = parse_query(ds, params)
            token = params.get("nextPageToken") or None
            headers = [{"name": n, "type": t} for n, t in sim.columns(ds)]
            hits = sim.hit_query(query.identity)
            sel = span(query, sim.config.epoch, sim.clock(), sim.config.ending)
            if hits <= sim.config.accepted_first or (sel is not None and not sel[2]):
                body = {
                    "columnHeaders": headers,
                    "records": [],
                    "pagination": {
                        "pageSize": query.page_size,
                        "prevPageToken": "",
                        "nextPageToken": "",
                    },
                    "links": {"prev": "", "next": ""},
                }
                self._send(202, go_json(body))
                return
            page = sim.page(query, token)
        except BadRequest as exc:
            self._error(400, "Bad Request", str(exc))
            return
        payload = go_json(page)
        if sim.roll(sim.config.garble_rate):
            sim.stats["garbled"] += 1
            payload = payload[: len(payload) // 2] + b"\x00garbled"
        if sim.roll(sim.config.truncate_rate):
            sim.stats["truncated"] += 1
            self._await_latency()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload[: len(payload) // 3])
            self.wfile.flush()
            self.close_connection = True
            return
        self._send(200, payload)

    def _control(self, method: str, what: str) -> None:
        sim = self.sim
        try:
            body = json.loads(self._read_body() or b"{}") if method == "POST" else {}
            if what == "health":
                result: Any = {"ok": True}
            elif what == "stats":
                result = dict(sim.stats)
            elif what == "faults":
                if method == "POST":
                    sim.set_faults(**body)
                result = {k: getattr(sim.config, k) for k in FAULT_KNOBS}
            elif what == "late-updates" and method == "POST":
                gen = sim.late_update(body.get("datasets"), float(body.get("share", 0.1)))
                result = {"generation": gen, "at": iso_z(sim.clock(), ms=True)}
            else:
                self._error(404, "Not Found", f"No control endpoint {what!r}")
                return
        except (ValueError, TypeError) as exc:
            self._error(400, "Bad Request", str(exc))
            return
        self._send(200, json.dumps(result).encode())
