"""The log files: one rotating file per front-end under the platform's log directory.

The desktop app writes ``archiver.log``, the command line ``archiver-cli.log`` (two processes
rotating one file would rename it under each other), both in ``user_log_path("archiver")``
(``~/.local/state/archiver/log/`` on Linux, ``XDG_STATE_HOME`` moves it). Every line names
the process, so a scheduled pull and a manual one are told apart.

Secrets never reach them: the code never logs a secret or a token, requests and urllib3 log
URLs (not headers or bodies), and a command line is logged through :func:`redact_argv`.

They are private (``archiver.files``): the log directory is made 0700 and every log file,
rotated ones too, 0600, whatever the process's umask. A log file is opened as an app file
(``archiver.outputs.open_app_file``): never through a symbolic link, never a FIFO, a device,
a hard link or a SQLite database (an archive given the log's name is never appended to). A server's words reach them (an API
error, a failed chunk's reason), so every record is written through
:func:`archiver.safetext.safe`: control characters are escaped, and a newline inside a
message too, so a server cannot forge a log line or hide one with escape sequences
(a traceback keeps its own line breaks, every line of it indented).
"""

from __future__ import annotations

import io
import logging
import logging.handlers
import os
import re
from collections.abc import Sequence
from pathlib import Path

from platformdirs import user_log_path

from archiver import outputs
from archiver.files import private_dir, tighten
from archiver.safetext import safe

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


class SafeFormatter(logging.Formatter):
    """A formatter whose records are terminal-safe: the message on one line with its
    control characters escaped, a traceback's text escaped but for its line breaks, each of
    its lines indented."""

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        out = safe(self.formatMessage(record), newlines=False)
        # the traceback formatted here, not another handler's cached (unescaped) text
        exc = self.formatException(record.exc_info) if record.exc_info else record.exc_text
        if exc:
            out += _block(exc)
        if record.stack_info:
            out += _block(self.formatStack(record.stack_info))
        return out


def _block(text: str) -> str:
    """A traceback under its record: escaped, each line indented, so that an exception's
    message cannot start a line that reads as a record of its own."""
    return "".join("\n  " + line for line in safe(text).split("\n"))


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log file created 0600 (the current one and each after a rotation)."""

    def _open(self) -> io.TextIOWrapper:
        # made 0600 (whatever the umask), never through a link, never a FIFO, a device, a
        # hard link or a SQLite file (an archive named like the log): outputs.open_app_file
        fd = outputs.open_app_file(
            Path(self.baseFilename),
            os.O_RDWR | os.O_CREAT | os.O_APPEND,
            what="the log file",
            text_file=True,
        )
        stream = open(fd, self.mode, encoding=self.encoding, errors=self.errors)
        assert isinstance(stream, io.TextIOWrapper)
        return stream


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
        private_dir(path.parent)
        handler = PrivateRotatingFileHandler(
            path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8"
        )
    except (OSError, outputs.Refused):
        return None
    for old in [path, *(path.with_name(f"{path.name}.{i}") for i in range(1, BACKUPS + 1))]:
        tighten(old)  # a log written before files were private
    handler.setFormatter(SafeFormatter(FORMAT))
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
