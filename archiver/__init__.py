"""archiver: a tamper-evident archive of Avaya Infinity Historical API data."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    __version__: str


def _version() -> str:
    """The version written in pyproject.toml, and only there: from the installed
    distribution's metadata (a wheel, an editable install, the frozen app, which carries it),
    else from pyproject.toml beside the package (a checkout run without installing)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("archiver")
    except PackageNotFoundError:
        pass
    import tomllib
    from pathlib import Path

    try:
        with (Path(__file__).resolve().parents[1] / "pyproject.toml").open("rb") as f:
            project = tomllib.load(f).get("project", {})
    except (OSError, tomllib.TOMLDecodeError):
        project = {}
    if project.get("name") == "archiver" and project.get("version"):
        return str(project["version"])
    return "0+unknown"


def __getattr__(name: str) -> str:
    """``__version__`` is looked up on first use, not on import: reading the distribution's
    metadata costs ~20 ms, which every command would pay at start-up (``archiver --help``
    needs no version; see benchmarks/startup.py)."""
    if name == "__version__":
        value = _version()
        globals()["__version__"] = value
        return value
    raise AttributeError(f"module 'archiver' has no attribute {name!r}")
