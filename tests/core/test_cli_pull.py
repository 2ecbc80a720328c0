"""`archiver pull` through the command line (in-process): exit codes, JSON output, usage
errors, secrets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.clitools import run_cli
from tests.pulltools import archived, archived_in_range, params, truth, walked_truth

SECRET = "canary-Secret-9c1e77"


pytestmark = pytest.mark.usefixtures("demo_credentials")


def pull_args(sim, arc: Path, *more: str) -> list[str]:
    return [
        "pull",
        "--base-url",
        sim.base_url,
        "--archive",
        str(arc),
        "--retry-initial",
        "0.01",
        "--not-ready-initial",
        "0.01",
        *more,
    ]


def test_pull_json_summary_and_exit_0(sim, tmp_path):
    arc = tmp_path / "a.sqlite3"
    out = run_cli(
        *pull_args(
            sim, arc, "--dataset", "queue", "--from", "2025-02-01", "--to", "2025-02-01", "--json"
        )
    )
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["status"] == "finished" and summary["datasets"]["queue"]["state"] == "done"
    p = params(["queue"], "20250201", "20250201")
    # archived: the day plus the interval after it (the last chunk's overlap); received:
    # more, as each chunk also received the first interval of the next (deduplicated)
    q = summary["datasets"]["queue"]
    assert q["new_versions"] == len(walked_truth(sim, "queue", p)) < q["rows"]
    assert q["duplicates"] == q["rows"] - q["new_versions"]
    assert summary["ending_reading"].startswith("inclusive")
    assert archived_in_range(arc, "queue", p) == truth(sim, "queue", p)
    assert archived(arc, "queue") == walked_truth(sim, "queue", p)


def test_pull_human_summary(sim, tmp_path):
    out = run_cli(
        *pull_args(
            sim,
            tmp_path / "a.sqlite3",
            "--dataset",
            "QUEUE",  # any case: the registry's spelling is what gets asked and archived
            "--dataset",
            "Agent",
            "--from",
            "202502010000",
            "--to",
            "202502010445",
        )
    )
    assert out.returncode == 0, out.stderr
    assert (
        "dataset" in out.stdout and "queue" in out.stdout and "All chunks archived." in out.stdout
    )


def test_pull_iso_bounds_and_daily(sim, tmp_path):
    arc = tmp_path / "a.sqlite3"
    out = run_cli(
        *pull_args(
            sim,
            arc,
            "--dataset",
            "agent",
            "--dataset-type",
            "daily",
            "--from",
            "20250201",
            "--to",
            "2025-02-02",
        )
    )
    assert out.returncode == 0, out.stderr
    assert archived(arc, "agent") == truth(
        sim, "agent", params(["agent"], "20250201", "20250202", daily=True)
    )
    arc2 = tmp_path / "b.sqlite3"
    out = run_cli(
        *pull_args(
            sim,
            arc2,
            "--dataset",
            "queue",
            "--from",
            "2025-02-01T04:00:00Z",
            "--to",
            "2025-02-01T05:45+00:00",
        )
    )
    assert out.returncode == 0, out.stderr
    assert archived(arc2, "queue") == walked_truth(
        sim, "queue", params(["queue"], "202502010400", "202502010545")
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dataset", "nosuch", "--from", "20250201", "--to", "20250201"], "Valid datasets"),
        (["--dataset", "queu", "--from", "20250201", "--to", "20250201"], "Did you mean 'queue'?"),
        (["--dataset", "queue", "--from", "20250201"], "--to END"),
        (["--dataset", "queue", "--from", "2025-13-45", "--to", "20250201"], "not a date"),
        (["--dataset", "queue", "--from", "20250203", "--to", "20250201"], "after"),
        (
            [
                "--dataset",
                "queue",
                "--from",
                "20250201",
                "--to",
                "20250201",
                "--filter",
                "CHANNEL=phone",
            ],
            "COLUMN:value",
        ),
        (
            ["--dataset", "queue", "--from", "20250201", "--to", "20250201", "--page-size", "500"],
            "between 1 and 200",
        ),
        (["--from", "20250201", "--to", "20250201"], "--dataset"),
    ],
)
def test_usage_errors_exit_2(sim, tmp_path, args, message):
    out = run_cli(*pull_args(sim, tmp_path / "a.sqlite3", *args))
    assert out.returncode == 2 and message in out.stderr, out.stderr


def test_missing_secret_says_how_to_provide_it(sim, tmp_path):
    out = run_cli(
        *pull_args(
            sim,
            tmp_path / "a.sqlite3",
            "--dataset",
            "queue",
            "--from",
            "20250201",
            "--to",
            "20250201",
        ),
        env={
            "ARCHIVER_CLIENT_SECRET": None,
            "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        },
    )
    assert (
        out.returncode == 2
        and "archiver login" in out.stderr
        and "ARCHIVER_CLIENT_SECRET" in out.stderr
    )


def test_login_without_keyring_explains(tmp_path):
    out = run_cli(
        "login",
        "--base-url",
        "http://127.0.0.1:9",
        "--client-id",
        "x",
        "--secret-stdin",
        stdin="s3\n",
        env={"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"},
    )
    assert out.returncode == 1
    assert "No OS keyring" in out.stderr and "ARCHIVER_CLIENT_SECRET" in out.stderr


def test_bad_secret_exits_4(sim, tmp_path):
    out = run_cli(
        *pull_args(
            sim,
            tmp_path / "a.sqlite3",
            "--dataset",
            "queue",
            "--from",
            "20250201",
            "--to",
            "20250201",
        ),
        env={"ARCHIVER_CLIENT_SECRET": "wrong"},
    )
    assert out.returncode == 4 and "client id and secret" in out.stdout


def test_not_entitled_exits_5(sim_factory, tmp_path):
    sim = sim_factory(entitled=False)
    out = run_cli(
        *pull_args(
            sim,
            tmp_path / "a.sqlite3",
            "--dataset",
            "queue",
            "--dataset",
            "workflowTrace",
            "--from",
            "20250201",
            "--to",
            "20250201",
        )
    )
    assert out.returncode == 5, out.stdout + out.stderr
    assert "not entitled" in out.stdout and "Analytics Insights" in out.stdout


def test_pending_exits_3_then_retry_pending(sim_factory, tmp_path):
    sim = sim_factory(accepted_first=1)
    arc = tmp_path / "a.sqlite3"
    out = run_cli(
        *pull_args(
            sim, arc, "--dataset", "queue", "--from", "20250201", "--to", "20250201", "--json"
        )
    )
    assert (
        out.returncode == 3 and json.loads(out.stdout)["datasets"]["queue"]["pending"] == 24
    )  # 1-hour chunks
    out = run_cli(*pull_args(sim, arc, "--retry-pending", "--json"))
    assert out.returncode == 0, out.stdout
    assert archived(arc, "queue") == walked_truth(
        sim, "queue", params(["queue"], "20250201", "20250201")
    )


def test_resume_flag_with_nothing_to_resume(sim, tmp_path):
    out = run_cli(*pull_args(sim, tmp_path / "a.sqlite3", "--resume"))
    assert out.returncode == 0 and "Nothing to resume" in out.stdout


def test_incremental_first_run_needs_from(sim, tmp_path):
    out = run_cli(*pull_args(sim, tmp_path / "a.sqlite3", "--dataset", "queue", "--incremental"))
    assert out.returncode == 2 and "needs --from" in out.stderr


def test_secret_never_written_anywhere(sim_factory, tmp_path):
    sim = sim_factory(client_secret=SECRET, token_ttl=1, redirect_401=True, fail_rate=0.1)
    home = tmp_path / "home"
    home.mkdir()
    arc = tmp_path / "a.sqlite3"
    env = {
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_STATE_HOME": str(home / "state"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "ARCHIVER_CLIENT_SECRET": SECRET,
    }
    out = run_cli(
        *pull_args(
            sim,
            arc,
            "--dataset",
            "interactionSegments",
            "--from",
            "20250201",
            "--to",
            "20250201",
            "--page-size",
            "20",
        ),
        env=env,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    bad = run_cli(
        *pull_args(sim, arc, "--dataset", "queue", "--from", "20250201", "--to", "20250201"),
        env={**env, "ARCHIVER_CLIENT_SECRET": SECRET + "-wrong"},
        cwd=tmp_path,
    )
    assert bad.returncode == 4
    tokens = list(sim._tokens)
    assert tokens
    for text in (out.stdout, out.stderr, bad.stdout, bad.stderr):
        assert SECRET not in text
        assert not any(t in text for t in tokens)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert arc in files
    # the command line's own log is among the files checked, and says what ran
    cli_log = home / "state" / "archiver" / "log" / "archiver-cli.log"
    assert cli_log in files
    text = cli_log.read_text(encoding="utf-8")
    assert "archiver pull --base-url" in text and "exit code 4" in text
    for path in files:
        data = path.read_bytes()
        assert SECRET.encode() not in data, path
        assert not any(t.encode() in data for t in tokens), path


def test_unusable_archive_path_is_a_clear_error(sim, tmp_path):
    target = tmp_path / "a-directory"
    target.mkdir()
    out = run_cli(
        *pull_args(sim, target, "--dataset", "queue", "--from", "20250201", "--to", "20250201")
    )
    assert (
        out.returncode == 1
        and "cannot open the archive" in out.stderr
        and "Traceback" not in out.stderr
    )


def test_tty_progress_line(capsys):
    from archiver.cli.pull import _Renderer
    from archiver.pull.progress import DatasetProgress, Progress

    d = DatasetProgress("queue", chunks_total=4, chunks_done=1, pages=3, rows=600)
    d.started -= 5
    _Renderer(enabled=True).update(Progress({"queue": d}), force=True)
    line = capsys.readouterr().err
    assert (
        "[#####---------------] 1/4 chunks" in line
        and "600 rows" in line
        and "ETA 0:1" in line
        and "running" in line
    )
    _Renderer(enabled=False).update(Progress({"queue": d}), force=True)
    assert capsys.readouterr().err == ""
