"""Check a detached CMS (PKCS#7) signature without openssl: asn1crypto to parse, cryptography
to verify. The same check `openssl cms -verify -binary -content FILE` makes."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from asn1crypto import cms
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

_HASHES: dict[str, tuple[Callable[[], hashes.HashAlgorithm], Callable[..., Any]]] = {
    "sha256": (hashes.SHA256, hashlib.sha256),
    "sha384": (hashes.SHA384, hashlib.sha384),
    "sha512": (hashes.SHA512, hashlib.sha512),
}


class CmsError(Exception):
    pass


def verify_detached(signature_der: bytes, content: bytes, signer: x509.Certificate) -> None:
    """Raise CmsError unless ``signature_der`` is a valid signature of ``content`` by ``signer``."""
    si, certs = _signer_info(signature_der)
    if certs and signer.public_bytes(serialization.Encoding.DER) not in certs:
        raise CmsError("the signature was made with a certificate other than signer.pem")
    algo = si["digest_algorithm"]["algorithm"].native
    if algo not in _HASHES:
        raise CmsError(f"unsupported digest {algo}")
    hash_cls, hashfn = _HASHES[algo]
    data = _signed_bytes(si, content, hashfn)
    _verify_signature(signer, si["signature"].native, data, hash_cls)


def _signer_info(signature_der: bytes) -> tuple[cms.SignerInfo, list[bytes]]:
    """The one SignerInfo of a SignedData structure, and the DER certificates it carries."""
    try:
        info = cms.ContentInfo.load(signature_der)
        if info["content_type"].native != "signed_data":
            raise CmsError("not a CMS SignedData structure")
        signed = info["content"]
        signers = signed["signer_infos"]
        if len(signers) != 1:
            raise CmsError(f"expected one signer, found {len(signers)}")
        certs = [c.chosen.dump() for c in signed["certificates"]] if signed["certificates"] else []
        return signers[0], certs
    except CmsError:
        raise
    except Exception as exc:
        raise CmsError(f"the signature file cannot be parsed ({exc})") from None


def _signed_bytes(si: cms.SignerInfo, content: bytes, hashfn: Callable[[bytes], Any]) -> bytes:
    """What the signature is over: the signed attributes (whose message digest must be the
    content's), or the content itself when there are none."""
    attrs = si["signed_attrs"]
    if not attrs:
        return content
    digest = None
    for a in attrs:
        if a["type"].native == "message_digest":
            digest = a["values"][0].native
    if digest != hashfn(content).digest():
        raise CmsError("the signed digest does not match the content (the tag manifest changed)")
    to_verify = attrs.dump(force=True)
    return b"\x31" + to_verify[1:]  # signed over the attributes as a SET OF


def _verify_signature(
    signer: x509.Certificate, sig: bytes, data: bytes, hash_cls: Callable[[], hashes.HashAlgorithm]
) -> None:
    key = signer.public_key()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(sig, data, ec.ECDSA(hash_cls()))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(sig, data, padding.PKCS1v15(), hash_cls())
        else:
            raise CmsError("unsupported key type")
    except InvalidSignature:
        raise CmsError("the signature does not verify with signer.pem") from None
