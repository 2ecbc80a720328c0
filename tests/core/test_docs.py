"""The README's command reference agrees with the real CLI (sqlite-utils style): every
command and action is documented, every documented flag exists, every command's --help lists
its exit codes, and the README's exit-code tables are the CLI's."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from archiver.cli.exits import ExitCodes
from archiver.cli.main import build_parser
from tests.clitools import commands, group_words

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def groups() -> dict[tuple[str, ...], argparse.ArgumentParser]:
    """The top level and the commands made of actions (keys, trust, schedule)."""
    top = build_parser()
    out = {(): top}
    for words in group_words()[1:]:
        out[words] = next(
            a for a in top._actions if isinstance(a, argparse._SubParsersAction)
        ).choices[words[0]]
    return out


def _options(sub: argparse.ArgumentParser) -> set[str]:
    return {o for a in sub._actions for o in a.option_strings}


def _readme_rows() -> list[str]:
    return [line for line in README.splitlines() if line.startswith("| `archiver ")]


def _row_command(row: str) -> tuple[str, ...]:
    """The command a README row documents: `archiver keys create [--subject DN]` → keys create."""
    words = row.split("`archiver ", 1)[1].split("`", 1)[0].split()
    path: tuple[str, ...] = ()
    known = commands()
    for word in words:
        if any(c[: len(path) + 1] == (*path, word) for c in known):
            path = (*path, word)
        else:
            break
    return path


def test_every_command_and_action_is_documented():
    for words in commands():
        assert f"`archiver {' '.join(words)}" in README, (
            f"README does not document `archiver {' '.join(words)}`"
        )


def test_every_documented_flag_exists():
    known = commands()
    rows = _readme_rows()
    assert rows
    for row in rows:
        if row.startswith("| `archiver --"):
            continue
        path = _row_command(row)
        assert path in known, f"README documents an unknown command: {row[:80]}"
        for flag in set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", row)):
            assert flag in _options(known[path]), f"`archiver {' '.join(path)}` has no {flag}"


def test_every_pull_flag_is_documented():
    pull = commands()[("pull",)]
    hidden = {a.option_strings[0] for a in pull._actions if a.help == argparse.SUPPRESS}
    for opt in _options(pull) - hidden - {"-h", "--help"}:
        if opt.startswith("--"):
            assert opt in README, f"README does not mention archiver pull {opt}"


@pytest.mark.parametrize("words", sorted(commands()), ids=" ".join)
def test_every_help_lists_the_exit_codes(words):
    parser = commands()[words]
    exits = parser.get_default("exits")
    assert isinstance(exits, ExitCodes), f"`archiver {' '.join(words)}` names no exit codes"
    text = parser.format_help()
    listed = text.split("\nexit codes:\n", 1)[1]
    found = {int(m) for m in re.findall(r"^  (\d+) ", listed, re.M)}
    assert found == exits.codes, text


def test_every_group_says_where_its_exit_codes_are():
    for words, parser in groups().items():
        assert "exit codes" in parser.format_help(), words


def test_readme_exit_code_table_is_the_clis():
    known = commands()
    section = README.split("### Exit codes\n", 1)[1].split("\n### ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `archiver ")]
    documented = {}
    for row in rows:
        path = _row_command(row)
        documented[path] = {int(c) for c in re.findall(r"\*\*(\d+)\*\*", row)}
    assert set(documented) == set(known), set(known) ^ set(documented)
    for path, codes in documented.items():
        assert codes == known[path].get_default("exits").codes, path


def test_pull_exit_codes_match_the_engine_and_the_readme():
    from archiver.pull import outcome as engine

    pull = commands()[("pull",)].get_default("exits")
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
        assert code in pull.codes, f"{name} = {code} is not in `archiver pull --help`"
        assert re.search(rf"^\| {code} \|", README, re.M), (
            f"exit code {code} ({name}) not in README"
        )


def test_the_bundle_verdicts_exit_codes_are_the_clis():
    from archiver.export.verify import EXIT_CODES

    verify = commands()[("verify",)].get_default("exits")
    assert set(EXIT_CODES.values()) <= verify.codes


def test_no_handler_returns_a_bare_number():
    """Handlers return archiver.exitcodes' names, so `--help` and the code cannot drift."""
    import ast

    for path in (ROOT / "archiver" / "cli").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Return) and isinstance(node.value, ast.Constant):
                value = node.value.value
                assert not (isinstance(value, int) and not isinstance(value, bool)), (
                    f"{path.relative_to(ROOT)}:{node.lineno} returns {value}: use archiver.exitcodes"
                )


def test_every_dataset_type_and_versions_choice_is_spelled_alike():
    """One spelling per choice: --dataset-type interval|daily and --versions latest|all
    wherever a command takes them (older spellings only as aliases)."""
    for words, parser in commands().items():
        for action in parser._actions:
            if "--dataset-type" in action.option_strings:
                assert tuple(action.choices) == ("interval", "daily"), words
            if "--versions" in action.option_strings:
                assert tuple(action.choices) == ("latest", "all"), words
            for old in ("--password-stdin",):
                if old in action.option_strings:
                    assert "--secret-stdin" in action.option_strings, words
