"""Bundles as witnesses of an archive's past (``verify-archive --witness BUNDLE``).

Every bundle handed out carries the archive's page-chain and audit-chain heads when it was
made, and how many pages and entries they cover (bag-info ``Archiver-Chain-Head``,
``Archiver-Chain-Length``, ``Archiver-Audit-Chain-Head``, ``Archiver-Audit-Chain-Length``),
signed with the rest of the bag. A bundle kept by an auditor is therefore a checkpoint kept
outside the archive: the archive's chains must still extend those heads. A bundle made
before the lengths were added names its heads only: the chains must pass through them.

A witness is read only once its bundle verifies (every hash, the tag manifest's signature,
the report's); a bundle of another archive is named and refused.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from archiver.archive.checkpoint import Checkpoint
from archiver.export.trust import TrustPolicy
from archiver.export.verify import UNTRUSTED, verify_bundle

BAG_INFO = "bag-info.txt"


@dataclass
class Witnesses:
    """What the bundles given vouch for, and what could not be used."""

    checkpoints: list[Checkpoint] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def bundles_in(paths: Iterable[Path]) -> tuple[list[Path], list[str]]:
    """Every bundle the paths name: a .zip, a bundle folder, or a folder of bundles (its
    zips and bundle folders, one level down); and the paths that hold none."""
    found: list[Path] = []
    empty: list[str] = []
    for p in paths:
        p = Path(p)
        if _is_bundle(p):
            found.append(p)
            continue
        inside = sorted(c for c in p.iterdir() if _is_bundle(c)) if p.is_dir() else []
        if inside:
            found.extend(inside)
        else:
            empty.append(
                f"witness {p}: no bundle there (a .zip, a bundle folder, or a folder of bundles)"
            )
    return found, empty


def _is_bundle(p: Path) -> bool:
    if p.is_dir():
        return (p / BAG_INFO).is_file()
    return p.is_file() and p.suffix.lower() == ".zip" and zipfile.is_zipfile(p)


def read(paths: Iterable[Path], archive_id: str, key_dir: Path | None = None) -> Witnesses:
    """The checkpoints the bundles at ``paths`` state for the archive ``archive_id``."""
    out = Witnesses()
    found, empty = bundles_in(paths)
    out.problems.extend(empty)
    policy = TrustPolicy.local(key_dir)
    for bundle in found:
        _one(bundle, archive_id, policy, out)
    return out


def _one(bundle: Path, archive_id: str, policy: TrustPolicy, out: Witnesses) -> None:
    name = bundle.name
    rep = verify_bundle(bundle, policy)
    if not rep.intact:
        out.problems.append(
            f"witness {name}: the bundle does not verify ({rep.problems[0]}): it cannot vouch "
            "for the archive's past"
        )
        return
    info = rep.info
    theirs = info.get("Archiver-Archive-Id", "")
    if theirs != archive_id:
        out.problems.append(
            f"witness {name} is a bundle of another archive (id {theirs or 'not stated'}, "
            f"this archive is {archive_id}): refused"
        )
        return
    head, ahead = info.get("Archiver-Chain-Head", ""), info.get("Archiver-Audit-Chain-Head", "")
    pages = _count(info.get("Archiver-Chain-Length"))
    entries = _count(info.get("Archiver-Audit-Chain-Length"))
    if not head:
        out.problems.append(f"witness {name}: its bag-info.txt states no chain head")
        return
    out.checkpoints.append(
        Checkpoint(
            pages,
            head,
            entries,
            ahead or None,
            archive_id=theirs,
            at=info.get("Archiver-Created"),
            cause="export",
            source=f"witness {name}",
        )
    )
    if rep.state == UNTRUSTED:
        why = rep.untrusted[0] if rep.untrusted else "no trust was given for this check"
        out.notes.append(
            f"witness {name} is intact but not trusted here ({why}): its heads are what its "
            "signer stated"
        )
    if pages is None:
        out.notes.append(
            f"witness {name} was made before bundles stated their chain lengths: the chains "
            "were checked to pass through its heads"
        )


def _count(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None
