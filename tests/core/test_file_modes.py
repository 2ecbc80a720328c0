"""Files private by default: what archiver creates is 0600 in 0700 folders (umask 077 at the
start of each command), an old key file is tightened, and input limits say what is wrong.

The commands run in-process through ``archiver.cli.main.main`` (tests/clitools.run_cli), as
the process would: it sets the umask itself; the suite's umask (022) comes back after each
test."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import sys
from pathlib import Path

import pytest

from tests.clitools import CliResult, run_cli


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("ARCHIVER_CLIENT_ID", "archiver-demo")
    monkeypatch.setenv("ARCHIVER_CLIENT_SECRET", "demo-secret")
    monkeypatch.setenv("ARCHIVER_KEY_PASSPHRASE", "a-test-passphrase-long-enough")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    os.umask(0o022)  # what a user's shell usually has


def pull(sim, arc: Path | None, *more: str) -> CliResult:
    args = ["pull", "--base-url", sim.base_url, "--retry-initial", "0.01"]
    args += ["--archive", str(arc)] if arc else []
    return run_cli(
        *args,
        "--dataset",
        "interactionSegments",
        "--dataset",
        "workflowTrace",
        *more,
        "--from",
        "2025-02-01",
        "--to",
        "2025-02-01",
        "--json",
    )


def test_archive_backup_exports_bundle_and_keys_are_private(env, sim, tmp_path):
    arc = tmp_path / "a.sqlite3"
    assert pull(sim, arc).code == 0
    assert mode(arc) == 0o600
    conn = sqlite3.connect(arc)  # the test's umask is 022: -wal/-shm follow the archive
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("SELECT count(*) FROM pages").fetchone()
    for suffix in ("-wal", "-shm"):
        assert mode(Path(f"{arc}{suffix}")) == 0o600, suffix
    conn.close()

    assert run_cli("backup", "--archive", arc, "--out", tmp_path / "b.sqlite3").code == 0
    assert mode(tmp_path / "b.sqlite3") == 0o600
    out = tmp_path / "x.csv"
    exported = run_cli(
        "export-dataset", "--archive", arc, "--dataset", "interactionSegments", "--format", "csv",
        "--out", out,
    )  # fmt: skip
    assert exported.code == 0
    assert mode(out) == 0o600

    keys = tmp_path / "signing"
    assert run_cli("keys", "create", "--key-dir", keys).code == 0
    assert mode(keys) == 0o700 and mode(keys / "key.pem") == 0o600
    bundle = tmp_path / "bundle"  # of two hours: a whole day's report takes seconds more
    written = run_cli(
        "export", "--archive", arc, "--from", "2025-02-01T04:00", "--to", "2025-02-01T05:45",
        "--key-dir", keys, "--out", bundle, "--zip",
    )  # fmt: skip
    assert written.code == 0, written.stderr
    made = [bundle, *bundle.rglob("*"), Path(f"{bundle}.zip")]
    assert len(made) > 5
    wide = {str(p): oct(mode(p)) for p in made if mode(p) & 0o077}
    assert not wide, wide


def test_an_old_key_file_is_tightened(env, tmp_path):
    keys = tmp_path / "signing"
    assert run_cli("keys", "create", "--key-dir", keys).code == 0
    os.chmod(keys / "key.pem", 0o644)  # as an earlier version left it
    assert run_cli("keys", "show", "--key-dir", keys).code == 0
    assert mode(keys / "key.pem") == 0o600


def test_the_apps_own_folders_are_0700(env, sim, tmp_path):
    data = tmp_path / "xdg-data" / "archiver"
    data.mkdir(parents=True, mode=0o755)
    os.chmod(data, 0o755)  # as an earlier version left it
    assert pull(sim, None).code == 0  # the default archive
    assert mode(data) == 0o700 and mode(data / "archive.sqlite3") == 0o600


# -- input limits -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("more", "says"),
    [
        (["--workers", "0"], "between 1 and 32"),
        (["--workers", "100000"], "between 1 and 32"),
        (["--from", "0001-01-01", "--to", "2025-01-01"], "years before 2000"),
        (["--from", "2025-01-01", "--to", "3000-01-01"], "after 2999"),
        (["--from", "2025-01-01", "--to", "9999-12-31"], "not a date"),
        (["--from", "2010-01-01", "--to", "2021-06-01"], "longer than 10 years"),
        (["--incremental", "--from", "2001-01-01"], "longer than 10 years"),
        (["--max-body-mb", "0", "--from", "2025-01-01", "--to", "2025-01-01"], "--max-body-mb"),
        (["--request-deadline", "0", "--from", "2025-01-01", "--to", "2025-01-01"], "deadline"),
    ],
)
def test_input_limits_are_usage_errors(env, sim, tmp_path, more, says):
    arc = tmp_path / "a.sqlite3"
    base = ["pull", "--base-url", sim.base_url, "--archive", str(arc), "--dataset", "queue"]
    if "--from" not in more and "--incremental" not in more:
        more = [*more, "--from", "2025-01-01", "--to", "2025-01-01"]
    refused = run_cli(*base, *more)
    err = refused.stderr
    assert refused.code == 2, err
    assert says in err and "unexpected error" not in err


def test_a_missing_archive_folder_is_refused_unless_asked(env, sim, tmp_path):
    arc = tmp_path / "no" / "such" / "dir" / "x.sqlite3"
    refused = pull(sim, arc)
    assert refused.code == 2 and "does not exist" in refused.stderr
    assert not (tmp_path / "no").exists()
    assert pull(sim, arc, "--create-dirs").code == 0
    assert mode(arc.parent) == 0o700 and mode(arc) == 0o600


# -- the log files and the archive's lock (merged with the unattended work) ---------------
def test_cli_log_lock_file_and_checkpoints_of_a_pull_are_private(env, sim, tmp_path):
    arc = tmp_path / "a.sqlite3"
    assert pull(sim, arc).code == 0
    lock = tmp_path / "a.sqlite3.lock"
    log = tmp_path / "xdg-state" / "archiver" / "log" / "archiver-cli.log"
    assert mode(lock) == 0o600 and mode(tmp_path / "a.sqlite3.checkpoints") == 0o600
    assert mode(log) == 0o600 and mode(log.parent) == 0o700
    assert "exit code 0" in log.read_text(encoding="utf-8")


def test_log_files_and_lock_are_private_whatever_the_umask(env, tmp_path):
    """Made 0600 (0700 folders) by archiver.logs and the lock themselves, not only by the
    umask the command sets: a test, a library caller or the app before its umask."""
    from archiver import logs
    from archiver.system import lock as locks

    os.umask(0o022)
    log_dir = tmp_path / "xdg-state" / "archiver" / "log"
    log_dir.mkdir(parents=True, mode=0o755)
    old = log_dir / "archiver-cli.log.1"
    old.write_text("an earlier version's rotated log\n")
    os.chmod(old, 0o644)
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        path = logs.setup("cli")
        assert path == log_dir / "archiver-cli.log"
        logging.getLogger("x").warning("hello")
        assert mode(path) == 0o600 and mode(log_dir) == 0o700 and mode(old) == 0o600
        (handler,) = [h for h in root.handlers if h not in before]
        handler.doRollover()  # type: ignore[attr-defined]
        logging.getLogger("x").warning("after the rollover")
        assert mode(path) == 0o600 and mode(log_dir / "archiver-cli.log.1") == 0o600
    finally:
        for h in root.handlers[:]:
            if h not in before:
                root.removeHandler(h)
                h.close()
    with locks.acquire(tmp_path / "b.sqlite3") as held:
        assert mode(held.path) == 0o600


def test_checkpoint_sidecar_is_private_whatever_the_umask(tmp_path):
    """The checkpoint sidecar (archive.checkpoint.append_sidecar) is created 0600 even
    under umask 022 (a library caller that never set the app's umask)."""
    from archiver.archive import checkpoint
    from archiver.archive.store import Archive

    os.umask(0o022)
    arc = tmp_path / "c.sqlite3"
    with Archive(arc) as a:
        rec = checkpoint.record(a, "test")
    assert rec.sidecar_error is None
    assert mode(rec.sidecar) == 0o600 and rec.sidecar == checkpoint.sidecar_path(arc)


def test_log_records_are_terminal_safe():
    """A server's words in a log line: control characters escaped, and a newline too, so no
    line can be forged or hidden; a traceback keeps its line breaks."""
    from archiver.logs import FORMAT, SafeFormatter

    fmt = SafeFormatter(FORMAT)
    evil = "\x1b]0;pwned\x07\x1b[2Jok\r\n2025-01-01 00:00:00 INFO forged line \u202egnp.exe"
    rec = logging.LogRecord(
        "archiver.x", logging.WARNING, __file__, 1, "chunk failed: %s", (evil,), None
    )
    line = fmt.format(rec)
    assert "\n" not in line and "\x1b" not in line and "\r" not in line and "\u202e" not in line
    assert "\\x1b]0;pwned\\x07\\x1b[2Jok\\x0d\\n2025-01-01" in line and "\\u202e" in line
    try:
        raise ValueError(evil)
    except ValueError:
        rec = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom", (), sys.exc_info())
    text = fmt.format(rec)
    assert text.count("\n") >= 2 and "\n  Traceback" in text  # its own lines, indented
    assert "\x1b" not in text and "\r" not in text and "\\x1b]0;pwned" in text
    assert "\n2025-01-01" not in text  # the message's newline starts no record of its own
