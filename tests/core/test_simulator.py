"""The simulator against the vendor guide, one behaviour per test, over real HTTP."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from archiver.datasets import DATASET_NAMES, DATASETS, ENTITLEMENT_DETAIL
from archiver.simulator import SimConfig
from archiver.simulator.server import TOKEN_PATH
from tests.clitools import run_cli
from tests.clock import ManualClock
from tests.conftest import api_get, get_token, utc, walk

ONE_HOUR = {"interval": "starting:202502010400,ending:202502010445"}


# -- token endpoint -----------------------------------------------------------------------
def test_token_endpoint_issues_bearer_token(sim):
    r = requests.post(
        sim.base_url + TOKEN_PATH,
        data={
            "grant_type": "client_credentials",
            "client_id": "archiver-demo",
            "client_secret": "demo-secret",
        },
        timeout=10,
    )
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"access_token", "expires_in", "token_type"}
    assert body["expires_in"] == 900 and body["token_type"] == "bearer"


def test_token_endpoint_rejects_bad_credentials(sim):
    r = requests.post(
        sim.base_url + TOKEN_PATH,
        data={
            "grant_type": "client_credentials",
            "client_id": "archiver-demo",
            "client_secret": "wrong",
        },
        timeout=10,
    )
    assert r.status_code == 401
    r = requests.post(sim.base_url + TOKEN_PATH, data={"grant_type": "password"}, timeout=10)
    assert r.status_code == 400


def test_token_endpoint_accepts_basic_auth(sim):
    r = requests.post(
        sim.base_url + TOKEN_PATH,
        data={"grant_type": "client_credentials"},
        auth=("archiver-demo", "demo-secret"),
        timeout=10,
    )
    assert r.status_code == 200


def test_custom_credentials(sim_factory):
    sim = sim_factory(client_id="cid-7", client_secret="s3cr3t")
    r = requests.post(
        sim.base_url + TOKEN_PATH,
        data={"grant_type": "client_credentials", "client_id": "cid-7", "client_secret": "s3cr3t"},
        timeout=10,
    )
    assert r.status_code == 200


# -- pagination ---------------------------------------------------------------------------
@pytest.mark.parametrize("page_size", [1, 20, 200])
def test_pagination_walks_every_row_exactly_once(sim, page_size):
    params = (
        {"interval": "starting:202502010400,ending:202502010415"} if page_size == 1 else ONE_HOUR
    )
    truth = sim.rows("interactionSegments", params)
    records, pages = walk(sim, "interactionSegments", pageSize=str(page_size), **params)
    assert records == truth
    assert len({r[0] for r in records}) == len(records)
    assert pages == -(-len(truth) // page_size)


def test_page_shape_follows_the_guide(sim):
    r = api_get(sim, "queue", **ONE_HOUR)
    assert r.status_code == 200
    body = r.json()
    assert [h["name"] for h in body["columnHeaders"]][:8] == [
        "ROW_ID",
        "ROW_DATE_UTC",
        "STARTTIME",
        "INTERVAL",
        "STARTTIME_UTC",
        "SOURCE_SYSTEM",
        "ACCOUNT_ID",
        "COMMIT_TS",
    ]
    assert body["pagination"]["pageSize"] == 20  # the default
    assert body["pagination"]["prevPageToken"] == "" and body["links"]["prev"] == ""
    assert len(body["records"]) == 20
    assert body["links"]["next"].startswith("/v2/datasets/queue?interval=")
    assert all(isinstance(v, str) for rec in body["records"] for v in rec)
    assert all(len(rec) == len(body["columnHeaders"]) for rec in body["records"])


def test_page_size_above_200_is_capped_and_invalid_rejected(sim):
    body = api_get(
        sim, "queue", pageSize="500", interval="starting:202502010000,ending:202502011200"
    ).json()
    assert body["pagination"]["pageSize"] == 200 and len(body["records"]) == 200
    for bad in ("0", "-1", "abc"):
        r = api_get(sim, "queue", pageSize=bad, **ONE_HOUR)
        assert r.status_code == 400 and "pageSize" in r.json()["detail"]


def test_interval_bounds_are_inclusive_and_either_may_be_omitted(sim):
    one = sim.rows("queue", {"interval": "starting:202502010415,ending:202502010415"})
    assert one and all(r[4] == "2025-02-01T04:15:00Z" for r in one)
    three = sim.rows("queue", {"interval": "starting:202502010415,ending:202502010445"})
    assert {r[4] for r in three} == {
        "2025-02-01T04:15:00Z",
        "2025-02-01T04:30:00Z",
        "2025-02-01T04:45:00Z",
    }
    only_start = api_get(sim, "queue", interval="starting:202502010415").json()
    assert only_start["records"][0][4] == "2025-02-01T04:15:00Z"
    assert only_start["pagination"]["nextPageToken"]
    only_end = api_get(sim, "queue", interval="ending:202502010445").json()
    assert only_end["records"][0][4] == "2025-01-01T00:00:00Z"  # the simulator's epoch


def test_daily_dataset_type(sim):
    metric = sim.rows(
        "agent", {"interval": "starting:20250201,ending:20250202", "datasetType": "daily"}
    )
    assert {r[3] for r in metric} == {"1440"} and {r[1] for r in metric} == {
        "2025-02-01",
        "2025-02-02",
    }
    events = sim.rows(
        "interactionSegments",
        {"interval": "starting:20250201,ending:20250201", "datasetType": "daily"},
    )
    by_interval = sim.rows(
        "interactionSegments", {"interval": "starting:202502010000,ending:202502012345"}
    )
    assert events == by_interval


def test_non_standard_minutes_are_accepted_but_empty(sim):
    r = api_get(sim, "queue", interval="starting:202502010410,ending:202502010445")
    assert r.status_code == 200 and r.json()["records"] == []
    r = api_get(sim, "agent", datasetType="daily", interval="starting:202502010130")
    assert r.status_code == 200 and r.json()["records"] == []


# -- filters ------------------------------------------------------------------------------
def test_filter_exact_value(sim):
    truth = sim.rows("queue", ONE_HOUR)
    records, _ = walk(sim, "queue", filter="CHANNEL:phone", pageSize="200", **ONE_HOUR)
    assert records == [r for r in truth if r[10] == "phone"] and records


def test_filter_wildcard_suffix(sim):
    truth = sim.rows("agent", ONE_HOUR)
    agent_id = truth[0][8]
    records, _ = walk(sim, "agent", filter=f"AGENT_ID:{agent_id[:12]}*", pageSize="200", **ONE_HOUR)
    assert records == [r for r in truth if r[8].startswith(agent_id[:12])]
    everything, _ = walk(sim, "agent", filter="ACCOUNT_ID:001d*", pageSize="200", **ONE_HOUR)
    assert everything == truth


def test_unsupported_filter_column_is_400(sim):
    r = api_get(sim, "agent", filter="AGENT_NAME:John*", **ONE_HOUR)
    assert r.status_code == 400
    assert r.json() == {
        "title": "Bad Request",
        "status": 400,
        "detail": "Invalid filter column: AGENT_NAME",
    }


# -- the error table ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "params",
    [
        {},
        {"interval": ""},
        {"interval": "202502010415"},
        {"interval": "starting:2025"},
        {"interval": "starting:202513010415"},
        {"interval": "starting:202502010415", "datasetType": "weekly"},
        {"interval": "starting:202502020000,ending:202502010000"},
    ],
)
def test_bad_interval_is_400(sim, params):
    r = api_get(sim, "queue", **params)
    assert r.status_code == 400
    body = r.json()
    assert body["status"] == 400 and body["title"] == "Bad Request" and body["detail"]


def test_missing_or_invalid_token_is_401(sim):
    r = requests.get(sim.base_url + "/api/analytics/v2/datasets/queue", params=ONE_HOUR, timeout=10)
    assert r.status_code == 401 and r.json()["status"] == 401
    r = api_get(sim, "queue", token="eyJnot-a-token", **ONE_HOUR)
    assert r.status_code == 401


def test_401_as_302_redirect(sim_factory):
    sim = sim_factory(redirect_401=True)
    r = api_get(sim, "queue", token="expired", **ONE_HOUR)
    assert r.status_code == 302
    assert "/protocol/openid-connect/auth" in r.headers["Location"]
    assert api_get(sim, "queue", **ONE_HOUR).status_code == 200


def test_token_expires_after_ttl(sim_factory):
    clock = ManualClock()
    sim = sim_factory(token_ttl=0.5, clock=clock)
    token = get_token(sim)
    assert api_get(sim, "queue", token, **ONE_HOUR).status_code == 200
    clock.advance(0.49)
    assert api_get(sim, "queue", token, **ONE_HOUR).status_code == 200
    clock.advance(0.02)
    assert api_get(sim, "queue", token, **ONE_HOUR).status_code == 401
    assert api_get(sim, "queue", get_token(sim), **ONE_HOUR).status_code == 200


def test_403_without_analytics_insights(sim_factory):
    sim = sim_factory(entitled=False)
    for name in ("interactionSegments", "workflowTrace"):
        r = api_get(sim, name, **ONE_HOUR)
        assert r.status_code == 403
        assert r.json() == {"title": "Forbidden", "status": 403, "detail": ENTITLEMENT_DETAIL}
    assert api_get(sim, "queue", **ONE_HOUR).status_code == 200


def test_unknown_dataset_is_404(sim):
    r = api_get(sim, "agents", **ONE_HOUR)
    assert r.status_code == 404 and r.json()["status"] == 404


def test_fail_rate_gives_500(sim_factory):
    sim = sim_factory(fail_rate=1.0)
    r = api_get(sim, "queue", **ONE_HOUR)
    assert r.status_code == 500 and r.json()["title"] == "Internal Server Error"
    sim.set_faults(fail_rate=0.0)
    assert api_get(sim, "queue", **ONE_HOUR).status_code == 200


def test_accepted_first_k_then_data(sim_factory):
    sim = sim_factory(accepted_first=2)
    token = get_token(sim)
    for _ in range(2):
        r = api_get(sim, "queue", token, **ONE_HOUR)
        assert r.status_code == 202
        body = r.json()
        assert body["records"] == [] and body["columnHeaders"][0]["name"] == "ROW_ID"
    assert api_get(sim, "queue", token, **ONE_HOUR).status_code == 200
    # a different query counts separately
    assert api_get(sim, "agent", token, **ONE_HOUR).status_code == 202


def test_recent_interval_is_202_until_30_minutes_old(sim_factory):
    now = datetime(2025, 3, 1, 12, 10, tzinfo=UTC)
    sim = sim_factory(clock=lambda: now)
    token = get_token(sim)
    # 11:15-11:30 ended 40 minutes ago: ready; 11:30-11:45 ended 25 minutes ago: not yet
    assert (
        api_get(
            sim, "queue", token, interval="starting:202503011115,ending:202503011115"
        ).status_code
        == 200
    )
    r = api_get(sim, "queue", token, interval="starting:202503011130,ending:202503011130")
    assert r.status_code == 202 and r.json()["records"] == []
    # only a start bound: served up to the newest ready interval
    recs, _ = walk(sim, "queue", pageSize="200", interval="starting:202503011100")
    assert max(r[4] for r in recs) == "2025-03-01T11:15:00Z"


def test_page_token_is_bound_to_its_query(sim):
    body = api_get(sim, "queue", **ONE_HOUR).json()
    tok = body["pagination"]["nextPageToken"]
    r = api_get(sim, "agent", nextPageToken=tok, **ONE_HOUR)
    assert r.status_code == 400 and "nextPageToken" in r.json()["detail"]
    r = api_get(sim, "queue", nextPageToken=tok[:-3] + "AAA", **ONE_HOUR)
    assert r.status_code == 400


# -- links.next ---------------------------------------------------------------------------
def test_links_next_is_go_escaped_json(sim):
    r = api_get(sim, "queue", **ONE_HOUR)
    assert b"\\u0026nextPageToken=" in r.content  # the raw JSON escapes '&' as Go does
    assert "&nextPageToken=" in r.json()["links"]["next"]


def test_escaped_links_carry_a_literal_backslash_u0026(sim_factory):
    sim = sim_factory(escaped_links=True)
    nxt = api_get(sim, "queue", **ONE_HOUR).json()["links"]["next"]
    assert "\\u0026nextPageToken=" in nxt and "&" not in nxt


# -- data ---------------------------------------------------------------------------------
def test_same_seed_same_data_other_seed_other_data(sim_factory):
    a, b, c = sim_factory(seed=5), sim_factory(seed=5), sim_factory(seed=6)
    for name in DATASET_NAMES:
        assert a.rows(name, ONE_HOUR) == b.rows(name, ONE_HOUR)
    assert a.rows("queue", ONE_HOUR) != c.rows("queue", ONE_HOUR)


def test_every_dataset_serves_its_registry_columns(sim):
    token = get_token(sim)
    for name, ds in DATASETS.items():
        body = api_get(sim, name, token, **ONE_HOUR).json()
        assert [(h["name"], h["type"]) for h in body["columnHeaders"]] == list(ds.columns)
        assert body["records"], name


def test_awkward_values_are_present(sim_factory):
    sim = sim_factory(rows_per_interval=40)
    day = {"interval": "starting:20250201,ending:20250201", "datasetType": "daily"}
    segs = sim.rows("interactionSegments", day)
    cols = DATASETS["interactionSegments"].column_names
    notes = {r[cols.index("INTERACTION_NOTES")] for r in segs}
    names = {r[cols.index("FIRST_LAST_NAME")] for r in segs}
    assert any(n[:1] in "=+-@" and n for n in notes)
    assert any("\n" in n and "," in n and '"' in n for n in notes)
    assert any(ord(ch) > 0x3000 for n in names for ch in n)  # CJK
    assert any(ch in "éüøÁ" for n in names for ch in n)
    assert "" in {r[cols.index("SOURCE_EMAIL")] for r in segs}
    tr = sim.rows("transcript", day)
    tcol = DATASETS["transcript"].column_names.index("TRANSCRIPT_TEXT")
    assert max(len(r[tcol].encode()) for r in tr) >= 10_240
    trace = sim.rows("workflowTrace", day)
    tcols = DATASETS["workflowTrace"].column_names
    for r in trace[:50]:
        assert isinstance(json.loads(r[tcols.index("WORKFLOWSESSION_DATA_VARIABLES")]), dict)
    logins = sim.rows("agentLoginLogoutByQueue", day)
    logout = DATASETS["agentLoginLogoutByQueue"].column_names.index("LOGOUT_TIME")
    assert "" in {r[logout] for r in logins}  # LOGOUT_TIME of an open session


def test_interactions_link_segments_and_traces(sim):
    day = {"interval": "starting:20250201,ending:20250201", "datasetType": "daily"}
    segs = sim.rows("interactionSegments", day)
    trace = sim.rows("workflowTrace", day)
    iid = DATASETS["interactionSegments"].column_names.index("INTERACTION_ID")
    tcols = DATASETS["workflowTrace"].column_names
    sid, tiid = tcols.index("WORKFLOWSESSION_ID"), tcols.index("WORKFLOWSESSION_INTERACTIONID")
    seg_ids = {r[iid] for r in segs}
    sessions = {r[sid]: r[tiid] for r in trace}
    linked = [i for i in sessions.values() if i in seg_ids]
    assert len(linked) >= 0.8 * len(sessions)
    per_interaction: dict[str, int] = {}
    for r in segs:
        per_interaction[r[iid]] = per_interaction.get(r[iid], 0) + 1
    assert max(per_interaction.values()) >= 3
    steps: dict[str, int] = {}
    for r in trace:
        steps[r[sid]] = steps.get(r[sid], 0) + 1
    assert min(steps.values()) >= 3


def test_row_keys_are_unique_per_dataset(sim):
    day = {"interval": "starting:20250201,ending:20250201", "datasetType": "daily"}
    for name, ds in DATASETS.items():
        rows = sim.rows(name, day)
        idx = [ds.column_names.index(c) for c in ds.key]
        keys = [tuple(r[i] for i in idx) for r in rows]
        assert len(set(keys)) == len(keys), name
    llq = DATASETS["agentLoginLogoutByQueue"]
    sid = llq.column_names.index("SESSION_ID")
    sessions = [r[sid] for r in sim.rows("agentLoginLogoutByQueue", day)]
    assert len(set(sessions)) < len(sessions), "a session id repeats across queues"
    assert llq.key == ("SESSION_ID", "QUEUE_ID")


def test_late_update_reissues_rows_with_newer_commit_ts(sim):
    before = {r[0]: r for r in sim.rows("interactionSegments", ONE_HOUR)}
    r = requests.post(
        sim.base_url + "/_simulator/late-updates",
        json={"datasets": ["interactionSegments"], "share": 0.3},
        timeout=10,
    )
    assert r.status_code == 200 and r.json()["generation"] == 1
    after, _ = walk(sim, "interactionSegments", pageSize="200", **ONE_HOUR)
    assert {r[0] for r in after} == set(before)
    cols = DATASETS["interactionSegments"].column_names
    ts, wrap = cols.index("COMMIT_TS"), cols.index("WRAP_UP_TIME")
    changed = [r for r in after if r != before[r[0]]]
    assert 0 < len(changed) < len(after)
    for row in changed:
        old = before[row[0]]
        assert row[ts] > old[ts]
        assert int(row[wrap]) == int(old[wrap]) + 7
    # other datasets are untouched
    assert sim.rows("queue", ONE_HOUR) == sim.rows("queue", ONE_HOUR)


def test_faults_control_endpoint(sim):
    r = requests.post(sim.base_url + "/_simulator/faults", json={"fail_rate": 1.0}, timeout=10)
    assert r.json()["fail_rate"] == 1.0
    assert api_get(sim, "queue", **ONE_HOUR).status_code == 500
    r = requests.post(sim.base_url + "/_simulator/faults", json={"bogus": 1}, timeout=10)
    assert r.status_code == 400


def test_garbled_and_truncated_pages(sim_factory):
    sim = sim_factory(garble_rate=1.0)
    r = api_get(sim, "queue", **ONE_HOUR)
    with pytest.raises(ValueError):
        json.loads(r.content)
    sim.set_faults(garble_rate=0.0, truncate_rate=1.0)
    with pytest.raises(requests.exceptions.RequestException):
        api_get(sim, "queue", **ONE_HOUR)


def test_lazy_generation_of_a_long_range(sim_factory):
    sim = sim_factory(rows_per_interval=2000)
    t0 = time.perf_counter()
    body = api_get(
        sim, "queue", pageSize="5", interval="starting:202501010000,ending:202512310000"
    ).json()
    assert len(body["records"]) == 5 and body["pagination"]["nextPageToken"]
    assert time.perf_counter() - t0 < 5  # a year of data is not generated up front


def test_epoch_before_data_start_is_empty(sim):
    start = datetime(2024, 12, 31, 23, 0, tzinfo=UTC)
    end = start + timedelta(minutes=45)
    rows = sim.rows("queue", {"interval": f"starting:{start:%Y%m%d%H%M},ending:{end:%Y%m%d%H%M}"})
    assert rows == []


# -- readings of what the guide leaves open -------------------------------------------------
def _starts(sim, records: list[list[str]], dataset: str = "queue") -> list[str]:
    idx = [n for n, _ in sim.columns(DATASETS[dataset])].index("STARTTIME_UTC")
    return sorted({r[idx] for r in records})


def test_exclusive_ending_stops_before_ending(sim_factory):
    sim = sim_factory(ending="exclusive")
    params = {"interval": "starting:202502010415,ending:202502010445", "pageSize": "200"}
    records, _ = walk(sim, "queue", **params)
    assert _starts(sim, records) == ["2025-02-01T04:15:00Z", "2025-02-01T04:30:00Z"]
    assert records == sim.truth("queue", utc(2025, 2, 1, 4, 15), utc(2025, 2, 1, 4, 30))
    assert records == sim.rows("queue", params)
    # a single interval is starting:X,ending:X+15
    one, _ = walk(sim, "queue", interval="starting:202502010415,ending:202502010430")
    assert _starts(sim, one) == ["2025-02-01T04:15:00Z"]
    # only an ending: from the epoch up to the interval before it
    head, _ = walk(sim, "queue", pageSize="200", interval="ending:202501010030")
    assert _starts(sim, head) == ["2025-01-01T00:00:00Z", "2025-01-01T00:15:00Z"]


def test_exclusive_ending_equal_to_starting_is_empty_200(sim_factory):
    sim = sim_factory(ending="exclusive")
    r = api_get(sim, "queue", interval="starting:202502010415,ending:202502010415")
    assert r.status_code == 200
    body = r.json()
    assert body["records"] == [] and body["pagination"]["nextPageToken"] == ""
    assert body["columnHeaders"][0]["name"] == "ROW_ID"


def test_inclusive_ending_serves_the_ending_interval(sim):
    assert sim.config.ending == "inclusive"  # the default, as documented
    records, _ = walk(sim, "queue", interval="starting:202502010415,ending:202502010415")
    assert _starts(sim, records) == ["2025-02-01T04:15:00Z"]


def test_readiness_is_judged_on_the_last_selected_interval(sim_factory):
    now = datetime(2025, 3, 1, 12, 10, tzinfo=UTC)  # newest ready interval: 11:15 (ended 11:30)
    inc = sim_factory(clock=lambda: now)
    exc = sim_factory(clock=lambda: now, ending="exclusive")
    not_ready = "starting:202503011100,ending:202503011130"
    assert api_get(inc, "queue", interval=not_ready).status_code == 202
    # exclusive: ending:11:30 (not ready) selects 11:00 and 11:15, both ready
    records, _ = walk(exc, "queue", pageSize="200", interval=not_ready)
    assert _starts(exc, records) == ["2025-03-01T11:00:00Z", "2025-03-01T11:15:00Z"]
    r = api_get(exc, "queue", interval="starting:202503011100,ending:202503011145")
    assert r.status_code == 202 and r.json()["records"] == []  # selects 11:30: not ready
    # nothing selected, so nothing to wait for
    r = api_get(exc, "queue", interval="starting:202503011130,ending:202503011130")
    assert r.status_code == 200 and r.json()["records"] == []


def test_ending_reading_changes_at_run_time(sim):
    params = {"interval": "starting:202502010415,ending:202502010445", "pageSize": "200"}
    inclusive, _ = walk(sim, "queue", **params)
    r = requests.post(sim.base_url + "/_simulator/faults", json={"ending": "exclusive"}, timeout=10)
    assert r.status_code == 200 and r.json()["ending"] == "exclusive"
    exclusive, _ = walk(sim, "queue", **params)
    assert exclusive == sim.truth("queue", utc(2025, 2, 1, 4, 15), utc(2025, 2, 1, 4, 30))
    assert exclusive == inclusive[: len(exclusive)] and len(exclusive) < len(inclusive)
    # a bad value is refused as a whole: the other knob in the same call is not applied
    r = requests.post(
        sim.base_url + "/_simulator/faults",
        json={"fail_rate": 1.0, "ending": "half-open"},
        timeout=10,
    )
    assert r.status_code == 400 and "ending" in r.json()["detail"]
    knobs = requests.get(sim.base_url + "/_simulator/faults", timeout=10).json()
    assert knobs["fail_rate"] == 0.0 and knobs["ending"] == "exclusive"
    sim.set_faults(ending="inclusive")
    assert walk(sim, "queue", **params)[0] == inclusive
    with pytest.raises(ValueError):
        sim.set_faults(ending="both")
    with pytest.raises(ValueError):
        SimConfig(ending="both")


def test_daily_queries_are_inclusive_in_both_readings(sim_factory):
    inc, exc = sim_factory(), sim_factory(ending="exclusive")
    day = {"interval": "starting:20250201,ending:20250201", "datasetType": "daily"}
    for name in ("agent", "interactionSegments"):  # a metric and an event dataset
        served, _ = walk(exc, name, pageSize="200", **day)
        assert served and served == walk(inc, name, pageSize="200", **day)[0]
        assert served == exc.truth(name, utc(2025, 2, 1), utc(2025, 2, 1), "daily")


# -- ROW_ID -------------------------------------------------------------------------------
ROW_ID_ADDED = (
    "agentLoginLogoutByQueue",
    "cxAgentLoginLogout",
    "mpccdr",
    "transcript",
    "interactionSegments",
    "workflowTrace",
)
HEX32 = re.compile(r"^[0-9a-f]{32}$")


def test_every_dataset_has_a_unique_hex_row_id_first(sim):
    token = get_token(sim)
    for name in DATASET_NAMES:
        body = api_get(sim, name, token, pageSize="200", **ONE_HOUR).json()
        assert body["columnHeaders"][0] == {"name": "ROW_ID", "type": "string"}, name
        day = sim.truth(name, utc(2025, 2, 1), utc(2025, 2, 1), "daily")
        ids = [r[0] for r in day]
        assert all(HEX32.match(i) for i in ids), name
        assert len(set(ids)) == len(ids), name


def test_row_ids_are_stable_across_runs_and_late_updates(sim_factory):
    a, b = sim_factory(seed=3), sim_factory(seed=3)
    start, last = utc(2025, 2, 1, 4), utc(2025, 2, 1, 7, 45)
    before = {name: a.truth(name, start, last) for name in ROW_ID_ADDED}
    for name in ROW_ID_ADDED:
        assert [r[0] for r in b.truth(name, start, last)] == [r[0] for r in before[name]]
    r = requests.post(a.base_url + "/_simulator/late-updates", json={"share": 0.5}, timeout=10)
    assert r.status_code == 200
    for name in ROW_ID_ADDED:
        ts = DATASETS[name].column_names.index("COMMIT_TS")
        after, _ = walk(
            a, name, pageSize="200", interval="starting:202502010400,ending:202502010745"
        )
        old = {row[0]: row for row in before[name]}
        assert [row[0] for row in after] == [row[0] for row in before[name]], name
        changed = [row for row in after if row != old[row[0]]]
        assert changed, name  # late updates re-issued rows under the same ROW_ID
        assert all(row[ts] > old[row[0]][ts] for row in changed), name


def test_omit_row_id_removes_the_column_and_its_values(sim_factory):
    full = sim_factory(seed=4)
    sim = sim_factory(seed=4, omit_row_id=("interactionSegments", "queue"), accepted_first=1)
    token = get_token(sim)
    for name in ("interactionSegments", "queue", "agent"):
        accepted = api_get(sim, name, token, **ONE_HOUR)
        assert accepted.status_code == 202
        names = [h["name"] for h in accepted.json()["columnHeaders"]]
        assert ("ROW_ID" in names) == (name == "agent")
        records, _ = walk(sim, name, pageSize="200", **ONE_HOUR)
        expected = full.rows(name, ONE_HOUR)
        if name != "agent":
            expected = [r[1:] for r in expected]
        assert records == expected == sim.rows(name, ONE_HOUR)
        assert sim.truth(name, utc(2025, 2, 1, 4), utc(2025, 2, 1, 4, 45)) == expected
    with pytest.raises(ValueError, match="segments"):
        SimConfig(omit_row_id=("segments",))


# -- ids that repeat within a response ------------------------------------------------------
def test_shared_ids_repeat_within_a_response_with_different_content(sim_factory):
    sim = sim_factory(shared_ids=True, rows_per_interval=40)
    plain = sim_factory(rows_per_interval=40)
    cols = DATASETS["transcript"].column_names
    tid, text, count = (
        cols.index(c) for c in ("TRANSCRIPT_ID", "TRANSCRIPT_TEXT", "MESSAGE_COUNT")
    )
    body = api_get(sim, "transcript", pageSize="200", **ONE_HOUR).json()
    by_id: dict[str, list[list[str]]] = {}
    for r in body["records"]:
        by_id.setdefault(r[tid], []).append(r)
    repeated = [rows for rows in by_id.values() if len(rows) > 1]
    assert repeated, "a TRANSCRIPT_ID repeats within one page"
    assert any(len({r[text] for r in rows}) > 1 for rows in repeated)
    # every message is one line of the plain transcript, with its own ROW_ID
    messages = sim.rows("transcript", ONE_HOUR)
    assert len({r[0] for r in messages}) == len(messages)
    assert all("\n" not in r[text] for r in messages)
    joined: dict[str, list[str]] = {}
    for r in messages:
        joined.setdefault(r[tid], []).append(r[text])
    for r in plain.rows("transcript", ONE_HOUR):
        assert "\n".join(joined[r[tid]]) == r[text]
        assert len(joined[r[tid]]) == int(r[count])

    cx = DATASETS["cxAgentLoginLogout"].column_names
    cid, status = cx.index("ID"), cx.index("STATUS")
    body = api_get(sim, "cxAgentLoginLogout", pageSize="200", **ONE_HOUR).json()
    sessions: dict[str, list[list[str]]] = {}
    for r in body["records"]:
        sessions.setdefault(r[cid], []).append(r)
    repeated = [rows for rows in sessions.values() if len(rows) > 1]
    assert repeated, "an ID repeats within one page"
    assert all(len({r[status] for r in rows}) == len(rows) for rows in repeated)
    assert len({r[0] for r in body["records"]}) == len(body["records"])
    plain_ids = [r[cid] for r in plain.rows("cxAgentLoginLogout", ONE_HOUR)]
    assert len(set(plain_ids)) == len(plain_ids)  # off by default: unique ids


# -- each row's own time column lies in its interval -----------------------------------------
TIME_COLUMN = {
    "agentLoginSessions": "LOGIN_TIME",
    "agentLoginLogoutByQueue": "LOGIN_TIME",
    "cxAgentLoginLogout": "START_TIME",
}


def test_each_rows_time_column_lies_in_its_interval(sim_factory):
    sim = sim_factory(rows_per_interval=40)
    token = get_token(sim)
    start = utc(2025, 2, 1, 3)
    for name, ds in DATASETS.items():
        col = ds.column_names.index(TIME_COLUMN.get(name, "STARTTIME_UTC"))
        for k in range(16):  # four hours of intervals
            t = start + timedelta(minutes=15 * k)
            bound = f"{t:%Y%m%d%H%M}"
            body = api_get(
                sim, name, token, pageSize="200", interval=f"starting:{bound},ending:{bound}"
            ).json()
            assert body["records"] and not body["pagination"]["nextPageToken"], (name, t)
            for r in body["records"]:
                when = datetime.fromisoformat(r[col])
                assert t <= when < t + timedelta(minutes=15), (name, t, r[col])


# -- ground truth ---------------------------------------------------------------------------
def test_truth_matches_walks_in_both_readings(sim_factory):
    inc, exc = sim_factory(seed=9), sim_factory(seed=9, ending="exclusive")
    interval = "starting:202502010600,ending:202502010900"
    for name in ("interactionSegments", "agent", "cxAgentLoginLogout"):
        walked_inc, _ = walk(inc, name, pageSize="200", interval=interval)
        walked_exc, _ = walk(exc, name, pageSize="200", interval=interval)
        assert walked_inc == inc.truth(name, utc(2025, 2, 1, 6), utc(2025, 2, 1, 9))
        assert walked_exc == exc.truth(name, utc(2025, 2, 1, 6), utc(2025, 2, 1, 8, 45))
        # truth does not depend on the reading
        assert inc.truth(name, utc(2025, 2, 1, 6), utc(2025, 2, 1, 9)) == exc.truth(
            name, utc(2025, 2, 1, 6), utc(2025, 2, 1, 9)
        )
    walked, _ = walk(inc, "queue", pageSize="200", filter="CHANNEL:phone", **ONE_HOUR)
    assert walked == inc.truth(
        "queue", utc(2025, 2, 1, 4), utc(2025, 2, 1, 4, 45), filter="CHANNEL:phone"
    )
    day = {"interval": "starting:20250201,ending:20250202", "datasetType": "daily"}
    for name in ("agent", "mpccdr"):
        walked, _ = walk(exc, name, pageSize="200", **day)
        assert walked == exc.truth(name, utc(2025, 2, 1), utc(2025, 2, 2), "daily")
    assert exc.truth("mpccdr", utc(2025, 2, 1), utc(2025, 2, 1), "daily") == exc.truth(
        "mpccdr", utc(2025, 2, 1), utc(2025, 2, 1, 23, 45)
    )


def test_truth_ignores_readiness_and_respects_the_epoch(sim_factory):
    now = datetime(2025, 3, 1, 12, 10, tzinfo=UTC)
    sim = sim_factory(clock=lambda: now)
    params = {"interval": "starting:202503011130,ending:202503011145"}
    assert api_get(sim, "queue", **params).status_code == 202 and sim.rows("queue", params) == []
    rows = sim.truth("queue", utc(2025, 3, 1, 11, 30), utc(2025, 3, 1, 11, 45))
    assert _starts(sim, rows) == ["2025-03-01T11:30:00Z", "2025-03-01T11:45:00Z"]
    assert sim.truth("queue", utc(2024, 12, 31, 23), utc(2024, 12, 31, 23, 45)) == []
    assert sim.truth("queue", utc(2024, 12, 31, 23, 45), utc(2025, 1, 1)) == sim.truth(
        "queue", utc(2025, 1, 1), utc(2025, 1, 1)
    )
    with pytest.raises(ValueError):
        sim.truth("queue", utc(2025, 2, 1, 4, 10), utc(2025, 2, 1, 5))
    with pytest.raises(ValueError):
        sim.truth("queue", utc(2025, 2, 1, 4), utc(2025, 2, 2), "daily")
    with pytest.raises(ValueError):
        sim.truth("queue", datetime(2025, 2, 1, 4), datetime(2025, 2, 1, 5))
    with pytest.raises(ValueError, match="AGENT_NAME"):
        sim.truth("agent", utc(2025, 2, 1, 4), utc(2025, 2, 1, 5), filter="AGENT_NAME:x")


# -- the command line -----------------------------------------------------------------------
ROOT = Path(__file__).resolve().parents[2]


def _simulate(*flags: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "archiver", "simulate", "--port", "0", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,  # this checkout's archiver, not an installed one
    )


def test_cli_reading_flags():
    proc = _simulate(
        "--rows-per-interval",
        "20",
        "--ending",
        "exclusive",
        "--omit-row-id",
        "queue",
        "--omit-row-id",
        "mpccdr",
        "--shared-ids",
    )
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        faults = requests.get(url + "/_simulator/faults", timeout=10).json()
        assert faults["ending"] == "exclusive"
        tok = requests.post(
            url + TOKEN_PATH,
            data={
                "grant_type": "client_credentials",
                "client_id": "archiver-demo",
                "client_secret": "demo-secret",
            },
            timeout=10,
        ).json()["access_token"]

        def get(name: str) -> dict:
            r = requests.get(
                f"{url}/api/analytics/v2/datasets/{name}",
                params={"interval": "starting:202502010415,ending:202502010445", "pageSize": 200},
                headers={"Authorization": f"Bearer {tok}"},
                timeout=10,
            )
            assert r.status_code == 200
            return r.json()

        queue = get("queue")
        names = [h["name"] for h in queue["columnHeaders"]]
        assert "ROW_ID" not in names
        start = names.index("STARTTIME_UTC")
        assert {r[start] for r in queue["records"]} == {
            "2025-02-01T04:15:00Z",
            "2025-02-01T04:30:00Z",
        }
        assert "ROW_ID" not in [h["name"] for h in get("mpccdr")["columnHeaders"]]
        transcript = get("transcript")
        assert transcript["columnHeaders"][0]["name"] == "ROW_ID"
        tids = [r[1] for r in transcript["records"]]
        assert len(set(tids)) < len(tids)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()


@pytest.mark.parametrize("flags", [["--ending", "half-open"], ["--omit-row-id", "segments"]])
def test_cli_rejects_bad_reading_flags(flags):
    out = run_cli("simulate", "--port", "0", *flags)
    assert out.returncode == 2
    assert ("invalid choice" if "--ending" in flags else "Did you mean 'interactionSegments'") in (
        out.stderr
    )


def test_generated_buckets_are_shared_between_models_of_one_seed(monkeypatch):
    """Simulators started one after another share what they generated (the suite starts
    hundreds), and what a model gets from the shared buckets equals what it would generate."""
    from archiver.simulator import data

    buckets = [utc(2025, 2, 1, 4, 0), utc(2025, 2, 1, 4, 15), utc(2025, 2, 2, 23, 45)]
    names = ["queue", "interactionSegments", "transcript", "cxAgentLoginLogout"]

    def rows(model):
        return [model.bucket_rows(DATASETS[n], b, 15) for n in names for b in buckets]

    def same_objects(a, b):
        return [x is y for ra, rb in zip(a, b, strict=True) for x, y in zip(ra, rb, strict=True)]

    monkeypatch.setattr(data, "_GENERATED", data._GeneratedBuckets(max_rows=0))
    fresh = rows(data.DataModel(seed=5, rows_per_interval=3, shared_ids=True))

    shared = data._GeneratedBuckets(max_rows=10_000)
    monkeypatch.setattr(data, "_GENERATED", shared)
    first = rows(data.DataModel(seed=5, rows_per_interval=3, shared_ids=True))
    second = rows(data.DataModel(seed=5, rows_per_interval=3, shared_ids=True))
    assert first == second == fresh and len(same_objects(first, second)) > 20
    assert all(same_objects(first, second))  # generated once
    for other in (
        data.DataModel(seed=6, rows_per_interval=3, shared_ids=True),
        data.DataModel(seed=5, rows_per_interval=4, shared_ids=True),
        data.DataModel(seed=5, rows_per_interval=3, shared_ids=False),
        data.DataModel(seed=5, rows_per_interval=3, shared_ids=True, timezone="Asia/Tokyo"),
    ):
        assert not any(
            x is y for a, b in zip(first, rows(other), strict=True) for x in a for y in b
        )
    # a late update of one model copies its rows: the shared ones stay as generated
    late = data.DataModel(seed=5, rows_per_interval=3, shared_ids=True)
    late.add_late_update(None, 1.0, utc(2025, 3, 1))
    assert rows(late) != fresh and rows(data.DataModel(5, 3, shared_ids=True)) == fresh


def test_shared_buckets_stay_within_their_row_budget():
    from archiver.simulator.data import _GeneratedBuckets

    cache = _GeneratedBuckets(max_rows=5)
    cache.put(("a",), [{}] * 3)
    cache.put(("b",), [{}] * 2)
    assert cache.get(("a",)) is not None  # now the most recently used
    cache.put(("c",), [{}] * 2)
    assert cache.get(("b",)) is None and cache.get(("a",)) and cache.get(("c",))
    cache.put(("huge",), [{}] * 6)
    assert cache.get(("huge",)) is None and cache.get(("c",))
