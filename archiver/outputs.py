"""Where archiver may write: it never writes over what it did not create.

One module holds the rules every writer follows:

- **The archive set.** An archive is several files: the database, its ``-wal``, ``-shm``
  and ``-journal``, its lock ``<archive>.lock`` and its checkpoint sidecar
  ``<archive>.checkpoints``. All are named from the archive's *resolved* path (symbolic
  links followed, ``..`` removed), so a pull through a link and a pull of the real path take
  the same lock and append to the same sidecar. No output ever lands on a member of the set:
  a target is compared with each by resolved path, and with each existing one by device and
  inode, so a hard link, a symbolic link or ``./a/../a.sqlite3`` is caught as well.
- **New files only.** A file or directory a command writes for the user (``--out``,
  ``--keep``, a backup, a bundle, a zip) must not exist yet (unless the command documents an
  ``--overwrite``, which never applies to the archive set), and is never a symbolic link, a
  FIFO, a device or a socket. It is written under a temporary name in the target folder and
  then published only onto a path that does not exist: a file by ``link()`` (atomic, fails
  if the name is taken; ``rename`` would replace), a directory by ``renameat2(...,
  RENAME_NOREPLACE)`` on Linux (``renamex_np(RENAME_EXCL)`` on macOS; Windows' rename never
  replaces). Where neither exists (an old kernel, a file system without it), a directory is
  published by first claiming the name with ``mkdir`` (atomic, fails if taken) and renaming
  onto that empty claim of ours: a rename never replaces a non-empty directory, so nothing
  anyone else put there can be lost.
- **App files** (signing keys, logs, the lock, the sidecar, settings, the trust store, the
  schedule's units) are opened without following a final symbolic link (``O_NOFOLLOW``),
  without blocking on a FIFO (``O_NONBLOCK``), and checked once open (``fstat``): a regular
  file with no other name (one link), never a member of the archive set it does not belong to,
  never a SQLite database where text is kept.
- **The archive itself** is a regular SQLite file: a FIFO, a device, a directory, an empty
  (0-byte) file or another kind of file is refused before SQLite opens it
  (:func:`archive_problem`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

#: the first 16 bytes of every SQLite 3 database file
SQLITE_HEADER = b"SQLite format 3\x00"
LOCK_SUFFIX = ".lock"
SIDECAR_SUFFIX = ".checkpoints"
#: SQLite's own files next to a database (they belong to it: a stale one is replayed into it)
JOURNAL_SUFFIXES = ("-wal", "-shm", "-journal")

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_BINARY = getattr(os, "O_BINARY", 0)
PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


class Refused(ValueError):
    """archiver will not write (or open) this path; the message says why and what to do."""


# -- paths --------------------------------------------------------------------------------
def resolved(path: str | os.PathLike[str]) -> Path:
    """``path`` with symbolic links followed and ``..`` removed (it need not exist)."""
    return Path(os.path.realpath(os.fspath(path)))


def _beside(archive: str | os.PathLike[str], suffix: str) -> Path:
    real = resolved(archive)
    return real.with_name(real.name + suffix)


def lock_path(archive: str | os.PathLike[str]) -> Path:
    """The archive's lock file, named from its resolved path."""
    return _beside(archive, LOCK_SUFFIX)


def sidecar_path(archive: str | os.PathLike[str]) -> Path:
    """The archive's checkpoint sidecar, named from its resolved path."""
    return _beside(archive, SIDECAR_SUFFIX)


def temp_name(target: Path, what: str = "partial") -> Path:
    """A hidden name in ``target``'s folder for work in progress (readers skip it)."""
    return target.with_name(f".{target.name}.{what}-{os.urandom(4).hex()}")


def kind_of(mode: int) -> str:
    """What a file is, in words (for a refusal)."""
    for test, words in (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISREG, "a file"),
    ):
        if test(mode):
            return words
    return "a special file"


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        return None


def _same(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


# -- the archive set ----------------------------------------------------------------------
@dataclass(frozen=True)
class ArchiveSet:
    """The files of one archive, by resolved path."""

    archive: Path

    @classmethod
    def of(cls, archive: str | os.PathLike[str]) -> ArchiveSet:
        return cls(resolved(archive))

    def members(self) -> dict[Path, str]:
        """Each file of the set and what it is."""
        a = self.archive
        return {
            a: "the archive",
            a.with_name(a.name + "-wal"): "the archive's write-ahead log (-wal)",
            a.with_name(a.name + "-shm"): "the archive's shared-memory file (-shm)",
            a.with_name(a.name + "-journal"): "the archive's rollback journal (-journal)",
            a.with_name(a.name + LOCK_SUFFIX): "the archive's lock file",
            a.with_name(a.name + SIDECAR_SUFFIX): "the archive's checkpoint sidecar",
        }

    def which(self, target: str | os.PathLike[str], *, besides: Path | None = None) -> str | None:
        """What member of the set ``target`` is (by resolved path, or by device and inode:
        a hard link or a symbolic link to one), or None. ``besides``: a member that does not
        count (the lock file, when the lock file itself is opened)."""
        real = resolved(target)
        members = {p: w for p, w in self.members().items() if p != besides}
        if real in members:
            return members[real]
        try:
            st = os.stat(target)
        except OSError:
            return None
        for path, words in members.items():
            try:
                if _same(st, os.stat(path)):
                    return words
            except OSError:
                continue
        return None


def _refuse_member(target: Path, protect: Iterable[ArchiveSet], flag: str) -> None:
    for s in protect:
        member = s.which(target)
        if member is not None:
            raise Refused(
                f"{flag} {target} is {member} ({s.archive}): archiver never writes over the "
                "archive's own files; choose another path"
            )


# -- new files and directories --------------------------------------------------------------
def check_new(
    target: Path,
    *,
    protect: Iterable[ArchiveSet] = (),
    overwrite: bool = False,
    directory: bool = False,
    flag: str = "--out",
    hint: str = "",
) -> None:
    """Refuse a ``target`` archiver must not write: a member of a protected archive set, a
    symbolic link, a FIFO, a device, a socket, a directory (a file of another kind when
    ``directory``), or anything existing (an existing regular file is allowed with
    ``overwrite``; ``hint`` is added to the refusal of one, e.g. "or add --overwrite").
    Raises :class:`Refused`; writes nothing."""
    target = Path(target)
    protect = list(protect)
    _refuse_member(target, protect, flag)
    st = _lstat(target)
    if st is None:
        return
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        raise Refused(
            f"{flag} {target} is a symbolic link (to {os.readlink(target)}): archiver never "
            "writes through or over a link; name a new path"
        )
    if stat.S_ISREG(mode) and overwrite and not directory:
        return
    what = kind_of(mode)
    if stat.S_ISREG(mode) or (stat.S_ISDIR(mode) and directory):
        raise Refused(
            f"{flag} {target} exists: archiver writes only new "
            f"{'directories' if directory else 'files'}; choose a new name{hint}"
        )
    raise Refused(
        f"{flag} {target} is {what}: archiver writes only new "
        f"{'directories' if directory else 'regular files'}; choose a new name"
    )


def _create_exclusive(path: Path) -> int:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC | _BINARY
    return os.open(path, flags, PRIVATE_FILE)


@contextlib.contextmanager
def new_file(
    target: Path,
    *,
    protect: Iterable[ArchiveSet] = (),
    overwrite: bool = False,
    flag: str = "--out",
) -> Iterator[BinaryIO]:
    """Write ``target`` as a new file: checked (:func:`check_new`), written to a temporary
    file in its folder (0600), synced, then published with :func:`publish_file`. A failure
    leaves nothing behind; ``target`` is complete or absent."""
    target = Path(target)
    protect = list(protect)
    check_new(target, protect=protect, overwrite=overwrite, flag=flag)
    tmp = temp_name(target)
    fd = _create_exclusive(tmp)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        publish_file(tmp, target, protect=protect, overwrite=overwrite, flag=flag)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def publish_file(
    tmp: Path,
    target: Path,
    *,
    protect: Iterable[ArchiveSet] = (),
    overwrite: bool = False,
    flag: str = "--out",
) -> None:
    """Give the finished file ``tmp`` the name ``target``, only where nothing is (checked
    again: something may have appeared meanwhile). With ``overwrite`` an existing regular
    file is replaced (never a member of the archive set, a link or a special file)."""
    check_new(target, protect=protect, overwrite=overwrite, flag=flag)
    if overwrite and _lstat(target) is not None:
        os.replace(tmp, target)
        return
    try:
        link_new(tmp, target)
    except FileExistsError:
        raise Refused(
            f"{flag} {target} appeared while it was being written; nothing was replaced"
        ) from None


def link_new(src: Path, dst: Path) -> None:
    """``src`` gets the name ``dst`` only if no file has it (FileExistsError otherwise). By
    hard link (``src`` stays; the caller removes it), or, on a file system without hard
    links, by a rename that does not replace."""
    try:
        os.link(src, dst)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in (
            errno.EPERM,
            errno.ENOTSUP,
            errno.EOPNOTSUPP,
            errno.EXDEV,
            errno.EMLINK,
            errno.ENOSYS,
        ):
            raise
        rename_noreplace(src, dst)


def new_directory(target: Path, *, protect: Iterable[ArchiveSet] = (), flag: str = "--out") -> Path:
    """Create ``target`` as a new directory (0700); its parents are made when missing.
    :class:`Refused` when it exists or must not be written."""
    target = Path(target)
    check_new(target, protect=protect, directory=True, flag=flag)
    target.parent.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    try:
        target.mkdir(mode=PRIVATE_DIR)
    except FileExistsError:
        raise Refused(f"{flag} {target} appeared meanwhile: choose a new name") from None
    return target


def publish_directory(work: Path, target: Path, *, flag: str = "--out") -> None:
    """Give the finished directory ``work`` the name ``target``, never replacing anything
    there (:class:`Refused` when something is)."""
    try:
        rename_noreplace(work, target)
    except FileExistsError:
        raise Refused(
            f"{flag} {target} appeared while it was being written; nothing was replaced"
        ) from None


# -- rename without replacing -----------------------------------------------------------------
_RENAME_NOREPLACE = 1  # linux/fs.h
_RENAME_EXCL = 0x4  # macOS stdio.h


def _libc_rename(src: Path, dst: Path) -> bool:
    """renameat2(RENAME_NOREPLACE) / renamex_np(RENAME_EXCL); False where unavailable."""
    if sys.platform not in ("linux", "darwin"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if sys.platform == "linux":
            fn = libc.renameat2
            args: tuple[object, ...] = (
                -100,
                os.fsencode(src),
                -100,
                os.fsencode(dst),
                _RENAME_NOREPLACE,
            )
        else:
            fn = libc.renamex_np
            args = (os.fsencode(src), os.fsencode(dst), _RENAME_EXCL)
    except (OSError, AttributeError):
        return False
    if fn(*args) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EEXIST, errno.ENOTEMPTY):
        raise FileExistsError(code, os.strerror(code), str(dst))
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False  # not here (an old kernel, a file system without it)
    raise OSError(code, os.strerror(code), str(src), None, str(dst))


def rename_noreplace(src: Path, dst: Path) -> None:
    """Rename ``src`` (a file or a directory) to ``dst`` only if nothing has that name:
    FileExistsError otherwise, and nothing is replaced."""
    if sys.platform == "win32":
        os.rename(src, dst)  # never replaces on Windows
        return
    if _libc_rename(src, dst):
        return
    if not os.path.isdir(src) or os.path.islink(src):
        os.link(src, dst)  # FileExistsError when taken
        os.unlink(src)
        return
    os.mkdir(dst, PRIVATE_DIR)  # claim the name: FileExistsError when taken
    try:
        os.rename(src, dst)  # onto our own empty claim; fails if anything was put in it
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.rmdir(dst)
        raise FileExistsError(errno.EEXIST, f"{dst} was taken meanwhile", str(dst)) from exc


# -- app files ------------------------------------------------------------------------------
def open_app_file(
    path: Path,
    flags: int,
    *,
    what: str,
    archive: ArchiveSet | None = None,
    text_file: bool = False,
    max_bytes: int | None = None,
) -> int:
    """Open one of archiver's own files (a key, a log, the lock, the sidecar, settings):
    never through a symbolic link, never a FIFO, device or directory, never a file with
    another name (hard-linked), never another member of ``archive``'s set. ``text_file``:
    refuse a SQLite database there (text is appended to it); ``max_bytes``: refuse a larger
    file (not the one archiver made). Returns the descriptor; :class:`Refused` otherwise."""
    path = Path(path)
    if not _NOFOLLOW:  # Windows: no O_NOFOLLOW, look first
        st = _lstat(path)
        if st is not None and stat.S_ISLNK(st.st_mode):
            raise Refused(
                f"{what} {path} is a symbolic link: archiver never opens it through a link"
            )
    try:
        fd = os.open(path, flags | _NOFOLLOW | _NONBLOCK | _CLOEXEC | _BINARY, PRIVATE_FILE)
    except OSError as exc:
        if exc.errno == errno.ELOOP or (exc.errno == errno.EEXIST and os.path.islink(path)):
            raise Refused(
                f"{what} {path} is a symbolic link: archiver never opens it through a link; "
                "replace the link by the file itself"
            ) from None
        if exc.errno == errno.ENXIO:  # a FIFO without a reader, opened for writing
            raise Refused(f"{what} {path} is a FIFO (named pipe), not a file") from None
        if exc.errno == errno.EISDIR:
            raise Refused(f"{what} {path} is a directory, not a file") from None
        raise
    try:
        _check_open(fd, path, what, archive, text_file, max_bytes)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _check_open(
    fd: int,
    path: Path,
    what: str,
    archive: ArchiveSet | None,
    text_file: bool,
    max_bytes: int | None,
) -> None:
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise Refused(
            f"{what} {path} is {kind_of(st.st_mode)}, not a file: archiver did not make it"
        )
    if st.st_nlink > 1:
        raise Refused(
            f"{what} {path} has {st.st_nlink} names (a hard link): archiver's own files have one; "
            "remove the other name or this one"
        )
    if archive is not None:
        member = archive.which(path, besides=resolved(path))
        if member is not None:
            raise Refused(f"{what} {path} is {member}: refused")
    if max_bytes is not None and st.st_size > max_bytes:
        raise Refused(f"{what} {path} is larger ({st.st_size:,} bytes) than archiver ever makes it")
    if text_file and st.st_size >= len(SQLITE_HEADER):
        head = os.pread(fd, len(SQLITE_HEADER), 0) if hasattr(os, "pread") else b""
        if head == SQLITE_HEADER:
            raise Refused(
                f"{what} {path} is a SQLite database (an archive?), not a text file: refused"
            )


def read_app_file(path: Path, *, what: str, max_bytes: int = 1 << 20) -> bytes:
    """The bytes of one of archiver's own files (a key, a certificate, a trust-store entry,
    settings), read as :func:`open_app_file` opens it."""
    fd = open_app_file(path, os.O_RDONLY, what=what, max_bytes=max_bytes)
    with os.fdopen(fd, "rb") as f:
        return f.read(max_bytes + 1)


def write_app_file(path: Path, data: bytes, *, what: str, replace: bool = False) -> None:
    """Write one of archiver's own files: a new one (FileExistsError when the name is
    taken), or with ``replace`` a file of ours replaced whole (written beside it, then
    renamed over it; the old one is checked with :func:`open_app_file` first)."""
    path = Path(path)
    if replace and _lstat(path) is not None:
        os.close(open_app_file(path, os.O_RDONLY, what=what))
    tmp = temp_name(path, "new")
    fd = _create_exclusive(tmp)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            link_new(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


# -- the archive file ---------------------------------------------------------------------------
def archive_problem(path: str | os.PathLike[str]) -> str | None:
    """Why the existing file ``path`` cannot be an archive (a FIFO, a device, a directory, an
    empty or non-SQLite file, a SQLite database with no schema version), or None when it may
    be one (or does not exist). Looks without opening anything that could block, reads its
    first 100 bytes only, and writes nothing."""
    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        st_l = _lstat(p)
        if st_l is not None and stat.S_ISLNK(st_l.st_mode):
            return f"{p} is a symbolic link to {os.readlink(p)}, which does not exist: a new archive is never made through a link"
        return None
    if not stat.S_ISREG(st.st_mode):
        return f"{p} is {kind_of(st.st_mode)}, not an archive (an archive is a SQLite file)"
    if st.st_size == 0:
        return (
            f"{p} is empty (0 bytes): not an archive. archiver makes a new archive only where "
            "no file is: remove the empty file, or name another path"
        )
    fd = os.open(p, os.O_RDONLY | _NONBLOCK | _CLOEXEC | _BINARY)
    try:
        head = os.read(fd, 100)  # SQLite's database header
    finally:
        os.close(fd)
    if len(head) < 100 or not head.startswith(SQLITE_HEADER):
        return f"{p} is not an archive (not a SQLite database file): nothing was read or changed"
    # user_version (offset 60): 0 in a database that has no write-ahead log waiting to be
    # applied is one archiver never made (every archive has a schema version from its start)
    if head[60:64] == b"\0\0\0\0" and not os.path.exists(f"{p}-wal"):
        return (
            f"{p} is a SQLite database, but not an archive (it has no archive schema): "
            "archiver neither reads nor changes it; name an archive, or a new path"
        )
    return None


__all__ = [
    "JOURNAL_SUFFIXES",
    "LOCK_SUFFIX",
    "SIDECAR_SUFFIX",
    "SQLITE_HEADER",
    "ArchiveSet",
    "Refused",
    "archive_problem",
    "check_new",
    "kind_of",
    "link_new",
    "lock_path",
    "new_directory",
    "new_file",
    "open_app_file",
    "publish_directory",
    "publish_file",
    "read_app_file",
    "rename_noreplace",
    "resolved",
    "sidecar_path",
    "temp_name",
    "write_app_file",
]
