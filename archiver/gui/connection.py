"""Connection settings: tenant, client id, secret (keyring only), CA bundle, proxy."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from archiver.api.tenant import Credentials, Secret, Tenant
from archiver.credentials import load_proxy_password, split_proxy, with_proxy_password
from archiver.gui.context import AppContext
from archiver.gui.errors import describe, fit_placeholder, plain_label
from archiver.gui.workers import Job
from archiver.services import pull as pulls


class ConnectionDialog(QDialog):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Connection settings")
        self.setMinimumWidth(560)
        self.setObjectName("connectionDialog")
        self.ctx = ctx
        self._job: Job | None = None
        s = ctx.settings
        self.by_customer = QRadioButton("Customer subdomain")
        self.by_url = QRadioButton("Base URL")
        group = QButtonGroup(self)
        group.addButton(self.by_customer)
        group.addButton(self.by_url)
        self.customer = QLineEdit(s.get("customer_id"))
        self.customer.setPlaceholderText(
            "avaya1234  (from https://core.avaya1234.ec.avayacloud.com)"
        )
        self.base_url = QLineEdit(s.get("base_url"))
        self.base_url.setPlaceholderText("https://core.avaya1234.ec.avayacloud.com")
        self.client_id = QLineEdit(s.get("client_id"))
        self.secret = QLineEdit()
        self.secret.setEchoMode(QLineEdit.EchoMode.Password)
        # never filled in: a secret kept for the saved tenant must not follow a typed URL
        self.secret.setPlaceholderText(
            "kept for this session (demo)"
            if ctx.demo
            else "empty: the secret stored for this tenant and client id"
        )
        self.ca_bundle = QLineEdit(s.get("ca_bundle"))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._pick_ca)
        ca_row = QHBoxLayout()
        ca_row.addWidget(self.ca_bundle)
        ca_row.addWidget(browse)
        self.proxy = QLineEdit(s.get("proxy"))  # without its password (kept in the keyring)
        self.proxy.setPlaceholderText(
            "empty: HTTPS_PROXY from the environment"
            + (
                "; a password is kept for this session"
                if ctx.demo
                else "; a password goes to the OS keyring"
            )
        )
        for edit in (self.customer, self.base_url, self.secret, self.proxy):
            fit_placeholder(edit)  # every hint shown whole
        self.insecure = QCheckBox("Allow plain http:// to another machine (insecure)")
        self.insecure.setObjectName("allowInsecureHttp")
        self.insecure.setChecked(bool(s.get("allow_insecure_http")))
        self.insecure_warning = plain_label(
            "⚠ With plain http the client secret and every record cross the network "
            "unencrypted, readable and alterable by anyone on the way. Use it only on a "
            "network you trust; https is always preferred."
        )
        self.insecure_warning.setObjectName("insecureWarning")
        self.insecure_warning.setWordWrap(True)
        self.insecure_warning.setStyleSheet("color: #a00000")
        self.insecure_warning.setVisible(self.insecure.isChecked())
        self.insecure.toggled.connect(self.insecure_warning.setVisible)
        (
            self.by_url if s.get("base_url") and not s.get("customer_id") else self.by_customer
        ).setChecked(True)
        form = QFormLayout()
        form.addRow(self.by_customer, self.customer)
        form.addRow(self.by_url, self.base_url)
        form.addRow("Client id", self.client_id)
        form.addRow("Client secret", self.secret)
        form.addRow("CA bundle", ca_row)
        form.addRow("Proxy", self.proxy)
        form.addRow("", self.insecure)
        form.addRow("", self.insecure_warning)
        self.status = plain_label("")  # a server's words are shown as text, never as HTML
        self.status.setObjectName("connectionStatus")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.test_button = QPushButton("Test connection")
        self.test_button.clicked.connect(self.test_connection)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.test_button)
        lay.addWidget(self.status)
        lay.addWidget(buttons)
        self.customer.textChanged.connect(lambda: self.by_customer.setChecked(True))
        self.base_url.textChanged.connect(lambda: self.by_url.setChecked(True))

    def _pick_ca(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "CA bundle", "", "PEM files (*.pem *.crt);;All files (*)"
        )
        if path:
            self.ca_bundle.setText(path)

    def _tenant(self) -> Tenant:
        ca = self.ca_bundle.text().strip() or None
        t = (
            Tenant.from_customer(self.customer.text(), ca)
            if self.by_customer.isChecked()
            else Tenant.from_base_url(self.base_url.text(), ca, self.insecure.isChecked())
        )
        return replace(t, proxy=self._proxy())

    def _proxy(self) -> str | None:
        """The proxy as typed, its password from the field, or else from the keyring."""
        typed = self.proxy.text().strip()
        if not typed:
            return None
        s = self.ctx.settings
        if typed == s.get("proxy"):
            return s.proxy_url() or None
        bare, password = split_proxy(typed)
        if password is not None or self.ctx.demo:  # demo mode never reads the keyring
            return typed
        return with_proxy_password(bare, load_proxy_password(bare))

    def _credentials(self, tenant: Tenant) -> Credentials:
        """The typed secret, or the one kept for exactly this tenant and client id: a
        secret saved for another tenant is never sent to a typed URL."""
        cid = self.client_id.text().strip()
        if not cid:
            raise ValueError("Enter the client id.")
        if self.secret.text():
            return Credentials(cid, Secret(self.secret.text()))
        secret = self.ctx.secret_for(tenant, cid)
        if secret is None:
            raise ValueError(
                f"Enter the client secret: none is stored for client id {cid!r} at {tenant.label}."
            )
        return Credentials(cid, secret)

    def test_connection(self) -> None:
        try:
            tenant = self._tenant()
            creds = self._credentials(tenant)
        except ValueError as exc:
            self.status.setText(f"✗ {exc}")
            return
        self.status.setText("Testing…")
        self.test_button.setEnabled(False)
        job = Job(lambda _cancel: pulls.check_connection(tenant, creds), name="test connection")
        job.done.connect(lambda msg: self._tested(f"✓ {msg}"))
        job.failed.connect(lambda exc: self._tested(f"✗ {describe(exc)}"))
        self._job = job
        self.ctx.runner.start(job)

    def _tested(self, text: str) -> None:
        self.status.setText(text)
        self.test_button.setEnabled(True)

    def save(self) -> None:
        try:
            tenant = self._tenant()
        except ValueError as exc:
            self.status.setText(f"✗ {exc}")
            return
        s = self.ctx.settings
        s.set("customer_id", tenant.customer_id or "")
        s.set("base_url", "" if tenant.customer_id else tenant.base_url)
        s.set("client_id", self.client_id.text().strip())
        s.set("ca_bundle", self.ca_bundle.text().strip())
        s.set("proxy", self.proxy.text().strip())  # its password goes to the keyring
        s.set("allow_insecure_http", self.insecure.isChecked())
        if not self.ctx.demo:
            try:
                s.save()
            except (OSError, ValueError) as exc:  # a link, a FIFO at its path: outputs.Refused
                self.status.setText(f"✗ The settings could not be saved: {exc}")
                return
        if self.secret.text():
            self.status.setText(self.ctx.remember_secret(self.secret.text()))
        self.accept()

    def done(self, result: int) -> None:
        if self._job is not None and not self._job.finished:
            self._job.wait(20_000)
        super().done(result)
