"""Where the shipped resources (fonts, icon) are: the source tree's ``resources/`` in a
checkout or editable install, ``<prefix>/share/archiver`` in an installed wheel."""

from __future__ import annotations

import sys
from pathlib import Path

_SOURCE = Path(__file__).resolve().parents[1] / "resources"


def resource_dir() -> Path:
    for candidate in (
        _SOURCE,
        Path(sys.prefix) / "share" / "archiver",
        Path(sys.base_prefix) / "share" / "archiver",
    ):
        if (candidate / "fonts" / "DejaVuSans.ttf").is_file():
            return candidate
    raise FileNotFoundError("archiver's resources (fonts, icon) are missing: reinstall archiver.")


def resource(*parts: str) -> Path:
    return resource_dir().joinpath(*parts)
