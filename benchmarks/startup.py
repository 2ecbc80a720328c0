"""Start-up benchmark: how long the command line takes before it does anything.

    python benchmarks/startup.py                  # median of 10 runs each
    python benchmarks/startup.py --runs 20 --every
    git archive e70a493 archiver pyproject.toml | tar -x -C /tmp/old   # an older version…
    python benchmarks/startup.py --before /tmp/old                      # …timed beside it

Times, in one session and interleaved round by round (other processes' load falls on every
command alike; one warm-up round is discarded): ``python -c pass`` (the interpreter alone,
the baseline), ``archiver --version`` and ``archiver pull --help`` (``--every``: every
command's and action's ``--help`` too). ``archiver`` is this environment's console script
(else ``python -m archiver``). ``--before DIR`` also times ``python -m archiver`` from the
checkout in DIR (PYTHONPATH=DIR, this interpreter and packages), e.g. a ``git worktree`` of an
earlier commit: before and after measured in the same run.

Prints the median and the fastest run in milliseconds, the median's ratio to the baseline,
and the targets (``--version`` 150 ms, ``pull --help`` 250 ms on a 2-core machine). Asserts
nothing: a test asserts what start-up imports (tests/core/test_startup.py).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGETS_MS = {("--version",): 150, ("pull", "--help"): 250}


def archiver_command() -> list[str]:
    script = Path(sys.executable).parent / "archiver"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "archiver"]


def every_help() -> list[tuple[str, ...]]:
    """Every command's and action's --help, discovered from the parser."""
    from tests.clitools import command_words

    return [(*w, "--help") for w in command_words()]


def time_once(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=cwd)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.decode()}")
    return elapsed * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=10, help="timed runs of each command (default 10)")
    ap.add_argument("--every", action="store_true", help="every command's --help too")
    ap.add_argument("--before", type=Path, metavar="DIR", help="also time the checkout in DIR")
    args = ap.parse_args()

    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    exe = archiver_command()
    words: list[tuple[str, ...]] = [("--version",), ("pull", "--help")]
    if args.every:
        words += [w for w in every_help() if w not in words]
    here = Path.cwd()
    cases: list[tuple[str, list[str], dict[str, str], Path]] = [
        ("python -c pass", [sys.executable, "-c", "pass"], env, here)
    ]
    for w in words:
        cases.append((f"archiver {' '.join(w)}", [*exe, *w], env, here))
    if args.before:  # its checkout first on the path (the current directory, for -m)
        old_dir = args.before.resolve()
        old = dict(env, PYTHONPATH=str(old_dir))
        for w in words:
            argv = [sys.executable, "-m", "archiver", *w]
            cases.append((f"before: archiver {' '.join(w)}", argv, old, old_dir))

    times: dict[str, list[float]] = {case[0]: [] for case in cases}
    for round_ in range(args.runs + 1):  # round 0 warms the file cache; not counted
        order = cases[round_ % len(cases) :] + cases[: round_ % len(cases)]
        for name, argv, e, cwd in order:
            t = time_once(argv, e, cwd)
            if round_:
                times[name].append(t)

    base = statistics.median(times["python -c pass"])
    print(f"start-up, median of {args.runs} runs ({os.cpu_count()} CPUs, {' '.join(exe)})")
    print(f"{'command':<44} {'median ms':>10} {'fastest':>8} {'× python':>9}  target")
    for name, *_ in cases:
        med = statistics.median(times[name])
        key = tuple(name.removeprefix("before: ").removeprefix("archiver ").split())
        target = TARGETS_MS.get(key) if not name.startswith(("python", "before")) else None
        verdict = "" if target is None else f"≤ {target} ms {'met' if med <= target else 'MISSED'}"
        print(f"{name:<44} {med:>10.0f} {min(times[name]):>8.0f} {med / base:>9.1f}  {verdict}")


if __name__ == "__main__":
    main()
