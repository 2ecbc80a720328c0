"""Architecture contracts: only archiver.gui may import Qt (import-linter, see pyproject)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_hold():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or "lint-imports"
    out = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert " 0 broken" in out.stdout, out.stdout


def test_resources_come_through_importlib_resources():
    """Fonts and icon are the package data of archiver.assets (the top-level resources/
    folder, pyproject's package-dir), so a checkout, a wheel and the frozen app find them alike."""
    from importlib.resources import files

    from archiver.resources import resource

    assert (
        resource("fonts", "DejaVuSans.ttf") == files("archiver.assets") / "fonts" / "DejaVuSans.ttf"
    )
    assert resource("archiver.svg").is_file()


def test_every_resource_is_package_data():
    import fnmatch
    import tomllib

    with (ROOT / "pyproject.toml").open("rb") as f:
        tool = tomllib.load(f)["tool"]["setuptools"]
    assert tool["package-dir"]["archiver.assets"] == "resources"
    patterns = tool["package-data"]["archiver.assets"]
    for path in (ROOT / "resources").rglob("*"):
        rel = path.relative_to(ROOT / "resources").as_posix()
        if path.is_dir() or rel == "__init__.py" or "__pycache__" in rel:
            continue
        assert any(fnmatch.fnmatch(rel, p) for p in patterns), f"resources/{rel} is not installed"


def test_resources_found_in_a_checkout_without_install(monkeypatch):
    """PYTHONPATH=. without pip install: archiver.assets does not exist, resources/ does."""
    from importlib import resources as importlib_resources

    from archiver import resources

    def not_installed(name):
        raise ModuleNotFoundError(name)

    resources.resource_dir.cache_clear()
    monkeypatch.setattr(importlib_resources, "files", not_installed)
    try:
        assert (
            resources.resource("fonts", "DejaVuSans.ttf")
            == ROOT / "resources" / "fonts" / "DejaVuSans.ttf"
        )
    finally:
        resources.resource_dir.cache_clear()


@pytest.mark.slow
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


def test_pre_commit_config_is_valid_and_offline():
    """The hooks run the project's own tools (repo: local): nothing is downloaded."""
    exe = Path(sys.executable).parent / "pre-commit"
    out = subprocess.run(
        [str(exe), "validate-config", ".pre-commit-config.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    text = (ROOT / ".pre-commit-config.yaml").read_text()
    assert "repo: local" in text and "https://" not in text
    for tool in ("ruff check", "ruff format", "lint-imports", "mypy"):
        assert tool in text, f"pre-commit does not run {tool}"


def _import_graph() -> dict[str, set[str]]:
    """archiver's modules and the archiver modules each imports, at the top or inside a
    function alike (a lazy import hides a circle from import-linter, not from this)."""
    import ast

    files = {}
    for path in (ROOT / "archiver").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    target = sub if sub in files else node.module
                    if target in files:
                        graph[name].add(target)
            elif isinstance(node, ast.Import):
                graph[name].update(a.name for a in node.names if a.name in files)
    return graph


def test_no_import_circles():
    """No module reaches itself through imports, lazy ones included (schema, compact and
    values once did: schema imported compact lazily, values imported schema lazily)."""
    graph = _import_graph()
    assert "archiver.archive.schema" in graph
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                circle = [*path[path.index(target) :], target]
                raise AssertionError("import circle: " + " → ".join(circle))
            if target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
