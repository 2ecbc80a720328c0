#!/usr/bin/env bash
# Set up everything archiver needs, then start the app or run the tests.
#   bash scripts/dev.sh start [ARGS...]   set up, then start the app on its embedded demo
#   bash scripts/dev.sh test  [PYTEST ARGS...]   set up, then lint and run the whole suite headless
#                               (in parallel; -m 'not slow': the quick set, before a commit)
#   bash scripts/dev.sh setup   only set up
#   bash scripts/dev.sh lock    re-resolve requirements.lock from pyproject.toml (an upgrade:
#                               run the suite before committing the new lock)
# Idempotent: re-running skips what is already in place. As root on Debian/Ubuntu it
# installs the missing system packages (python3-venv, the libraries Qt needs, xvfb).
# Python packages come only from requirements.lock (every package pinned, with its hashes),
# so an install made today and one made next year are the same.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ARCHIVER_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"
cd "$ROOT"

say() { printf '==> %s\n' "$*" >&2; }

# Debian packages; "a|b" means the first one the archive knows (names differ across releases).
DEBS=(
  python3-venv python3-pip
  libegl1 libgl1 libopengl0 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libfreetype6
  libdbus-1-3 "libglib2.0-0t64|libglib2.0-0" libx11-xcb1 libxcb-cursor0 libxcb-icccm4
  libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-shape0
  libxcb-xinerama0 libxcb-xkb1 libxcb-xfixes0 libxrender1 libxi6
  xvfb xauth fonts-dejavu-core openssl poppler-utils
  binutils  # PyInstaller (packaging/build.sh, tests/test_packaging.py) reads binaries with objdump
)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
known() { apt-cache show "$1" >/dev/null 2>&1; }

system_packages() {
  command -v apt-get >/dev/null 2>&1 || return 0
  command -v dpkg-query >/dev/null 2>&1 || return 0
  local missing=() alt pkg found
  for alt in "${DEBS[@]}"; do
    found=""
    IFS='|' read -r -a choices <<<"$alt"
    for pkg in "${choices[@]}"; do
      if installed "$pkg"; then found="ok"; break; fi
    done
    [ -n "$found" ] || missing+=("$alt")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    say "not root: cannot install missing system packages: ${missing[*]}"
    say "ask an administrator to run: apt-get install ${missing[*]//|/ or }"
    return 0
  fi
  say "installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || say "apt-get update failed; trying with the cached lists"
  local want=()
  for alt in "${missing[@]}"; do
    IFS='|' read -r -a choices <<<"$alt"
    for pkg in "${choices[@]}"; do
      if known "$pkg"; then want+=("$pkg"); break; fi
    done
  done
  [ ${#want[@]} -eq 0 ] || apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
}

LOCK="$ROOT/requirements.lock"
STAMP_NAME=.archiver-stamp

# Install exactly the lock into a virtual environment: with --require-hashes pip refuses any
# package, version or file that the lock does not name. ($1: the environment's python)
install_locked() {
  local log="$2"
  if ! "$1" -m pip install -q --disable-pip-version-check --require-hashes -r "$LOCK" >"$log" 2>&1; then
    cat "$log" >&2
    say "installing the locked Python packages failed (log above, also in $log)"
    exit 1
  fi
}

python_env() {
  local stamp="$VENV/$STAMP_NAME" want
  want="$(cat requirements.lock pyproject.toml setup.py | sha256sum | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$VENV/bin/python" ]; then
    return 0
  fi
  if [ -f "$stamp" ]; then
    # made by this script for another lock: start again, so nothing the lock no longer
    # names stays behind
    say "the lock changed: recreating $VENV"
    rm -rf "$VENV"
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating virtual environment $VENV"
    "$PY" -m venv "$VENV"
  fi
  say "installing the locked packages (requirements.lock) and archiver into $VENV"
  install_locked "$VENV/bin/python" "$VENV/install.log"
  if ! "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps \
    --no-build-isolation -e . >>"$VENV/install.log" 2>&1; then
    cat "$VENV/install.log" >&2
    say "installing archiver itself failed (log above, also in $VENV/install.log)"
    exit 1
  fi
  echo "$want" >"$stamp"
}

# Re-resolve requirements.lock from pyproject.toml's ranges with pip-tools (itself pinned in
# scripts/lock-tools.txt), hashes of every file of every pinned release included.
lock() {
  local tools="$ROOT/build/lock-tools"
  if [ ! -x "$tools/bin/pip-compile" ]; then
    say "creating the locking tools environment $tools"
    "$PY" -m venv "$tools"
    "$tools/bin/python" -m pip install -q --disable-pip-version-check --require-hashes \
      -r scripts/lock-tools.txt
  fi
  say "resolving requirements.lock (runtime, test and packaging extras, build requirements)"
  CUSTOM_COMPILE_COMMAND="bash scripts/dev.sh lock" "$tools/bin/pip-compile" --quiet \
    --generate-hashes --allow-unsafe --all-build-deps --extra test --extra packaging \
    --strip-extras --no-emit-index-url --no-emit-find-links --upgrade \
    -o requirements.lock pyproject.toml 2>"$tools/compile.log" || {
    cat "$tools/compile.log" >&2
    say "resolving failed (log above, also in $tools/compile.log)"
    exit 1
  }
  say "requirements.lock: $(grep -c '^[a-zA-Z]' requirements.lock) packages; run 'bash scripts/dev.sh test' before committing it"
}

setup() {
  system_packages
  python_env
}

cmd="${1:-start}"
shift || true
case "$cmd" in
  setup)
    setup
    ;;
  lock)
    lock
    ;;
  start)
    setup
    if [ "$(uname -s)" = Linux ] && [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ -z "${QT_QPA_PLATFORM:-}" ]; then
      say "no display here (DISPLAY and WAYLAND_DISPLAY are unset): the window has nowhere to show."
      say "on a server, run it on a virtual screen: xvfb-run -a bash scripts/dev.sh start"
      say "or use the command line: $VENV/bin/archiver --help"
      exit 1
    fi
    exec "$VENV/bin/archiver" gui --demo "$@"
    ;;
  test)
    setup
    say "ruff check"
    "$VENV/bin/ruff" check .
    say "ruff format --check"
    "$VENV/bin/ruff" format --check .
    say "mypy"
    "$VENV/bin/mypy"
    # one worker per core (pytest-xdist; tests of one xdist_group, such as the packaging
    # build, stay on one worker); "-n 0" after it runs in this process, "-m 'not slow'"
    # only the quick tests
    # compiled bytecode is kept, under build/pycache rather than beside the sources, even
    # where PYTHONDONTWRITEBYTECODE is set: each worker and each command a test starts would
    # otherwise compile archiver and rewrite the tests' asserts again (seconds every time)
    export PYTHONPYCACHEPREFIX="$ROOT/build/pycache"
    unset PYTHONDONTWRITEBYTECODE
    say "pytest -n auto"
    exec "$VENV/bin/python" -m pytest -n auto --dist loadgroup "$@"
    ;;
  *)
    echo "usage: bash scripts/dev.sh start|test|setup|lock [ARGS...]" >&2
    exit 2
    ;;
esac
