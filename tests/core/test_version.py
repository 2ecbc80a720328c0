"""One version: pyproject.toml's, read by archiver.__version__ and printed by --version."""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

import archiver
from tests.clitools import run_cli

ROOT = Path(__file__).resolve().parents[2]


def pyproject_version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as f:
        project = tomllib.load(f)["project"]
    assert "version" not in project.get("dynamic", []), "the version must be static"
    return project["version"]


def test_pyproject_version_is_archiver_version_is_cli_version():
    version = pyproject_version()
    assert archiver.__version__ == version, (
        "installed metadata differs from pyproject.toml: rerun `bash scripts/dev.sh setup`"
    )
    out = run_cli("--version")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"archiver {version}"


def test_version_falls_back_to_pyproject_without_metadata(monkeypatch):
    def missing(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    assert archiver._version() == pyproject_version()


def test_version_is_written_nowhere_else():
    version = pyproject_version()
    for path in (ROOT / "archiver").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert f'"{version}"' not in text and f"'{version}'" not in text, (
            f"{path.relative_to(ROOT)} spells out the version; use archiver.__version__"
        )
