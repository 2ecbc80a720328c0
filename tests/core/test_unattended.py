"""Unattended archiving: the archive's lock (two pulls at once, a dead holder's lock), the
self-test, `archiver schedule` and the monitoring JSON of the command line."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import keyring
import pytest

from archiver.credentials import store_secret
from archiver.jobs import Cancel, Cancelled, drive
from archiver.services import schedule as schedules
from archiver.services import selftest
from archiver.system import lock as locks
from tests.clitools import run_cli
from tests.core.test_cli_pull import pull_args
from tests.core.test_credentials import MemoryKeyring
from tests.pulltools import archived, identities, params, walked_truth

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.usefixtures("demo_credentials")
BUSY = re.compile(
    r"^archive busy: pull running since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(pid (\d+)\)$"
)


def popen_cli(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "archiver", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(
            os.environ,
            ARCHIVER_CLIENT_ID="archiver-demo",
            ARCHIVER_CLIENT_SECRET="demo-secret",
            **(env or {}),
        ),
    )


def audit(archive: Path, event: str) -> list[dict]:
    conn = sqlite3.connect(archive)
    try:
        return [
            json.loads(d)
            for (d,) in conn.execute(
                "SELECT details FROM audit_log WHERE event=? ORDER BY entry_id", (event,)
            )
        ]
    finally:
        conn.close()


# -- the lock -------------------------------------------------------------------------------
def test_lock_excludes_a_second_holder_and_says_whom(tmp_path):
    arc = tmp_path / "a.sqlite3"
    first = locks.acquire(arc, "archiver pull --all")
    try:
        with pytest.raises(locks.ArchiveBusy) as busy:
            locks.acquire(arc, "second", seconds=0.1)
        m = BUSY.match(str(busy.value))
        assert m and int(m.group(1)) == os.getpid(), str(busy.value)
        holder = locks.busy(arc)
        assert holder is not None and holder.command == "archiver pull --all"
    finally:
        first.release()
    first.release()  # twice is harmless
    assert locks.busy(arc) is None
    assert locks.lock_path(arc).read_text() == ""  # a clean end leaves no trace
    with locks.acquire(arc) as again:
        assert again.held and again.taken_over is None


def test_wait_until_free_yields_the_holder_and_can_be_cancelled(tmp_path):
    arc = tmp_path / "a.sqlite3"
    held = locks.acquire(arc, "pull")
    cancel = Cancel()
    seen = []

    def on_yield(holder):
        seen.append(holder)
        if len(seen) == 2:
            cancel.set()

    with pytest.raises(Cancelled):
        drive(locks.wait_until_free(arc, cancel, poll=0.01), on_yield)
    assert seen[0].pid == os.getpid()
    held.release()
    assert drive(locks.wait_until_free(arc, Cancel(), poll=0.01)) is None


@pytest.mark.slow
def test_two_concurrent_pulls_one_exits_6_nothing_lost(sim_factory, tmp_path):
    # the simulator holds the first pull's first data request unanswered (the pull holds
    # the archive's lock from before it asks anything): the second pull starts while the
    # first is certainly running, and the first finishes only once the second has given up
    sim = sim_factory()
    arc = tmp_path / "a.sqlite3"
    what = ["--dataset", "queue", "--from", "20250201", "--to", "20250201"]
    args = pull_args(sim, arc, *what, "--workers", "1")
    sim.hold()
    first = popen_cli(*args, "--json")
    try:
        while not sim.wait_until_holding(0.1):
            assert first.poll() is None, first.communicate()
        holder = locks.busy(arc)
        assert holder is not None and holder.pid == first.pid
        second = popen_cli(*args, "--json")
        lost = second.communicate(timeout=60)  # a busy pull gives up at once
    finally:
        sim.release()
    won = first.communicate(timeout=300)
    assert (first.returncode, second.returncode) == (0, 6), [won[1][-2000:], lost[1][-2000:]]
    stderr = lost[1].strip().splitlines()
    m = BUSY.match(stderr[0])
    assert m and int(m.group(1)) == first.pid, stderr
    doc = json.loads(lost[0])
    assert doc["status"] == "busy" and doc["exit_code"] == 6 and doc["holder"]["pid"] == first.pid
    assert json.loads(won[0])["status"] == "finished"
    # nothing lost: the archive holds what one pull alone archives
    ref = tmp_path / "ref.sqlite3"
    assert run_cli(*pull_args(sim, ref, *what)).returncode == 0
    assert identities(arc) == identities(ref)
    assert archived(arc, "queue") == walked_truth(
        sim, "queue", params(["queue"], "20250201", "20250201")
    )
    assert len(audit(arc, "pull started")) == 1  # the busy pull recorded nothing
    assert locks.busy(arc) is None and locks.lock_path(arc).read_text() == ""


def test_a_dead_holders_lock_is_taken_over_and_recorded(sim, tmp_path):
    arc = tmp_path / "a.sqlite3"
    base = ["--dataset", "queue", "--from", "202502010000", "--to", "202502010145"]
    assert run_cli(*pull_args(sim, arc, *base)).returncode == 0
    # a pull killed with kill -9: its lock file still names it, nobody holds the lock
    dead = {
        "pid": 4_000_000,
        "since": "2025-03-01T02:30:00Z",
        "host": "elsewhere",
        "command": "archiver pull --all",
    }
    locks.lock_path(arc).write_text(json.dumps(dead))
    assert locks.busy(arc) is None
    state = tmp_path / "state"
    out = run_cli(*pull_args(sim, arc, *base), env={"XDG_STATE_HOME": str(state)})
    assert out.returncode == 0, out.stderr
    (entry,) = audit(arc, "archive lock taken over")
    assert entry["previous"] == dead and entry["by"]["command"].startswith("archiver pull")
    log = (state / "archiver" / "log" / "archiver-cli.log").read_text()
    assert "took over the stale lock" in log and "pid 4000000 on elsewhere" in log
    assert locks.lock_path(arc).read_text() == ""
    verified = run_cli("verify-archive", "--archive", str(arc))
    assert verified.returncode == 0, verified.stdout


def test_pull_help_and_readme_name_exit_code_6():
    out = run_cli("pull", "--help")
    assert re.search(r"^\s+6\s+archive busy", out.stdout, re.M), out.stdout
    readme = (ROOT / "README.md").read_text()
    assert re.search(r"^\| 6 \| .*archive busy", readme, re.M)


# -- the self-test --------------------------------------------------------------------------
@pytest.mark.slow
def test_self_test_passes_and_touches_nothing_of_the_user(tmp_path):
    home = tmp_path / "home"
    env: dict[str, str | None] = {
        k: None for k in os.environ if k.startswith(("ARCHIVER_", "XDG_"))
    }
    env["HOME"] = str(home)
    kept = tmp_path / "kept"
    out = run_cli("self-test", "--keep", kept, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.strip().splitlines()
    assert [line.split(":")[0] for line in lines[:6]] == [f"PASS  {s}" for s in selftest.STEPS]
    assert re.fullmatch(r"PASS: all 6 steps passed in [\d.]+ s", lines[6])
    seconds = float(lines[6].split(" in ")[1].split()[0])
    assert seconds < 60
    assert lines[7] == f"Kept the self-test's files in {kept}"
    assert (kept / "bundle" / "bag-info.txt").is_file() and (kept / "self-test.sqlite3").is_file()
    # no archive, key, settings or keyring entry of the user's: only the command line's log
    written = sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file())
    assert written == [".local/state/archiver/log/archiver-cli.log"], written


@pytest.mark.slow
def test_self_test_checks_can_fail(monkeypatch):
    """A source row the archive lacks fails the comparison; a bundle signed by another key
    than the throwaway one fails its verification; the steps after a failure are not run.
    --json says so in one document, exit code 1."""
    real_truth = selftest._truth

    def one_more(sim, dataset):
        return real_truth(sim, dataset) | {'{"ROW_ID": "invented"}'}

    monkeypatch.setattr(selftest, "_truth", one_more)
    out = run_cli("self-test", "--json")
    assert out.code == 1
    doc = json.loads(out.stdout)
    assert doc["command"] == "self-test" and doc["status"] == "failed" and not doc["ok"]
    assert doc["verdict"].startswith("FAIL: 4 of 6 steps failed")
    assert [s["step"] for s in doc["steps"]] == list(selftest.STEPS)
    assert [s["ok"] for s in doc["steps"]] == [True, True, False, False, False, False]
    assert (
        doc["error"].startswith("archived records equal the source's rows: ")
        and "1 missing" in doc["error"]
    )
    assert doc["steps"][3]["detail"] == "not run: an earlier step failed"

    monkeypatch.setattr(selftest, "_truth", real_truth)
    from archiver.services import bundles

    real_verify = bundles.verify

    def other_signer(path, **kw):  # the bundle reports a signer other than the pinned key
        report = real_verify(path, **kw)
        report.fingerprint = "00:" * 31 + "00"
        return report

    monkeypatch.setattr(bundles, "verify", other_signer)
    result = drive(selftest.run())
    assert [s.ok for s in result.steps] == [True] * 5 + [False]
    assert "not by the self-test's throwaway key" in result.steps[-1].detail

    def unpinned(path, **kw):  # verified without the pin: its throwaway signer is not trusted
        return real_verify(path)

    monkeypatch.setattr(bundles, "verify", unpinned)
    result = drive(selftest.run())
    assert [s.ok for s in result.steps] == [True] * 5 + [False]
    assert "NOT TRUSTED" in result.steps[-1].detail


# -- schedule -------------------------------------------------------------------------------
@pytest.fixture
def memory_keyring(monkeypatch):
    old = keyring.get_keyring()
    kr = MemoryKeyring()
    keyring.set_keyring(kr)
    monkeypatch.delenv("ARCHIVER_CLIENT_SECRET", raising=False)
    yield kr
    keyring.set_keyring(old)


@pytest.fixture
def config_home(tmp_path, monkeypatch):
    home = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # the app's settings: none
    return home


def systemd_verify(unit_dir: Path, tmp_path: Path) -> subprocess.CompletedProcess | None:
    exe = shutil.which("systemd-analyze")
    if exe is None:
        return None
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = dict(os.environ, XDG_CONFIG_HOME=str(unit_dir.parents[1]), XDG_RUNTIME_DIR=str(runtime))
    return subprocess.run(
        [
            exe,
            "verify",
            "--user",
            str(unit_dir / schedules.SERVICE),
            str(unit_dir / schedules.TIMER),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_schedule_install_writes_units_systemd_accepts(sim, tmp_path, config_home, memory_keyring):
    arc = tmp_path / "my archive" / "a.sqlite3"
    store_secret(sim.base_url, "archiver-demo", "demo-secret")
    res = run_cli(
        "schedule", "install", "--base-url", sim.base_url, "--client-id", "archiver-demo",
        "--dataset", "queue", "--dataset", "agent", "--archive", arc,
        "--from", "2025-02-01", "--at", "03:15", "--no-enable",
    )  # fmt: skip
    out = res.stdout
    assert res.code == 0, out + res.stderr
    unit_dir = config_home / "systemd" / "user"
    service = (unit_dir / "archiver-pull.service").read_text()
    timer = (unit_dir / "archiver-pull.timer").read_text()
    print(service, timer, sep="\n")
    (exec_start,) = [line for line in service.splitlines() if line.startswith("ExecStart=")]
    exe = sys.executable
    assert exec_start.startswith(f"ExecStart={exe} -m archiver pull --base-url {sim.base_url} ")
    assert Path(exe).is_absolute()
    assert (
        "--client-id archiver-demo --dataset queue --dataset agent --incremental --lookback 2d "
        f'--from 2025-02-01 --archive "{arc}" --json --unattended'
    ) in exec_start
    assert "demo-secret" not in service + timer + out  # the secret stays in the keyring
    assert "OnCalendar=*-*-* 03:15:00" in timer and "Persistent=true" in timer
    assert "WantedBy=timers.target" in timer and "Unit=archiver-pull.service" in timer
    assert "not enabled (--no-enable)" in out
    checked = systemd_verify(unit_dir, tmp_path)
    if checked is not None:
        assert checked.returncode == 0 and not checked.stderr.strip(), checked.stderr
    st = schedules.status(arc, ask_systemd=False)
    assert st.installed and st.schedule is not None and st.schedule.archive == arc
    assert st.schedule.datasets == ("queue", "agent") and st.last_run is None
    assert st.summary().startswith("Daily archiving: installed")

    removed = run_cli("schedule", "remove", "--no-enable")
    assert removed.code == 0
    assert not any(unit_dir.iterdir())
    assert "removed" in removed.stdout
    assert schedules.status(arc).summary() == "Daily archiving: not scheduled."


def test_schedule_refuses_without_the_secret_in_the_keyring(
    sim, tmp_path, config_home, memory_keyring
):
    args = ["schedule", "install", "--base-url", sim.base_url, "--client-id", "archiver-demo"]
    args += [
        "--all",
        "--archive",
        str(tmp_path / "a.sqlite3"),
        "--from",
        "2025-02-01",
        "--no-enable",
    ]
    res = run_cli(*args)
    assert res.code == 2
    err = res.stderr
    assert "holds no client secret" in err and "archiver login" in err
    assert not (config_home / "systemd").exists()


def test_schedule_needs_from_until_the_archive_holds_the_datasets(
    sim, tmp_path, config_home, memory_keyring
):
    store_secret(sim.base_url, "archiver-demo", "demo-secret")
    arc = tmp_path / "a.sqlite3"
    args = ["schedule", "install", "--base-url", sim.base_url, "--client-id", "archiver-demo"]
    args += ["--dataset", "queue", "--archive", str(arc), "--no-enable"]
    res = run_cli(*args)
    assert res.code == 2 and "give --from START" in res.stderr
    p = pull_args(sim, arc, "--dataset", "queue", "--from", "202502010000", "--to", "202502010045")
    assert run_cli(*p).returncode == 0  # the secret from the keyring
    assert run_cli(*args).code == 0


def test_schedule_status_shows_the_last_unattended_run(sim, tmp_path, config_home):
    arc = tmp_path / "a.sqlite3"
    first = ["--dataset", "queue", "--from", "202502010000", "--to", "202502010045"]
    assert run_cli(*pull_args(sim, arc, *first)).returncode == 0
    assert schedules.last_unattended_run(arc) is None  # a manual run is not unattended
    later = ["--dataset", "queue", "--from", "202502010100", "--to", "202502010145"]
    out = run_cli(*pull_args(sim, arc, *later, "--unattended", "--json"))
    doc = json.loads(out.stdout)
    assert doc["unattended"] is True and doc["status"] == "finished", out.stderr
    last = schedules.last_unattended_run(arc)
    assert last is not None and last.run_id == doc["run_id"] and last.status == doc["status"]
    assert last.exit_code == doc["exit_code"] and last.rows == doc["totals"]["rows"]
    (started,) = [d for d in audit(arc, "pull started") if d["params"].get("unattended")]
    assert started["params"]["datasets"] == ["queue"]
    st = schedules.status(arc)
    assert not st.installed
    assert st.summary().startswith("Daily archiving: not scheduled; last unattended run ")
    assert f"{doc['status']} (exit code {doc['exit_code']})" in st.summary()


def test_schedule_prints_the_other_platforms_entries(config_home):
    base = [
        "schedule",
        "install",
        "--customer",
        "avaya1234",
        "--client-id",
        "me",
        "--dataset",
        "queue",
    ]
    res = run_cli(*base, "--platform", "windows", "--archive", r"C:\Users\me\a.sqlite3")
    assert res.code == 0
    out = res.stdout
    assert 'schtasks /Create /F /TN "archiver daily pull" /SC DAILY /ST 02:30 /TR' in out
    assert r"C:\path\to\archiver\archiver.exe pull --customer avaya1234" in out
    assert r"--archive C:\Users\me\a.sqlite3 --json --unattended" in out
    res = run_cli(*base, "--platform", "macos", "--at", "6:05")
    assert res.code == 0
    out = res.stdout
    assert "<string>/Applications/Archiver.app/Contents/MacOS/archiver</string>" in out
    assert (
        "<key>Hour</key>\n    <integer>6</integer>" in out
        and "<string>--unattended</string>" in out
    )
    # umask 077: the monitoring output launchd appends to is created private
    assert "<key>Umask</key>\n  <integer>63</integer>" in out
    assert not (config_home / "systemd").exists()


def test_schedule_dry_run_prints_and_says_it_would_refuse(sim, tmp_path, config_home):
    args = ["schedule", "install", "--base-url", sim.base_url, "--client-id", "archiver-demo"]
    args += ["--all", "--archive", str(tmp_path / "a.sqlite3"), "--from", "2025-02-01", "--dry-run"]
    res = run_cli(*args)
    assert res.code == 2  # the suite's keyring holds nothing
    out, err = res.stdout, res.stderr
    assert f"ExecStart={sys.executable} -m archiver pull --base-url {sim.base_url}" in out
    assert "would refuse: the OS keyring holds no client secret" in err
    assert not (config_home / "systemd").exists()


def test_schedule_systemd_quoting():
    s = schedules.Schedule(Path("/data/100% $HOME/a.sqlite3"), "c", base_url="http://127.0.0.1:1")
    units = schedules.systemd_units(s, ["/opt/my app/archiver"])
    (line,) = [x for x in units[schedules.SERVICE].splitlines() if x.startswith("ExecStart=")]
    assert line.startswith('ExecStart="/opt/my app/archiver" pull ')
    assert '--archive "/data/100%% $$HOME/a.sqlite3"' in line
    assert "100%% $HOME" in units[schedules.SERVICE].split("Description=")[1].splitlines()[0]
    assert "UMask=0077" in units[schedules.SERVICE].splitlines()  # private files
    with pytest.raises(schedules.ScheduleError, match="HH:MM"):
        schedules.Schedule(Path("/a"), "c", customer="x", at="25:00").hour_minute()


def test_schedule_carries_the_plain_http_opt_in(config_home):
    """A plain-http base URL to another machine needs --allow-insecure-http (transport); the
    schedule refuses it without, and passes the opt-in on to the daily pull with it."""
    url = "http://archive.example.internal:8080"
    plain = schedules.Schedule(Path("/a.sqlite3"), "c", base_url=url)
    with pytest.raises(schedules.ScheduleError, match="--allow-insecure-http"):
        schedules.check(plain)
    assert "--allow-insecure-http" not in plain.pull_args()
    s = schedules.Schedule(Path("/a.sqlite3"), "c", base_url=url, allow_insecure_http=True)
    assert s.tenant().allow_insecure_http
    assert s.pull_args()[:4] == ["pull", "--base-url", url, "--allow-insecure-http"]
    assert schedules.Schedule.from_dict(s.as_dict()) == s
    args = ["schedule", "install", "--base-url", url, "--allow-insecure-http", "--client-id"]
    args += ["me", "--dataset", "queue", "--platform", "windows", "--archive", r"C:\a.sqlite3"]
    res = run_cli(*args)
    assert res.code == 0
    assert f"pull --base-url {url} --allow-insecure-http --client-id me" in res.stdout


# -- monitoring JSON and the log --------------------------------------------------------------
def test_json_documents_for_monitoring(sim, tmp_path):
    arc = tmp_path / "a.sqlite3"
    p = pull_args(
        sim, arc, "--dataset", "queue", "--from", "202502010000", "--to", "202502010045", "--json"
    )
    out = run_cli(*p)
    doc = json.loads(out.stdout)
    for key in (
        "status",
        "exit_code",
        "ok",
        "errors",
        "archive",
        "duration_s",
        "started_at",
        "totals",
    ):
        assert key in doc, key
    assert doc["archive"] == str(arc.resolve()) and doc["ok"] and doc["errors"] == []
    assert doc["totals"]["chunks"] == doc["totals"]["chunks_done"] == 1
    assert doc["totals"]["rows"] == sum(d["rows"] for d in doc["datasets"].values())

    bad = run_cli(
        *pull_args(
            sim, arc, "--dataset", "nosuch", "--from", "20250201", "--to", "20250201", "--json"
        )
    )
    doc = json.loads(bad.stdout)
    assert bad.returncode == 2 and doc["status"] == "usage error" and "nosuch" in doc["error"]

    v = run_cli("verify-archive", "--archive", str(arc), "--json")
    doc = json.loads(v.stdout)
    assert (
        v.returncode == 0 and doc["status"] == "ok" and doc["records"] > 0 and doc["errors"] == []
    )


def test_cli_log_redacts_secret_options():
    from archiver.logs import redact_argv

    assert redact_argv(["simulate", "--client-secret", "s3", "--port", "0"]) == (
        "simulate --client-secret *** --port 0"
    )
    assert redact_argv(["x", "--password=abc"]) == "x --password=***"
    assert redact_argv(["login", "--secret-stdin", "--client-id", "c"]) == (
        "login --secret-stdin --client-id c"
    )
