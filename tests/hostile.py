"""A hostile Historical API on loopback: each attack of a compromised proxy or a malicious
endpoint, selectable. Its token endpoint accepts any client; its dataset endpoint answers
every request with the chosen attack.

Attacks:
  gzip_bomb      200, Content-Encoding: gzip, a body that unpacks to ``bomb_bytes`` (1.5 GB)
  huge           200, Content-Length ``huge_bytes`` (1.1 GB), streamed until the client leaves
  trickle        200, a real page sent one byte every ``trickle_every`` seconds
  endless        200, real pages, each with a new nextPageToken, forever
  dup_columns    200, columnHeaders naming one column twice
  escape_400     400 whose detail carries terminal escape sequences
  dup_records    200, a real page whose body names ``records`` twice (first: none, last: rows)
  dup_header     200, a real page whose first column header names ``name`` twice
  dup_pagination 200, a real page whose pagination names ``nextPageToken`` twice
  dup_202        202 whose body names ``columnHeaders`` twice
  ok             a real, single page

Nothing here reaches beyond 127.0.0.1; every loop ends when the client goes away.
"""

from __future__ import annotations

import json
import threading
import time
import zlib
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from archiver.api.query import Query
from archiver.datasets import get_dataset
from archiver.simulator import SimConfig, Simulator
from archiver.simulator.query import parse_query

TOKEN_PATH = "/auth/realms/avaya/protocol/openid-connect/token"
DATA_PATH = "/api/analytics/v2/datasets/"
ESCAPES = "\x1b]0;pwned\x07\x1b[2J\x1b[32mAll chunks archived.\x1b[0m\r\x9b31m"

ATTACKS = (
    "gzip_bomb",
    "huge",
    "trickle",
    "endless",
    "dup_columns",
    "escape_400",
    "dup_records",
    "dup_header",
    "dup_pagination",
    "dup_202",
    "ok",
)


def real_page(dataset: str = "queue", page_size: int = 3) -> dict[str, Any]:
    """One genuine page body (the simulator's), without starting a server."""
    sim = Simulator(SimConfig(rows_per_interval=2))
    q = Query(
        dataset,
        datetime(2025, 2, 1, tzinfo=UTC),
        datetime(2025, 2, 1, 0, 15, tzinfo=UTC),
        page_size=page_size,
    )
    body = sim.page(parse_query(get_dataset(dataset), q.params()), None)
    body["pagination"]["nextPageToken"] = ""
    body["links"] = {"prev": "", "next": ""}
    return body


class Hostile:
    def __init__(self, attack: str, **opts: Any) -> None:
        if attack not in ATTACKS:
            raise ValueError(attack)
        self.attack = attack
        self.bomb_bytes = int(opts.get("bomb_bytes", 1_500_000_000))
        self.huge_bytes = int(opts.get("huge_bytes", 1_100_000_000))
        self.trickle_every = float(opts.get("trickle_every", 5.0))
        self.page = real_page()
        self.requests = 0
        self.token_posts = 0
        self.sent = 0  # body bytes written by the dataset endpoint, all requests
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> str:
        hostile = self

        class Handler(_Handler):
            server_state = hostile

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Hostile:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def count(self, sent: int = 0, request: bool = False, token: bool = False) -> None:
        with self._lock:
            self.sent += sent
            self.requests += int(request)
            self.token_posts += int(token)


class _Handler(BaseHTTPRequestHandler):
    server_state: Hostile
    protocol_version = "HTTP/1.0"  # one response per connection; a body may end at close

    def log_message(self, fmt: str, *args: Any) -> None:
        pass

    def _head(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()

    def _write(self, data: bytes) -> bool:
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:  # the client left: the attack is over
            return False
        self.server_state.count(sent=len(data))
        return True

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.server_state.count(token=True)
        body = json.dumps({"access_token": "hostile-token", "expires_in": 900}).encode()
        self._head(200, {"Content-Length": str(len(body))})
        self._write(body)

    def do_GET(self) -> None:
        self.server_state.count(request=True)
        if not self.path.startswith(DATA_PATH):
            self._head(404, {"Content-Length": "0"})
            return
        getattr(self, f"_{self.server_state.attack}")()

    # -- the attacks ----------------------------------------------------------------------
    def _json(self, body: dict[str, Any], status: int = 200) -> None:
        raw = json.dumps(body).encode()
        self._head(status, {"Content-Length": str(len(raw))})
        self._write(raw)

    def _ok(self) -> None:
        self._json(self.server_state.page)

    def _gzip_bomb(self) -> None:
        self._head(200, {"Content-Encoding": "gzip"})  # no length: the body ends at close
        z = zlib.compressobj(9, zlib.DEFLATED, 31)
        block = b" " * 1_048_576
        if not self._write(z.compress(b'{"columnHeaders": [], "records": [' + block)):
            return
        for _ in range(self.server_state.bomb_bytes // len(block)):
            piece = z.compress(block)
            if piece and not self._write(piece):
                return
        self._write(z.flush())

    def _huge(self) -> None:
        total = self.server_state.huge_bytes
        self._head(200, {"Content-Length": str(total)})
        block = b" " * 1_048_576
        sent = 0
        if not self._write(b'{"records": ['):
            return
        while sent < total:
            if not self._write(block):
                return
            sent += len(block)

    def _trickle(self) -> None:
        raw = json.dumps(self.server_state.page).encode()
        self._head(200, {"Content-Length": str(len(raw))})
        for i in range(len(raw)):
            if not self._write(raw[i : i + 1]):
                return
            time.sleep(self.server_state.trickle_every)

    def _endless(self) -> None:
        body = dict(self.server_state.page)
        token = f"t{self.server_state.requests:09d}"
        body["pagination"] = {"pageSize": 3, "prevPageToken": "", "nextPageToken": token}
        self._json(body)

    def _dup_columns(self) -> None:
        body = dict(self.server_state.page)
        headers = list(body["columnHeaders"])
        headers[1] = dict(headers[1], name=headers[0]["name"])  # ROW_ID twice
        body["columnHeaders"] = headers
        self._json(body)

    def _escape_400(self) -> None:
        self._json({"title": "Bad Request", "detail": ESCAPES}, 400)

    # -- bodies with two readings (json.dumps cannot write them: the text is edited) --------
    def _text(self, text: str, status: int = 200) -> None:
        raw = text.encode()
        self._head(status, {"Content-Length": str(len(raw))})
        self._write(raw)

    def _dup_records(self) -> None:
        text = json.dumps(self.server_state.page)
        self._text('{"records": [], ' + text[1:])  # first reading: no rows; last: the rows

    def _dup_header(self) -> None:
        text = json.dumps(self.server_state.page)
        first = json.dumps(self.server_state.page["columnHeaders"][0])
        self._text(text.replace(first, first[:-1] + ', "name": "OTHER"}', 1))

    def _dup_pagination(self) -> None:
        text = json.dumps(self.server_state.page)
        self._text(text.replace('"pagination": {', '"pagination": {"nextPageToken": "t2", ', 1))

    def _dup_202(self) -> None:
        headers = json.dumps(self.server_state.page["columnHeaders"])
        self._text(f'{{"columnHeaders": {headers}, "columnHeaders": [], "records": []}}', 202)
