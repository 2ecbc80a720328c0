"""The command line: a simulator served by a real process until it is stopped, and the desktop
app's own process; everything else in-process (tests/clitools.run_cli)."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys

import pytest
import requests

from archiver import __version__
from archiver.cli.main import build_parser
from archiver.cli.simulate import _credentials
from archiver.simulator import SimConfig
from tests.clitools import run_cli


def test_version():
    out = run_cli("--version")
    assert out.code == 0 and out.stdout.strip() == f"archiver {__version__}"


def test_simulate_prints_url_and_serves():
    proc = subprocess.Popen(
        [sys.executable, "-m", "archiver", "simulate", "--port", "0", "--rows-per-interval", "5"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        # the banner's second line: the credentials to use, as they are
        banner = proc.stdout.readline().strip()
        m = re.fullmatch(r"demo credentials: client id (\S+), client secret (\S+)", banner)
        assert m and m.groups() == ("archiver-demo", "demo-secret"), banner
        tok = requests.post(
            url + "/auth/realms/avaya/protocol/openid-connect/token",
            data={
                "grant_type": "client_credentials",
                "client_id": m.group(1),
                "client_secret": m.group(2),
            },
            timeout=10,
        ).json()["access_token"]
        r = requests.get(
            url + "/api/analytics/v2/datasets/queue",
            params={"interval": "starting:202502010415,ending:202502010445"},
            headers={"Authorization": f"Bearer {tok}"},
            timeout=10,
        )
        assert r.status_code == 200 and r.json()["records"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()


def test_simulate_reports_a_busy_port():
    proc = subprocess.Popen(
        [sys.executable, "-m", "archiver", "simulate", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = proc.stdout.readline().strip().rsplit(":", 1)[1]
        out = run_cli("simulate", "--port", port)
        assert out.returncode == 1 and "Choose another --port" in out.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()


@pytest.mark.slow
def test_gui_demo_starts_and_closes(tmp_path):
    import os

    env = dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",
        HOME=str(tmp_path),
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_STATE_HOME=str(tmp_path / "state"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
    )
    out = subprocess.run(
        [sys.executable, "-m", "archiver", "gui", "--demo", "--quit-after", "1.5"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    log = next((tmp_path / "state").rglob("archiver.log")).read_text()
    assert "started (demo=True)" in log
    assert not (
        tmp_path / "data" / "archiver" / "archive.sqlite3"
    ).exists()  # never the real archive
    # nor the user's key or settings: the demo's own key is in its own folder
    assert (tmp_path / "data" / "archiver" / "demo" / "signing" / "cert.pem").exists()
    assert not (tmp_path / "data" / "archiver" / "signing").exists()
    assert not list((tmp_path / "config").rglob("*.json"))


def test_a_given_simulator_secret_is_not_repeated_in_the_banner():
    line = _credentials(SimConfig(client_id="me", client_secret="s3cret-given"))
    assert line == (
        "demo credentials: client id me, client secret the one given with --client-secret"
    )


# -- one grammar --------------------------------------------------------------------------
def test_keys_trust_and_schedule_actions_are_commands_of_their_own():
    out = run_cli("keys", "show", "--help")
    assert out.code == 0 and out.stdout.startswith("usage: archiver keys show")
    assert "no passphrase" in out.stdout and "--pkcs12" not in out.stdout
    for group in ("keys", "trust", "schedule"):
        bare = run_cli(group)
        assert bare.code == 2 and "ACTION" in bare.stderr, bare.stderr
        wrong = run_cli(group, "frobnicate")
        assert wrong.code == 2 and "invalid choice" in wrong.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["keys", "show", "--force", "--pkcs12", "/nonexistent"],
        ["keys", "create", "--pkcs12", "x.p12"],
        ["trust", "list", "--tsa", "root.pem"],
        ["schedule", "status", "--dataset", "queue"],
        ["schedule", "remove", "--at", "02:30"],
        ["verify-archive", "--nonsense"],
    ],
    ids=" ".join,
)
def test_flags_of_another_action_are_refused(argv, tmp_path):
    out = run_cli(*argv, "--key-dir", tmp_path) if argv[0] in ("keys", "trust") else run_cli(*argv)
    assert out.code == 2, out.stdout
    assert (
        f"archiver {' '.join(argv[:2]) if argv[0] in ('keys', 'trust', 'schedule') else argv[0]}: error: unrecognized arguments"
        in out.stderr
    )
    assert not (tmp_path / "key.pem").exists()


@pytest.mark.parametrize(
    ("argv", "dest", "value"),
    [
        (["pull", "--customer", "c", "--all", "--daily"], "dataset_type", "daily"),
        (["pull", "--customer", "c", "--all", "--dataset-type", "daily"], "dataset_type", "daily"),
        (["pull", "--customer", "c", "--all"], "dataset_type", "interval"),
        (
            [
                "export-dataset",
                "--dataset",
                "queue",
                "--format",
                "csv",
                "--out",
                "x",
                "--all-versions",
            ],
            "versions",
            "all",
        ),
        (
            [
                "export-dataset",
                "--dataset",
                "queue",
                "--format",
                "csv",
                "--out",
                "x",
                "--versions",
                "all",
            ],
            "versions",
            "all",
        ),
        (
            ["export-dataset", "--dataset", "queue", "--format", "csv", "--out", "x"],
            "versions",
            "latest",
        ),
        (["export", "--from", "20250201", "--to", "20250201", "--out", "x"], "versions", "latest"),
        (["keys", "import", "--pkcs12", "x.p12", "--password-stdin"], "secret_stdin", True),
        (["keys", "import", "--pkcs12", "x.p12", "--secret-stdin"], "secret_stdin", True),
        (["login", "--customer", "c", "--secret-stdin"], "secret_stdin", True),
    ],
)
def test_one_spelling_per_choice_and_the_old_ones_as_aliases(argv, dest, value):
    assert getattr(build_parser().parse_args(argv), dest) == value


@pytest.mark.parametrize(
    "argv",
    [
        ["pull", "--customer", "c", "--all", "--daily", "--dataset-type", "daily"],
        [
            "export-dataset",
            "--dataset",
            "queue",
            "--format",
            "csv",
            "--out",
            "x",
            "--all-versions",
            "--versions",
            "all",
        ],
    ],
)
def test_an_alias_and_its_flag_together_are_refused(argv):
    out = run_cli(*argv)
    assert out.code == 2 and "not allowed with argument" in out.stderr


def test_the_default_archive_path_is_never_cut_in_help(tmp_path):
    """A path is one word: on a narrow terminal it stands alone on its line, whole (argparse
    cuts long words and breaks at hyphens)."""
    data = tmp_path / "a-very-long-user-name-with-hyphens" / "share"
    want = str(data / "archiver" / "archive.sqlite3")
    for command in ("pull", "backup", "coverage", "export", "verify-archive"):
        for columns in ("40", "80", "200"):
            out = run_cli(command, "--help", env={"COLUMNS": columns, "XDG_DATA_HOME": str(data)})
            assert out.code == 0 and want in out.stdout, (command, columns, out.stdout)


def test_a_group_alone_prints_its_actions_with_help():
    out = run_cli("keys", "--help")
    assert out.code == 0
    for action in ("show", "create", "import"):
        assert re.search(rf"^    {action}\s", out.stdout, re.M), out.stdout
    assert isinstance(build_parser(), argparse.ArgumentParser)


def test_a_code_the_help_does_not_list_fails_the_test(monkeypatch, tmp_path):
    """tests/clitools.run_cli checks every exit code against the command's --help."""
    from archiver.cli import archive_cmds

    monkeypatch.setattr(archive_cmds, "run_checkpoint", lambda args: 5)
    with pytest.raises(AssertionError, match="exit code 5, which its --help does not list"):
        run_cli("checkpoint", "--archive", tmp_path / "a.sqlite3")
