"""Unpack a bundle zip received from anywhere, refusing a hostile one before a byte is
written.

Everything is decided from the zip's central directory and the two manifests (read with a
size cap) before extraction: the number of entries, every name (no absolute path, ``..``,
backslash or control character; no name twice, compared the way a case-insensitive file
system would), no symbolic link, device or encrypted entry, every file named by the bundle's
manifests, and the sizes (total, per-entry and overall compression ratio, free space).
Extraction then writes only those files, each created new, never following a link, and stops
an entry that grows past the size its header declared.
"""

from __future__ import annotations

import os
import shutil
import stat
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path

from archiver.export import bag

#: more entries than this is not a bundle (a month of raw pages is tens of thousands)
MAX_ENTRIES = 1_000_000
#: the most the files of a zip may add up to, uncompressed
MAX_TOTAL_BYTES = 32 * 2**30
#: uncompressed/compressed ratio above which an entry (of at least RATIO_MIN_BYTES) or the
#: whole zip is taken for a zip bomb; deflate reaches about 1000 on repeated bytes, real
#: bundle files stay far below 50
MAX_RATIO = 100
RATIO_MIN_BYTES = 2**20
#: the most a manifest may hold (read into memory before extraction)
MAX_MANIFEST_BYTES = 256 * 2**20
#: room left on the disk after extracting
FREE_SPACE_MARGIN = 64 * 2**20


class ZipRefused(Exception):
    """The zip is not extracted; the message names the entry and the limit or rule."""


@dataclass(frozen=True)
class _Plan:
    prefix: str  # "" or "<top directory>/"
    files: list[zipfile.ZipInfo]
    total: int


def _mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"


def _check_entry(info: zipfile.ZipInfo) -> None:
    name = info.filename
    why = bag.unsafe_path(name[:-1] if info.is_dir() else name)
    if why:
        raise ZipRefused(f"zip entry {name!r} is {why}: it could point outside the bundle")
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    if stat.S_ISLNK(mode):
        raise ZipRefused(
            f"zip entry {name!r} is a symbolic link: a bundle holds regular files only"
        )
    if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
        raise ZipRefused(f"zip entry {name!r} is not a regular file (mode {oct(mode)})")
    if info.flag_bits & 0x1:
        raise ZipRefused(f"zip entry {name!r} is encrypted")


def _check_sizes(infos: list[zipfile.ZipInfo], zip_size: int) -> int:
    total = 0
    for info in infos:
        if info.file_size >= RATIO_MIN_BYTES and info.file_size > MAX_RATIO * max(
            info.compress_size, 1
        ):
            raise ZipRefused(
                f"zip entry {info.filename!r} expands {_mib(info.compress_size)} to "
                f"{_mib(info.file_size)}: more than the limit of {MAX_RATIO}:1 "
                "(MAX_RATIO; a zip bomb?)"
            )
        total += info.file_size
        if total > MAX_TOTAL_BYTES:
            raise ZipRefused(
                f"the zip's files add up to more than the limit of {_mib(MAX_TOTAL_BYTES)} "
                "(MAX_TOTAL_BYTES)"
            )
    if total >= RATIO_MIN_BYTES and total > MAX_RATIO * max(zip_size, 1):
        raise ZipRefused(
            f"the zip ({_mib(zip_size)}) expands to {_mib(total)}: more than the limit of "
            f"{MAX_RATIO}:1 (MAX_RATIO; a zip bomb?)"
        )
    return total


def _fold(name: str) -> str:
    return unicodedata.normalize("NFC", name.rstrip("/")).casefold()


def _check_names(infos: list[zipfile.ZipInfo]) -> None:
    seen: dict[str, str] = {}
    for info in infos:
        _check_entry(info)
        key = _fold(info.filename)
        if key in seen:
            also = f" (also as {seen[key]!r})" if seen[key] != info.filename else ""
            raise ZipRefused(
                f"zip entry {info.filename!r} appears twice{also}: tools disagree on which one "
                "counts"
            )
        seen[key] = info.filename


def _prefix(files: list[zipfile.ZipInfo]) -> str:
    names = {i.filename for i in files}
    if "bagit.txt" in names:
        return ""
    tops = {n.split("/", 1)[0] for n in names}
    if len(tops) == 1:
        top = next(iter(tops))
        if f"{top}/bagit.txt" in names:
            return f"{top}/"
    raise ZipRefused("the zip holds no bagit.txt at its top or in one top directory")


def _read_manifest(z: zipfile.ZipFile, name: str) -> dict[str, str]:
    try:
        info = z.getinfo(name)
    except KeyError:
        raise ZipRefused(f"the zip has no {name}") from None
    if info.file_size > MAX_MANIFEST_BYTES:
        raise ZipRefused(
            f"{name} is larger than the limit of {_mib(MAX_MANIFEST_BYTES)} (MAX_MANIFEST_BYTES)"
        )
    with z.open(info) as f:
        data = f.read(MAX_MANIFEST_BYTES + 1)
    try:
        return bag.parse_manifest_text(data.decode("utf-8"), name.rsplit("/", 1)[-1])
    except (UnicodeDecodeError, ValueError) as exc:
        raise ZipRefused(f"{name}: {exc}") from None


def _check_listed(z: zipfile.ZipFile, prefix: str, files: list[zipfile.ZipInfo]) -> None:
    """Every file of the zip is named by the bundle's manifests (or is the tag manifest or
    its signature): nothing else is extracted."""
    listed = {
        *_read_manifest(z, prefix + bag.MANIFEST),
        *_read_manifest(z, prefix + bag.TAGMANIFEST),
        bag.TAGMANIFEST,
        bag.SIGNATURE,
    }
    for info in files:
        rel = info.filename[len(prefix) :]
        if rel not in listed:
            raise ZipRefused(f"zip entry {info.filename!r} is not named in the bundle's manifests")


def inspect(z: zipfile.ZipFile, zip_size: int) -> _Plan:
    """Every check that can be made without extracting; ZipRefused names the first breach."""
    infos = z.infolist()
    if len(infos) > MAX_ENTRIES:
        raise ZipRefused(
            f"the zip has {len(infos):,} entries, more than the limit of {MAX_ENTRIES:,} "
            "(MAX_ENTRIES)"
        )
    _check_names(infos)
    files = [i for i in infos if not i.is_dir()]
    total = _check_sizes(files, zip_size)
    prefix = _prefix(files)
    _check_listed(z, prefix, files)
    return _Plan(prefix, files, total)


def _extract_one(z: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path) -> None:
    target = dest.joinpath(*info.filename.split("/"))
    target.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(target, flags | getattr(os, "O_BINARY", 0), 0o600)
    written = 0
    with os.fdopen(fd, "wb") as out, z.open(info) as src:
        while block := src.read(1 << 20):
            written += len(block)
            if written > info.file_size:
                raise ZipRefused(f"zip entry {info.filename!r} is larger than its header says")
            out.write(block)


def extract(path: Path, dest: Path) -> Path:
    """Check the zip at ``path`` and extract it into the empty directory ``dest``; returns
    the bag's root inside ``dest``. ZipRefused (nothing or only checked files written)."""
    try:
        with zipfile.ZipFile(path) as z:
            try:
                plan = inspect(z, path.stat().st_size)
                free = shutil.disk_usage(dest).free
                if plan.total + FREE_SPACE_MARGIN > free:
                    raise ZipRefused(
                        f"the zip's files need {_mib(plan.total)} and {dest} has {_mib(free)} free"
                    )
            except ZipRefused as exc:
                raise ZipRefused(f"{exc} (refused before extracting anything)") from None
            for info in plan.files:
                _extract_one(z, info, dest)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError) as exc:
        raise ZipRefused(f"the zip cannot be read: {exc}") from None
    return dest / plan.prefix if plan.prefix else dest
