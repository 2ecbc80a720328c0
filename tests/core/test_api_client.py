"""The API client against the real simulator over HTTP."""

from __future__ import annotations

import logging
import threading
import warnings
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import requests

from archiver.api import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    ConnectionFailure,
    Credentials,
    CursorLoopError,
    EntitlementError,
    HistoricalClient,
    NotReady,
    NotReadyPolicy,
    Page,
    PageValidationError,
    Query,
    Secret,
    ServerError,
    Tenant,
    TokenProvider,
    UnknownDatasetError,
    schema_diff,
    typed_record,
)
from archiver.api.client import make_session
from archiver.api.pages import decode_next_link, parse_page, token_from_link
from archiver.api.retry import RetryPolicy
from archiver.api.tokens import refresh_margin
from archiver.datasets import DATASET_NAMES, ENTITLEMENT_DETAIL
from archiver.jobs import Cancel, Cancelled
from tests.clock import ManualClock

FAST = RetryPolicy(attempts=12, initial=0.001, max_delay=0.01, jitter=0.001)
START = datetime(2025, 2, 1, 4, 0, tzinfo=UTC)
END = datetime(2025, 2, 1, 5, 45, tzinfo=UTC)


def client_for(sim, secret=None, **kw) -> HistoricalClient:
    tenant = Tenant.from_base_url(sim.base_url)
    creds = Credentials(sim.config.client_id, Secret(secret or sim.config.client_secret))
    kw.setdefault("retry", FAST)
    return HistoricalClient(tenant, creds, **kw)


def walk(client, query, start_token=None):
    pages = [p for p in client.pages(query, start_token)]
    records = [r for p in pages if isinstance(p, Page) for r in p.records]
    return pages, records


def truth(sim, query: Query):
    return sim.rows(query.dataset, query.params())


# -- connection ---------------------------------------------------------------------------
def test_tenant_from_customer_subdomain():
    t = Tenant.from_customer("Avaya1234")
    assert t.base_url == "https://core.avaya1234.ec.avayacloud.com"
    assert (
        t.token_url
        == "https://core.avaya1234.ec.avayacloud.com/auth/realms/avaya/protocol/openid-connect/token"
    )
    assert (
        t.data_url("queue")
        == "https://core.avaya1234.ec.avayacloud.com/api/analytics/v2/datasets/queue"
    )
    for bad in ("", "a.b", "-x", "avaya 1234", "x" * 70, "evil.com/"):
        with pytest.raises(ValueError, match="subdomain"):
            Tenant.from_customer(bad)


def test_tenant_from_base_url_rejects_credentials_and_non_http():
    assert Tenant.from_base_url("http://127.0.0.1:9/").base_url == "http://127.0.0.1:9"
    with pytest.raises(ValueError):
        Tenant.from_base_url("ftp://x")
    with pytest.raises(ValueError, match="not in the URL"):
        Tenant.from_base_url("https://user:pw@host")


def test_session_verifies_tls_and_identifies_itself(tmp_path):
    s = make_session(Tenant.from_base_url("https://example.invalid"))
    # verification always on; the environment (REQUESTS_CA_BUNDLE, ~/.netrc) is not read
    assert s.verify is True and s.trust_env is False
    assert s.headers["User-Agent"].startswith("archiver/")
    ca = tmp_path / "corp-ca.pem"
    ca.write_text(
        "x"
    )  # not PEM: refused at once, before any request (tests/core/test_transport.py)
    with pytest.raises(ValueError, match="cannot be read as PEM"):
        make_session(Tenant.from_base_url("https://example.invalid", str(ca)))


# -- queries ------------------------------------------------------------------------------
def test_query_validation():
    with pytest.raises(UnknownDatasetError, match="Valid datasets: agent, queue"):
        Query("agents", START)
    with pytest.raises(ValueError, match="neither"):
        Query("queue")
    with pytest.raises(ValueError, match="pageSize"):
        Query("queue", START, page_size=201)
    with pytest.raises(ValueError, match="COLUMN:value"):
        Query("queue", START, filter="CHANNEL=phone")
    with pytest.raises(ValueError, match="after its end"):
        Query("queue", END, START)
    q = Query("queue", START, END, filter="QUEUE_ID:003d*")
    assert q.params() == {
        "interval": "starting:202502010400,ending:202502010545",
        "filter": "QUEUE_ID:003d*",
        "pageSize": "200",
    }
    d = Query("agent", date(2025, 2, 1), date(2025, 2, 3), dataset_type="daily")
    assert d.params()["interval"] == "starting:20250201,ending:20250203"
    assert d.params()["datasetType"] == "daily"
    assert Query("queue", ending=END).interval == "ending:202502010545"


def test_non_aligned_minute_warns():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        q = Query("queue", datetime(2025, 2, 1, 4, 10, tzinfo=UTC))
    assert q.warnings and "15-minute" in q.warnings[0]
    assert any("15-minute" in str(w.message) for w in caught)


# -- walking ------------------------------------------------------------------------------
@pytest.mark.parametrize("page_size", [1, 20, 200])
def test_walk_every_row_exactly_once(sim, page_size):
    end = START if page_size == 1 else END
    q = Query("interactionSegments", START, end, page_size=page_size)
    pages, records = walk(client_for(sim), q)
    assert records == truth(sim, q)
    assert [p.number for p in pages] == list(range(1, len(pages) + 1))
    assert pages[-1].last and all(not p.last for p in pages[:-1])


def test_page_carries_raw_bytes_and_provenance(sim):
    q = Query("queue", START, END, page_size=50)
    page = next(client_for(sim).pages(q))
    assert isinstance(page, Page) and page.status == 200
    assert page.raw.startswith(b'{"columnHeaders"')
    assert page.url.startswith(sim.base_url + "/api/analytics/v2/datasets/queue?")
    assert "token" not in page.url.lower().replace("nextpagetoken", "")
    assert page.received_at.tzinfo is UTC
    assert page.column_names[0] == "ROW_ID" and page.next_token and page.request_token is None


def test_pages_are_a_generator_that_resumes_from_a_token(sim):
    q = Query("interactionSegments", START, END, page_size=20)
    client = client_for(sim)
    gen = client.pages(q)
    first, second = next(gen), next(gen)
    gen.close()
    _, rest = walk(client_for(sim), q, start_token=second.next_token)
    assert first.records + second.records + rest == truth(sim, q)


def test_filters_and_wildcards(sim):
    q = Query("queue", START, END, filter="CHANNEL:ph*")
    _, records = walk(client_for(sim), q)
    assert records and {r[10] for r in records} == {"phone"}
    assert records == truth(sim, q)


def test_daily_walk(sim):
    q = Query("agent", date(2025, 2, 1), date(2025, 2, 2), dataset_type="daily")
    _, records = walk(client_for(sim), q)
    assert records == truth(sim, q) and {r[3] for r in records} == {"1440"}


# -- the error table ----------------------------------------------------------------------
def test_400_invalid_filter_column_names_the_column(sim):
    q = Query("agent", START, END, filter="AGENT_NAME:John*")
    with pytest.raises(BadRequestError) as err:
        walk(client_for(sim), q)
    assert err.value.filter_column == "AGENT_NAME"
    assert "AGENT_NAME" in str(err.value) and "CHANNEL" in str(err.value)


def test_400_other_detail_is_surfaced(sim):
    q = Query("agent", datetime(2025, 2, 1, 4, 0, tzinfo=UTC))
    client = client_for(sim)
    with pytest.raises(BadRequestError, match="nextPageToken"):
        walk(client, q, start_token="garbage-token")


def test_401_bad_credentials_say_check_id_and_secret(sim):
    with pytest.raises(AuthenticationError, match="client id and secret"):
        walk(client_for(sim, secret="wrong"), Query("queue", START, END))


def test_403_entitlement_names_dataset_and_advice(sim_factory):
    sim = sim_factory(entitled=False)
    with pytest.raises(EntitlementError) as err:
        walk(client_for(sim), Query("workflowTrace", START, END))
    msg = str(err.value)
    assert "workflowTrace" in msg and "Analytics Insights" in msg and ENTITLEMENT_DETAIL in msg


def test_404_maps_to_unknown_dataset(sim):
    client = client_for(sim)
    q = Query("queue", START, END)
    object.__setattr__(q, "dataset", "nosuch")  # bypass the local check to hit the server
    with pytest.raises(UnknownDatasetError) as err:
        client.fetch(q)
    assert all(name in str(err.value) for name in DATASET_NAMES)


def test_500_storm_walk_completes_exactly_once(sim_factory):
    sim = sim_factory(fail_rate=0.2, rows_per_interval=30)
    q = Query("interactionSegments", START, END, page_size=7)
    client = client_for(sim)
    _, records = walk(client, q)
    assert records == truth(sim, q)
    assert client.stats["retries"] > 0 and sim.stats["status_500"] == client.stats["retries"]


def test_500_forever_gives_server_error(sim_factory):
    sim = sim_factory(fail_rate=1.0)
    with pytest.raises(ServerError, match="after 3 attempts") as err:
        walk(client_for(sim, retry=RetryPolicy(3, 0.001, 0.001, 0)), Query("queue", START, END))
    assert err.value.status == 500


def test_truncated_bodies_are_retried(sim_factory):
    sim = sim_factory(truncate_rate=0.3)
    q = Query("interactionSegments", START, END, page_size=20)
    client = client_for(sim)
    _, records = walk(client, q)
    assert records == truth(sim, q) and sim.stats["truncated"] > 0


def test_connection_refused_is_a_connection_failure():
    tenant = Tenant.from_base_url("http://127.0.0.1:9")
    tokens = TokenProvider(
        tenant,
        Credentials("x", Secret("y")),
        make_session(tenant),
        retry=RetryPolicy(2, 0.001, 0.001, 0),
    )
    client = HistoricalClient(tenant, tokens=tokens, retry=RetryPolicy(2, 0.001, 0.001, 0))
    with pytest.raises(ConnectionFailure, match=r"127\.0\.0\.1:9"):
        client.fetch(Query("queue", START, END))


def test_429_honours_retry_after(sim):
    # a tiny server that answers 429 with Retry-After once, then proxies to the simulator
    import http.server

    waits = []
    hits = {"n": 0}

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits["n"] += 1
            if hits["n"] == 1:
                self.send_response(429)
                self.send_header("Retry-After", "0.05")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            r = requests.get(
                sim.base_url + self.path,
                headers={"Authorization": self.headers["Authorization"]},
                timeout=10,
            )
            self.send_response(r.status_code)
            self.send_header("Content-Length", str(len(r.content)))
            self.end_headers()
            self.wfile.write(r.content)

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            r = requests.post(
                sim.base_url + self.path,
                data=body,
                headers={"Content-Type": self.headers["Content-Type"]},
                timeout=10,
            )
            self.send_response(r.status_code)
            self.send_header("Content-Length", str(len(r.content)))
            self.end_headers()
            self.wfile.write(r.content)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        tenant = Tenant.from_base_url(f"http://127.0.0.1:{srv.server_address[1]}")
        client = HistoricalClient(
            tenant,
            Credentials("archiver-demo", "demo-secret"),
            retry=RetryPolicy(3, 5, 10, 0),
            sleep=waits.append,
        )
        status, *_ = client.fetch(Query("queue", START, END))
        assert status == 200 and waits == [0.05]
    finally:
        srv.shutdown()
        srv.server_close()


# -- 202 ----------------------------------------------------------------------------------
def test_202_first_k_then_data_with_policy(sim_factory):
    sim = sim_factory(accepted_first=2)
    waits = []
    client = client_for(sim, not_ready=NotReadyPolicy(initial=30, factor=2), sleep=waits.append)
    q = Query("queue", START, END)
    pages, records = walk(client, q)
    assert [type(p) for p in pages[:2]] == [NotReady, NotReady]
    assert pages[0].columns[0]["name"] == "ROW_ID" and pages[0].status == 202
    assert waits == [30, 60]  # the guide's 30 s, 60 s, … backoff
    assert records == truth(sim, q)


def test_202_deferred_without_policy(sim_factory):
    sim = sim_factory(accepted_first=5)
    pages, records = walk(client_for(sim), Query("queue", START, END))
    assert len(pages) == 1 and isinstance(pages[0], NotReady) and pages[0].retry_in is None
    assert records == []


def test_202_policy_is_bounded():
    p = NotReadyPolicy(initial=30, factor=2, max_delay=100, max_attempts=4)
    assert [p.delay(i) for i in range(1, 6)] == [30, 60, 100, None, None]


# -- tokens -------------------------------------------------------------------------------
def test_token_refreshed_before_expiry_mid_walk(sim_factory):
    """Server and client share one clock that the test moves 0.3 s per page: the 1 s token
    is refreshed at its 0.8 s mark (20 % margin), so every third page, and the server never
    sees an expired one."""
    clock = ManualClock()
    sim = sim_factory(token_ttl=1, rows_per_interval=40, clock=clock)
    q = Query("interactionSegments", START, datetime(2025, 2, 1, 8, 0, tzinfo=UTC), page_size=10)
    tenant = Tenant.from_base_url(sim.base_url)
    creds = Credentials(sim.config.client_id, Secret(sim.config.client_secret))
    tokens = TokenProvider(tenant, creds, make_session(tenant, 1), clock=clock.monotonic)
    client = HistoricalClient(tenant, tokens=tokens, retry=FAST)
    pages, records = 0, []
    for page in client.pages(q):
        assert isinstance(page, Page)
        pages += 1
        records.extend(page.records)
        clock.advance(0.3)
    assert records == truth(sim, q)
    assert clock.monotonic() > 2, "the walk must outlive at least two token lifetimes"
    assert sim.stats["unauthorized"] == 0  # never sent an expired token
    assert client.stats["auth_replays"] == 0
    assert refresh_margin(1) == pytest.approx(0.2)
    # tokens at 0, 0.9, 1.8, …: at 0.6 s one lives 0.4 s more, at 0.9 s it is past 0.8 s
    assert tokens.refreshes == -(-pages // 3) >= 3


def test_401_replayed_once_with_fresh_token(sim):
    client = client_for(sim)
    client.fetch(Query("queue", START, END))
    sim._tokens.clear()  # the server forgets every token (as after a key rotation)
    status, *_ = client.fetch(Query("queue", START, END))
    assert status == 200 and client.stats["auth_replays"] == 1 and client.tokens.refreshes == 2


def test_302_variant_is_never_followed(sim_factory):
    sim = sim_factory(redirect_401=True)
    client = client_for(sim)
    client.fetch(Query("queue", START, END))
    sim._tokens.clear()
    status, raw, *_ = client.fetch(Query("queue", START, END))
    assert status == 200 and b"Sign in" not in raw and client.stats["auth_replays"] == 1


def test_second_auth_failure_is_an_authentication_error(sim_factory):
    sim = sim_factory(redirect_401=True, token_ttl=0)
    with pytest.raises(AuthenticationError, match="client id and secret"):
        client_for(sim).fetch(Query("queue", START, END))


def test_one_refresh_shared_by_concurrent_workers(sim):
    tenant = Tenant.from_base_url(sim.base_url)
    tokens = TokenProvider(
        tenant, Credentials("archiver-demo", "demo-secret"), make_session(tenant)
    )
    clients = [HistoricalClient(tenant, tokens=tokens, retry=FAST) for _ in range(4)]
    q = Query("queue", START, END)
    threads = [threading.Thread(target=c.fetch, args=(q,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert tokens.refreshes == 1


# -- links and cursor guard ---------------------------------------------------------------
def test_escaped_links_decoded(sim_factory):
    sim = sim_factory(escaped_links=True)
    assert (
        decode_next_link("/v2/datasets/q?a=1\\u0026nextPageToken=T")
        == "/v2/datasets/q?a=1&nextPageToken=T"
    )
    body = requests.get(
        sim.base_url + "/api/analytics/v2/datasets/queue",
        params=Query("queue", START, END, page_size=5).params(),
        headers={"Authorization": f"Bearer {sim.issue_token()[0]}"},
        timeout=10,
    ).json()
    link = body["links"]["next"]
    assert "\\u0026" in link
    assert token_from_link(link) == body["pagination"]["nextPageToken"]
    q = Query("queue", START, END, page_size=5)
    _, records = walk(client_for(sim), q)
    assert records == truth(sim, q)


def test_next_token_from_links_when_pagination_lacks_it():
    raw = b'{"columnHeaders":[{"name":"A","type":"string"}],"records":[["1"]],"links":{"prev":"","next":"/v2/datasets/x?interval=i\\\\u0026nextPageToken=TOK"}}'
    _, _, nxt = parse_page(raw, "u", 200, None)
    assert nxt == "TOK"


def test_repeated_token_stops_the_walk(sim, monkeypatch):
    client = client_for(sim)
    q = Query("interactionSegments", START, END, page_size=5)
    first = next(client_for(sim).pages(q))
    import archiver.api.client as mod

    real = mod.parse_page

    def stuck(raw, url, status, token):  # the server hands back the same token forever
        cols, recs, _ = real(raw, url, status, token)
        return cols, recs, first.next_token

    monkeypatch.setattr(mod, "parse_page", stuck)
    with pytest.raises(CursorLoopError, match="cycling"):
        walk(client, q)


# -- validation ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"columnHeaders": [', "invalid JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[]", "not a JSON object"),
        (b'{"records": []}', "columnHeaders"),
        (b'{"columnHeaders":[{"name":"A"}],"records":[]}', "columnHeaders[0]"),
        (b'{"columnHeaders":[{"name":"A","type":"string"}]}', "records missing"),
        (
            b'{"columnHeaders":[{"name":"A","type":"string"}],"records":[["1","2"]]}',
            "2 values for 1",
        ),
        (b'{"columnHeaders":[{"name":"A","type":"number"}],"records":[[1]]}', "not a string"),
    ],
)
def test_malformed_page_keeps_its_bytes(raw, reason):
    with pytest.raises(PageValidationError) as err:
        parse_page(raw, "http://x/u", 200, "T")
    assert reason in err.value.reason and err.value.raw == raw and err.value.token == "T"


def test_garbled_page_from_server_raises_with_bytes(sim_factory):
    sim = sim_factory(garble_rate=1.0)
    with pytest.raises(PageValidationError) as err:
        walk(client_for(sim), Query("queue", START, END))
    assert err.value.raw.endswith(b"garbled") and "quarantined" in str(err.value)


def test_cancel_between_pages_and_during_waits(sim_factory):
    sim = sim_factory(accepted_first=3)
    cancel = Cancel()
    client = client_for(sim, not_ready=NotReadyPolicy(initial=60), cancel=cancel)
    gen = client.pages(Query("queue", START, END))
    assert isinstance(next(gen), NotReady)
    cancel.set()
    with pytest.raises(Cancelled):
        next(gen)  # the 60 s wait ends at once


# -- typed view and drift -----------------------------------------------------------------
def test_typed_record_casts_without_touching_raw():
    cols = [
        {"name": n, "type": t}
        for n, t in [
            ("N", "number"),
            ("D", "number"),
            ("T", "datetime"),
            ("DAY", "datetime"),
            ("B", "boolean"),
            ("E", "number"),
            ("S", "string"),
            ("X", "datetime"),
        ]
    ]
    rec = ["42", "0.1", "2025-11-25T00:45:00Z", "2025-11-25", "true", "", "", "not a date"]
    copy = list(rec)
    out = typed_record(cols, rec)
    assert out["N"] == 42 and out["D"] == Decimal("0.1") and isinstance(out["D"], Decimal)
    assert out["T"] == datetime(2025, 11, 25, 0, 45, tzinfo=UTC) and out["DAY"] == date(
        2025, 11, 25
    )
    assert out["B"] is True and out["E"] is None and out["S"] == "" and out["X"] == "not a date"
    assert rec == copy


def test_schema_drift_reported():
    a = [{"name": "A", "type": "string"}, {"name": "B", "type": "number"}]
    b = [
        {"name": "A", "type": "string"},
        {"name": "B", "type": "string"},
        {"name": "C", "type": "number"},
    ]
    assert schema_diff(a, a) is None
    d = schema_diff(a, b)
    assert d.added == ("C",) and d.retyped == (("B", "number", "string"),)
    assert "added C" in d.describe() and "retyped B number→string" in d.describe()


# -- secrets ------------------------------------------------------------------------------
def test_secret_never_leaks(sim_factory, tmp_path, caplog):
    secret = "S3CRET-canary-7f2a91"
    sim = sim_factory(client_secret=secret, token_ttl=1, fail_rate=0.2, redirect_401=True)
    log_file = tmp_path / "archiver.log"
    handler = logging.FileHandler(log_file)
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    try:
        client = client_for(sim, secret=secret)
        _, records = walk(client, Query("interactionSegments", START, END, page_size=20))
        bad = client_for(sim, secret=secret + "x")
        try:
            bad.fetch(Query("queue", START, END))
        except AuthenticationError as exc:
            err_text = str(exc) + repr(exc)
        tokens = list(sim._tokens)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()
    texts = [
        log_file.read_text(),
        caplog.text,
        err_text,
        repr(client),
        repr(client.tokens),
        repr(Credentials("id", secret)),
        str(Secret(secret)),
    ]
    for text in texts:
        assert secret not in text
        for tok in tokens:
            assert tok not in text
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes()
    assert records


def test_redirect_elsewhere_is_not_an_auth_problem(tmp_path):
    import http.server

    class H(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = b'{"access_token":"t","expires_in":900,"token_type":"bearer"}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            self.send_response(301)
            self.send_header("Location", "https://elsewhere.example/api")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        client = HistoricalClient(
            Tenant.from_base_url(f"http://127.0.0.1:{srv.server_address[1]}"),
            Credentials("a", "b"),
            retry=FAST,
        )
        with pytest.raises(ApiError, match="Check the base URL"):
            client.fetch(Query("queue", START, END))
        assert client.stats["auth_replays"] == 0
    finally:
        srv.shutdown()
        srv.server_close()
