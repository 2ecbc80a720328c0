"""The log files: one rotating file per front-end under the platform's log directory.

The desktop app writes ``archiver.log``, the command line ``archiver-cli.log`` (two processes
rotating one file would rename it under each other), both in ``user_log_path("archiver")``
(``~/.local/state/archiver/log/`` on Linux, ``XDG_STATE_HOME`` moves it). Every line names
the process, so a scheduled pull and a manual one are told apart.

Secrets never reach them: the code never logs a secret or a token, requests and urllib3 log
URLs (not headers or bodies), and a command line is logged through :func:`redact_argv`.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
from collections.abc import Sequence
from pathlib import Path

from platformdirs import user_log_path

FILES = {"gui": "archiver.log", "cli": "archiver-cli.log"}
MAX_BYTES = 2_000_000
BACKUPS = 5
FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s %(threadName)s: %(message)s"

#: options whose value is never logged (the simulator's --client-secret, passwords)
_SECRET_OPTION = re.compile(r"^--?[\w-]*(secret|password|passphrase|token)[\w-]*", re.I)


def log_dir() -> Path:
    return user_log_path("archiver", appauthor=False)


def log_path(kind: str) -> Path:
    return log_dir() / FILES[kind]


def setup(kind: str, level: int = logging.INFO) -> Path | None:
    """Add the rotating file of ``kind`` ("gui" or "cli") to the root logger, once per
    process; returns its path, or None when the log directory cannot be written (the
    program still runs: a read-only home must not stop an archive run)."""
    path = log_path(kind)
    root = logging.getLogger()
    for h in root.handlers:
        if getattr(h, "archiver_log", None) == str(path):
            return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8"
        )
    except OSError:
        return None
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.archiver_log = str(path)  # type: ignore[attr-defined]
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > level:
        root.setLevel(level)
    return path


def redact_argv(argv: Sequence[str]) -> str:
    """A command line for the log, with the value of any secret-like option hidden."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next and not arg.startswith("-"):
            out.append("***")
            hide_next = False
            continue
        hide_next = False
        m = _SECRET_OPTION.match(arg)
        if m and "=" in arg:
            out.append(arg.split("=", 1)[0] + "=***")
        elif m:
            out.append(arg)
            hide_next = True
        else:
            out.append(arg)
    return " ".join(out)
