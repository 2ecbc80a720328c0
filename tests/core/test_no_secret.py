"""Server text carries no secret (issue 18 §8).

A server that echoes our bearer tokens (the current one and earlier ones) and the client
secret, in a 400 detail, a 403, a 500 body, a 202 body, a redirect's Location header, a
garbled page and in the values of real pages (tests/echo.py): before the change the token
was stored in the archive (coverage message, audit log, runs), the CLI log, ``--json`` and
twice in a signed PDF. Now a grep of every file written (the archive and its WAL, page
bodies decompressed, the sidecar, the logs, the exports, the backup, the bundle folder and
zip and the PDF's text), of stdout and stderr and of ``--json`` finds none, while the
archive shows ``[redacted]`` where each was, and its audit log records what was received.
"""

from __future__ import annotations

import io
import json
import sqlite3
import zipfile
import zlib
from pathlib import Path

import pytest
from pypdf import PdfReader

from archiver.api import Credentials, HistoricalClient, Query, Tenant
from archiver.api.errors import BadRequestError
from archiver.api.redaction import MARK, Redactor
from archiver.simulator import SimConfig
from tests.clitools import CliResult, run_cli
from tests.conftest import utc
from tests.echo import ECHOED, EchoSimulator

SECRET = "S3cret/echo&canary<91>"  # '/', '&', '<', '>': escaped differently by JSON writers
PASSPHRASE = "pass-for-the-echo-test"


@pytest.fixture
def echo():
    sim = EchoSimulator(SimConfig(rows_per_interval=2, client_secret=SECRET, token_ttl=4))
    sim.start()
    yield sim
    sim.stop()


def forms(secret: str) -> set[bytes]:
    """Every way a credential could sit in a file: as is and as JSON would escape it."""
    out = {secret, json.dumps(secret)[1:-1], json.dumps(secret).replace("/", "\\/")[1:-1]}
    out.add(json.dumps(secret, ensure_ascii=False)[1:-1].replace("&", "\\u0026"))
    return {f.encode() for f in out}


def readable(path: Path) -> list[bytes]:
    """A file's bytes and what it holds that a grep would not see: the pages (and any
    other zlib body) of an archive, the members of a zip, the text of a PDF."""
    data = path.read_bytes()
    out = [data]
    if data.startswith(b"SQLite format 3"):
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            for (body,) in conn.execute("SELECT body FROM pages WHERE encoding='zlib'"):
                out.append(zlib.decompress(body))
        except sqlite3.DatabaseError:
            pass  # not an archive (the bundle's scratch index): its bytes were read
        conn.close()
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as z:
            for name in z.namelist():
                member = z.read(name)
                out.append(member)
                if name.endswith(".pdf"):
                    out.append(pdf_text(member).encode())
    if path.suffix == ".pdf":
        out.append(pdf_text(data).encode())
    return out


def pdf_text(data: bytes) -> str:
    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)


def cli(*args: object, env: dict[str, str | None]) -> CliResult:
    return run_cli(*map(str, args), env=env)


def test_no_credential_reaches_a_file_or_the_screen(echo, tmp_path):
    arc = tmp_path / "a.sqlite3"
    env: dict[str, str | None] = {
        "ARCHIVER_CLIENT_ID": echo.config.client_id,
        "ARCHIVER_CLIENT_SECRET": SECRET,
        "ARCHIVER_KEY_PASSPHRASE": PASSPHRASE,
        "XDG_STATE_HOME": str(tmp_path / "state"),  # the command line's log
    }
    sets = [a for d in ECHOED for a in ("--dataset", d)]
    pull = ["pull", "--base-url", echo.base_url, "--archive", arc, *sets, "--workers", "2"]
    pull += ["--from", "202502010000", "--to", "202502010045", "--retry-initial", "0.01"]
    results = [
        cli(*pull, "--json", env=env),
        cli(*pull, env=env),  # again, with the text summary (a new token: earlier ones echo)
        cli("verify-archive", "--archive", arc, "--json", env=env),
        cli("verify-archive", "--archive", arc, env=env),
        cli("coverage", "--archive", arc, env=env),
        cli("coverage", "--archive", arc, "--json", env=env),
    ]
    for fmt in ("csv", "jsonl"):
        out = tmp_path / f"segments.{fmt}"
        results.append(
            cli(
                "export-dataset",
                "--archive",
                arc,
                "--dataset",
                "interactionSegments",
                "--format",
                fmt,
                "--out",
                out,
                env=env,
            )
        )
    results.append(cli("backup", "--archive", arc, "--out", tmp_path / "backup.sqlite3", env=env))
    for zipped in ((), ("--zip",)):
        results.append(
            cli(
                "export",
                "--archive",
                arc,
                "--from",
                "20250201",
                "--to",
                "20250201",
                "--out",
                tmp_path / f"bundle{len(zipped)}",
                *zipped,
                "--key-dir",
                tmp_path / "keys",
                env=env,
            )
        )
    results.append(cli("verify", tmp_path / "bundle0", "--key-dir", tmp_path / "keys", env=env))
    assert [r.code for r in results[:2]] == [3, 3], results[1].out + results[1].err
    assert all(r.code == 0 for r in results[2:]), [(r.args[0], r.code, r.err) for r in results]

    credentials = [SECRET, *echo.issued]
    assert len(echo.seen) >= 2  # earlier tokens were echoed too
    secrets = {f for c in credentials for f in forms(c)}
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".pdf" for p in files) and any(p.suffix == ".zip" for p in files)
    assert any(p.name == "archiver-cli.log" for p in files)
    seen = [(str(p), text) for p in files for text in readable(p)]
    seen += [(" ".join(r.args), (r.out + r.err).encode()) for r in results]
    leaks = [(where, s) for where, text in seen for s in secrets if s in text]
    assert not leaks, leaks[:5]

    # what the archive says instead: [redacted] where each was, and what was received
    conn = sqlite3.connect(arc)
    messages = " ".join(m for (m,) in conn.execute("SELECT message FROM coverage") if m)
    for status in ("400 Bad Request", "403 Forbidden", "HTTP 500", "redirected"):
        assert status in messages
    assert messages.count(MARK) >= 4
    (notes,) = conn.execute(
        'SELECT "INTERACTION_NOTES" FROM vals_interactionSegments LIMIT 1'
    ).fetchone()
    assert notes.startswith("caller said: tokens [redacted]") and "secret=[redacted]" in notes
    entries = [
        json.loads(d)
        for (d,) in conn.execute("SELECT details FROM audit_log WHERE event='credentials redacted'")
    ]
    # 403s are archived (the refusal's evidence, issue 18 §1): the agentAux one held them too
    assert {e["http_status"] for e in entries} == {200, 202, 403}
    assert all(len(e["received_sha256"]) == 64 and e["replaced"] >= 2 for e in entries), entries
    assert any("quarantine_id" in e for e in entries)  # the garbled page, kept redacted
    pages_202 = conn.execute(
        "SELECT count(*) FROM pages WHERE http_status=202 AND dataset='mpccdr'"
    ).fetchone()[0]
    assert pages_202 and any(e.get("page_id") for e in entries if e["http_status"] == 202)
    conn.close()
    report = pdf_text((tmp_path / "bundle0" / "data" / "report.pdf").read_bytes())
    assert MARK in report


def test_a_redacted_page_is_stored_as_redacted_and_verifies(echo, tmp_path):
    """The bytes kept are the redacted ones, hashed and chained as any page; what was
    received is in the audit log by its SHA-256 and size (docs/archive-format.md)."""
    arc = tmp_path / "a.sqlite3"
    env = {"ARCHIVER_CLIENT_ID": echo.config.client_id, "ARCHIVER_CLIENT_SECRET": SECRET}
    r = cli(
        "pull",
        "--base-url",
        echo.base_url,
        "--archive",
        arc,
        "--dataset",
        "interactionSegments",
        "--from",
        "202502010000",
        "--to",
        "202502010045",
        env=env,
    )
    assert r.code == 0, r.out + r.err
    conn = sqlite3.connect(arc)
    (body, size) = conn.execute("SELECT body, size FROM pages LIMIT 1").fetchone()
    raw = zlib.decompress(body)
    assert len(raw) == size and MARK.encode() in raw and b"eyJ" not in raw
    (details,) = conn.execute(
        "SELECT details FROM audit_log WHERE event='credentials redacted' LIMIT 1"
    ).fetchone()
    d = json.loads(details)
    assert d["page_id"] == 1 and d["received_size"] != size and d["http_status"] == 200
    conn.close()
    assert cli("verify-archive", "--archive", arc, env=env).code == 0


def test_the_client_redacts_earlier_tokens_and_the_secret_in_an_error(echo):
    redactor = Redactor()  # a provider of its own: only what it was told is known
    client = HistoricalClient(
        Tenant.from_base_url(echo.base_url), Credentials(echo.config.client_id, SECRET)
    )
    client.tokens.redactor = redactor
    redactor.remember(SECRET)
    window = (utc(2025, 2, 1), utc(2025, 2, 1, 0, 45))
    client.fetch(Query("workflowTrace", *window))  # sent with a first token
    first = client.tokens.get()
    redactor.remember(first)
    client.tokens.invalidate(first)  # a second token: the first is an earlier one now
    redactor.remember(client.tokens.get())
    with pytest.raises(BadRequestError) as err:
        client.fetch(Query("agent", *window))
    text = str(err.value)
    assert len(echo.seen) == 2 and first in echo.seen
    assert echo.seen[0] not in text and echo.seen[1] not in text and SECRET not in text
    assert text.count(MARK) >= 3


def test_short_credentials_are_not_searched_for():
    r = Redactor()
    r.remember("abc")
    assert r.text("abc abc") == "abc abc"
    r.remember("a-long-secret")
    assert r.text('x a-long-secret "a-long-secret"') == f'x {MARK} "{MARK}"'
    assert r.data(b"no") == (b"no", 0)
    assert "a-long-secret" not in repr(r)
