"""Whether the desktop app has a display to open its window on, asked before Qt is started.

Without one, Qt's platform plugin fails inside the QApplication constructor and Qt aborts the
process (exit 134, "Reinstalling the application may fix this problem"), which tells the user
nothing useful. This module imports no Qt: it reads the environment and, on X11, connects to
the display the way Qt's xcb plugin does (libxcb through ctypes; a socket probe where libxcb
cannot be loaded).
"""

from __future__ import annotations

import ctypes
import os
import socket
import sys
from collections.abc import Mapping
from pathlib import Path

#: Qt platform plugins that need no window system.
NO_DISPLAY_NEEDED = frozenset(
    {"offscreen", "minimal", "minimalegl", "vnc", "linuxfb", "eglfs", "vkkhrdisplay"}
)


def no_display_message(problem: str, command: str = "archiver gui") -> str:
    return (
        f"{command}: cannot open the window: {problem}.\n"
        f"On a machine without a screen, run it on a virtual one: xvfb-run -a {command}\n"
        "or use the command line instead: archiver --help"
    )


def display_problem(
    environ: Mapping[str, str] | None = None, platform: str = sys.platform
) -> str | None:
    """Why no window can be shown here, or None when Qt should manage (or is not ours to
    second-guess: Windows, macOS, a platform plugin this module does not know)."""
    env = os.environ if environ is None else environ
    if not platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return None
    # QT_QPA_PLATFORM is a ';'-separated list tried in order; "name:options" per entry.
    requested = [
        p.split(":", 1)[0].strip() for p in env.get("QT_QPA_PLATFORM", "").split(";") if p.strip()
    ]
    if any(p in NO_DISPLAY_NEEDED for p in requested):
        return None
    wants_x11 = not requested or "xcb" in requested
    wants_wayland = not requested or any(p.startswith("wayland") for p in requested)
    if not wants_x11 and not wants_wayland:
        return None
    x11 = env.get("DISPLAY", "") if wants_x11 else ""
    wayland = env.get("WAYLAND_DISPLAY", "") if wants_wayland else ""
    if not x11 and not wayland:
        names = " and ".join(
            n for n, w in (("DISPLAY", wants_x11), ("WAYLAND_DISPLAY", wants_wayland)) if w
        )
        return f"there is no display ({names} {'are' if ' and ' in names else 'is'} unset)"
    problems = []
    if wayland:
        problem = wayland_problem(wayland, env)
        if problem is None:
            return None
        problems.append(problem)
    if x11:
        problem = x11_problem(x11)
        if problem is None:
            return None
        problems.append(problem)
    return "; ".join(problems)


def wayland_problem(name: str, env: Mapping[str, str]) -> str | None:
    path = Path(name) if name.startswith("/") else Path(env.get("XDG_RUNTIME_DIR", "/")) / name
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(3)
            s.connect(str(path))
    except OSError:
        return f"the Wayland display {name!r} (WAYLAND_DISPLAY) does not answer"
    return None


def x11_problem(display: str) -> str | None:
    """Connect to the X display as Qt would (libxcb: socket, then the handshake with the
    server's authorization); fall back to reaching its socket where libxcb is missing."""
    xcb = _libxcb()
    if xcb is None:
        return None if _x11_socket_answers(display) else _x11_unreachable(display)
    conn = xcb.xcb_connect(display.encode(), None)
    try:
        error = xcb.xcb_connection_has_error(conn)
    finally:
        xcb.xcb_disconnect(conn)
    if error == 5:  # XCB_CONN_CLOSED_PARSE_ERR
        return f"DISPLAY={display!r} is not a display name"
    return _x11_unreachable(display) if error else None


def _x11_unreachable(display: str) -> str:
    return f"the X display {display!r} (DISPLAY) does not answer or refuses the connection"


def _libxcb():
    names = ["libxcb.so.1"]
    if getattr(sys, "frozen", False):  # the frozen app may carry its own copy
        names.insert(0, str(Path(getattr(sys, "_MEIPASS", "")) / "libxcb.so.1"))
    for name in names:
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        lib.xcb_connect.restype = ctypes.c_void_p
        lib.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
        lib.xcb_connection_has_error.restype = ctypes.c_int
        lib.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
        lib.xcb_disconnect.restype = None
        lib.xcb_disconnect.argtypes = [ctypes.c_void_p]
        return lib
    return None


def _x11_socket_answers(display: str) -> bool:
    host, _, rest = display.rpartition(":")
    number = rest.split(".", 1)[0]
    if not number.isdigit():
        return False
    if host in ("", "unix"):
        paths = [f"/tmp/.X11-unix/X{number}"]
        if sys.platform.startswith("linux"):
            paths.insert(0, f"\0/tmp/.X11-unix/X{number}")  # the abstract socket
        for path in paths:
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.settimeout(3)
                    s.connect(path)
                return True
            except OSError:
                continue
        return False
    try:
        socket.create_connection((host, 6000 + int(number)), timeout=3).close()
    except OSError:
        return False
    return True
