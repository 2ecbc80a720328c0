"""Named I/O failures (issue 18 §9): a full disk, a read-only medium and a refused permission
are said as such, naming the path and what to do, exit 1, during pull, export-dataset,
backup and export; nothing archived is lost, nothing half-written is left, a rerun after the
fix completes. Before, a full disk during a pull was "chunks pending or failed" with the
cause only in the log, and the other commands ended with an "unexpected error".

The disks are real: a tmpfs of a few hundred kilobytes mounted for the test (root only:
skipped, saying why, elsewhere), remounted read-only or bigger; a refused folder is
``chmod 0500`` for a user and immutable (``chattr +i``) for root (tests/iotools.py).
"""

from __future__ import annotations

import errno
import re
import shutil
import sqlite3
from pathlib import Path

import pytest

from archiver import iofailure
from archiver.archive.verify import verify_archive
from tests.clitools import CliResult, run_cli
from tests.iotools import fill, refused, remount, small_disk

PASSPHRASE = "io-failure-test-pass"
FULL = re.compile(
    r"the disk holding (?P<path>\S+) is full \((?P<mb>[\d,.]+) MB free\): nothing archived "
    r"was lost[^;]*; free space and rerun"
)


@pytest.fixture
def env(tmp_path) -> dict[str, str | None]:
    return {
        "ARCHIVER_CLIENT_ID": "archiver-demo",
        "ARCHIVER_CLIENT_SECRET": "demo-secret",
        "ARCHIVER_KEY_PASSPHRASE": PASSPHRASE,
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }


def pull(sim, arc: Path, env, *more: str, days: tuple[str, str] = ("20250201", "20250202")):
    return run_cli(
        "pull",
        "--base-url",
        sim.base_url,
        "--archive",
        arc,
        "--dataset",
        "interactionSegments",
        "--dataset",
        "workflowTrace",
        "--from",
        days[0],
        "--to",
        days[1],
        *more,
        env=env,
    )


@pytest.fixture
def archive(sim_factory, tmp_path, env) -> Path:
    """An archive on an ordinary disk (a day of segments and trace steps)."""
    sim = sim_factory(rows_per_interval=4)
    arc = tmp_path / "a.sqlite3"
    r = pull(sim, arc, env, days=("20250201", "20250201"))
    assert r.code == 0, r.out + r.err
    return arc


def entries(arc: Path) -> list[str]:
    conn = sqlite3.connect(f"file:{arc}?mode=ro", uri=True)
    try:
        return [e for (e,) in conn.execute("SELECT event FROM audit_log ORDER BY entry_id")]
    finally:
        conn.close()


def left_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != "filler")


def said(r: CliResult) -> str:
    return r.out + r.err


# -- pull -------------------------------------------------------------------------------------
def test_pull_on_a_full_disk_says_so_and_a_rerun_completes(sim_factory, tmp_path, env):
    sim = sim_factory(rows_per_interval=10)
    days = ("20250201", "20250203")
    first = tmp_path / "first.sqlite3"
    assert pull(sim, first, env, days=(days[0], days[0])).code == 0
    with small_disk(f"{first.stat().st_size // 1024 + 700}k") as disk:
        arc = disk / "a.sqlite3"
        shutil.copy(first, arc)
        held = count(arc)
        r = pull(sim, arc, env, days=days)
        assert r.code == 1, said(r)
        m = FULL.search(said(r))
        assert m and m["path"] == str(arc), said(r)
        assert "chunks pending or failed" not in said(r)
        assert count(arc) >= held  # nothing archived was lost
        assert verify_archive(arc).ok  # (the check alone: it records nothing)
        log = (tmp_path / "state" / "archiver" / "log" / "archiver-cli.log").read_text()
        assert "is full" in log
        remount(disk, "size=64m")  # space freed: the same command resumes and completes
        again = pull(sim, arc, env, days=days)
        assert again.code == 0, said(again)
        assert verify_archive(arc).ok
        whole = tmp_path / "whole.sqlite3"
        assert pull(sim, whole, env, days=days).code == 0
        assert count(arc) == count(whole)


def count(arc: Path) -> int:
    conn = sqlite3.connect(f"file:{arc}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM records").fetchone()[0])
    finally:
        conn.close()


def test_pull_json_names_the_full_disk(sim_factory, env):
    sim = sim_factory(rows_per_interval=10)
    with small_disk("300k") as disk:
        r = pull(sim, disk / "a.sqlite3", env, "--json")
    assert r.code == 1
    import json

    doc = json.loads(r.out)
    assert doc["exit_code"] == 1 and FULL.search(doc["error"]), doc


def test_pull_into_an_archive_on_read_only_media(archive, sim_factory, env):
    sim = sim_factory(rows_per_interval=4)
    with small_disk("32m") as disk:
        arc = disk / "a.sqlite3"
        shutil.copy(archive, arc)
        remount(disk, "ro")
        r = pull(sim, arc, env, days=("20250202", "20250202"))
        assert r.code == 1, said(r)
        assert f"the disk holding {disk}" in said(r) and "is read-only" in said(r)
        assert "copy it to writable storage (or mount the disk read-write) and rerun" in said(r)
        remount(disk, "rw")
        assert pull(sim, arc, env, days=("20250202", "20250202")).code == 0
        assert verify_archive(arc).ok


def test_pull_into_a_folder_that_refuses_writes(archive, sim_factory, env, tmp_path):
    sim = sim_factory(rows_per_interval=4)
    folder = tmp_path / "shelf"
    folder.mkdir()
    arc = folder / "a.sqlite3"
    shutil.copy(archive, arc)
    with refused(folder):
        r = pull(sim, arc, env, days=("20250202", "20250202"))
    assert r.code == 1, said(r)
    assert "permission denied" in said(r) and str(folder) in said(r)
    assert "write access to" in said(r) and "and rerun" in said(r)
    assert verify_archive(arc).ok


# -- export-dataset, backup, export ---------------------------------------------------------
def export_dataset(arc: Path, out: Path, env) -> CliResult:
    return run_cli(
        "export-dataset",
        "--archive",
        arc,
        "--dataset",
        "interactionSegments",
        "--format",
        "csv",
        "--out",
        out,
        env=env,
    )


def backup(arc: Path, out: Path, env) -> CliResult:
    return run_cli("backup", "--archive", arc, "--out", out, env=env)


def export(arc: Path, out: Path, env, tmp_path: Path) -> CliResult:
    return run_cli(
        "export",
        "--archive",
        arc,
        "--from",
        "20250201",
        "--to",
        "20250201",
        "--out",
        out,
        "--key-dir",
        tmp_path / "keys",
        env=env,
    )


COMMANDS = {"export-dataset": export_dataset, "backup": backup}


@pytest.mark.parametrize("command", ["export-dataset", "backup", "export"])
def test_an_output_on_a_full_disk(archive, env, tmp_path, command):
    before = entries(archive)
    with small_disk("256k") as disk:
        fill(disk)
        out = disk / ("out" if command == "export" else "out.file")
        r = run(command, archive, out, env, tmp_path)
        assert r.code == 1, said(r)
        m = FULL.search(said(r))
        assert m and Path(m["path"]).parent == disk, said(r)
        assert "nothing was written" in said(r)
        assert left_in(disk) == []  # no partial file, folder or zip
    assert entries(archive) == before  # nothing recorded: nothing was made


@pytest.mark.parametrize("command", ["export-dataset", "backup", "export"])
def test_an_output_on_read_only_media(archive, env, tmp_path, command):
    with small_disk("1m") as disk:
        remount(disk, "ro")
        r = run(command, archive, disk / "out", env, tmp_path)
        assert r.code == 1, said(r)
        assert f"the disk holding {disk}" in said(r) and "is read-only" in said(r)
        assert "choose a place on writable storage and rerun" in said(r)
        remount(disk, "rw")
        assert left_in(disk) == []


@pytest.mark.parametrize("command", ["export-dataset", "backup", "export"])
def test_an_output_in_a_folder_that_refuses_writes(archive, env, tmp_path, command):
    folder = tmp_path / "outbox"
    folder.mkdir()
    with refused(folder):
        r = run(command, archive, folder / "out", env, tmp_path)
    assert r.code == 1, said(r)
    assert "permission denied" in said(r) and str(folder) in said(r)
    assert f"write access to {folder}, or choose another place, and rerun" in said(r)
    assert left_in(folder) == []


@pytest.mark.parametrize("command", ["export-dataset", "backup", "export"])
def test_an_archive_that_cannot_record_the_export(archive, env, tmp_path, command):
    """Every export and backup is recorded in the archive: one on read-only media is
    refused before anything is written (its custody entry could not be)."""
    with small_disk("8m") as disk:
        arc = disk / "a.sqlite3"
        shutil.copy(archive, arc)
        remount(disk, "ro")
        r = run(command, arc, tmp_path / "out", env, tmp_path)
        assert r.code == 1, said(r)
        assert f"the disk holding {arc}" in said(r) and "is read-only" in said(r)
        assert "nothing was written" in said(r)
        assert not (tmp_path / "out").exists()
        remount(disk, "rw")


def run(command: str, arc: Path, out: Path, env, tmp_path: Path) -> CliResult:
    if command == "export":
        return export(arc, out, env, tmp_path)
    return COMMANDS[command](arc, out, env)


# -- the messages -----------------------------------------------------------------------------
def test_the_three_messages(tmp_path):
    full = iofailure.named(OSError(errno.ENOSPC, "No space left", str(tmp_path / "a")), "x")
    assert full is not None and full.kind == iofailure.FULL
    assert FULL.fullmatch(str(full)) and str(tmp_path / "a") in str(full)
    ro = iofailure.named(OSError(errno.EROFS, "Read-only file system"), tmp_path / "b", output=True)
    assert ro is not None and str(ro) == (
        f"the disk holding {tmp_path / 'b'} is read-only: nothing archived was lost; choose a "
        "place on writable storage and rerun"
    )
    denied = iofailure.named(PermissionError(errno.EACCES, "denied"), tmp_path / "c")
    assert denied is not None and str(denied).startswith("permission denied: ")
    assert iofailure.named(FileNotFoundError(errno.ENOENT, "gone"), tmp_path) is None
    assert iofailure.named(ValueError("no"), tmp_path) is None
