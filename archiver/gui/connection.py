"""Connection settings: tenant, client id, secret (keyring only), CA bundle, proxy."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from archiver.api.tenant import Credentials, Secret, Tenant
from archiver.gui.context import AppContext
from archiver.gui.errors import describe
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
        self.secret.setPlaceholderText(
            "stored in the OS keyring" if not ctx.demo else "demo secret filled in"
        )
        if ctx.session_secret is not None:
            self.secret.setText(ctx.session_secret.reveal())
        self.ca_bundle = QLineEdit(s.get("ca_bundle"))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._pick_ca)
        ca_row = QHBoxLayout()
        ca_row.addWidget(self.ca_bundle)
        ca_row.addWidget(browse)
        self.proxy = QLineEdit(s.get("proxy"))
        self.proxy.setPlaceholderText("empty: HTTPS_PROXY from the environment")
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
        self.status = QLabel("")
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
        proxy = self.proxy.text().strip() or None
        t = (
            Tenant.from_customer(self.customer.text(), ca)
            if self.by_customer.isChecked()
            else Tenant.from_base_url(self.base_url.text(), ca)
        )
        return Tenant(t.base_url, t.ca_bundle, t.customer_id, proxy)

    def _credentials(self) -> Credentials:
        cid = self.client_id.text().strip()
        if not cid:
            raise ValueError("Enter the client id.")
        secret = self.secret.text()
        if secret:
            return Credentials(cid, Secret(secret))
        saved = self.ctx.settings.get("client_id")
        if cid == saved:
            return self.ctx.credentials()
        raise ValueError("Enter the client secret.")

    def test_connection(self) -> None:
        try:
            tenant, creds = self._tenant(), self._credentials()
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
        s.set("proxy", self.proxy.text().strip())
        if not self.ctx.demo:
            s.save()
        if self.secret.text():
            self.status.setText(self.ctx.remember_secret(self.secret.text()))
        self.accept()

    def done(self, result: int) -> None:
        if self._job is not None and not self._job.finished:
            self._job.wait(20_000)
        super().done(result)
