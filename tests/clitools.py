"""Run ``archiver ARGS`` in-process, as the tests' one way to call the command line.

``run_cli("pull", "--base-url", url, …)`` calls ``archiver.cli.main.main`` with the words
given, as the ``archiver`` executable would, and returns the exit code with what the command
wrote on standard output and standard error. No interpreter start-up per call: a subprocess
is used only where a real process is the point (start-up, quiet, kill -9, concurrent pulls,
a server that runs until stopped).

Every call also checks the exit code against the codes the command's ``--help`` lists
(archiver.cli.exits): a command that ends with a code it does not document fails the test.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from archiver.cli.grammar import build_parser, named_command
from archiver.cli.main import main


@dataclass(frozen=True)
class CliResult:
    """What one command did: its exit code and its two output streams (text)."""

    args: tuple[str, ...]
    code: int
    out: str
    err: str

    # the names of subprocess.CompletedProcess, so a result reads like one
    @property
    def returncode(self) -> int:
        return self.code

    @property
    def stdout(self) -> str:
        return self.out

    @property
    def stderr(self) -> str:
        return self.err


@contextlib.contextmanager
def _environment(env: Mapping[str, str | None]) -> Iterator[None]:
    """Set (a str) or remove (None) environment variables for the duration."""
    saved = {k: os.environ.get(k) for k in env}
    try:
        for k, v in env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _cwd(path: Path | None) -> Iterator[None]:
    if path is None:
        yield
        return
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def documented_codes(args: tuple[str, ...]) -> frozenset[int] | None:
    """The exit codes the command ``args`` run lists in its --help (None: not a command
    that runs, e.g. a usage error: argparse's exit 2 is checked by the caller)."""
    named = named_command(args)
    parser = build_parser([named] if named else [])
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        try:
            ns, _ = parser.parse_known_args(list(args))
        except SystemExit:
            return None
    exits = getattr(ns, "exits", None)
    return exits.codes if exits is not None else None


def run_cli(
    *args: str | Path,
    env: Mapping[str, str | None] | None = None,
    stdin: str = "",
    cwd: Path | None = None,
) -> CliResult:
    """``archiver ARGS`` in this process: ``env`` sets (str) or removes (None) environment
    variables for the call, ``stdin`` is what it reads (none of its streams is a terminal).
    Fails the test when the command ends with a code its --help does not list."""
    words = tuple(str(a) for a in args)
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = io.StringIO(stdin), out, err
    try:
        with _environment(env or {}), _cwd(cwd):
            try:
                code = main(list(words))
            except SystemExit as stop:  # argparse: --help, --version, a usage error
                code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved
    result = CliResult(words, code, out.getvalue(), err.getvalue())
    if code != 0:
        listed = documented_codes(words)
        assert listed is None or code in listed, (
            f"`archiver {' '.join(words)}` ended with exit code {code}, which its --help does "
            f"not list ({sorted(listed or ())}): {result.err[-500:]}"
        )
    return result


def commands() -> dict[tuple[str, ...], argparse.ArgumentParser]:
    """Every command that runs, by its words, discovered from the parser: ("pull",),
    ("keys", "show"), … (a group such as ``keys`` is not one: its actions are)."""
    found: dict[tuple[str, ...], argparse.ArgumentParser] = {}

    def walk(words: tuple[str, ...], parser: argparse.ArgumentParser) -> None:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            found[words] = parser
            return
        for name, sub in subs[0].choices.items():
            walk((*words, name), sub)

    walk((), build_parser())
    return found


def command_words() -> list[tuple[str, ...]]:
    return list(commands())


def group_words() -> list[tuple[str, ...]]:
    """The top level and every group of actions (keys, trust, schedule)."""
    return [(), *sorted({w[:1] for w in commands() if len(w) > 1})]
