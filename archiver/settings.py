"""Typed application settings with defaults, descriptions and a schema version.

Stored as JSON under the platform's config directory, readable by its owner only (0600 in
a 0700 folder). Secrets are never settings: the client secret lives in the OS keyring only,
and so does a proxy's password (see archiver.credentials): ``proxy`` keeps the URL without
it. Version 1 files could hold ``user:password@`` in the proxy URL; loading one moves the
password to the keyring (or, with no keyring, keeps it for this session only) and rewrites
the file without it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from platformdirs import user_config_path, user_data_path

from archiver import outputs
from archiver.api.query import BULK_PAGE_SIZE
from archiver.credentials import (
    CredentialError,
    load_proxy_password,
    split_proxy,
    store_proxy_password,
    with_proxy_password,
)
from archiver.files import PRIVATE_DIR, private_dir

log = logging.getLogger(__name__)

SETTINGS_VERSION = 2


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
    Setting(
        "proxy",
        str,
        "",
        "HTTPS proxy URL ('' to use HTTPS_PROXY from the environment); its password, if "
        "any, is kept in the OS keyring, never here.",
    ),
    Setting(
        "allow_insecure_http",
        bool,
        False,
        "Accept a plain http:// base URL for another machine: the client secret and the "
        "data would travel unencrypted.",
    ),
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

    def __init__(self, path: Path | None = None, *, session: bool = False) -> None:
        """``session``: values for this session only (the app's demo mode): no file is
        read or written and no keyring touched; a proxy password stays in memory."""
        self.path = path or default_path()
        self.session = session
        self._values: dict[str, Any] = {}
        #: a proxy password with no keyring to keep it: this session only, never written
        self._proxy_password: str | None = None
        if not session and self.path.exists():
            try:
                raw = outputs.read_app_file(self.path, what="the settings file")
                data = json.loads(raw.decode("utf-8"))
            except (OSError, ValueError):  # outputs.Refused too: a link, a FIFO, a device
                data = {}
            if not isinstance(data, dict):
                data = {}
            for name, value in (data.get("values") or {}).items():
                if name in _BY_NAME:
                    try:
                        self._values[name] = _BY_NAME[name].type(value)
                    except (TypeError, ValueError):
                        pass  # a bad stored value falls back to the default
            self._migrate_proxy_password()

    def _migrate_proxy_password(self) -> None:
        """A proxy password in the file (version 1) goes to the keyring; the file is
        rewritten without it."""
        stored = self._values.get("proxy", "")
        if not stored or split_proxy(stored)[1] is None:
            return
        self.set("proxy", stored)
        try:
            self.save()
            log.info("moved the proxy password out of %s", self.path)
        except (OSError, ValueError) as exc:  # outputs.Refused: a link, a FIFO, a device
            log.warning("could not rewrite %s without the proxy password: %s", self.path, exc)

    def get(self, name: str) -> Any:
        return self._values.get(name, _BY_NAME[name].default)

    def set(self, name: str, value: Any) -> None:
        if name not in _BY_NAME:
            raise KeyError(f"unknown setting {name!r}")
        if "secret" in name.lower():
            raise ValueError("secrets are never settings")
        if name == "proxy":
            value = self._keep_proxy_password(str(value))
        self._values[name] = _BY_NAME[name].type(value)

    def _keep_proxy_password(self, url: str) -> str:
        """The proxy URL to store: its password goes to the keyring (or this session)."""
        bare, password = split_proxy(url)
        if password is None:
            return bare
        if self.session:
            self._proxy_password = password
            return bare
        try:
            store_proxy_password(bare, password)
            self._proxy_password = None
        except CredentialError as exc:
            log.warning("%s The proxy password is kept for this session only.", exc)
            self._proxy_password = password
        return bare

    def proxy_url(self) -> str:
        """The proxy URL to connect through, with its password (from the keyring or this
        session) put back; '' for the environment's proxy. Never store what this returns."""
        bare = self.get("proxy")
        if not bare or "@" not in bare:
            return str(bare)
        password = self._proxy_password or (None if self.session else load_proxy_password(bare))
        return with_proxy_password(bare, password)

    def archive_path(self) -> Path:
        return (
            Path(self.get("archive_path")) if self.get("archive_path") else default_archive_path()
        )

    def save(self) -> None:
        """Write the file 0600 (the app's config folder 0700), atomically (a session's
        settings are never written)."""
        if self.session:
            return
        if self.path.parent == default_path().parent:
            private_dir(self.path.parent)
        else:
            self.path.parent.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        text = json.dumps({"version": SETTINGS_VERSION, "values": self._values}, indent=2)
        # beside it under a new name, renamed over the old file: never written through a
        # link, a FIFO or a device (outputs.write_app_file refuses those)
        outputs.write_app_file(
            self.path, text.encode("utf-8"), what="the settings file", replace=True
        )
