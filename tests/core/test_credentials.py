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
