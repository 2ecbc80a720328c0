#!/usr/bin/env bash
# Build the desktop app with PyInstaller (one folder, packaging/archiver.spec) and pack it as
# dist/archiver-<version>-linux-<arch>.tar.gz. Prints the build's time and sizes.
#   bash packaging/build.sh
# The app is frozen from a build environment of its own, ARCHIVER_BUILD_VENV (default
# build/venv, created when missing), into which this checkout is installed as a wheel would be
# (not editable) together with PyInstaller (the `packaging` extra), all from requirements.lock.
# The developer's .venv is
# left as it is. PyInstaller needs binutils (objdump) on Linux; `bash scripts/dev.sh setup`
# installs it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ARCHIVER_BUILD_VENV:-$ROOT/build/venv}"
PY="${PYTHON:-python3}"
DIST="$ROOT/dist"
WORK="$ROOT/build/pyinstaller"
cd "$ROOT"

say() { printf '==> %s\n' "$*" >&2; }
started=$SECONDS

case "$(uname -s)" in
  Linux) os=linux ;;
  *) say "build.sh packs the Linux tarball; on $(uname -s) run: pyinstaller packaging/archiver.spec (see packaging/README.md)"; exit 2 ;;
esac
command -v objdump >/dev/null 2>&1 || say "objdump not found: PyInstaller may need binutils (apt-get install binutils)"

if [ ! -x "$VENV/bin/python" ]; then
  say "creating the build environment $VENV"
  "$PY" -m venv "$VENV"
fi
say "installing the locked packages (requirements.lock) and archiver from $ROOT into $VENV"
# Exactly what the lock names (every package pinned, with its hashes): the frozen app holds
# the same libraries as the tested environment.
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --require-hashes -r requirements.lock
# Always this checkout's code, even when the version number did not change (built with the
# lock's setuptools: no build isolation, nothing unpinned fetched).
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation \
  --force-reinstall .

version="$("$VENV/bin/python" -c 'from importlib.metadata import version; print(version("archiver"))')"
arch="$(uname -m)"
name="archiver-$version-$os-$arch"

say "building archiver $version with PyInstaller"
rm -rf "$DIST/archiver" "$DIST/$name.tar.gz"
# Run from build/ with PyInstaller's own launcher, so that the source tree's archiver/ is not
# on the path: the installed package (with archiver.assets and its metadata) is what gets frozen.
mkdir -p "$WORK"
(cd "$WORK" && "$VENV/bin/pyinstaller" --noconfirm --clean --log-level WARN \
  --distpath "$DIST" --workpath "$WORK" "$ROOT/packaging/archiver.spec")

app="$DIST/archiver"
got="$("$app/archiver" --version)"
if [ "$got" != "archiver $version" ]; then
  say "the built app says '$got', expected 'archiver $version'"
  exit 1
fi

# What the tarball adds around the app: the menu entry, its icons, and the script installing them.
cp packaging/archiver.desktop packaging/install-desktop-entry.sh "$app/"
chmod +x "$app/install-desktop-entry.sh"
mkdir -p "$app/icons"
cp packaging/icons/archiver-*.png "$app/icons/"

say "packing $name.tar.gz"
tar -C "$DIST" -czf "$DIST/$name.tar.gz" --owner=0 --group=0 \
  --transform "s|^archiver\(/\|\$\)|$name\1|" archiver

elapsed=$((SECONDS - started))
printf 'built %s in %dm%02ds\n' "$name" $((elapsed / 60)) $((elapsed % 60))
printf 'app folder: %s (%s)\n' "$app" "$(du -sh "$app" | cut -f1)"
printf 'tarball:    %s (%s)\n' "$DIST/$name.tar.gz" "$(du -h "$DIST/$name.tar.gz" | cut -f1)"
