"""A simulator that echoes our credentials back (issue 18 §8), loopback only.

The real simulator (its data, tokens and pages), except that every answer about some
datasets repeats every bearer token it has been sent so far (the current one and earlier
ones: what a server that logs its requests could echo) and the client secret it was sent:

  agent                400, in the detail
  agentAux             403, in the detail
  queue                500, in the body (every retry)
  mpccdr               202, in a message member of the body
  transcript           302, in the Location header (a redirect elsewhere)
  workflow             200, a garbled page holding them (quarantined)
  interactionSegments  200, real pages whose INTERACTION_NOTES and EVENT_DESC hold them
  workflowTrace        200, real pages, untouched

Tokens live ``token_ttl`` seconds (SimConfig), so a pull of several chunks is issued more
than one and the echo carries earlier ones too.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from archiver.simulator import SimConfig, Simulator
from archiver.simulator.server import _Handler, _Server, go_json

ECHOED = (
    "agent",
    "agentAux",
    "queue",
    "mpccdr",
    "transcript",
    "workflow",
    "interactionSegments",
    "workflowTrace",
)


class EchoSimulator(Simulator):
    """The simulator, echoing the caller's credentials (see the module's docstring)."""

    def __init__(self, config: SimConfig | None = None, **kw: Any) -> None:
        super().__init__(config, **kw)
        self.issued: list[str] = []  # every token handed out
        self.seen: list[str] = []  # every token a request carried, in the order first seen
        self._echo_lock = threading.Lock()

    def issue_token(self) -> tuple[str, int]:
        token, ttl = super().issue_token()
        self.issued.append(token)
        return token, ttl

    def saw(self, token: str) -> None:
        with self._echo_lock:
            if token not in self.seen:
                self.seen.append(token)

    def echo(self) -> str:
        """Every token sent to it so far and the client secret, as a careless server logs
        them (a token issued but not yet used cannot be echoed: the client has not got it)."""
        with self._echo_lock:
            tokens = " ".join(self.seen)
        return f"tokens {tokens}; client_secret={self.config.client_secret}"

    def bind(self) -> str:
        handler = type("Handler", (_EchoHandler,), {"sim": self})
        self._server = _Server((self.config.host, self.config.port), handler)
        return self.base_url

    def page(self, query: Any, token: str | None) -> dict[str, Any]:
        body = super().page(query, token)
        if query.dataset.name == "interactionSegments":
            names = [c["name"] for c in body["columnHeaders"]]
            notes, desc = names.index("INTERACTION_NOTES"), names.index("EVENT_DESC")
            for record in body["records"]:
                record[notes] = f"caller said: {self.echo()}"
                record[desc] = f"Bearer {self.seen[-1]}"
        return body


class _EchoHandler(_Handler):
    sim: EchoSimulator

    def _dataset(self, name: str, qs: str) -> None:
        sim = self.sim
        auth = self.headers.get("Authorization", "")
        if sim.token_valid(auth[7:].strip()):
            sim.saw(auth[7:].strip())
        if name not in ("agent", "agentAux", "queue", "mpccdr", "transcript", "workflow") or (
            not sim.token_valid(auth[7:].strip())
        ):
            super()._dataset(name, qs)  # interactionSegments echoes in its pages (page())
            return
        echo = sim.echo()
        if name == "agent":
            self._error(400, "Bad Request", f"Invalid query for {auth}: {echo}")
        elif name == "agentAux":
            self._error(403, "Forbidden", f"{echo} is not entitled")
        elif name == "queue":
            self._error(500, "Internal Server Error", f"upstream failed for {echo}")
        elif name == "mpccdr":
            body = {"columnHeaders": [], "records": [], "message": f"not ready for {echo}"}
            self._send(202, go_json(body))
        elif name == "transcript":
            self._send(302, b"", "text/html", {"Location": f"https://elsewhere.example/?{echo}"})
        else:  # workflow: a page that does not parse, holding the credentials
            self._send(200, json.dumps({"columnHeaders": echo, "records": []}).encode()[:-3])
