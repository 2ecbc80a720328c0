"""The command line, run as a real subprocess."""

from __future__ import annotations

import subprocess
import sys

import requests

from archiver import __version__


def test_version():
    out = subprocess.run(
        [sys.executable, "-m", "archiver", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"archiver {__version__}"


def test_simulate_prints_url_and_serves():
    proc = subprocess.Popen(
        [sys.executable, "-m", "archiver", "simulate", "--port", "0", "--rows-per-interval", "5"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        tok = requests.post(
            url + "/auth/realms/avaya/protocol/openid-connect/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "archiver-demo",
                "client_secret": "demo-secret",
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
        out = subprocess.run(
            [sys.executable, "-m", "archiver", "simulate", "--port", port],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert out.returncode == 1 and "Choose another --port" in out.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()


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
