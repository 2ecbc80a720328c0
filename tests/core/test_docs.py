"""The README's command reference agrees with the real CLI (sqlite-utils style)."""

from __future__ import annotations

import re
from pathlib import Path

from archiver.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _subparsers() -> dict:
    parser = build_parser()
    action = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return action.choices


def _options(sub) -> set[str]:
    return {o for a in sub._actions for o in a.option_strings}


def test_every_subcommand_is_documented():
    for name in _subparsers():
        assert f"`archiver {name}" in README, f"README does not document `archiver {name}`"


def test_every_documented_flag_exists():
    subs = _subparsers()
    rows = [line for line in README.splitlines() if line.startswith("| `archiver ")]
    assert rows
    for row in rows:
        name = row.split("`archiver ", 1)[1].split()[0].rstrip("`")
        if name.startswith("--"):
            continue
        assert name in subs, f"README documents unknown command {name}"
        for flag in set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", row)):
            assert flag in _options(subs[name]), f"`archiver {name}` has no {flag}"


def test_every_pull_flag_is_documented():
    pull = _subparsers()["pull"]
    hidden = {a.option_strings[0] for a in pull._actions if a.help == "==SUPPRESS=="}
    for opt in _options(pull) - hidden - {"-h", "--help"}:
        if opt.startswith("--"):
            assert opt in README, f"README does not mention archiver pull {opt}"


def test_exit_codes_match_the_engine():
    from archiver.pull import outcome as engine

    for name in (
        "EXIT_OK",
        "EXIT_ERROR",
        "EXIT_USAGE",
        "EXIT_PARTIAL",
        "EXIT_AUTH",
        "EXIT_ENTITLEMENT",
        "EXIT_BUSY",
        "EXIT_CANCELLED",
    ):
        code = getattr(engine, name)
        assert re.search(rf"^\| {code} \|", README, re.M), (
            f"exit code {code} ({name}) not in README"
        )
