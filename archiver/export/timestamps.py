"""Trusted time (RFC 3161) for bundles, through pyHanko.

With a timestamp authority (``--tsa-url URL`` or ``ARCHIVER_TSA_URL``) an export adds

- a document timestamp to data/report.pdf (an incremental update after the PAdES
  signature: PAdES B-LTA style), and
- a timestamp token over the tag-manifest signature, as the unsigned attribute
  ``signature-time-stamp-token`` (RFC 3161 appendix A) of tagmanifest-sha256.txt.p7s.

Verification checks both: the token's imprint, the TSA's signature, and whether the TSA's
certificate chains to a ``tsa`` entry of the trust store (``archiver trust add --tsa
ROOT.pem``: a timestamp authority is trusted explicitly, like a signer, never through the
operating system's TLS roots).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from asn1crypto import cms, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization

ENV_TSA_URL = "ARCHIVER_TSA_URL"
TIMEOUT_SECONDS = 30


class TimestampError(Exception):
    """A timestamp could not be obtained or read; the message says why."""


def tsa_url(given: str | None) -> str | None:
    """The TSA to use: the one given, else ARCHIVER_TSA_URL, else none."""
    url = (given or os.environ.get(ENV_TSA_URL, "")).strip()
    if url and not url.startswith(("http://", "https://")):
        raise TimestampError(f"the timestamp authority URL must start with http(s)://: {url!r}")
    return url or None


def http_timestamper(url: str) -> Any:
    from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper

    return RequestsHTTPTimeStamper(url, timeout=TIMEOUT_SECONDS)


def _token(timestamper: Any, digest: bytes) -> cms.ContentInfo:
    try:
        return asyncio.run(timestamper.async_timestamp(digest, "sha256"))
    except Exception as exc:
        raise TimestampError(
            f"the timestamp authority gave no timestamp ({type(exc).__name__}: {exc})"
        ) from None


def add_signature_timestamp(signature_der: bytes, timestamper: Any) -> bytes:
    """The CMS signature with a timestamp token over its signature value added as the
    unsigned attribute signature-time-stamp-token; the signed part is unchanged."""
    info = cms.ContentInfo.load(signature_der)
    si = info["content"]["signer_infos"][0]
    token = _token(timestamper, hashlib.sha256(si["signature"].native).digest())
    si["unsigned_attrs"] = cms.CMSAttributes(
        [cms.CMSAttribute({"type": "signature_time_stamp_token", "values": [token]})]
    )
    out: bytes = info.dump(force=True)
    return out


def timestamp_pdf(pdf: Path, timestamper: Any) -> None:
    """Append an RFC 3161 document timestamp to a signed PDF (in place)."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers

    tmp = pdf.with_name(pdf.name + ".ts")
    try:
        with pdf.open("rb") as f:
            w = IncrementalPdfFileWriter(f)
            out = signers.PdfTimeStamper(
                timestamper, field_name="ArchiverDocumentTimestamp"
            ).timestamp_pdf(w, "sha256")
            tmp.write_bytes(out.getvalue())
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        raise TimestampError(
            f"the report could not be timestamped ({type(exc).__name__}: {exc})"
        ) from None
    os.replace(tmp, pdf)


def validation_context(roots: tuple[x509.Certificate, ...] | list[x509.Certificate]) -> Any:
    """Trust for timestamp authorities: exactly the given roots (the trust store's ``tsa``
    entries; never the TLS roots of the operating system); no network."""
    from pyhanko_certvalidator import ValidationContext

    anchors = [
        asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in roots
    ]
    return ValidationContext(trust_roots=anchors, allow_fetching=False)


@dataclass(frozen=True)
class TimestampStatus:
    """What a timestamp says and whether it holds: ``intact`` (the token is over this data
    and its TSA signature verifies) and ``trusted`` (the TSA chains to a trusted root)."""

    time: datetime | None
    tsa: str
    intact: bool
    trusted: bool

    def describe(self) -> str:
        when = self.time.isoformat().replace("+00:00", "Z") if self.time else "an unknown time"
        return f"{when} by {self.tsa or 'an unnamed timestamp authority'}"


def _tsa_name(signed_data: cms.SignedData) -> str:
    try:
        sid = signed_data["signer_infos"][0]["sid"].chosen
        serial = sid["serial_number"].native if "serial_number" in sid else None
        for c in signed_data["certificates"] or []:
            cert = c.chosen
            if serial is None or cert.serial_number == serial:
                return str(cert.subject.human_friendly)
    except Exception:  # the name is informative only
        return ""
    return ""


def signature_token(signature_der: bytes) -> cms.ContentInfo | None:
    """The signature-time-stamp-token of a CMS signature's signer, or None."""
    si = cms.ContentInfo.load(signature_der)["content"]["signer_infos"][0]
    attrs = si["unsigned_attrs"]
    if not attrs:
        return None
    for a in attrs:
        if a["type"].native == "signature_time_stamp_token":
            token: cms.ContentInfo = a["values"][0]
            return token
    return None


def check_signature_token(
    signature_der: bytes, roots: tuple[x509.Certificate, ...]
) -> TimestampStatus | None:
    """Check the timestamp token of a CMS signature (None: it has none)."""
    from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
    from pyhanko.sign.validation.status import TimestampSignatureStatus

    token = signature_token(signature_der)
    if token is None:
        return None
    si = cms.ContentInfo.load(signature_der)["content"]["signer_infos"][0]
    sig_value = si["signature"].native
    signed_data = token["content"]

    def imprint(algo: str) -> bytes:
        return hashlib.new(algo, sig_value).digest()

    try:
        kw = asyncio.run(validate_tst_signed_data(signed_data, validation_context(roots), imprint))
        status = TimestampSignatureStatus(**kw)
    except Exception as exc:
        raise TimestampError(
            f"the timestamp token cannot be checked ({type(exc).__name__}: {exc})"
        ) from None
    tst = signed_data["encap_content_info"]["content"].parsed
    time = tst["gen_time"].native if isinstance(tst, tsp.TSTInfo) else None
    return TimestampStatus(
        time, _tsa_name(signed_data), bool(status.intact and status.valid), bool(status.trusted)
    )


def pdf_timestamp_status(status: Any) -> TimestampStatus:
    """A pyHanko DocumentTimestampStatus as a TimestampStatus."""
    cert = getattr(status, "signing_cert", None)
    return TimestampStatus(
        getattr(status, "timestamp", None),
        str(cert.subject.human_friendly) if cert is not None else "",
        bool(status.intact and status.valid),
        bool(status.trusted),
    )
