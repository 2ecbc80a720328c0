"""Checking a signed certificate with tools other than ours: ``openssl cms`` for the
detached signature of its JSON, pyHanko for its PDF (as an auditor would)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any


def openssl_cms_verify(p7s: Path | str, content: Path, ca_pem: Path) -> subprocess.CompletedProcess:
    """``openssl cms -verify`` of ``content`` against its detached DER signature ``p7s``,
    trusting ``ca_pem`` (returncode 0: verified)."""
    return subprocess.run(
        [
            "openssl",
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            str(p7s),
            "-content",
            str(content),
            "-CAfile",
            str(ca_pem),
            "-purpose",
            "any",
            "-out",
            "/dev/null",
        ],
        capture_output=True,
        text=True,
    )


def pdf_signature_status(pdf: Path, trusted_pem: Path) -> Any:
    """pyHanko's validation status of the PDF's first signature, trusting ``trusted_pem``."""
    from pyhanko.keys import load_cert_from_pemder
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    with pdf.open("rb") as f:
        return validate_pdf_signature(
            PdfFileReader(f).embedded_signatures[0],
            ValidationContext(trust_roots=[load_cert_from_pemder(str(trusted_pem))]),
        )
