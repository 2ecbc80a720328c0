"""The installable app, built the way a release is: a wheel that carries the resources and the
version, and the PyInstaller app that packaging/build.sh makes from a clean copy of this
checkout, unpacked from its tarball and run: --version, simulate, its window (offscreen),
the advice without a display, and a pull, export and verify (fonts, reportlab, pyHanko).

Part of CI (`bash .ci/run`). The build installs a fresh build environment and takes about two
to three minutes on two cores; skip it locally with ARCHIVER_SKIP_PACKAGING=1 (set
ARCHIVER_BUILD_VENV to reuse a build environment between runs).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from archiver.simulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from archiver.simulator.server import TOKEN_PATH

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.packaging,
    pytest.mark.skipif(
        os.environ.get("ARCHIVER_SKIP_PACKAGING") == "1", reason="ARCHIVER_SKIP_PACKAGING=1"
    ),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="build.sh builds for Linux"),
    pytest.mark.timeout(1800),
    # one build for the module: its tests stay on one xdist worker (dev.sh: --dist loadgroup)
    pytest.mark.xdist_group("packaging"),
]

#: Far above today's ~95 MB: catches a dependency pulled into the app by mistake (pyarrow alone
#: would add over 100 MB).
MAX_TARBALL = 160 * 2**20


def pyproject_version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)["project"]["version"]


def clean_copy(dest: Path) -> Path:
    """The files a commit of this checkout holds (tracked, and new ones not ignored): no
    .venv, build/, dist/ or caches of the developer's."""
    dest.mkdir(parents=True)
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    for name in filter(None, listed.decode().split("\0")):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name, follow_symlinks=False)
    return dest


def app_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a user running the unpacked app: no virtual environment on PATH,
    no display, data, settings and logs under `home`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QT_", "PYTHON", "VIRTUAL"))}
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    env["HOME"] = str(home)
    for name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        env[name] = str(home / name.lower())
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"  # no real OS keyring
    env.update(extra)
    return env


@dataclass
class Built:
    app: Path  # the `archiver` executable inside the unpacked tarball
    tarball: Path
    log: str
    work: Path


@pytest.fixture(scope="module")
def built() -> Iterator[Built]:
    work = Path(tempfile.mkdtemp(prefix="archiver-packaging-"))
    try:
        src = clean_copy(work / "src")
        started = time.monotonic()
        out = subprocess.run(
            ["bash", "packaging/build.sh"],
            cwd=src,
            # built as a release is: not from the bytecode cache of the test run (dev.sh)
            env={k: v for k, v in os.environ.items() if k != "PYTHONPYCACHEPREFIX"},
            capture_output=True,
            text=True,
            timeout=1500,
        )
        log = out.stdout + out.stderr
        assert out.returncode == 0, log[-6000:]
        tarballs = list((src / "dist").glob("archiver-*.tar.gz"))
        assert len(tarballs) == 1, tarballs
        unpacked = work / "unpacked"
        unpacked.mkdir()
        subprocess.run(["tar", "-xzf", str(tarballs[0]), "-C", str(unpacked)], check=True)
        (top,) = unpacked.iterdir()
        print(f"build took {time.monotonic() - started:.0f} s\n{out.stdout}")
        yield Built(top / "archiver", tarballs[0], out.stdout, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(built: Built, *args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
    home = built.work / "home"
    return subprocess.run(
        [str(built.app), *args],
        env=app_env(home, **env),
        cwd=built.work,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def test_tarball_is_named_by_version_and_holds_the_app(built):
    version = pyproject_version()
    name = f"archiver-{version}-linux-{os.uname().machine}"
    assert built.tarball.name == f"{name}.tar.gz"
    assert built.tarball.stat().st_size < MAX_TARBALL, built.log
    assert re.search(r"built .* in \dm\d\ds", built.log) and "tarball:" in built.log
    top = built.app.parent
    assert top.name == name
    internal = top / "_internal"
    for path in [
        "archiver.desktop",
        "install-desktop-entry.sh",
        *(f"icons/archiver-{s}.png" for s in (16, 24, 32, 48, 64, 128, 256, 512)),
        "_internal/archiver/assets/archiver.svg",
        "_internal/archiver/assets/fonts/DejaVuSans.ttf",
        "_internal/archiver/assets/fonts/DroidSansFallback.ttf",
        f"_internal/archiver-{version}.dist-info/METADATA",
    ]:
        assert (top / path).is_file(), path
    plugins = internal / "PySide6" / "Qt" / "plugins"
    for plugin in [
        "platforms/libqxcb.so",
        "platforms/libqoffscreen.so",
        "platforms/libqminimal.so",
        "imageformats/libqsvg.so",
        "iconengines/libqsvgicon.so",
    ]:
        assert (plugins / plugin).is_file(), plugin
    assert list((internal / "reportlab" / "fonts").glob("*.afm")), "reportlab's data files"
    assert list((internal / "pyhanko").rglob("*.pem")), "pyHanko's data files"
    assert not (internal / "pyarrow").exists()


def test_version(built):
    out = run(built, "--version")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"archiver {pyproject_version()}"


def test_simulate_serves(built):
    proc = subprocess.Popen(
        [str(built.app), "simulate", "--port", "0"],
        env=app_env(built.work / "home"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = proc.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url), (url, proc.stderr.read())
        r = requests.post(
            url + TOKEN_PATH,
            data={
                "grant_type": "client_credentials",
                "client_id": DEFAULT_CLIENT_ID,
                "client_secret": DEFAULT_CLIENT_SECRET,
            },
            timeout=30,
        )
        assert r.status_code == 200 and r.json()["access_token"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_window_opens_offscreen(built):
    out = run(built, "gui", "--demo", "--quit-after", "3", QT_QPA_PLATFORM="offscreen")
    assert out.returncode == 0, out.stdout + out.stderr


def test_gui_without_display_gives_advice(built):
    out = run(built, "gui")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "xvfb-run -a archiver gui" in out.stderr
    assert "Reinstalling" not in out.stderr


def test_pull_export_verify(built):
    """The frozen app's whole evidence path: the fonts through importlib.resources, the PDF
    (reportlab), its signature and the CMS (pyHanko, cryptography), the bag's version."""
    sim = subprocess.Popen(
        [str(built.app), "simulate", "--port", "0", "--rows-per-interval", "2"],
        env=app_env(built.work / "home"),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        url = sim.stdout.readline().strip()
        day = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")
        creds = {
            "ARCHIVER_CLIENT_ID": DEFAULT_CLIENT_ID,
            "ARCHIVER_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
            "ARCHIVER_KEY_PASSPHRASE": "packaging-test",
        }
        archive = str(built.work / "e2e.sqlite3")
        bundle = built.work / "bundle"
        steps = [
            [
                "pull",
                "--base-url",
                url,
                "--archive",
                archive,
                "--from",
                day,
                "--to",
                day,
                "--dataset",
                "interactionSegments",
                "--dataset",
                "workflowTrace",
            ],
            ["export", "--archive", archive, "--from", day, "--to", day, "--out", str(bundle)],
            ["verify", str(bundle)],
        ]
        for step in steps:
            out = run(built, *step, timeout=300, **creds)
            assert out.returncode == 0, (step[0], out.stdout[-3000:], out.stderr[-3000:])
    finally:
        sim.terminate()
        sim.wait(timeout=30)
    assert (bundle / "data" / "report.pdf").stat().st_size > 0
    bag_info = (bundle / "bag-info.txt").read_text(encoding="utf-8")
    assert f"archiver {pyproject_version()}" in bag_info


def test_self_test_if_the_app_has_one(built):
    """The place for the app's own self-test: it runs once `archiver --help` lists the
    command, and is skipped (saying so) until then."""
    listed = run(built, "--help")
    assert listed.returncode == 0, listed.stderr
    if not re.search(r"^\s+self-test\b", listed.stdout, re.M):
        pytest.skip("this build's `archiver --help` lists no self-test command yet")
    out = run(built, "self-test", timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]


def test_schedule_runs_the_app_by_its_absolute_path(built):
    """The daily job calls the frozen executable itself (nothing on PATH needed)."""
    archive = built.work / "scheduled.sqlite3"
    out = run(
        built,
        *("schedule", "install", "--base-url", "http://127.0.0.1:9", "--client-id", "x"),
        *("--dataset", "queue", "--from", "2025-02-01", "--archive", str(archive), "--dry-run"),
    )
    # no keyring here: install would refuse; the dry run still shows what it would write
    assert out.returncode == 2 and "holds no client secret" in out.stderr, out.stderr
    assert f"ExecStart={built.app} pull --base-url http://127.0.0.1:9 " in out.stdout, out.stdout


def test_wheel_carries_resources_and_version(tmp_path):
    """A wheel of a clean copy holds archiver.assets (fonts, icon) and the version; installed
    on its own, it loads a font and finds the icon through importlib.resources."""
    src = clean_copy(tmp_path / "src")
    wheels = tmp_path / "wheels"
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(src)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    version = pyproject_version()
    (wheel,) = wheels.glob(f"archiver-{version}-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for font in (ROOT / "resources" / "fonts").iterdir():
        assert f"archiver/assets/fonts/{font.name}" in names
    assert {"archiver/assets/__init__.py", "archiver/assets/archiver.svg"} <= names
    assert not any(n.startswith(("resources/", "tests/")) or ".data/" in n for n in names)

    target = tmp_path / "site"
    out = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), wheel],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    code = (
        "import archiver, archiver.resources as r\n"
        "from reportlab.pdfbase.ttfonts import TTFont\n"
        "print(archiver.__file__)\n"
        "print(archiver.__version__)\n"
        "print(TTFont('DejaVu', str(r.resource('fonts', 'DejaVuSans.ttf'))).face.name.decode())\n"
        "print(r.resource('archiver.svg').read_text()[:4])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    where, got_version, font, svg = out.stdout.split("\n")[:4]
    assert Path(where).is_relative_to(target)
    assert (got_version, font, svg) == (version, "DejaVuSans", "<svg")
