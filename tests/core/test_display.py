"""`archiver gui` without a usable display stops with advice and exit 1, never Qt's abort
(exit 134, "Reinstalling the application may fix this problem")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from archiver.display import display_problem

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="X11/Wayland display checks are Linux's"
)


def absent_display() -> str:
    """An X display number nothing listens on."""
    for n in range(917, 999):
        if display_problem({"DISPLAY": f":{n}"}, "linux"):
            return f":{n}"
    pytest.skip("every probed X display answers")


def gui_env(tmp_path: Path, **changes: str | None) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        env.pop(name, None)
    for name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        env[name] = str(tmp_path / name.lower())
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def run_gui(env: dict[str, str], code: str | None = None) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-c", code] if code else [sys.executable, "-m", "archiver", "gui"]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)


def assert_advice(out: subprocess.CompletedProcess, reason: str) -> None:
    assert out.returncode == 1, (out.returncode, out.stderr)
    assert reason in out.stderr, out.stderr
    assert "xvfb-run -a archiver gui" in out.stderr
    assert "archiver --help" in out.stderr
    assert "Reinstalling" not in out.stderr + out.stdout


@pytest.mark.slow
def test_no_display_at_all(tmp_path):
    out = run_gui(gui_env(tmp_path))
    assert_advice(out, "there is no display (DISPLAY and WAYLAND_DISPLAY are unset)")


@pytest.mark.slow
def test_display_that_does_not_exist(tmp_path):
    display = absent_display()
    out = run_gui(gui_env(tmp_path, DISPLAY=display))
    assert_advice(out, f"the X display '{display}' (DISPLAY) does not answer")


def test_qt_failing_anyway_exits_1_with_advice(tmp_path):
    """What the check cannot foresee: Qt's fatal message becomes the same advice."""
    code = (
        "import sys\n"
        "import archiver.gui.startup as startup\n"
        "startup.display_problem = lambda: None\n"
        "from archiver.cli.main import main\n"
        "sys.exit(main(['gui']))\n"
    )
    out = run_gui(gui_env(tmp_path, DISPLAY=absent_display()), code)
    assert_advice(out, "Qt could not start its window system plugin")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"QT_QPA_PLATFORM": "offscreen"}, None),
        ({"QT_QPA_PLATFORM": "minimal:enable_fonts"}, None),
        ({"QT_QPA_PLATFORM": "xcb;offscreen"}, None),
        ({"QT_QPA_PLATFORM": "eglfs"}, None),
        ({}, "there is no display (DISPLAY and WAYLAND_DISPLAY are unset)"),
        ({"QT_QPA_PLATFORM": "xcb"}, "there is no display (DISPLAY is unset)"),
        ({"QT_QPA_PLATFORM": "wayland"}, "there is no display (WAYLAND_DISPLAY is unset)"),
        ({"DISPLAY": "nonsense"}, "DISPLAY='nonsense' is not a display name"),
        (
            {"WAYLAND_DISPLAY": "wayland-none", "XDG_RUNTIME_DIR": "/nonexistent"},
            "the Wayland display 'wayland-none' (WAYLAND_DISPLAY) does not answer",
        ),
    ],
)
def test_display_problem(env, expected):
    assert display_problem(env, "linux") == expected


def test_other_platforms_are_left_to_qt():
    assert display_problem({}, "win32") is None
    assert display_problem({}, "darwin") is None


def test_socket_probe_where_libxcb_is_missing(monkeypatch):
    from archiver import display

    monkeypatch.setattr(display, "_libxcb", lambda: None)
    absent = absent_display()
    assert display.x11_problem(absent) == display._x11_unreachable(absent)
    assert display.x11_problem("nonsense") == display._x11_unreachable("nonsense")


@pytest.fixture
def xvfb(tmp_path):
    """A private X server on a display it picks itself (-displayfd: no race with another
    test process choosing the same number), with a cookie only this test knows."""
    import os
    import secrets
    import select
    import shutil

    if not (shutil.which("Xvfb") and shutil.which("xauth")):
        pytest.skip("Xvfb and xauth are not installed")
    auth = tmp_path / "Xauthority"
    cookie = secrets.token_hex(16)
    # the server accepts every cookie of its -auth file, whatever display an entry names;
    # the entry for the display it picks is added below, for the clients
    subprocess.run(["xauth", "-f", str(auth), "add", ":65535", ".", cookie], check=True)
    read_end, write_end = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-nolisten", "tcp", "-auth", str(auth)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        pass_fds=(write_end,),
    )
    os.close(write_end)
    try:
        ready, _, _ = select.select([read_end], [], [], 20)
        number = os.read(read_end, 64).decode().strip() if ready else ""
        if not number.isdigit():
            pytest.skip("Xvfb did not start")
        subprocess.run(["xauth", "-f", str(auth), "add", f":{number}", ".", cookie], check=True)
        yield f":{number}", auth
    finally:
        os.close(read_end)
        proc.terminate()
        proc.wait(timeout=10)


def test_running_x_server_with_and_without_its_cookie(xvfb, monkeypatch):
    display, auth = xvfb
    monkeypatch.setenv("XAUTHORITY", str(auth))
    assert display_problem({"DISPLAY": display}, "linux") is None
    monkeypatch.setenv("XAUTHORITY", str(auth.parent / "no-cookies"))
    assert "refuses the connection" in display_problem({"DISPLAY": display}, "linux")
