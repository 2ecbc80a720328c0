"""Where the API lives (tenant) and who we are (credentials)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from archiver.api.errors import InsecureTransportError

TOKEN_PATH = "/auth/realms/avaya/protocol/openid-connect/token"
DATA_PATH = "/api/analytics/v2/datasets/"
_SUBDOMAIN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


class Secret:
    """A string that never shows itself in repr, str, logs or exceptions."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a Secret cannot be pickled or copied to disk")


@dataclass(frozen=True)
class Credentials:
    client_id: str
    client_secret: Secret = field(repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.client_secret, str):  # accept a plain str, wrap it at once
            object.__setattr__(self, "client_secret", Secret(self.client_secret))


def is_loopback_host(host: str) -> bool:
    """Is ``host`` this machine, judged from the text alone (never by resolving a name)?
    127.0.0.0/8, ::1 (also IPv4-mapped) and ``localhost``."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def check_transport(url: str, allow_insecure_http: bool = False) -> None:
    """Refuse plain http to anything but this machine, unless explicitly allowed: the
    client secret and every record would cross the network in clear text."""
    parts = urlsplit(url)
    if parts.scheme != "http" or allow_insecure_http:
        return
    if not is_loopback_host(parts.hostname or ""):
        raise InsecureTransportError(
            f"{url} is plain http to another machine: the client secret and every record "
            "would travel unencrypted. Use https://, or pass --allow-insecure-http (in the app: "
            "'Allow plain http' in Connection settings) if this network is trusted."
        )


@dataclass(frozen=True)
class Tenant:
    """An Infinity tenant: a customer subdomain or an explicit base URL (simulator, tests).

    Plain ``http://`` is refused for any host but this machine unless
    ``allow_insecure_http`` (checked when the tenant is made, before any socket opens)."""

    base_url: str
    ca_bundle: str | None = None
    customer_id: str | None = None
    #: explicit proxy URL (may carry credentials: never shown); None: from the environment
    proxy: str | None = field(default=None, repr=False)
    allow_insecure_http: bool = False
    #: the embedded Historical API simulator (the app's demo mode, the self-test): every
    #: run against it is recorded as simulated, and bundles of its rows say DEMO
    simulated: bool = False

    def __post_init__(self) -> None:
        check_transport(self.base_url, self.allow_insecure_http)

    @classmethod
    def from_customer(cls, customer_id: str, ca_bundle: str | None = None) -> Tenant:
        cid = customer_id.strip().lower()
        if not _SUBDOMAIN.match(cid):
            raise ValueError(
                f"{customer_id!r} is not a valid customer subdomain: use the part after "
                "'core.' in your Infinity portal URL, e.g. avaya1234 for "
                "https://core.avaya1234.ec.avayacloud.com/"
            )
        return cls(f"https://core.{cid}.ec.avayacloud.com", ca_bundle, cid)

    @classmethod
    def from_base_url(
        cls, url: str, ca_bundle: str | None = None, allow_insecure_http: bool = False
    ) -> Tenant:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"{url!r} is not an http(s) base URL, e.g. https://core.avaya1234.ec.avayacloud.com"
            )
        if parts.username or parts.password:
            raise ValueError("Put credentials in the client id/secret settings, not in the URL.")
        return cls(
            urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", "")),
            ca_bundle,
            allow_insecure_http=allow_insecure_http,
        )

    @property
    def token_url(self) -> str:
        return self.base_url + TOKEN_PATH

    def data_url(self, dataset: str) -> str:
        return self.base_url + DATA_PATH + dataset

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).netloc

    @property
    def label(self) -> str:
        return self.customer_id or self.base_url
