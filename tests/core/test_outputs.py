"""No command writes over what it did not create (issue 18 §7, archiver/outputs.py).

Every command that writes a file or folder the user names is walked with every hostile
target: the archive itself (by name, through ``..``, a hard link, a symbolic link), its
-wal/-shm/-journal, lock and sidecar, an existing file, a FIFO, a device, a link to a file
and a dangling link. Each is refused with exit 2 and a message naming it, and nothing
changes: not the archive's files, not the target, no leftover. Then the archive's own files
(the lock and the sidecar by resolved path; never opened through a link), the archive
itself (verify-archive and pull refuse a FIFO, a device, an empty or foreign file), and the
app's own files (keys, logs, units).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from archiver import outputs
from archiver.archive.queries.reader import Reader
from archiver.archive.store import Archive
from archiver.simulator import SimConfig, Simulator
from archiver.system import lock as locks
from tests.clitools import commands, run_cli
from tests.core.test_cli_pull import pull_args

pytestmark = pytest.mark.usefixtures("demo_credentials")

PULL = ["--dataset", "interactionSegments", "--from", "202502010000", "--to", "202502010045"]


# -- a small archive, made once -----------------------------------------------------------
@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    sim = Simulator(SimConfig(rows_per_interval=4))
    sim.start()
    try:
        d = tmp_path_factory.mktemp("template")
        arc = d / "a.sqlite3"
        env = {"ARCHIVER_CLIENT_ID": "archiver-demo", "ARCHIVER_CLIENT_SECRET": "demo-secret"}
        out = run_cli(*pull_args(sim, arc, *PULL), env=env)
        assert out.code == 0, out.err
    finally:
        sim.stop()
    assert outputs.sidecar_path(arc).exists()
    return arc


@pytest.fixture
def arc(template, tmp_path) -> Path:
    """A copy of the template archive (and its sidecar) in this test's folder."""
    dest = tmp_path / "a.sqlite3"
    shutil.copyfile(template, dest)
    shutil.copyfile(outputs.sidecar_path(template), outputs.sidecar_path(dest))
    os.chmod(dest, 0o600)
    # a read-only look leaves SQLite's -wal and -shm behind: made here, they are part of
    # what must not change (and the -wal target is an existing member of the set)
    Reader(dest).close()
    assert Path(f"{dest}-wal").exists() and Path(f"{dest}-shm").exists()
    return dest


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _can_mknod() -> bool:
    probe = Path(os.environ.get("TMPDIR", "/tmp")) / f".archiver-mknod-{os.getpid()}"
    try:
        os.mknod(probe, stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except (OSError, AttributeError):
        return False
    probe.unlink()
    return True


CAN_MKNOD = _can_mknod()


def make_device(path: Path, minor: int = 3) -> Path:
    """A character device node like /dev/null (minor 3) or /dev/zero (5), in a test folder."""
    if not CAN_MKNOD:
        pytest.skip("device nodes cannot be made here (mknod needs CAP_MKNOD)")
    os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, minor))
    return path


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every entry of ``folder`` (recursively): its kind and content (a file's digest, a
    link's target, a device's numbers): what must not change."""
    out: dict[str, tuple] = {}
    for top, dirs, files in os.walk(folder):
        for name in dirs + files:
            p = Path(top, name)
            st = p.lstat()
            rel = str(p.relative_to(folder))
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(p))
            elif stat.S_ISREG(st.st_mode):
                out[rel] = ("file", st.st_ino, _digest(p))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir",)
            else:
                out[rel] = ("special", stat.S_IFMT(st.st_mode), st.st_rdev)
    return out


# -- the hostile targets ------------------------------------------------------------------
def _target(kind: str, arc: Path) -> Path:
    """Make the hostile target ``kind`` beside the archive ``arc``; returns the path to give."""
    d = arc.parent
    if kind == "the archive":
        return arc
    if kind == "the archive through ..":
        (d / "x").mkdir()
        return d / "x" / ".." / arc.name
    if kind in ("-wal", "-shm", "-journal", ".lock", ".checkpoints"):
        return d / f"{arc.name}{kind}"
    if kind == "a hard link to the archive":
        os.link(arc, d / "h.sqlite3")
        return d / "h.sqlite3"
    if kind == "a symbolic link to the archive":
        (d / "s.sqlite3").symlink_to(arc.name)
        return d / "s.sqlite3"
    if kind == "a symbolic link to the sidecar":
        (d / "s.checkpoints").symlink_to(outputs.sidecar_path(arc).name)
        return d / "s.checkpoints"
    return _other_target(kind, d)


def _other_target(kind: str, d: Path) -> Path:
    if kind == "an existing file":
        (d / "existing.txt").write_text("someone's file\n")
        return d / "existing.txt"
    if kind == "a FIFO":
        os.mkfifo(d / "fifo")
        return d / "fifo"
    if kind == "a device":
        return make_device(d / "null")
    if kind == "a symbolic link to a file":
        (d / "target.txt").write_text("the link's target\n")
        (d / "link.txt").symlink_to("target.txt")
        return d / "link.txt"
    if kind == "a dangling symbolic link":
        (d / "dangling.txt").symlink_to("nowhere.txt")
        return d / "dangling.txt"
    if kind == "a folder with a file in it":
        (d / "full").mkdir()
        (d / "full" / "f").write_text("x")
        return d / "full"
    raise AssertionError(kind)


ARCHIVE_SET = [
    "the archive",
    "the archive through ..",
    "-wal",
    "-shm",
    "-journal",
    ".lock",
    ".checkpoints",
    "a hard link to the archive",
    "a symbolic link to the archive",
    "a symbolic link to the sidecar",
]
ANYTHING = [
    "an existing file",
    "a FIFO",
    "a device",
    "a symbolic link to a file",
    "a dangling symbolic link",
]


def _backup(arc: Path, target: Path, keys: Path) -> list[str]:
    return ["backup", "--archive", str(arc), "--out", str(target)]


def _export_dataset(fmt: str):
    def args(arc: Path, target: Path, keys: Path) -> list[str]:
        return [
            "export-dataset",
            "--archive",
            str(arc),
            "--dataset",
            "interactionSegments",
            "--format",
            fmt,
            "--out",
            str(target),
        ]

    return args


def _export(arc: Path, target: Path, keys: Path) -> list[str]:
    return [
        "export",
        "--archive",
        str(arc),
        "--from",
        "202502010000",
        "--to",
        "202502010045",
        "--out",
        str(target),
        "--key-dir",
        str(keys),
    ]


def _export_zip(arc: Path, target: Path, keys: Path) -> list[str]:
    # the zip is named after --out: DIR.zip; give DIR so that DIR.zip is the target
    name = str(target)
    assert name.endswith(".zip"), name
    return [*_export(arc, Path(name[: -len(".zip")]), keys), "--zip"]


def _self_test(arc: Path, target: Path, keys: Path) -> list[str]:
    return ["self-test", "--keep", str(target)]


#: every command that writes a file or folder the user names, by the option naming it
WRITERS = {
    ("backup", "--out"): [("backup", _backup)],
    ("export-dataset", "--out"): [
        ("export-dataset csv", _export_dataset("csv")),
        ("export-dataset jsonl", _export_dataset("jsonl")),
        ("export-dataset parquet", _export_dataset("parquet")),
    ],
    ("export", "--out"): [("export", _export)],
    ("export", "--zip"): [("export --zip", _export_zip)],
    ("self-test", "--keep"): [("self-test --keep", _self_test)],
}
#: options that name something a command writes
OUTPUT_OPTIONS = {"--out", "--keep", "--zip"}


def test_every_command_that_writes_a_named_output_is_walked():
    """A command that gains an --out (or --keep) joins WRITERS, so the walk below covers it."""
    found = {
        (" ".join(words), opt)
        for words, parser in commands().items()
        for action in parser._actions
        for opt in action.option_strings
        if opt in OUTPUT_OPTIONS
    }
    assert found == set(WRITERS), found ^ set(WRITERS)


def _cases():
    for runs in WRITERS.values():
        for name, make_args in runs:
            kinds = list(ANYTHING)
            if not name.startswith(("self-test", "export --zip")):
                kinds += ARCHIVE_SET  # self-test names no archive; DIR.zip always ends in .zip
            if name == "export":
                kinds.append("a folder with a file in it")
            for kind in kinds:
                yield pytest.param(make_args, kind, id=f"{name}: {kind}")


@pytest.mark.parametrize(("make_args", "kind"), list(_cases()))
def test_a_hostile_output_is_refused_and_nothing_changes(arc, tmp_path, make_args, kind):
    target = _target(kind, arc)
    if make_args is _export_zip:  # the zip DIR.zip is the hostile one; DIR itself is free
        target = target.rename(target.with_name(target.name + ".zip"))
    keys = tmp_path / "keys"
    before = snapshot(tmp_path)
    out = run_cli(*make_args(arc, target, keys))
    assert out.code == 2, (out.code, out.out[-500:], out.err[-800:])
    said = out.err.replace("\n", " ")
    assert str(target) in said, said
    assert "unexpected error" not in said
    assert snapshot(tmp_path) == before  # nothing changed, nothing left behind
    assert run_cli("verify-archive", "--archive", arc, "--read-only").code == 0


def test_export_dataset_over_the_archive_is_refused_by_name(arc, tmp_path):
    """The attack as reported: --out the archive replaced it with the CSV, then said
    "Nothing already archived is lost."."""
    before = _digest(arc)
    out = run_cli(*_export_dataset("csv")(arc, arc, tmp_path), cwd=tmp_path)
    assert out.code == 2 and "is the archive" in out.err, out.err
    assert _digest(arc) == before
    rel = run_cli(
        *_export_dataset("csv")(Path("a.sqlite3"), Path("./a.sqlite3"), tmp_path), cwd=tmp_path
    )
    assert rel.code == 2 and "is the archive" in rel.err
    wal = run_cli(*_export_dataset("csv")(arc, Path(f"{arc}-wal"), tmp_path))
    assert wal.code == 2 and "write-ahead log" in wal.err
    side = outputs.sidecar_path(arc)
    kept = side.read_bytes()
    out = run_cli(*_export_dataset("csv")(arc, side, tmp_path))
    assert out.code == 2 and "checkpoint sidecar" in out.err and side.read_bytes() == kept


def test_overwrite_replaces_a_file_never_the_archive(arc, tmp_path):
    out_file = tmp_path / "x.csv"
    out_file.write_text("yesterday's export\n")
    args = _export_dataset("csv")(arc, out_file, tmp_path)
    refused = run_cli(*args)
    assert refused.code == 2 and "--overwrite" in refused.err
    assert out_file.read_text() == "yesterday's export\n"
    done = run_cli(*args, "--overwrite")
    assert done.code == 0, done.err
    assert out_file.read_text().startswith("ROW_ID,")
    for kind in ("the archive", "a hard link to the archive", "a symbolic link to the archive"):
        target = _target(kind, arc) if kind != "the archive" else arc
        before = snapshot(tmp_path)
        again = run_cli(*_export_dataset("csv")(arc, target, tmp_path), "--overwrite")
        assert again.code == 2, (kind, again.err)
        assert snapshot(tmp_path) == before
    link = _target("a symbolic link to a file", arc)
    assert run_cli(*_export_dataset("csv")(arc, link, tmp_path), "--overwrite").code == 2
    assert (tmp_path / "target.txt").read_text() == "the link's target\n" and link.is_symlink()
    parquet = run_cli(*_export_dataset("parquet")(arc, tmp_path / "pq", tmp_path), "--overwrite")
    assert parquet.code == 2 and "never a Parquet directory" in parquet.err


def test_backup_refuses_a_sidecar_or_stale_journal_beside_out(arc, tmp_path):
    (tmp_path / "b.sqlite3.checkpoints").write_text("another archive's checkpoints\n")
    out = run_cli("backup", "--archive", arc, "--out", tmp_path / "b.sqlite3")
    assert out.code == 2 and "b.sqlite3.checkpoints" in out.err
    assert not (tmp_path / "b.sqlite3").exists()
    assert (tmp_path / "b.sqlite3.checkpoints").read_text() == "another archive's checkpoints\n"
    (tmp_path / "c.sqlite3-wal").write_bytes(b"a stale write-ahead log")
    out = run_cli("backup", "--archive", arc, "--out", tmp_path / "c.sqlite3")
    assert out.code == 2 and "c.sqlite3-wal" in out.err and not (tmp_path / "c.sqlite3").exists()
    ok = run_cli("backup", "--archive", arc, "--out", tmp_path / "d.sqlite3")
    assert ok.code == 0, ok.err
    assert (tmp_path / "d.sqlite3.checkpoints").read_bytes() == outputs.sidecar_path(
        arc
    ).read_bytes()
    assert run_cli("verify-archive", "--archive", tmp_path / "d.sqlite3", "--read-only").code == 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_an_empty_folder_takes_a_bundle_and_nothing_replaces_a_folder(tmp_path):
    """A bundle's directory is published by a rename that cannot replace a directory that
    appeared meanwhile (renameat2 RENAME_NOREPLACE, or the mkdir claim where there is none)."""
    work = tmp_path / ".work"
    work.mkdir()
    (work / "f").write_text("bundle")
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    with pytest.raises(outputs.Refused):
        outputs.publish_directory(work, theirs)
    assert list(theirs.iterdir()) == [] and (work / "f").exists()
    (theirs / "g").write_text("theirs")
    with pytest.raises(FileExistsError):
        outputs.rename_noreplace(work, theirs)
    assert (theirs / "g").read_text() == "theirs"
    outputs.publish_directory(work, tmp_path / "new")
    assert (tmp_path / "new" / "f").read_text() == "bundle" and not work.exists()


def test_the_fallbacks_never_replace_either(tmp_path, monkeypatch):
    """Where renameat2 is missing (an old kernel, a file system without it): a file is
    linked, a directory renamed onto an empty claim of our own."""
    monkeypatch.setattr(outputs, "_libc_rename", lambda src, dst: False)
    (tmp_path / "a").write_text("new")
    (tmp_path / "b").write_text("theirs")
    with pytest.raises(FileExistsError):
        outputs.rename_noreplace(tmp_path / "a", tmp_path / "b")
    assert (tmp_path / "b").read_text() == "theirs" and (tmp_path / "a").exists()
    outputs.rename_noreplace(tmp_path / "a", tmp_path / "c")
    assert (tmp_path / "c").read_text() == "new" and not (tmp_path / "a").exists()
    (tmp_path / "w").mkdir()
    (tmp_path / "taken").mkdir()
    with pytest.raises(FileExistsError):
        outputs.rename_noreplace(tmp_path / "w", tmp_path / "taken")
    outputs.rename_noreplace(tmp_path / "w", tmp_path / "free")
    assert (tmp_path / "free").is_dir() and (tmp_path / "taken").is_dir()


# -- the lock and the sidecar: by resolved path, never through a link ----------------------
def test_a_pull_through_a_symlink_waits_for_a_pull_of_the_real_path(sim_factory, arc, tmp_path):
    """Two pulls, one through a symbolic link to the archive, one of the real path: the
    second exits 6 (they used to run side by side, each with its own lock file)."""
    sim = sim_factory(latency_ms=300)
    link = tmp_path / "link.sqlite3"
    link.symlink_to(arc)
    what = ["--dataset", "queue", "--from", "20250201", "--to", "20250201", "--workers", "1"]
    env = dict(os.environ, ARCHIVER_CLIENT_ID="archiver-demo", ARCHIVER_CLIENT_SECRET="demo-secret")
    first = subprocess.Popen(
        [sys.executable, "-m", "archiver", *pull_args(sim, arc, *what)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 120
        while locks.busy(arc) is None:
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the first pull never took the lock"
            time.sleep(0.05)
        second = run_cli(*pull_args(sim, link, *what))
        assert second.code == 6, second.err
        assert second.err.startswith("archive busy: pull running since"), second.err
    finally:
        first.communicate(timeout=300)
    assert first.returncode == 0
    assert not (tmp_path / "link.sqlite3.lock").exists()
    assert not (tmp_path / "link.sqlite3.checkpoints").exists()


def test_lock_and_sidecar_are_named_from_the_resolved_path(arc, tmp_path):
    link = tmp_path / "elsewhere" / "link.sqlite3"
    link.parent.mkdir()
    link.symlink_to(arc)
    assert locks.lock_path(link) == locks.lock_path(arc) == outputs.lock_path(arc)
    assert outputs.sidecar_path(tmp_path / "x" / ".." / "a.sqlite3") == outputs.sidecar_path(arc)
    with locks.acquire(arc):
        with pytest.raises(locks.ArchiveBusy):
            locks.acquire(link, seconds=0.1)
    with locks.acquire(link):
        assert locks.busy(arc) is not None
    out = run_cli("verify-archive", "--archive", link)
    assert out.code == 0, out.err
    assert f"Checkpoint appended to {outputs.sidecar_path(arc)}" in out.out
    assert not (link.parent / "link.sqlite3.checkpoints").exists()


@pytest.mark.parametrize("how", ["symbolic link", "hard link", "FIFO", "not a lock file"])
def test_a_lock_file_that_is_not_ours_is_refused_and_the_archive_kept(sim, arc, how):
    """A lock file linked to the archive used to be emptied by the lock's release: a pull
    left a 0-byte archive."""
    lock = outputs.lock_path(arc)
    lock.unlink(missing_ok=True)
    if how == "symbolic link":
        lock.symlink_to(arc.name)
    elif how == "hard link":
        os.link(arc, lock)
    elif how == "FIFO":
        os.mkfifo(lock)
    else:
        lock.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    before = _digest(arc)
    out = run_cli(*pull_args(sim, arc, *PULL))
    assert out.code == 1, out.err
    assert "the lock file" in out.err
    assert _digest(arc) == before
    assert run_cli("verify-archive", "--archive", arc, "--read-only").code == 0


@pytest.mark.parametrize("how", ["symbolic link", "hard link", "FIFO"])
def test_a_sidecar_that_is_not_ours_is_never_appended_to(sim, arc, how):
    side = outputs.sidecar_path(arc)
    side.unlink()
    if how == "symbolic link":
        side.symlink_to(arc.name)
    elif how == "hard link":
        os.link(arc, side)
    else:
        os.mkfifo(side)
    out = run_cli(
        *pull_args(sim, arc, "--dataset", "queue", "--from", "20250201", "--to", "20250201")
    )
    assert out.code == 0, out.err
    assert "was not written" in out.out + out.err
    conn = sqlite3.connect(arc)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    check = run_cli("verify-archive", "--archive", arc, "--read-only")
    assert check.code == 0 and "sidecar" in check.out, check.out


# -- the archive itself: verify-archive and pull refuse what is not one --------------------
def _not_an_archive(kind: str, d: Path) -> Path:
    p = d / "x.sqlite3"
    if kind == "empty":
        p.write_bytes(b"")
    elif kind == "text":
        p.write_text("hello\n")
    elif kind == "FIFO":
        os.mkfifo(p)
    elif kind == "device (/dev/zero)":
        make_device(p, 5)
    elif kind == "directory":
        p.mkdir()
    elif kind == "foreign SQLite":
        conn = sqlite3.connect(p)
        conn.execute("CREATE TABLE places (url TEXT)")
        conn.execute("INSERT INTO places VALUES ('https://example.org')")
        conn.commit()
        conn.close()
    elif kind == "empty SQLite":
        conn = sqlite3.connect(p)
        conn.execute("PRAGMA user_version=0")
        conn.execute("CREATE TABLE t (x)")
        conn.execute("DROP TABLE t")
        conn.commit()
        conn.close()
    return p


NOT_ARCHIVES = [
    "empty",
    "text",
    "FIFO",
    "device (/dev/zero)",
    "directory",
    "foreign SQLite",
    "empty SQLite",
]


@pytest.mark.parametrize("kind", NOT_ARCHIVES)
@pytest.mark.parametrize("read_only", [False, True])
def test_verify_archive_refuses_what_is_not_an_archive(tmp_path, kind, read_only):
    p = _not_an_archive(kind, tmp_path)
    before = snapshot(tmp_path)
    out = run_cli("verify-archive", "--archive", p, *(["--read-only"] if read_only else []))
    assert out.code == 2, (out.out, out.err)
    assert "OK" not in out.out and "not an archive" in out.err, out.err
    assert snapshot(tmp_path) == before  # unchanged, no sidecar, no lock, no backup


def test_verify_archive_refuses_dev_zero_and_a_missing_file(tmp_path):
    out = run_cli("verify-archive", "--archive", "/dev/zero")
    assert out.code == 2 and "character device" in out.err, out.err
    missing = tmp_path / "missing.sqlite3"
    out = run_cli("verify-archive", "--archive", missing)
    assert out.code == 2 and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", [k for k in NOT_ARCHIVES if k != "FIFO"])
def test_pull_refuses_what_is_not_an_archive(sim, tmp_path, kind):
    p = _not_an_archive(kind, tmp_path)
    before = snapshot(tmp_path)
    out = run_cli(*pull_args(sim, p, *PULL))
    assert out.code == 1, out.err
    assert str(p) in out.err and "cannot open the archive" in out.err
    assert snapshot(tmp_path) == before  # no lock file, no sidecar, nothing written


def test_pull_into_a_fifo_is_refused_at_once(sim, tmp_path):
    """It used to hang (SQLite reading a pipe nobody writes to): a real process, stopped
    after a minute if it hangs."""
    fifo = tmp_path / "x.sqlite3"
    os.mkfifo(fifo)
    env = dict(os.environ, ARCHIVER_CLIENT_ID="archiver-demo", ARCHIVER_CLIENT_SECRET="demo-secret")
    done = subprocess.run(
        [sys.executable, "-m", "archiver", *pull_args(sim, fifo, *PULL)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 1 and "FIFO" in done.stderr, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.sqlite3"]


def test_a_new_archive_appears_whole(tmp_path):
    """A new archive is made under a temporary name and linked into place: no 0-byte file
    is ever seen at its path, no temporary file is left."""
    with Archive(tmp_path / "n.sqlite3") as a:
        assert a.conn.execute("SELECT value FROM meta WHERE key='archive_id'").fetchone()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n.sqlite3"]
    assert (tmp_path / "n.sqlite3").stat().st_nlink == 1
    with pytest.raises(FileNotFoundError):
        Archive(tmp_path / "m.sqlite3", create=False)
    assert not (tmp_path / "m.sqlite3").exists()


# -- the app's own files -----------------------------------------------------------------------
def test_a_key_file_is_never_written_or_tightened_through_a_link(arc, tmp_path):
    keys = tmp_path / "keys"
    keys.mkdir()
    elsewhere = tmp_path / "elsewhere.txt"
    (keys / "key.pem").symlink_to(elsewhere)  # dangling: the key would be written there
    env = {"ARCHIVER_KEY_PASSPHRASE": "pass phrase"}
    out = run_cli("keys", "create", "--key-dir", keys, env=env)
    assert out.code == 1 and "symbolic link" in out.err and not elsewhere.exists(), out.err
    (keys / "key.pem").unlink()
    made = run_cli("keys", "create", "--key-dir", keys, env=env)
    assert made.code == 0, made.err
    # a key file replaced by a link to someone's 0644 file: read nowhere, chmod'ed never
    theirs = tmp_path / "theirs.pem"
    theirs.write_text("not a key")
    theirs.chmod(0o644)
    (keys / "key.pem").unlink()
    (keys / "key.pem").symlink_to(theirs)
    shown = run_cli("keys", "show", "--key-dir", keys)
    assert shown.code == 0
    assert stat.S_IMODE(theirs.stat().st_mode) == 0o644
    export = run_cli(*_export(arc, tmp_path / "b", keys), env=env)
    assert export.code == 4 and "symbolic link" in export.err, export.err
    assert theirs.read_text() == "not a key" and not (tmp_path / "b").exists()


def test_a_log_file_is_never_written_through_a_link(tmp_path):
    state = tmp_path / "state"
    logdir = state / "archiver" / "log"
    logdir.mkdir(parents=True)
    theirs = tmp_path / "theirs.txt"
    theirs.write_text("theirs\n")
    theirs.chmod(0o644)
    (logdir / "archiver-cli.log").symlink_to(theirs)
    out = run_cli(
        "coverage", "--archive", tmp_path / "none.sqlite3", env={"XDG_STATE_HOME": str(state)}
    )
    assert out.code == 2
    assert theirs.read_text() == "theirs\n" and stat.S_IMODE(theirs.stat().st_mode) == 0o644


def test_an_archive_named_like_the_log_is_never_appended_to(arc, tmp_path):
    state = tmp_path / "state"
    logdir = state / "archiver" / "log"
    logdir.mkdir(parents=True)
    log = logdir / "archiver-cli.log"
    shutil.copyfile(arc, log)
    before = _digest(log)
    out = run_cli("coverage", "--archive", log, env={"XDG_STATE_HOME": str(state)})
    assert out.code == 0, out.err
    assert _digest(log) == before


def test_schedule_never_replaces_or_removes_a_unit_it_did_not_write(tmp_path, monkeypatch):
    from archiver.system import schedule as system

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    where = system.unit_dir()
    where.mkdir(parents=True)
    theirs = "[Unit]\nDescription=someone's own archiver-pull\n"
    (where / system.SERVICE).write_text(theirs)
    assert system.not_ours()
    done = system.remove(enable=False)
    assert not done.ok and (where / system.SERVICE).read_text() == theirs
    s = system.Schedule(tmp_path / "a.sqlite3", "c", base_url="http://127.0.0.1:1")
    done = system.install_units(s, enable=False)
    assert not done.ok and (where / system.SERVICE).read_text() == theirs
    (where / system.SERVICE).unlink()
    (where / system.TIMER).symlink_to(tmp_path / "dotfiles.timer")
    assert any("symbolic link" in why for why in system.not_ours())
    assert not system.install_units(s, enable=False).ok
    assert not (tmp_path / "dotfiles.timer").exists() and (where / system.TIMER).is_symlink()
    (where / system.TIMER).unlink()
    done = system.install_units(s, enable=False)  # ours to write, and to replace later
    assert done.ok, done.lines
    assert system.install_units(s, enable=False).ok
    assert system.remove(enable=False).ok and not list(where.iterdir())
