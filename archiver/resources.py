"""The shipped resources (fonts, icon), read through importlib.resources from the package
``archiver.assets``: the repository's top-level ``resources/`` folder, installed as package
data (pyproject.toml's package-dir). The same call works in a checkout with an editable
install, an installed wheel and the frozen PyInstaller app (its data files are on disk)."""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

#: A checkout run without installing (``PYTHONPATH=.``): archiver.assets is not importable.
_SOURCE = Path(__file__).resolve().parents[1] / "resources"


@functools.cache
def resource_dir() -> Path:
    try:
        root = resources.files("archiver.assets")
    except ModuleNotFoundError:
        root = _SOURCE
    # Callers hand paths to reportlab and Qt, so the files must be on disk (not in a zip).
    if not isinstance(root, Path) or not (root / "fonts" / "DejaVuSans.ttf").is_file():
        raise FileNotFoundError(
            "archiver's resources (fonts, icon) are missing: reinstall archiver."
        )
    return root


def resource(*parts: str) -> Path:
    return resource_dir().joinpath(*parts)
