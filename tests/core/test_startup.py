"""Quiet and quick to start: every command's --help and --version print no warning (with
Python's default warning settings), and start-up imports only what the command uses.

Real processes, on purpose: what is imported at start-up and what a fresh interpreter warns
about are only seen in a process of their own. The timings are benchmarks/startup.py's (a
benchmark prints figures; a test asserts what can be asserted without a clock)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.clitools import command_words, group_words

ROOT = Path(__file__).resolve().parents[2]
#: what no start-up may load: the signing, PDF and async HTTP stacks and Qt
HEAVY = {"pyhanko", "reportlab", "aiohttp", "PySide6"}
#: what `archiver --version` and `archiver pull --help` need none of either
SERVICES = HEAVY | {"requests", "urllib3", "keyring", "cryptography", "sqlite_utils", "sqlite3"}


def _quiet_env() -> dict[str, str]:
    """The user's environment with Python's default warning settings: no PYTHONWARNINGS."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONWARNINGS", "PYTHONDEVMODE")}
    env["COLUMNS"] = "100"
    return env


def _python(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-W", "default", *args],
        capture_output=True,
        text=True,
        env=_quiet_env(),
        cwd=ROOT,
        timeout=120,
    )


def _loaded_by(argv: list[str], tmp_path: Path) -> set[str]:
    """The top-level packages loaded after running ``archiver ARGV`` in a fresh process."""
    dump = tmp_path / "modules.json"
    code = (
        "import json, sys\n"
        "from archiver.cli.main import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        f"open({str(dump)!r}, 'w').write(json.dumps(sorted(sys.modules)))\n"
    )
    out = _python("-c", code)
    assert out.returncode == 0, out.stderr
    names = json.loads(dump.read_text())
    return {m.split(".")[0] for m in names} | {m for m in names if m.startswith("archiver.")}


@pytest.mark.parametrize(
    "words",
    [
        ("--version",),
        *[(*w, "--help") for w in group_words()],
        *[(*w, "--help") for w in command_words()],
    ],
    ids=lambda w: " ".join(w),
)
def test_version_and_every_help_print_no_warning(words):
    out = _python("-m", "archiver", *words)
    assert out.returncode == 0, out.stderr
    assert out.stderr == "", f"`archiver {' '.join(words)}` wrote to stderr:\n{out.stderr}"
    assert out.stdout.strip()


def test_importing_every_module_prints_no_warning():
    """What the commands import when they run (pyHanko, cryptography, reportlab, Qt…):
    a library that warns on import (cryptography 51's DSA deprecation through pyHanko) is
    caught here, whichever command would import it first."""
    code = (
        "import importlib, pkgutil, archiver\n"
        "for m in pkgutil.walk_packages(archiver.__path__, 'archiver.'):\n"
        "    if not m.name.endswith('__main__'):\n"
        "        importlib.import_module(m.name)\n"
    )
    out = _python("-c", code)
    assert out.returncode == 0 and out.stderr == "", out.stderr


def test_importing_the_cli_loads_none_of_the_heavy_libraries(tmp_path):
    dump = tmp_path / "modules.json"
    code = (
        "import json, sys\n"
        "import archiver.cli.main\n"
        f"open({str(dump)!r}, 'w').write(json.dumps(sorted(sys.modules)))\n"
    )
    out = _python("-c", code)
    assert out.returncode == 0, out.stderr
    loaded = {m.split(".")[0] for m in json.loads(dump.read_text())}
    assert not loaded & HEAVY, loaded & HEAVY


@pytest.mark.parametrize("argv", [["--version"], ["pull", "--help"], ["--help"]], ids=" ".join)
def test_version_and_pull_help_load_no_service(argv, tmp_path):
    loaded = _loaded_by(argv, tmp_path)
    assert not loaded & SERVICES, loaded & SERVICES
    ours = {m for m in loaded if m.startswith("archiver.")}
    assert not {
        m for m in ours if m.startswith(("archiver.services", "archiver.pull", "archiver.export"))
    }, ours


def test_every_grammar_loads_none_of_the_heavy_libraries(tmp_path):
    """Every command's parser (built all at once, as the docs test does) stays light: a
    grammar that imported a service to show a default would slow every --help of it."""
    dump = tmp_path / "modules.json"
    code = (
        "import json, sys\n"
        "from archiver.cli.main import build_parser\n"
        "build_parser()\n"
        f"open({str(dump)!r}, 'w').write(json.dumps(sorted(sys.modules)))\n"
    )
    out = _python("-c", code)
    assert out.returncode == 0, out.stderr
    loaded = {m.split(".")[0] for m in json.loads(dump.read_text())}
    assert not loaded & HEAVY, loaded & HEAVY


def test_the_api_package_names_resolve_on_first_use():
    """archiver.api imports its names on first use (PEP 562): each one listed resolves, and
    nothing is listed that is not exported."""
    import archiver.api as api

    assert sorted(api._HOMES) == sorted(api.__all__)
    for name in api.__all__:
        assert getattr(api, name).__name__ == name
    with pytest.raises(AttributeError):
        api.NoSuchName  # noqa: B018


def test_the_version_is_read_on_first_use():
    import archiver

    assert archiver.__version__ == archiver._version()
    with pytest.raises(AttributeError):
        archiver.no_such_attribute  # noqa: B018


def test_a_reader_that_goes_away_is_no_error(tmp_path):
    """`archiver trust list | head -0`: the pipe closes before the command writes; it ends
    quietly (exit 1), without a traceback or an "unexpected error"."""
    read, write = os.pipe()
    os.close(read)
    try:
        out = subprocess.run(
            [sys.executable, "-m", "archiver", "trust", "list", "--key-dir", str(tmp_path)],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            env=_quiet_env(),
            cwd=ROOT,
            timeout=60,
        )
    finally:
        os.close(write)
    assert out.returncode == 1 and out.stderr == "", out.stderr
