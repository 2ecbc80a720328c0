"""Real small file systems for the tests of named I/O failures (issue 18 §9).

``small_disk`` mounts a tmpfs of a few hundred kilobytes on a new folder (root only: the
test is skipped, saying why, where mounting is impossible) and unmounts it afterwards;
``remount`` makes it read-only, read-write or bigger. ``refused`` makes a folder refuse
writes: ``chmod 0500`` for a user, and for root (whom permissions do not stop) the
immutable attribute (``chattr +i``), which the kernel enforces for everyone: the nearest
thing to a permission-denied folder a root test can make.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def small_disk(size: str = "512k") -> Iterator[Path]:
    """A real file system of ``size`` (tmpfs, mode 0755) on a new folder under /tmp."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    base = Path(tempfile.mkdtemp(prefix="archiver-disk-"))
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(base)],
        capture_output=True,
        text=True,
        check=False,
    )
    if r.returncode:
        base.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield base
    finally:
        subprocess.run(["umount", str(base)], check=False, capture_output=True)
        subprocess.run(["umount", "-l", str(base)], check=False, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def remount(disk: Path, options: str) -> None:
    """``mount -o remount,OPTIONS`` (``ro``, ``rw``, ``size=8m``)."""
    subprocess.run(["mount", "-o", f"remount,{options}", str(disk)], check=True)


def fill(disk: Path) -> None:
    """Take every free byte of ``disk``."""
    with (disk / "filler").open("wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass


@contextmanager
def refused(folder: Path) -> Iterator[str]:
    """``folder`` refuses new files while inside; yields how (for the report)."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(folder)], check=True)
        try:
            yield "immutable (chattr +i: refused even to root)"
        finally:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
    else:
        mode = folder.stat().st_mode
        folder.chmod(0o500)
        try:
            yield "chmod 0500"
        finally:
            folder.chmod(mode)
