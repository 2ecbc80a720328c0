"""Typed application settings with defaults, descriptions and a schema version.

Stored as JSON under the platform's config directory. Secrets are never settings: the
client secret lives in the OS keyring only (see archiver.credentials).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from platformdirs import user_config_path, user_data_path

from archiver.api.query import BULK_PAGE_SIZE

SETTINGS_VERSION = 1


@dataclass(frozen=True)
class Setting:
    name: str
    type: type
    default: Any
    description: str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "customer_id", str, "", "Infinity customer subdomain, e.g. avaya1234 (or use base_url)."
    ),
    Setting(
        "base_url",
        str,
        "",
        "Explicit API base URL, for the simulator or a proxy in front of the API.",
    ),
    Setting(
        "client_id", str, "", "Historical API client id. The secret is kept in the OS keyring."
    ),
    Setting(
        "ca_bundle",
        str,
        "",
        "PEM file of extra CAs for corporate TLS inspection ('' for the system CAs).",
    ),
    Setting("proxy", str, "", "HTTPS proxy URL ('' to use the HTTPS_PROXY environment variable)."),
    Setting(
        "archive_path", str, "", "Archive file ('' for archive.sqlite3 in the user data directory)."
    ),
    Setting("workers", int, 4, "Concurrent download workers."),
    Setting("page_size", int, BULK_PAGE_SIZE, "Records per API page (1-200)."),
)
_BY_NAME = {s.name: s for s in SETTINGS}


def default_path() -> Path:
    return user_config_path("archiver", appauthor=False) / "settings.json"


def default_archive_path() -> Path:
    return user_data_path("archiver", appauthor=False) / "archive.sqlite3"


class Settings:
    """Values by name, typed and defaulted; ``save()`` writes JSON with the schema version."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()
        self._values: dict[str, Any] = {}
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                data = {}
            for name, value in (data.get("values") or {}).items():
                if name in _BY_NAME:
                    try:
                        self._values[name] = _BY_NAME[name].type(value)
                    except (TypeError, ValueError):
                        pass  # a bad stored value falls back to the default

    def get(self, name: str) -> Any:
        return self._values.get(name, _BY_NAME[name].default)

    def set(self, name: str, value: Any) -> None:
        if name not in _BY_NAME:
            raise KeyError(f"unknown setting {name!r}")
        if "secret" in name.lower():
            raise ValueError("secrets are never settings")
        self._values[name] = _BY_NAME[name].type(value)

    def archive_path(self) -> Path:
        return (
            Path(self.get("archive_path")) if self.get("archive_path") else default_archive_path()
        )

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps({"version": SETTINGS_VERSION, "values": self._values}, indent=2),
            encoding="utf-8",
        )
        os.replace(tmp, self.path)
