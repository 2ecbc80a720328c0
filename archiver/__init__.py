"""archiver: a tamper-evident archive of Avaya Infinity Historical API data."""

from __future__ import annotations


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


__version__ = _version()
