"""`archiver pull` against a hostile server (tests/hostile.py, loopback only).

Each attack ends with the chunk failed, the message naming the cause, the pulling process's
peak RSS under 300 MB and `verify-archive` green. The pull runs as a real subprocess so its
peak RSS is its own (tests/rss_main.py reports the child's VmHWM).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.hostile import ESCAPES, Hostile

#: every attack runs the pull and verify-archive as processes, to measure their memory
pytestmark = pytest.mark.slow

RSS_LIMIT_MB = 300
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    rss_mb: float
    seconds: float


def run_measured(args: list[str], tmp_path: Path, timeout: float = 240) -> Outcome:
    """Run ``archiver ARGS`` in a subprocess; its exit code, output and peak RSS (MB). Its
    log files (archiver-cli.log) go to ``tmp_path/state``."""
    env = dict(
        os.environ,
        ARCHIVER_CLIENT_ID="hostile-client",
        ARCHIVER_CLIENT_SECRET="hostile-secret",
        PYTHONPATH=str(ROOT),
        XDG_STATE_HOME=str(tmp_path / "state"),
    )
    out, err, rss = tmp_path / "stdout", tmp_path / "stderr", tmp_path / "rss"
    started = time.monotonic()
    with out.open("wb") as o, err.open("wb") as e:
        try:
            proc = subprocess.run(
                [sys.executable, str(ROOT / "tests" / "rss_main.py"), str(rss), *args],
                stdout=o,
                stderr=e,
                env=env,
                cwd=ROOT,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"archiver {args[0]} did not finish in {timeout} s")
    return Outcome(
        proc.returncode,
        out.read_text(encoding="utf-8", errors="replace"),
        err.read_text(encoding="utf-8", errors="replace"),
        int(rss.read_text()) / 1024,
        time.monotonic() - started,
    )


def pull(server: Hostile, tmp_path: Path, *more: str) -> tuple[Outcome, Path]:
    arc = tmp_path / "a.sqlite3"
    outcome = run_measured(
        [
            "pull",
            "--base-url",
            server.base_url,
            "--archive",
            str(arc),
            "--dataset",
            "queue",
            "--from",
            "202502010000",
            "--to",
            "202502010045",
            "--workers",
            "1",
            "--retry-initial",
            "0.01",
            *more,
        ],
        tmp_path,
    )
    return outcome, arc


def verify_ok(arc: Path, tmp_path: Path) -> None:
    v = run_measured(["verify-archive", "--archive", str(arc)], tmp_path)
    assert v.code == 0, v.stdout + v.stderr


def chunk_states(arc: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(arc)
    try:
        return list(conn.execute("SELECT state, message FROM coverage"))
    finally:
        conn.close()


def quarantined(arc: Path) -> list[tuple[int, int, str]]:
    conn = sqlite3.connect(arc)
    try:
        return list(conn.execute("SELECT http_status, length(body), error FROM quarantine"))
    finally:
        conn.close()


def report(name: str, o: Outcome, message: str) -> None:
    """One line per attack for the closing note (shown with pytest -s)."""
    print(
        f"\nATTACK {name}: exit {o.code}, peak RSS {o.rss_mb:.0f} MB, {o.seconds:.1f} s: {message}"
    )


def failed_message(arc: Path) -> str:
    states = chunk_states(arc)
    assert [s for s, _ in states] == ["failed"], states
    return states[0][1]


# -- the attacks --------------------------------------------------------------------------
def test_gzip_bomb_stops_at_the_body_limit(tmp_path):
    with Hostile("gzip_bomb") as server:
        o, arc = pull(server, tmp_path)
    msg = failed_message(arc)
    report("gzip bomb (1.5 GB unpacked)", o, msg)
    assert o.code == 1, o.stderr
    assert "16 MB body limit" in msg and "after decompression" in msg and "--max-body-mb" in msg
    assert "16 MB body limit" in o.stdout
    assert o.rss_mb < RSS_LIMIT_MB
    [(status, size, error)] = quarantined(arc)
    assert status == 200 and size == 1_048_576 and "body limit" in error
    assert server.sent < 2_000_000  # the compressed stream was not read to its end
    verify_ok(arc, tmp_path)


def test_huge_body_stops_at_the_body_limit(tmp_path):
    with Hostile("huge") as server:
        o, arc = pull(server, tmp_path)
    msg = failed_message(arc)
    report("huge body (1.1 GB)", o, msg)
    assert o.code == 1, o.stderr
    assert "16 MB body limit" in msg and "in the body" in msg
    assert "announced 1,100,000,000 bytes" in msg
    assert "Could not write the archive" not in o.stdout + o.stderr
    assert o.rss_mb < RSS_LIMIT_MB
    [(status, size, _)] = quarantined(arc)
    assert status == 200 and size == 1_048_576
    verify_ok(arc, tmp_path)


def test_a_lower_body_limit_is_honoured(tmp_path):
    with Hostile("huge") as server:
        o, arc = pull(server, tmp_path, "--max-body-mb", "2")
    msg = failed_message(arc)
    assert o.code == 1 and "2 MB body limit" in msg
    [(_, size, _)] = quarantined(arc)
    assert size == 1_048_576
    verify_ok(arc, tmp_path)


def test_trickle_is_stopped_by_the_request_deadline(tmp_path):
    # five bytes a second: the per-read timeout (60 s) never fires; the deadline (its
    # shortest allowed, 1 s) does
    with Hostile("trickle", trickle_every=0.2) as server:
        o, arc = pull(server, tmp_path, "--request-deadline", "1")
    msg = failed_message(arc)
    report("trickle (5 bytes/s, --request-deadline 1)", o, msg)
    assert o.code == 1, o.stderr
    assert "1 s request deadline" in msg and "--request-deadline" in msg
    assert o.seconds < 30
    assert o.rss_mb < RSS_LIMIT_MB
    [(status, size, _)] = quarantined(arc)
    assert status == 200 and 1 <= size <= 8  # what trickled in before the deadline
    verify_ok(arc, tmp_path)


def test_endless_page_tokens_stop_at_the_page_limit(tmp_path):
    with Hostile("endless") as server:
        o, arc = pull(server, tmp_path, "--max-pages-per-chunk", "40")
    msg = failed_message(arc)
    report("endless page tokens (--max-pages-per-chunk 40)", o, msg)
    assert o.code == 1, o.stderr
    assert "limit of 40 pages per chunk" in msg and "--max-pages-per-chunk" in msg
    assert server.requests == 40
    assert o.rss_mb < RSS_LIMIT_MB
    conn = sqlite3.connect(arc)
    assert conn.execute("SELECT count(*) FROM pages").fetchone()[0] == 40
    conn.close()
    verify_ok(arc, tmp_path)


def test_duplicate_column_names_are_a_validation_error(tmp_path):
    with Hostile("dup_columns") as server:
        o, arc = pull(server, tmp_path)
    msg = failed_message(arc)
    report("duplicate column names", o, msg)
    assert o.code == 1, o.stderr
    assert "repeats the column name 'ROW_ID'" in msg
    assert o.rss_mb < RSS_LIMIT_MB
    assert len(quarantined(arc)) == 4  # the first try and three retries, each kept
    conn = sqlite3.connect(arc)
    assert conn.execute("SELECT count(*) FROM records").fetchone()[0] == 0
    conn.close()
    verify_ok(arc, tmp_path)


def test_escape_sequences_in_an_error_never_reach_the_terminal(tmp_path):
    with Hostile("escape_400") as server:
        o, arc = pull(server, tmp_path)
    msg = failed_message(arc)
    assert ESCAPES in msg  # the archive keeps the server's words as they were
    shown = o.stdout + o.stderr
    report("escape sequences in a 400 detail", o, repr(shown.splitlines()[-1]))
    assert o.code == 1
    for raw in ("\x1b", "\x07", "\x9b", "\r"):
        assert raw not in shown
    assert "\\x1b]0;pwned\\x07\\x1b[2J" in shown  # shown, escaped
    assert o.rss_mb < RSS_LIMIT_MB
    # the command line's log file (made after the streams are wrapped) escapes them too
    log = (tmp_path / "state" / "archiver" / "log" / "archiver-cli.log").read_text("utf-8")
    for raw in ("\x1b", "\x07", "\x9b", "\r"):
        assert raw not in log
    assert "\\x1b]0;pwned\\x07\\x1b[2J" in log and "exit code 1" in log
    verify_ok(arc, tmp_path)


def test_json_summary_escapes_too(tmp_path):
    with Hostile("escape_400") as server:
        o, _ = pull(server, tmp_path, "--json")
    assert "\x1b" not in o.stdout + o.stderr
    assert ESCAPES in json.dumps(json.loads(o.stdout)) or "\\u001b" in o.stdout
