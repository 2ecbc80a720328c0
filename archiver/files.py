"""Files private by default: the archive holds personal data, keys sign evidence.

Every process of the app (the ``archiver`` command, the desktop app) starts with umask 077,
so whatever it creates (the archive and its -wal/-shm files, backups, bundles, exports,
keys, settings, logs) is readable by its owner only (files 0600, folders 0700). Files made
before this existed are tightened where the app owns them (signing keys, its own folders).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077
PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def private_umask() -> int:
    """Set umask 077 for this process; returns the previous umask."""
    return os.umask(PRIVATE_UMASK)


def tighten(path: Path, mode: int = PRIVATE_FILE) -> bool:
    """Remove group and other permissions from ``path`` (an app-owned file or folder);
    True when it changed. A file we may not chmod (another owner) is left as it is, and so
    is a symbolic link (chmod would change its target) or a special file."""
    try:
        st = path.lstat()
    except OSError:
        return False
    if stat.S_ISLNK(st.st_mode) or not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        return False  # never chmod through a link (its target is not ours) or a device
    current = stat.S_IMODE(st.st_mode)
    if not current & 0o077:
        return False
    try:
        os.chmod(path, current & mode)
    except OSError:
        return False
    return True


def private_dir(path: Path) -> Path:
    """Create the app's own folder ``path`` (and missing parents) 0700, and tighten it if it
    exists with wider permissions. Only for folders the app owns (its data, config and log
    folders, ``signing/``), never a folder the user chose."""
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    tighten(path, PRIVATE_DIR)
    return path
