"""Client secrets: only in the OS keyring, or the environment for headless runs.

Never in files, settings, logs or the archive.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

from archiver.api.tenant import Credentials, Secret

SERVICE = "archiver"
ENV_ID = "ARCHIVER_CLIENT_ID"
ENV_SECRET = "ARCHIVER_CLIENT_SECRET"
#: the signing key's passphrase for headless use (archiver.export.keys), never written
ENV_PASSPHRASE = "ARCHIVER_KEY_PASSPHRASE"


class CredentialError(Exception):
    pass


def _account(tenant_label: str, client_id: str) -> str:
    """A secret is stored for one tenant and one client id, and used for no other."""
    return f"{client_id}@{tenant_label}"


def keyring_available() -> tuple[bool, str]:
    """(usable, backend name or the reason it is not)."""
    try:
        import keyring
        from keyring.backends import fail

        kr = keyring.get_keyring()
    except Exception as exc:  # a broken keyring install
        return False, f"keyring failed to load: {exc}"
    if isinstance(kr, fail.Keyring) or getattr(kr, "priority", 1) <= 0:
        return False, "no OS keyring backend is available on this system"
    return True, type(kr).__name__


NO_KEYRING_ADVICE = (
    "No OS keyring is available here, so the client secret cannot be stored. For headless "
    f"use set {ENV_SECRET} in the environment of the process (it is never written anywhere); "
    "on a desktop, install and unlock a keyring (GNOME Keyring, KWallet, macOS Keychain, "
    "Windows Credential Manager)."
)


def store_secret(tenant_label: str, client_id: str, secret: str) -> None:
    ok, why = keyring_available()
    if not ok:
        raise CredentialError(f"{NO_KEYRING_ADVICE} ({why})")
    import keyring

    keyring.set_password(SERVICE, _account(tenant_label, client_id), secret)


def load_secret(tenant_label: str, client_id: str) -> str | None:
    ok, _ = keyring_available()
    if not ok:
        return None
    import keyring

    try:
        return keyring.get_password(SERVICE, _account(tenant_label, client_id))
    except Exception:  # a locked or failing backend is the same as no stored secret here
        return None


def resolve(tenant_label: str, client_id: str | None) -> Credentials:
    """Credentials from --client-id/ARCHIVER_CLIENT_ID and ARCHIVER_CLIENT_SECRET or the keyring."""
    cid = client_id or os.environ.get(ENV_ID)
    if not cid:
        raise CredentialError(f"No client id: pass --client-id or set {ENV_ID}.")
    secret = os.environ.get(ENV_SECRET) or load_secret(tenant_label, cid)
    if not secret:
        raise CredentialError(
            f"No client secret for {cid!r} at {tenant_label}: run `archiver login` to store it in the "
            f"OS keyring, or set {ENV_SECRET} for headless use."
        )
    return Credentials(cid, Secret(secret))


# -- proxy credentials --------------------------------------------------------------------
def split_proxy(url: str) -> tuple[str, str | None]:
    """(the proxy URL without its password, the password or None)."""
    url = url.strip()
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    userinfo, host = parts.netloc.rsplit("@", 1)
    if ":" not in userinfo:
        return url, None
    user, password = userinfo.split(":", 1)
    return urlunsplit(parts._replace(netloc=f"{user}@{host}")), password


def with_proxy_password(url: str, password: str | None) -> str:
    """The proxy URL with ``password`` put back (for the request only; never stored)."""
    parts = urlsplit(url)
    if not password or "@" not in parts.netloc:
        return url
    user, host = parts.netloc.rsplit("@", 1)
    return urlunsplit(parts._replace(netloc=f"{user.split(':', 1)[0]}:{password}@{host}"))


def _proxy_account(proxy_url: str) -> str:
    return f"proxy:{proxy_url}"


def store_proxy_password(proxy_url: str, password: str) -> None:
    """Keep a proxy password in the OS keyring, keyed by the proxy URL without it."""
    ok, why = keyring_available()
    if not ok:
        raise CredentialError(f"No OS keyring to keep the proxy password in ({why}).")
    import keyring

    keyring.set_password(SERVICE, _proxy_account(proxy_url), password)


def load_proxy_password(proxy_url: str) -> str | None:
    ok, _ = keyring_available()
    if not ok:
        return None
    import keyring

    try:
        return keyring.get_password(SERVICE, _proxy_account(proxy_url))
    except Exception:  # a locked or failing backend: no password
        return None
