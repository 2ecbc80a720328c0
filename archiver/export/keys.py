"""The signing identity: an ECDSA P-256 key and a self-signed certificate (or an imported
PKCS#12 / PEM pair). The private key is stored encrypted; its passphrase lives in the OS
keyring, or comes from ARCHIVER_KEY_PASSPHRASE for headless use, and is never written.

Key and certificate files are app files (archiver.outputs): read and written never through
a symbolic link, never a FIFO or a device, written as new files (a retired pair is renamed
aside first, never replaced)."""

from __future__ import annotations

import datetime
import getpass
import os
import re
import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from platformdirs import user_data_path

from archiver import outputs
from archiver.credentials import ENV_PASSPHRASE, SERVICE, keyring_available
from archiver.files import PRIVATE_DIR, private_dir, tighten

KEYRING_ACCOUNT = "signing-key-passphrase"


class SigningKeyError(Exception):
    """The signing key cannot be used; the message says how to fix it."""


class KeyExistsError(SigningKeyError):
    """A signing key exists where a new one was to be written (and no ``force``)."""


class PassphraseNeeded(SigningKeyError):
    """Neither ARCHIVER_KEY_PASSPHRASE nor the OS keyring gives the key's passphrase: a
    front-end may ask the person for it (and pass it to :func:`load_or_create`)."""


class WrongPassphrase(SigningKeyError):
    """The passphrase does not decrypt the signing key."""


def default_dir() -> Path:
    return user_data_path("archiver", appauthor=False) / "signing"


def cert_fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER certificate, hex with colons (as `openssl x509 -fingerprint`):
    the one spelling on the report, in bag-info.txt, VERIFY.txt and `archiver verify`."""
    return _colons(cert.fingerprint(hashes.SHA256()).hex())


def _colons(hex_digest: str) -> str:
    digest = hex_digest.upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def parse_fingerprint(text: str) -> str:
    """A SHA-256 fingerprint typed by a person (hex, colons or spaces optional, any case;
    an ``sha256:`` or ``SHA256 Fingerprint=`` prefix allowed) in :func:`cert_fingerprint`'s
    spelling. ValueError when it is not 64 hex digits."""
    t = text.strip()
    t = re.sub(r"^(sha-?256)(\s*fingerprint)?\s*[:=]?\s*", "", t, flags=re.I)
    digits = re.sub(r"[\s:]", "", t)
    if not re.fullmatch(r"[0-9A-Fa-f]{64}", digits):
        raise ValueError(
            f"{text.strip()!r} is not a SHA-256 fingerprint: give 64 hex digits, colons optional"
        )
    return _colons(digits)


def fingerprint_file_name(fingerprint: str) -> str:
    """The fingerprint as a file name part: 64 hex digits, upper case, no colons."""
    return fingerprint.replace(":", "")


@dataclass(frozen=True)
class SigningIdentity:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    key_path: Path
    cert_path: Path
    #: the key file's passphrase when the identity was made with one in hand (a throwaway
    #: key, see :func:`create`); None: the keyring's or ARCHIVER_KEY_PASSPHRASE
    passphrase: bytes | None = field(default=None, repr=False, compare=False)

    def key_passphrase(self) -> bytes:
        return self.passphrase if self.passphrase is not None else _passphrase(create=False)

    @property
    def fingerprint(self) -> str:
        return cert_fingerprint(self.cert)

    @property
    def subject(self) -> str:
        return self.cert.subject.rfc4514_string()

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def __repr__(self) -> str:
        return f"SigningIdentity(subject={self.subject!r}, fingerprint={self.fingerprint!r})"


def _passphrase(create: bool) -> bytes:
    env = os.environ.get(ENV_PASSPHRASE)
    if env:
        return env.encode()
    ok, why = keyring_available()
    if ok:
        import keyring

        stored = keyring.get_password(SERVICE, KEYRING_ACCOUNT)
        if stored:
            return stored.encode()
        if create:
            new = secrets.token_urlsafe(32)
            keyring.set_password(SERVICE, KEYRING_ACCOUNT, new)
            return new.encode()
        raise PassphraseNeeded(
            "The signing key's passphrase is not in the OS keyring. Set ARCHIVER_KEY_PASSPHRASE, or import the key again (archiver keys import)."
        )
    raise PassphraseNeeded(
        f"No passphrase for the signing key: {why}. Set {ENV_PASSPHRASE} in the environment (it is never written anywhere), "
        "or run on a desktop with an OS keyring."
    )


def _write_private(path: Path, key: ec.EllipticCurvePrivateKey, passphrase: bytes) -> None:
    _key_dir(path.parent)
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )
    _write_new(path, data, "the signing key")


def _write_new(path: Path, data: bytes, what: str) -> None:
    """A key file written new (0600), never over a file, a link or a special file."""
    try:
        outputs.write_app_file(path, data, what=what)
    except (FileExistsError, outputs.Refused) as exc:
        raise SigningKeyError(
            f"{what} {path} could not be written: {exc}. Nothing was replaced; move what is "
            "there aside and try again."
        ) from None


def _key_dir(d: Path) -> None:
    """The key folder: 0700 when it is the app's own ``signing/``; created 0700 elsewhere
    (an existing folder the user chose keeps its mode)."""
    if d == default_dir():
        private_dir(d)
    else:
        d.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)


KEY_FILE, CERT_FILE = "key.pem", "cert.pem"


def _read_cert(path: Path) -> x509.Certificate | None:
    """The certificate in ``path`` (read as an app file: never through a link, a FIFO or a
    device), or None."""
    try:
        return x509.load_pem_x509_certificate(outputs.read_app_file(path, what="the certificate"))
    except (OSError, ValueError):  # outputs.Refused is a ValueError
        return None


def current_certificate(directory: Path | None = None) -> x509.Certificate | None:
    """The local signing key's certificate (no passphrase needed), or None."""
    return _read_cert((directory or default_dir()) / CERT_FILE)


def local_certificates(directory: Path | None = None) -> list[tuple[x509.Certificate, str]]:
    """The certificates of the local signing key, current and retired, with a description
    of each: bundles signed by any of them are trusted by `archiver verify`."""
    d = directory or default_dir()
    found: list[tuple[x509.Certificate, str]] = []
    cert = current_certificate(d)
    if cert is not None:
        found.append((cert, "the local signing key"))
    for path in sorted(d.glob("cert-*.pem")) if d.is_dir() else []:
        old = _read_cert(path)
        if old is not None:
            found.append((old, f"a retired local signing key ({path.name})"))
    return found


def _retire(d: Path, force: bool) -> None:
    """Make room for a new key in ``d``: refuse when one is there (unless ``force``); with
    ``force`` the old key and certificate are kept as ``key-<FP>.pem`` / ``cert-<FP>.pem``
    (FP: the certificate's SHA-256 fingerprint), and stay trusted for verification."""
    key_path, cert_path = d / KEY_FILE, d / CERT_FILE
    present = [p for p in (key_path, cert_path) if p.exists() or p.is_symlink()]
    if not present:
        return
    links = [p for p in present if p.is_symlink()]
    if links and not force:
        raise KeyExistsError(
            f"{links[0]} is a symbolic link: archiver never writes a key through a link. "
            "Remove it, or use --force (the link is then kept aside, renamed)."
        )
    old = _read_cert(cert_path)
    fp = cert_fingerprint(old) if old is not None else "(certificate unreadable)"
    if not force:
        raise KeyExistsError(
            f"A signing key exists in {d} (certificate SHA-256 {fp}); bundles signed with it "
            "are matched to it. Refused to replace it: with --force the old key and certificate "
            "are kept (renamed with their fingerprint) and stay trusted for verification."
        )
    stamp = (
        fingerprint_file_name(fp)
        if old is not None
        else f"unreadable-{datetime.datetime.now(datetime.UTC):%Y%m%dT%H%M%SZ}"
    )
    for path, prefix in ((key_path, "key"), (cert_path, "cert")):
        if path.exists() or path.is_symlink():
            _rename_aside(path, d, f"{prefix}-{stamp}")


def _rename_aside(path: Path, d: Path, stem: str) -> Path:
    """``path`` renamed to ``d/stem.pem`` (``stem-2.pem``… when that is taken): a retired
    file never replaces another."""
    for n in range(1, 100):
        target = d / (f"{stem}.pem" if n == 1 else f"{stem}-{n}.pem")
        try:
            outputs.rename_noreplace(path, target)
            return target
        except FileExistsError:
            continue
    raise SigningKeyError(f"no free name to keep {path} aside in {d}")


@dataclass(frozen=True)
class RetiredKey:
    """A retired private key file and the certificate it is kept with (None: missing or
    unreadable, so the key is not destroyed: nothing else would say whose it was)."""

    key_path: Path
    cert_path: Path
    cert: x509.Certificate | None


def retired_keys(directory: Path | None = None) -> list[RetiredKey]:
    """The retired private keys in the key folder (``key-<FP>.pem``), with their
    certificates (``cert-<FP>.pem``)."""
    d = directory or default_dir()
    found = []
    for path in sorted(d.glob("key-*.pem")) if d.is_dir() else []:
        cert_path = d / ("cert-" + path.name[len("key-") :])
        found.append(RetiredKey(path, cert_path, _read_cert(cert_path)))
    return found


def destroy_retired(
    directory: Path | None = None, *, dry_run: bool = False
) -> tuple[list[RetiredKey], list[tuple[RetiredKey, str]]]:
    """Remove the retired private keys whose certificate is kept (so bundles they signed
    still verify against it); returns those removed (or, ``dry_run``, those that would be)
    and those kept, with why. The current key is never touched."""
    removed, kept = [], []
    for r in retired_keys(directory):
        if r.cert is None:
            kept.append((r, f"its certificate {r.cert_path.name} is missing or unreadable"))
            continue
        if not dry_run:
            try:
                r.key_path.unlink()
            except OSError as exc:
                kept.append((r, f"it could not be removed ({exc.strerror or exc})"))
                continue
        removed.append(r)
    return removed, kept


def parse_subject(text: str) -> x509.Name:
    """A certificate subject typed by a person as an RFC 4514 distinguished name
    (``CN=Compliance Office,O=Example Ltd,C=GB``). ValueError, saying why, when it is not
    one or names no CN (the signer's name on a bundle's cover and in `archiver verify`)."""
    try:
        name = x509.Name.from_rfc4514_string(text.strip())
    except ValueError as exc:
        why = f": {exc}" if str(exc) else ""
        raise ValueError(
            f"{text.strip()!r} is not a distinguished name{why}; write it as "
            '"CN=Compliance Office,O=Example Ltd,C=GB" (RFC 4514: attributes joined by commas, '
            "a comma inside a value escaped as \\,)"
        ) from None
    if not name.get_attributes_for_oid(NameOID.COMMON_NAME):
        raise ValueError(
            f"{text.strip()!r} names no CN: the common name is how a bundle names its signer "
            '(e.g. "CN=Compliance Office,O=Example Ltd")'
        )
    return name


def default_subject(common_name: str | None = None) -> x509.Name:
    """The subject of a key made without one: CN=Archiver audit signer (USER@HOST)."""
    try:
        who = f"{getpass.getuser()}@{socket.gethostname()}"
    except Exception:  # no login name
        who = socket.gethostname()
    return x509.Name(
        [
            x509.NameAttribute(
                NameOID.COMMON_NAME, common_name or f"Archiver audit signer ({who})"
            ),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "archiver"),
        ]
    )


def create(
    directory: Path | None = None,
    common_name: str | None = None,
    *,
    force: bool = False,
    passphrase: bytes | None = None,
    subject: x509.Name | None = None,
) -> SigningIdentity:
    """A new ECDSA P-256 key and a self-signed certificate valid for ten years, issued to
    ``subject`` (see parse_subject; default: default_subject(common_name)). Refuses
    (KeyExistsError) when a key exists, unless ``force``: then the old one is retired. With
    ``passphrase`` (a throwaway key: the self-test's) neither the keyring nor the
    environment is consulted, and the identity carries it."""
    d = directory or default_dir()
    if not force:
        _retire(d, force=False)
    given = passphrase
    passphrase = given or _passphrase(create=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = subject if subject is not None else default_subject(common_name)
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _store(d, key, cert, passphrase, force, given)


def _store(
    d: Path,
    key: Any,
    cert: x509.Certificate,
    passphrase: bytes,
    force: bool,
    given: bytes | None = None,
) -> SigningIdentity:
    """Write the key and certificate (retiring an old pair first, see _retire); ``given``:
    the passphrase the identity carries (a throwaway key's), None for the usual sources."""
    _retire(d, force)
    key_path, cert_path = d / KEY_FILE, d / CERT_FILE
    _write_private(key_path, key, passphrase)
    _write_new(cert_path, cert.public_bytes(serialization.Encoding.PEM), "the certificate")
    return SigningIdentity(key, cert, key_path, cert_path, given)


def tighten_files(d: Path) -> None:
    """A key file made 0644 by an earlier version becomes 0600 (and the app's own key
    folder 0700) whenever the key is looked at, even without its passphrase."""
    if (d / KEY_FILE).exists():
        tighten(d / KEY_FILE)
    if d == default_dir():
        tighten(d, PRIVATE_DIR)


@dataclass(frozen=True)
class PassphraseSource:
    """Where the signing key's passphrase would come from, found without decrypting
    anything: ``ready`` when the environment or the keyring gives it (or will make one for a
    new key); else why not, and whether a keyring exists to keep a typed one in."""

    ready: bool
    why: str = ""
    keyring: bool = False
    key_exists: bool = True


def passphrase_source(directory: Path | None = None) -> PassphraseSource:
    d = directory or default_dir()
    exists = (d / KEY_FILE).exists()
    if os.environ.get(ENV_PASSPHRASE):
        return PassphraseSource(True, keyring=keyring_available()[0], key_exists=exists)
    ok, why = keyring_available()
    if not ok:
        return PassphraseSource(False, why, False, exists)
    if not exists:  # a new key's passphrase is made and kept in the keyring
        return PassphraseSource(True, keyring=True, key_exists=False)
    import keyring

    try:
        stored = keyring.get_password(SERVICE, KEYRING_ACCOUNT)
    except Exception as exc:  # a locked or failing backend: ask
        return PassphraseSource(False, f"the OS keyring cannot be read ({exc})", True, True)
    if stored:
        return PassphraseSource(True, keyring=True)
    return PassphraseSource(False, "the OS keyring does not hold its passphrase", True, True)


def store_passphrase(passphrase: bytes) -> None:
    """Keep the signing key's passphrase in the OS keyring (SigningKeyError without one)."""
    ok, why = keyring_available()
    if not ok:
        raise SigningKeyError(f"No OS keyring to keep the passphrase in ({why}).")
    import keyring

    keyring.set_password(SERVICE, KEYRING_ACCOUNT, passphrase.decode())


def load(directory: Path | None = None, passphrase: bytes | None = None) -> SigningIdentity:
    """The key in ``directory``; its passphrase from ARCHIVER_KEY_PASSPHRASE or the keyring
    (PassphraseNeeded when neither has it), or ``passphrase`` as typed by a person (then the
    identity carries it)."""
    d = directory or default_dir()
    key_path, cert_path = d / KEY_FILE, d / CERT_FILE
    if not key_path.exists() or not cert_path.exists():
        raise FileNotFoundError(f"No signing key in {d}")
    tighten_files(d)
    given = passphrase
    try:
        pem = outputs.read_app_file(key_path, what="the signing key")
        cert = x509.load_pem_x509_certificate(
            outputs.read_app_file(cert_path, what="the certificate")
        )
    except outputs.Refused as exc:
        raise SigningKeyError(str(exc)) from None
    try:
        key = serialization.load_pem_private_key(pem, given or _passphrase(create=False))
    except (ValueError, TypeError):
        where = "you typed" if given else f"given ({ENV_PASSPHRASE} or the keyring)"
        raise WrongPassphrase(
            f"The signing key in {d} cannot be decrypted with the passphrase {where}."
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) and not hasattr(key, "sign"):
        raise SigningKeyError("unsupported key type")
    return SigningIdentity(key, cert, key_path, cert_path, given)  # type: ignore[arg-type]


def load_or_create(
    directory: Path | None = None, passphrase: bytes | None = None
) -> SigningIdentity:
    """The identity in ``directory``; created on first use (``passphrase``: typed by a
    person, see :func:`load`; a new key is then encrypted with it)."""
    try:
        return load(directory, passphrase)
    except FileNotFoundError:
        return create(directory, passphrase=passphrase)


def import_pkcs12(
    p12: Path, password: str | None, directory: Path | None = None, *, force: bool = False
) -> SigningIdentity:
    key, cert, _ = pkcs12.load_key_and_certificates(
        p12.read_bytes(), password.encode() if password else None
    )
    if key is None or cert is None:
        raise SigningKeyError(f"{p12} holds no private key and certificate.")
    return _store_imported(key, cert, directory, force)


def import_pem(
    key_file: Path,
    cert_file: Path,
    password: str | None,
    directory: Path | None = None,
    *,
    force: bool = False,
) -> SigningIdentity:
    key = serialization.load_pem_private_key(
        key_file.read_bytes(), password.encode() if password else None
    )
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    return _store_imported(key, cert, directory, force)


def _store_imported(
    key: Any, cert: x509.Certificate, directory: Path | None, force: bool
) -> SigningIdentity:
    d = directory or default_dir()
    if cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        raise SigningKeyError("The certificate does not belong to the private key.")
    if not force:
        _retire(d, force=False)
    return _store(d, key, cert, _passphrase(create=True), force)
