#!/bin/sh
# Adds Archiver to the desktop's application menu for the current user: the .desktop entry
# (pointing at the `archiver` next to this script) and the icons. Run it from the unpacked
# folder; run it again after moving the folder. Remove with: sh install-desktop-entry.sh --remove
set -eu
HERE="$(cd "$(dirname "$0")" && pwd)"
DATA="${XDG_DATA_HOME:-$HOME/.local/share}"
APPS="$DATA/applications"
SIZES="16 24 32 48 64 128 256 512"
if [ "${1:-}" = --remove ]; then
  rm -f "$APPS/archiver.desktop"
  for s in $SIZES; do rm -f "$DATA/icons/hicolor/${s}x${s}/apps/archiver.png"; done
  echo "removed the menu entry and icons"
  exit 0
fi
mkdir -p "$APPS"
for s in $SIZES; do
  mkdir -p "$DATA/icons/hicolor/${s}x${s}/apps"
  cp "$HERE/icons/archiver-$s.png" "$DATA/icons/hicolor/${s}x${s}/apps/archiver.png"
done
sed "s|^Exec=archiver gui|Exec=\"$HERE/archiver\" gui|" "$HERE/archiver.desktop" >"$APPS/archiver.desktop"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$APPS" || true
command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$DATA/icons/hicolor" || true
echo "added Archiver to the application menu ($APPS/archiver.desktop)"
