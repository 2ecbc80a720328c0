"""Secrets through the keyring API. No OS keyring runs on a headless test machine, so an
in-memory backend stands in for it (the only stand-in in the suite)."""

from __future__ import annotations

import keyring
import pytest
from keyring.backend import KeyringBackend

from archiver import credentials
from archiver.credentials import CredentialError, resolve, store_secret


class MemoryKeyring(KeyringBackend):
    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.store.pop((service, username), None)


@pytest.fixture
def memory_keyring(monkeypatch):
    old = keyring.get_keyring()
    kr = MemoryKeyring()
    keyring.set_keyring(kr)
    monkeypatch.delenv(credentials.ENV_SECRET, raising=False)
    yield kr
    keyring.set_keyring(old)


def test_secret_round_trip_through_the_keyring(memory_keyring, tmp_path):
    store_secret("avaya1234", "client-7", "s3cret-value")
    assert memory_keyring.store == {("archiver", "client-7@avaya1234"): "s3cret-value"}
    creds = resolve("avaya1234", "client-7")
    assert creds.client_secret.reveal() == "s3cret-value"
    assert "s3cret" not in repr(creds) and "s3cret" not in str(creds.client_secret)


def test_environment_wins_for_headless_use(memory_keyring, monkeypatch):
    store_secret("t", "c", "from-keyring")
    monkeypatch.setenv(credentials.ENV_SECRET, "from-env")
    assert resolve("t", "c").client_secret.reveal() == "from-env"


def test_missing_secret_and_missing_keyring_explain(monkeypatch):
    monkeypatch.delenv(credentials.ENV_SECRET, raising=False)
    with pytest.raises(CredentialError, match="archiver login"):
        resolve("t", "c")
    with pytest.raises(CredentialError, match="ARCHIVER_CLIENT_SECRET"):
        store_secret("t", "c", "x")  # the suite's default backend: none available


def test_signing_passphrase_created_in_the_keyring(memory_keyring, tmp_path, monkeypatch):
    from archiver.export import keys

    monkeypatch.delenv(keys.ENV_PASSPHRASE, raising=False)
    ident = keys.create(tmp_path / "k")
    stored = memory_keyring.store[("archiver", keys.KEYRING_ACCOUNT)]
    assert len(stored) >= 32 and stored.encode() not in (tmp_path / "k" / "key.pem").read_bytes()
    assert keys.load(tmp_path / "k").fingerprint == ident.fingerprint


def test_secret_is_not_picklable():
    import pickle

    from archiver.api.tenant import Secret

    with pytest.raises(TypeError):
        pickle.dumps(Secret("x"))


# -- proxy credentials --------------------------------------------------------------------
def test_proxy_password_goes_to_the_keyring_never_the_file(memory_keyring, tmp_path):
    import json
    import stat

    from archiver.settings import Settings

    s = Settings(tmp_path / "cfg" / "settings.json")
    s.set("proxy", "http://bob:pr0xy-Canary@proxy.corp:3128")
    s.save()
    text = s.path.read_text()
    assert "pr0xy-Canary" not in text
    assert json.loads(text)["values"]["proxy"] == "http://bob@proxy.corp:3128"
    assert memory_keyring.store[("archiver", "proxy:http://bob@proxy.corp:3128")] == "pr0xy-Canary"
    assert s.proxy_url() == "http://bob:pr0xy-Canary@proxy.corp:3128"
    assert Settings(s.path).proxy_url() == "http://bob:pr0xy-Canary@proxy.corp:3128"
    assert stat.S_IMODE(s.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(s.path.parent.stat().st_mode) == 0o700


def test_a_version_1_file_is_migrated(memory_keyring, tmp_path):
    import json

    from archiver.settings import SETTINGS_VERSION, Settings

    path = tmp_path / "settings.json"
    path.write_text(
        json.dumps(
            {"version": 1, "values": {"proxy": "http://bob:old-Canary@p:8080", "workers": 2}}
        )
    )
    s = Settings(path)
    assert "old-Canary" not in path.read_text()
    data = json.loads(path.read_text())
    assert data["version"] == SETTINGS_VERSION and data["values"]["workers"] == 2
    assert s.proxy_url() == "http://bob:old-Canary@p:8080"


def test_without_a_keyring_the_proxy_password_lasts_one_session(tmp_path, monkeypatch):
    import json

    from archiver.settings import Settings

    monkeypatch.delenv(credentials.ENV_SECRET, raising=False)  # the suite's fail backend
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"version": 1, "values": {"proxy": "http://u:nokr-Canary@p:1"}}))
    s = Settings(path)
    assert "nokr-Canary" not in path.read_text()
    assert s.proxy_url() == "http://u:nokr-Canary@p:1"  # this session only
    assert Settings(path).proxy_url() == "http://u@p:1"  # asked for again next time


def test_secrets_are_keyed_by_tenant(memory_keyring):
    store_secret("https://core.a.ec.avayacloud.com", "c", "for-a")
    assert resolve("https://core.a.ec.avayacloud.com", "c").client_secret.reveal() == "for-a"
    with pytest.raises(CredentialError):
        resolve("https://core.b.ec.avayacloud.com", "c")
