"""One pull at a time per archive: an OS lock on ``<archive>.lock``.

The lock is the operating system's (``flock`` on Linux and macOS, ``msvcrt.locking`` on
Windows) on a small file next to the archive, so it dies with the process that holds it: a
pull killed with ``kill -9`` or a power cut leaves no lock behind, only the file. The file
says who holds it (pid, start time, host, command) so that a second pull can say whom it
waits for; a clean release empties it. A file that still names a holder while nobody holds
the lock is the trace of a process that died: the next pull takes it over and records that
in the log and in the archive's audit log (``archive lock taken over``).

The lock file is named from the archive's resolved path (:func:`archiver.outputs.lock_path`):
a pull through a symbolic link and a pull of the real path take the same lock. It is opened
as an app file (:func:`archiver.outputs.open_app_file`): never through a link, never a FIFO
or device, never a file with a second name (a hard link to the archive would be emptied by a
clean release), never a member of the archive set but itself.

The pull use case (:mod:`archiver.services.pull`) takes the lock, so a scheduled run, a
manual ``archiver pull`` and the desktop app's Download tab exclude each other alike; it
also records a takeover in the archive's audit log (this module only logs it: it knows
files and processes, not archives).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from archiver import outputs
from archiver.jobs import Cancel, Cancelled

log = logging.getLogger(__name__)

#: Windows locks a byte range; the holder's details are written before it, readable by all.
_WIN_LOCK_OFFSET = 1 << 20
#: how long an attempt keeps trying before the archive counts as busy (another process may
#: be looking at the lock for a moment, see :func:`wait_until_free`)
ATTEMPT_SECONDS = 0.5
#: a lock file holds one line of JSON; anything much larger is not one archiver made
MAX_LOCK_BYTES = 64 * 1024


@dataclass(frozen=True)
class LockInfo:
    """Who holds (or held) an archive's lock."""

    pid: int
    since: str  # ISO 8601 UTC, seconds
    host: str
    command: str

    def when(self) -> str:
        """The start time as shown to people: ``2025-02-01 10:00:00 UTC``."""
        return self.since.replace("T", " ").replace("Z", " UTC").replace("+00:00", " UTC")

    @classmethod
    def parse(cls, text: str) -> LockInfo | None:
        try:
            d = json.loads(text)
            return cls(int(d["pid"]), str(d["since"]), str(d["host"]), str(d["command"]))
        except (ValueError, TypeError, KeyError):
            return None


#: what the lock file says ``archiver index rebuild`` is (it holds the lock as a pull does)
INDEX_REBUILD = "index rebuild"


class ArchiveBusy(Exception):
    """Another pull (or a search index rebuild) holds the archive's lock."""

    def __init__(self, archive: Path, holder: LockInfo | None) -> None:
        self.archive = archive
        self.holder = holder
        if holder is None:
            text = "archive busy: pull running since an unknown time (pid unknown)"
        else:
            what = "search index rebuild" if holder.command == INDEX_REBUILD else "pull"
            text = f"archive busy: {what} running since {holder.when()} (pid {holder.pid})"
        super().__init__(text)


def lock_path(archive: Path) -> Path:
    """``<archive>.lock``, beside the archive's resolved path."""
    return outputs.lock_path(archive)


def _open(archive: Path, flags: int) -> int:
    """The lock file, opened as one of archiver's own files (:class:`outputs.Refused` for a
    link, a special file, a hard link, a file that is not a lock file)."""
    return outputs.open_app_file(
        lock_path(archive),
        flags,
        what="the lock file",
        archive=outputs.ArchiveSet.of(archive),
        text_file=True,
        max_bytes=MAX_LOCK_BYTES,
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _try_lock(fd: int) -> bool:
    """Take the OS lock on ``fd`` without waiting; False when someone holds it."""
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, _WIN_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock(fd: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, _WIN_LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_UN)


def _read(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while True:
        b = os.read(fd, 4096)
        if not b:
            break
        chunks.append(b)
    return b"".join(chunks).decode("utf-8", "replace").strip("\0 \n")


class ArchiveLock:
    """The lock of one archive, held from :meth:`acquire` until :meth:`release` (or the
    end of the process). Releasing twice is harmless."""

    def __init__(
        self,
        archive: Path,
        command: str = "pull",
        on_takeover: Callable[[ArchiveLock, dict[str, Any]], None] | None = None,
    ) -> None:
        self.archive = Path(archive)
        self.path = lock_path(self.archive)
        self.command = command
        self.info: LockInfo | None = None
        #: the trace of a dead holder this lock took over, if any
        self.taken_over: LockInfo | None = None
        #: told of a takeover (with its details) once the lock is held: the pull use case
        #: records it in the archive's audit log
        self.on_takeover = on_takeover
        self._fd: int | None = None
        self._mutex = threading.Lock()

    def __repr__(self) -> str:
        return f"ArchiveLock({str(self.path)!r}, held={self.held})"

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, seconds: float = ATTEMPT_SECONDS) -> ArchiveLock:
        """Take the lock (trying for up to ``seconds``) or raise :class:`ArchiveBusy`."""
        with self._mutex:
            if self._fd is not None:
                return self
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = _open(self.archive, os.O_RDWR | os.O_CREAT)  # private (0600), as every file
            try:
                deadline = time.monotonic() + seconds
                while not _try_lock(fd):
                    if time.monotonic() >= deadline:
                        raise ArchiveBusy(self.archive, self._holder(fd))
                    time.sleep(0.05)
                previous = _read(fd)
                self.info = LockInfo(os.getpid(), _now(), socket.gethostname(), self.command)
                _write(fd, json.dumps(asdict(self.info)))
            except BaseException:
                os.close(fd)
                raise
            self._fd = fd
        if previous:
            self.taken_over = LockInfo.parse(previous)
            self._record_takeover(previous)
        return self

    def _holder(self, fd: int) -> LockInfo | None:
        """The holder's details (it may be writing them just now: ask a few times)."""
        for _ in range(10):
            info = LockInfo.parse(_read(fd))
            if info is not None:
                return info
            time.sleep(0.02)
        return None

    def _record_takeover(self, previous: str) -> None:
        old = self.taken_over
        details: dict[str, Any] = (
            {"previous": asdict(old)} if old else {"previous_unreadable": previous[:200]}
        )
        details["lock_file"] = str(self.path)
        details["by"] = asdict(self.info) if self.info else {}
        who = f"pid {old.pid} on {old.host}, since {old.when()}" if old else "an unreadable one"
        log.warning(
            "took over the stale lock of %s (%s): that process ended without releasing it",
            self.archive,
            who,
        )
        if self.on_takeover is not None:
            self.on_takeover(self, details)

    def release(self) -> None:
        with self._mutex:
            fd, self._fd = self._fd, None
            if fd is None:
                return
            try:
                os.ftruncate(fd, 0)  # a clean end: no trace to take over
                _unlock(fd)
            except OSError as exc:  # closing the descriptor releases it anyway
                log.warning("releasing the lock of %s: %s", self.archive, exc)
            finally:
                os.close(fd)

    def __enter__(self) -> ArchiveLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:
        if getattr(self, "_fd", None) is not None:
            self.release()


def _write(fd: int, text: str) -> None:
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, text.encode("utf-8") + b"\n")
    os.fsync(fd)


def acquire(
    archive: Path,
    command: str = "pull",
    seconds: float = ATTEMPT_SECONDS,
    on_takeover: Callable[[ArchiveLock, dict[str, Any]], None] | None = None,
) -> ArchiveLock:
    """Take the archive's lock, or raise :class:`ArchiveBusy` naming the pull that holds it."""
    return ArchiveLock(archive, command, on_takeover).acquire(seconds)


def busy(archive: Path) -> LockInfo | None:
    """The holder when the archive is being pulled now; None when it is free. Looks without
    taking part: the lock is tried and let go at once (an acquirer retries meanwhile)."""
    try:
        fd = _open(Path(archive), os.O_RDWR)
    except (OSError, outputs.Refused):  # no lock file (never pulled), or not ours to look at
        return None
    try:
        if _try_lock(fd):
            _unlock(fd)
            return None
        return LockInfo.parse(_read(fd)) or LockInfo(0, "unknown", "", "")
    finally:
        os.close(fd)


def wait_until_free(
    archive: Path, cancel: Cancel, poll: float = 1.0
) -> Generator[LockInfo, None, None]:
    """Wait until no pull holds the archive: yields the holder while it does; raises
    :class:`~archiver.jobs.Cancelled` when asked to stop waiting."""
    while True:
        cancel.check()
        holder = busy(archive)
        if holder is None:
            return
        yield holder
        if cancel.wait(poll):
            raise Cancelled()
