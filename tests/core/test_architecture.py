"""Architecture contracts: only archiver.gui may import Qt (import-linter, see pyproject)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_hold():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or "lint-imports"
    out = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert " 0 broken" in out.stdout, out.stdout


def test_resources_found_in_an_installed_layout(tmp_path, monkeypatch):
    """A wheel installs fonts and icon under <prefix>/share/archiver (pyproject data-files)."""
    import shutil

    from archiver import resources

    share = tmp_path / "share" / "archiver"
    shutil.copytree(ROOT / "resources", share)
    monkeypatch.setattr(resources, "_SOURCE", tmp_path / "no-checkout")
    monkeypatch.setattr(resources.sys, "prefix", str(tmp_path))
    assert resources.resource("fonts", "DejaVuSans.ttf") == share / "fonts" / "DejaVuSans.ttf"
    text = (ROOT / "pyproject.toml").read_text()
    for f in (ROOT / "resources" / "fonts").glob("*.ttf"):
        assert f"resources/fonts/{f.name}" in text, f"{f.name} is not installed with the wheel"


def test_core_tests_collect_without_qt():
    """tests/core runs where Qt cannot load: PySide6 blocked, the suite still collects."""
    code = (
        "import sys; sys.modules['PySide6'] = None; sys.modules['shiboken6'] = None\n"
        "import pytest\n"
        "sys.exit(pytest.main(['-p', 'no:pytest-qt', '-p', 'no:cacheprovider', '-q', '--co', 'tests/core']))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    last = out.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"\d+ tests collected in [\d.]+s", last), out.stdout[-3000:]
