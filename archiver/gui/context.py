"""What the window works with: where the API is, who we are, which archive, and where
its jobs run."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from archiver.api.retry import RetryPolicy
from archiver.api.tenant import Credentials, Secret, Tenant
from archiver.credentials import keyring_available, load_secret, store_secret
from archiver.gui.workers import JobRunner, ThreadRunner
from archiver.services.keys import SigningIdentity
from archiver.settings import Settings


@dataclass
class AppContext:
    settings: Settings
    archive_path: Path
    demo: bool = False
    demo_url: str = ""
    #: the secret for this session only (demo mode, or no keyring); never written anywhere
    session_secret: Secret | None = None
    #: whom ``session_secret`` belongs to: (tenant label, client id). Bound to the saved
    #: tenant when the context is made; the secret is never used for another tenant.
    session_secret_for: tuple[str, str] | None = None
    #: retry timing for downloads (None: the client's defaults); tests make it fast
    retry: RetryPolicy | None = None
    #: where every panel and dialog runs its jobs: QThreads, or SyncRunner in unit tests
    runner: JobRunner = field(default_factory=ThreadRunner)
    #: the signing key's folder (None: the user's, in the platform data directory); its
    #: trust store is the ``trust`` folder beside it
    key_dir: Path | None = None
    #: the signing key for this session, held in memory: the demo's throwaway key, or the
    #: user's once its passphrase was typed (no keyring); None: loaded when needed
    signing_identity: SigningIdentity | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.session_secret is not None and self.session_secret_for is None:
            try:
                self.session_secret_for = (self.tenant().label, self.settings.get("client_id"))
            except ValueError:  # no tenant saved: the secret belongs to none, so is not used
                self.session_secret = None

    def tenant(self) -> Tenant:
        """The saved tenant; in demo mode the embedded simulator is marked simulated (its
        runs are recorded so, and their bundles say DEMO)."""
        s = self.settings
        ca = s.get("ca_bundle") or None
        if s.get("customer_id"):
            t = Tenant.from_customer(s.get("customer_id"), ca)
        elif s.get("base_url"):
            t = Tenant.from_base_url(s.get("base_url"), ca, bool(s.get("allow_insecure_http")))
        else:
            raise ValueError("Set a customer subdomain or a base URL in Connection settings.")
        simulated = self.demo and bool(self.demo_url) and t.base_url == self.demo_url.rstrip("/")
        return replace(t, proxy=s.proxy_url() or None, simulated=simulated)

    def secret_for(self, tenant: Tenant, client_id: str) -> Secret | None:
        """The secret stored (or kept this session) for exactly this tenant and client id:
        a secret saved for one tenant is never sent to another."""
        if self.session_secret is not None and self.session_secret_for == (
            tenant.label,
            client_id,
        ):
            return self.session_secret
        if self.demo:  # the user's keyring is never read in demo mode
            return None
        stored = load_secret(tenant.label, client_id)
        return Secret(stored) if stored else None

    def credentials(self) -> Credentials:
        cid = self.settings.get("client_id")
        if not cid:
            raise ValueError("Set the client id in Connection settings.")
        secret = self.secret_for(self.tenant(), cid)
        if secret is None:
            raise ValueError("No client secret: enter it in Connection settings.")
        return Credentials(cid, secret)

    def remember_secret(self, secret: str) -> str:
        """Keyring when there is one; otherwise this session only. Returns what was done.
        Either way the secret belongs to the saved tenant and client id only."""
        ok, why = (False, "demo mode") if self.demo else keyring_available()
        owner = (self.tenant().label, self.settings.get("client_id"))
        if self.demo or not ok:
            self.session_secret = Secret(secret)
            self.session_secret_for = owner
            if self.demo:
                return "Demo mode: the simulator's secret is kept for this session only."
            return f"No OS keyring ({why}): the secret is kept for this session only and asked for again next time."
        store_secret(owner[0], owner[1], secret)
        self.session_secret = None
        self.session_secret_for = None
        return "The secret is stored in the OS keyring."
