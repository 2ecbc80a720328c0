"""What the window works with: where the API is, who we are, which archive, and where
its jobs run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from archiver.api.retry import RetryPolicy
from archiver.api.tenant import Credentials, Secret, Tenant
from archiver.credentials import keyring_available, load_secret, store_secret
from archiver.gui.workers import JobRunner, ThreadRunner
from archiver.settings import Settings


@dataclass
class AppContext:
    settings: Settings
    archive_path: Path
    demo: bool = False
    demo_url: str = ""
    #: the secret for this session only (demo mode, or no keyring); never written anywhere
    session_secret: Secret | None = None
    #: retry timing for downloads (None: the client's defaults); tests make it fast
    retry: RetryPolicy | None = None
    #: where every panel and dialog runs its jobs: QThreads, or SyncRunner in unit tests
    runner: JobRunner = field(default_factory=ThreadRunner)

    def tenant(self) -> Tenant:
        s = self.settings
        ca = s.get("ca_bundle") or None
        proxy = s.get("proxy") or None
        if s.get("customer_id"):
            t = Tenant.from_customer(s.get("customer_id"), ca)
        elif s.get("base_url"):
            t = Tenant.from_base_url(s.get("base_url"), ca)
        else:
            raise ValueError("Set a customer subdomain or a base URL in Connection settings.")
        return Tenant(t.base_url, t.ca_bundle, t.customer_id, proxy)

    def credentials(self) -> Credentials:
        cid = self.settings.get("client_id")
        if not cid:
            raise ValueError("Set the client id in Connection settings.")
        secret = self.session_secret
        if secret is None:
            stored = load_secret(self.tenant().label, cid)
            if stored:
                secret = Secret(stored)
        if secret is None:
            raise ValueError("No client secret: enter it in Connection settings.")
        return Credentials(cid, secret)

    def remember_secret(self, secret: str) -> str:
        """Keyring when there is one; otherwise this session only. Returns what was done."""
        ok, why = keyring_available()
        if self.demo or not ok:
            self.session_secret = Secret(secret)
            if self.demo:
                return "Demo mode: the simulator's secret is kept for this session only."
            return f"No OS keyring ({why}): the secret is kept for this session only and asked for again next time."
        store_secret(self.tenant().label, self.settings.get("client_id"), secret)
        self.session_secret = None
        return "The secret is stored in the OS keyring."
